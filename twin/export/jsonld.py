"""The structure, its layers and its processing history as JSON-LD in CIDOC-CRM.

What is said, and with which terms (``crm:`` CIDOC-CRM 7.1, ``crmba:`` CRMba for
buildings, ``crmdig:`` CRMdig for provenance, ``dcterms:`` Dublin Core):

- **the structure**: a ``crmba:B1_Built_Work`` identified by its id
  (``crm:P1_is_identified_by`` an ``crm:E42_Identifier``), labelled with the layers'
  title, made of its elements (``crm:P46_is_composed_of``);
- **elements**: typed by their CRM/CRMba class from the layer file; a group (``union``)
  is composed of its members (``crm:P46_is_composed_of``). An element ``crm:P45_consists_of``
  each of its materials and takes part in each of its phases — the element's own and
  those of the groups that hold it, stated on the element so that a query about one part
  needs no reasoning. How the element is known (London Charter: measured, inferred,
  hypothetical) is a ``crm:P2_has_type`` to a ``crm:E55_Type``; its sources are
  ``crm:E31_Document`` (``crm:P70i_is_documented_in``);
- **phases**: a construction is a ``crm:E12_Production``; a reconstruction too (it makes new
  fabric: an ``E12_Production``, which is an ``E11_Modification``, typed as both); a
  restoration or repair a ``crm:E11_Modification``; damage and other events a
  ``crm:E5_Event``. An element was produced by (``crm:P108i_was_produced_by``) its
  constructions and by the reconstruction that built its present fabric (its primary
  phase, the one its points carry: the columns rebuilt in 1833 were produced by that
  rebuilding, not modified by it), modified by (``crm:P31i_was_modified_by``) its other
  reconstructions, restorations and repairs, and present at (``crm:P12i_was_present_at``)
  damage and other events. Each has a ``crm:E52_Time-Span`` whose label is the EDTF
  string (also as an ``edtf:EDTF`` typed literal) with ``crm:P82a_begin_of_the_begin`` and
  ``crm:P82b_end_of_the_end`` as ``xsd:dateTime`` (left out where the EDTF end is open or
  unknown); a PeriodO period is ``crm:P10_falls_within``;
- **materials**: a ``crm:E57_Material`` per material of the layer file, labelled as
  there, whose Getty AAT concept is ``crm:P127_has_broader_term`` (the AAT term is the
  general concept, the layer's material the one used here, with its own properties as
  notes);
- **the documentation** (the digital twin itself): a ``crmdig:D1_Digital_Object``
  ``crm:P129_is_about`` the structure, with the layers' Dublin Core terms;
- **the place** (with a CRS): a ``crm:E53_Place`` where the structure is
  (``crm:P53_has_former_or_current_location``), whose footprint (the convex hull of the
  elements' footprints, as in the GeoJSON) is a GeoSPARQL ``geo:Geometry``
  (``geo:hasGeometry``) with a ``geo:asWKT`` literal (``geo:wktLiteral``) in the
  structure's CRS, the CRS IRI (``http://www.opengis.net/def/crs/EPSG/0/32648``) leading
  the literal as GeoSPARQL prescribes, and a second one in WGS 84 longitude/latitude
  (``http://www.opengis.net/def/crs/OGC/1.3/CRS84``, GeoSPARQL's default; the only one for
  a CRS without an EPSG code, which no OGC IRI names); each geometry
  ``dcterms:conformsTo`` its CRS (as GeoDCAT does), which is labelled with its name;
- **processing history** (CRMdig): each survey is a ``crm:E7_Activity`` made of one
  ``crmdig:D2_Digitization_Process`` per scan, which ``crmdig:L1_digitized`` the structure
  and ``crmdig:L11_had_output`` the raw scan (a ``crmdig:D9_Data_Object`` identified by its
  file name and SHA-256). Each pipeline stage is a ``crmdig:D3_Formal_Derivation`` (and a
  ``crmdig:D10_Software_Execution``) that ``crmdig:L21_used_as_derivation_source`` the
  previous stage's result (the scans for the first), ``crmdig:L22_created_derivative`` its
  own result (identified by its cache key), ``crmdig:L13_used_parameters`` a
  ``crmdig:D1_Digital_Object`` whose ``crm:P190_has_symbolic_content`` is the stage's
  parameters as canonical JSON, and ``crmdig:L23_used_software_or_firmware`` each
  ``crmdig:D14_Software`` of the run (name and version). The last stage created the
  model's files (SHA-256 each).
- **the export** (CRMdig): a ``crmdig:D3_Formal_Derivation`` (and
  ``crmdig:D10_Software_Execution``, by twin) that ``crmdig:L21_used_as_derivation_source``
  the model's files and the layer revision and ``crmdig:L22_created_derivative`` every
  exported file: a ``crmdig:D1_Digital_Object`` identified by its path in the package and
  its SHA-256 (``crm:E42_Identifier`` typed ``sha256``), with its size
  (``dcterms:extent``, bytes), its media type where one is registered (``dcterms:format``)
  and its format (``crm:P2_has_type``), about the structure. The JSON-LD file itself and
  ``export.json`` are written after the others and are not listed (a file cannot hold its
  own checksum; the bag's manifest has both).

Namespaces are the current ones published by the CIDOC-CRM SIG
(``http://www.cidoc-crm.org/extensions/crmba/`` and ``.../crmdig/``); older data uses
``http://www.cidoc-crm.org/cidoc-crm/CRMba/`` and ``http://www.ics.forth.gr/isl/CRMdig/``.

IRIs are ``<base><structure>/...`` with a configurable ``base`` (an institution's
namespace, e.g. ``https://monuments.example.org/twin/``: ``twin export --base-uri``, or
``base_uri`` in the workspace's ``twin.yaml``); the default ``urn:twin:`` keeps them local
and opaque. A base that ends in neither ``/``, ``#`` nor ``:`` gets a ``/``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from twin.catalog.store import atomic_write_bytes
from twin.models.edtf import iso_date, parse_edtf
from twin.models.layers import LayerFile, UnionRegion, effective_links

CRM = "http://www.cidoc-crm.org/cidoc-crm/"
CRMBA = "http://www.cidoc-crm.org/extensions/crmba/"
CRMDIG = "http://www.cidoc-crm.org/extensions/crmdig/"
DCTERMS = "http://purl.org/dc/terms/"
EDTF = "http://id.loc.gov/datatypes/edtf/EDTF"
GEO = "http://www.opengis.net/ont/geosparql#"
SF = "http://www.opengis.net/ont/sf#"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_BASE = "urn:twin:"
MEDIA_TYPES = {".glb": "model/gltf-binary", ".gltf": "model/gltf+json", ".json": "application/json",
               ".jsonld": "application/ld+json", ".geojson": "application/geo+json", ".csv": "text/csv",
               ".gpkg": "application/geopackage+sqlite3", ".laz": "application/vnd.laszip", ".ifc": "application/x-step"}

CONTEXT = {
    "crm": CRM,
    "crmba": CRMBA,
    "crmdig": CRMDIG,
    "dcterms": DCTERMS,
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "aat": "http://vocab.getty.edu/aat/",
    "geo": GEO,
    "sf": SF,
}

# phase type -> (event class, property from the element to the event)
_PHASE_EVENTS = {
    "construction": ("E12_Production", "P108i_was_produced_by"),
    "reconstruction": ("E12_Production", "P31i_was_modified_by"),  # produced by it where it is the primary phase
    "restoration": ("E11_Modification", "P31i_was_modified_by"),
    "repair": ("E11_Modification", "P31i_was_modified_by"),
    "damage": ("E5_Event", "P12i_was_present_at"),
    "other": ("E5_Event", "P12i_was_present_at"),
}


def base_iri(base: str | None) -> str:
    """The namespace IRIs start with: ``base`` (default :data:`DEFAULT_BASE`), ending in ``/``, ``#`` or ``:``."""
    base = base or DEFAULT_BASE
    return base if base.endswith(("/", "#", ":")) else base + "/"


def _iso_datetime(day: float, end: bool) -> str | None:
    if math.isinf(day):
        return None
    return iso_date(int(day)) + ("T23:59:59Z" if end else "T00:00:00Z")


class _Graph:
    """A thin builder over rdflib: IRIs from local paths, terms from prefixed names."""

    def __init__(self, base: str, structure_id: str):
        from rdflib import Graph, Namespace  # noqa: PLC0415

        self.g = Graph()
        self.root = f"{base_iri(base)}{quote(structure_id, safe='')}/"
        self.ns = {p: Namespace(u) for p, u in CONTEXT.items()}
        for prefix, ns in self.ns.items():
            self.g.bind(prefix, ns)

    def iri(self, *parts: str):
        from rdflib import URIRef  # noqa: PLC0415

        return URIRef(self.root + "/".join(quote(str(p), safe="") for p in parts))

    def term(self, name: str):
        prefix, local = name.split(":", 1)
        return self.ns[prefix][local]

    def add(self, subject, predicate: str, obj) -> None:
        self.g.add((subject, self.term(predicate), obj))

    def typed(self, subject, *classes: str):
        from rdflib import RDF  # noqa: PLC0415

        for cls in classes:
            self.g.add((subject, RDF.type, self.term(cls)))
        return subject

    def literal(self, value, datatype: str | None = None):
        from rdflib import Literal, URIRef  # noqa: PLC0415

        if datatype is None:
            return Literal(value)
        return Literal(value, datatype=URIRef(datatype) if "//" in datatype else self.term(datatype))

    def label(self, subject, text: str | None) -> None:
        if text:
            self.add(subject, "rdfs:label", self.literal(text))

    def identifier(self, subject, value: str, kind: str | None = None) -> None:
        node = self.typed(self.iri("identifier", kind or "id", value), "crm:E42_Identifier")
        self.add(node, "crm:P190_has_symbolic_content", self.literal(value))
        if kind:
            self.add(node, "crm:P2_has_type", self.type_node("identifier-type", kind))
        self.add(subject, "crm:P1_is_identified_by", node)

    def type_node(self, scheme: str, value: str):
        node = self.typed(self.iri("type", scheme, value), "crm:E55_Type")
        self.label(node, value)
        return node

    def document(self, text: str):
        node = self.typed(self.iri("source", text), "crm:E31_Document")
        self.label(node, text)
        return node

    def uri(self, value: str):
        from rdflib import URIRef  # noqa: PLC0415

        return URIRef(value)


def _time_span(b: _Graph, iri, date: str):
    """An E52 Time-Span for an EDTF date: its text, and its outer bounds where they are known."""
    ts = b.typed(iri, "crm:E52_Time-Span")
    b.label(ts, date)
    try:
        span = parse_edtf(date)
    except ValueError:
        return ts  # not EDTF (a free-text survey date): the label says what is known
    b.add(ts, "crm:P3_has_note", b.literal(date, EDTF))
    begin, end = _iso_datetime(span.lower, False), _iso_datetime(span.upper, True)
    if begin:
        b.add(ts, "crm:P82a_begin_of_the_begin", b.literal(begin, "xsd:dateTime"))
    if end:
        b.add(ts, "crm:P82b_end_of_the_end", b.literal(end, "xsd:dateTime"))
    return ts


# -- layers ---------------------------------------------------------------------------------


def _layers(b: _Graph, layers: LayerFile, structure_id: str) -> None:
    from twin.ops.labelling import compile_layers  # noqa: PLC0415

    compiled = compile_layers(layers)
    structure = b.typed(b.iri("structure"), "crmba:B1_Built_Work")
    b.label(structure, layers.metadata.title)
    b.identifier(structure, structure_id)
    if layers.metadata.identifier:
        b.identifier(structure, layers.metadata.identifier, "inventory-number")

    # the documentation: Dublin Core terms
    doc = b.typed(b.iri("documentation"), "crmdig:D1_Digital_Object")
    b.add(doc, "crm:P129_is_about", structure)
    meta = layers.metadata
    for term, values in (("title", [meta.title]), ("creator", meta.creator), ("contributor", meta.contributor),
                         ("date", [meta.date]), ("description", [meta.description]), ("rights", [meta.rights]),
                         ("source", [meta.source]), ("identifier", [meta.identifier]), ("spatial", [meta.spatial]),
                         ("temporal", [meta.temporal])):
        for v in values:
            if v:
                b.add(doc, f"dcterms:{term}", b.literal(v))
    if meta.license:
        b.add(doc, "dcterms:license", b.uri(meta.license))

    materials = {}
    for m in layers.materials:
        node = b.typed(b.iri("material", m.id), "crm:E57_Material")
        b.label(node, m.label)
        b.identifier(node, m.id)
        b.add(node, "crm:P127_has_broader_term", b.uri(m.aat.replace("/page/aat/", "/aat/")))
        for key, value in m.properties.items():
            b.add(node, "crm:P3_has_note", b.literal(f"{key}: {value}"))
        materials[m.id] = node

    phases = {}
    for p in layers.phases:
        cls, _ = _PHASE_EVENTS[p.type]
        node = b.typed(b.iri("phase", p.id), f"crm:{cls}")
        if p.type == "reconstruction":
            b.typed(node, "crm:E11_Modification")  # stated, so that a query for modifications needs no reasoning
        b.label(node, p.name or p.id)
        b.identifier(node, p.id)
        b.add(node, "crm:P2_has_type", b.type_node("phase-type", p.type))
        if p.description:
            b.add(node, "crm:P3_has_note", b.literal(p.description))
        for s in p.sources:
            b.add(node, "crm:P70i_is_documented_in", b.document(s))
        if p.periodo:
            b.add(node, "crm:P10_falls_within", b.uri(p.periodo))
        b.add(node, "crm:P4_has_time-span", _time_span(b, b.iri("phase", p.id, "time-span"), p.date))
        phases[p.id] = node

    for el in layers.elements:
        node = b.typed(b.iri("element", el.id), f"{'crmba' if el.class_.startswith('B') else 'crm'}:{el.class_}")
        b.label(node, el.name)
        b.identifier(node, el.id)
        b.add(structure, "crm:P46_is_composed_of", node)
        if isinstance(el.region, UnionRegion):
            for member in el.region.union:
                b.add(node, "crm:P46_is_composed_of", b.iri("element", member))
        if el.description:
            b.add(node, "crm:P3_has_note", b.literal(el.description))
        b.add(node, "crm:P2_has_type", b.type_node("knowledge", el.knowledge.status))
        if el.knowledge.note:
            b.add(node, "crm:P3_has_note", b.literal(el.knowledge.note))
        for s in el.knowledge.sources:
            b.add(node, "crm:P70i_is_documented_in", b.document(s))
        own_and_inherited_phases, own_and_inherited_materials = effective_links(layers, el.id)
        for m in own_and_inherited_materials:
            b.add(node, "crm:P45_consists_of", materials[m])
        primary = int(compiled.primary_phase[compiled.element_index(el.id)])
        primary_id = compiled.phase_ids[primary] if primary >= 0 else None
        for p in own_and_inherited_phases:
            _, prop = _PHASE_EVENTS[layers.phase(p).type]
            if p == primary_id:
                prop = "P108i_was_produced_by"  # the phase that built its present fabric
            b.add(node, f"crm:{prop}", phases[p])


# -- processing history -----------------------------------------------------------------------


def _get(record, key: str, default=None):
    return record.get(key, default) if isinstance(record, Mapping) else getattr(record, key, default)


def _history(b: _Graph, runs: Iterable, surveys: Iterable) -> None:
    structure = b.iri("structure")
    survey_info = {_get(s, "id"): s for s in surveys}
    software_nodes: dict[tuple[str, str], object] = {}
    for run in runs:
        survey_id = _get(run, "survey_id")
        survey = b.typed(b.iri("survey", survey_id), "crm:E7_Activity")
        b.label(survey, f"survey {survey_id}")
        b.identifier(survey, survey_id)
        info = survey_info.get(survey_id)
        if info is not None:
            if _get(info, "date"):
                ts = _time_span(b, b.iri("survey", survey_id, "time-span"), str(_get(info, "date")))
                b.add(survey, "crm:P4_has_time-span", ts)
            if _get(info, "team"):
                team = b.typed(b.iri("actor", _get(info, "team")), "crm:E74_Group")
                b.label(team, _get(info, "team"))
                b.add(survey, "crm:P14_carried_out_by", team)
            if _get(info, "instrument"):
                device = b.typed(b.iri("device", _get(info, "instrument")), "crmdig:D8_Digital_Device")
                b.label(device, _get(info, "instrument"))
                b.add(survey, "crm:P16_used_specific_object", device)

        scans = []
        for scan in _get(run, "inputs", []):
            sha = _get(scan, "sha256")
            station = _get(scan, "station")
            data = b.typed(b.iri("scan", sha), "crmdig:D9_Data_Object")
            b.label(data, _get(scan, "original_name"))
            b.identifier(data, sha, "sha256")
            b.identifier(data, _get(scan, "original_name"), "file-name")
            event = b.typed(b.iri("survey", survey_id, "station", station), "crmdig:D2_Digitization_Process")
            b.label(event, f"scan of station {station} in survey {survey_id}")
            b.add(event, "crmdig:L1_digitized", structure)
            b.add(event, "crmdig:L11_had_output", data)
            b.add(survey, "crm:P9_consists_of", event)
            if info is not None and _get(info, "instrument"):
                b.add(event, "crmdig:L12_happened_on_device", b.iri("device", _get(info, "instrument")))
            scans.append(data)

        software = []
        for name, version in sorted((_get(run, "software") or {}).items()):
            key = (name, version)
            if key not in software_nodes:
                node = b.typed(b.iri("software", name, version), "crmdig:D14_Software")
                b.label(node, f"{name} {version}")
                software_nodes[key] = node
            software.append(software_nodes[key])

        model_key = _get(run, "model_key")
        run_node = b.typed(b.iri("run", model_key), "crm:E7_Activity")
        pipeline = _get(run, "pipeline") or {}
        b.label(run_node, f"pipeline {pipeline.get('name') or '(unnamed)'} on survey {survey_id}")
        b.identifier(run_node, model_key, "model-key")
        if _get(run, "started_at"):
            ts = b.typed(b.iri("run", model_key, "time-span"), "crm:E52_Time-Span")
            b.add(ts, "crm:P82a_begin_of_the_begin", b.literal(_get(run, "started_at"), "xsd:dateTime"))
            if _get(run, "finished_at"):
                b.add(ts, "crm:P82b_end_of_the_end", b.literal(_get(run, "finished_at"), "xsd:dateTime"))
            b.add(run_node, "crm:P4_has_time-span", ts)

        sources = scans
        stages = sorted(_get(run, "stages", []), key=lambda s: _get(s, "index"))
        for stage in stages:
            index, name, key = _get(stage, "index"), _get(stage, "stage"), _get(stage, "key")
            step = b.typed(b.iri("run", model_key, "stage", str(index)), "crmdig:D3_Formal_Derivation",
                           "crmdig:D10_Software_Execution")
            b.label(step, f"{index}: {name}")
            b.add(step, "crm:P2_has_type", b.type_node("stage", name))
            b.add(run_node, "crm:P9_consists_of", step)
            for src in sources:
                b.add(step, "crmdig:L21_used_as_derivation_source", src)
            params = b.typed(b.iri("run", model_key, "stage", str(index), "parameters"), "crmdig:D1_Digital_Object")
            b.label(params, f"parameters of {name}")
            text = json.dumps(_get(stage, "params") or {}, sort_keys=True, separators=(",", ":"))
            b.add(params, "crm:P190_has_symbolic_content", b.literal(text))
            b.add(step, "crmdig:L13_used_parameters", params)
            for sw in software:
                b.add(step, "crmdig:L23_used_software_or_firmware", sw)
            result = b.typed(b.iri("derivative", key), "crmdig:D9_Data_Object")
            b.label(result, f"result of {name}")
            b.identifier(result, key, "cache-key")
            b.add(step, "crmdig:L22_created_derivative", result)
            sources = [result]

        last = b.iri("run", model_key, "stage", str(_get(stages[-1], "index"))) if stages else None
        for output in _get(run, "outputs", []):
            node = b.typed(b.iri("file", _get(output, "sha256")), "crmdig:D9_Data_Object")
            b.label(node, f"{_get(output, 'role')}: {_get(output, 'path')}")
            b.identifier(node, _get(output, "sha256"), "sha256")
            b.add(node, "crm:P129_is_about", structure)
            if last is not None:
                b.add(last, "crmdig:L22_created_derivative", node)


# -- the place -------------------------------------------------------------------------------------


def _crs_iri(crs) -> str | None:
    """The OGC IRI of a pyproj CRS (``http://www.opengis.net/def/crs/EPSG/0/32648``), None without an EPSG code."""
    epsg = crs.to_epsg()
    return f"http://www.opengis.net/def/crs/EPSG/0/{epsg}" if epsg else None


def _place(b: _Graph, layers: LayerFile, crs) -> None:
    """The structure's place: its footprint as GeoSPARQL WKT in its CRS and in WGS 84."""
    import shapely  # noqa: PLC0415

    from twin.export.geojson import WGS84_DECIMALS, structure_footprint, valid_multipolygon  # noqa: PLC0415

    structure = b.iri("structure")
    place = b.typed(b.iri("place"), "crm:E53_Place")
    b.label(place, f"site of {layers.metadata.title}" if layers.metadata.title else "site")
    if layers.metadata.spatial:
        b.add(place, "crm:P3_has_note", b.literal(layers.metadata.spatial))
    b.add(structure, "crm:P53_has_former_or_current_location", place)
    footprint = structure_footprint(layers) if crs is not None else None
    if footprint is None or footprint.is_empty:
        return
    from pyproj import Transformer  # noqa: PLC0415

    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lonlat = shapely.transform(footprint, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))
    lonlat = valid_multipolygon(shapely.set_precision(lonlat, 10.0 ** -WGS84_DECIMALS))
    crs_iri = _crs_iri(crs)
    geometries = [("wgs84", lonlat, CRS84, "WGS 84 longitude-latitude (OGC CRS84)")]
    if crs_iri is not None:  # GeoSPARQL reads a WKT literal without a CRS IRI as CRS84: none rather than wrong
        geometries.insert(0, ("crs", footprint, crs_iri, crs.name))
    for name, geometry, iri, crs_name in geometries:
        node = b.typed(b.iri("place", "footprint", name), "geo:Geometry", "sf:MultiPolygon")
        b.label(node, f"footprint of the structure ({crs_name})")
        wkt = shapely.to_wkt(geometry, rounding_precision=-1 if name == "crs" else WGS84_DECIMALS, trim=True)
        literal = wkt if iri == CRS84 else f"<{iri}> {wkt}"  # CRS84 is GeoSPARQL's default
        crs_node = b.uri(iri)
        b.label(crs_node, crs_name)
        b.add(node, "dcterms:conformsTo", crs_node)
        b.add(node, "geo:asWKT", b.literal(literal, GEO + "wktLiteral"))
        b.add(place, "geo:hasGeometry", node)
        if name == geometries[0][0]:
            b.add(place, "geo:hasDefaultGeometry", node)
            b.add(place, "crm:P168_place_is_defined_by", b.literal(literal, GEO + "wktLiteral"))


# -- the export ------------------------------------------------------------------------------------


def _export(b: _Graph, export: Mapping, files: Iterable) -> None:
    """The export as a formal derivation that created every exported file (path, SHA-256, size)."""
    structure = b.iri("structure")
    export_id = str(_get(export, "id"))
    activity = b.typed(b.iri("export", export_id), "crmdig:D3_Formal_Derivation", "crmdig:D10_Software_Execution")
    survey_id = _get(export, "survey_id")
    b.label(activity, f"twin export of {_get(export, 'structure_id') or 'the structure'}"
                      + (f", survey {survey_id}" if survey_id else ""))
    b.identifier(activity, export_id, "export-id")
    if _get(export, "started_at"):
        ts = b.typed(b.iri("export", export_id, "time-span"), "crm:E52_Time-Span")
        b.add(ts, "crm:P82a_begin_of_the_begin", b.literal(_get(export, "started_at"), "xsd:dateTime"))
        b.add(activity, "crm:P4_has_time-span", ts)
    for name, version in sorted((_get(export, "software") or {}).items()):
        sw = b.typed(b.iri("software", name, version), "crmdig:D14_Software")
        b.label(sw, f"{name} {version}")
        b.add(activity, "crmdig:L23_used_software_or_firmware", sw)
    if _get(export, "model_key"):
        b.add(activity, "crmdig:L21_used_as_derivation_source", b.iri("model", _get(export, "model_key")))
        model = b.typed(b.iri("model", _get(export, "model_key")), "crmdig:D1_Digital_Object")
        b.label(model, f"model {str(_get(export, 'model_key'))[:12]}")
        b.identifier(model, _get(export, "model_key"), "model-key")
        b.add(model, "crm:P129_is_about", structure)  # the run that made it shares its model-key identifier
        for sha in _get(export, "model_files") or []:
            b.add(model, "crm:P106_is_composed_of", b.iri("file", sha))
    for sha in _get(export, "model_files") or []:
        b.add(activity, "crmdig:L21_used_as_derivation_source", b.iri("file", sha))
    if _get(export, "layers_rev") is not None:
        layers_node = b.typed(b.iri("layers", "rev", str(_get(export, "layers_rev"))), "crmdig:D1_Digital_Object")
        b.label(layers_node, f"layers, revision {_get(export, 'layers_rev')}")
        if _get(export, "layers_sha256"):
            b.identifier(layers_node, _get(export, "layers_sha256"), "sha256")
        b.add(layers_node, "crm:P129_is_about", structure)
        b.add(activity, "crmdig:L21_used_as_derivation_source", layers_node)
    for f in files:
        path, sha = str(_get(f, "path")), _get(f, "sha256")
        node = b.typed(b.iri("export", export_id, "file", path), "crmdig:D1_Digital_Object")
        b.label(node, path)
        b.identifier(node, path, "file-name")
        if sha:
            b.identifier(node, sha, "sha256")
        if _get(f, "size_bytes") is not None:
            b.add(node, "dcterms:extent", b.literal(int(_get(f, "size_bytes"))))
        suffix = Path(path).suffix.lower()
        if suffix in MEDIA_TYPES:
            b.add(node, "dcterms:format", b.literal(MEDIA_TYPES[suffix]))
        if _get(f, "format"):
            b.add(node, "crm:P2_has_type", b.type_node("format", _get(f, "format")))
        b.add(node, "crm:P129_is_about", structure)
        b.add(activity, "crmdig:L22_created_derivative", node)


# -- the document ----------------------------------------------------------------------------------


def structure_graph(layers: LayerFile, structure_id: str, runs: Sequence = (), surveys: Sequence = (), *,
                    base: str = DEFAULT_BASE, crs=None, export: Mapping | None = None, files: Sequence = ()):
    """The rdflib Graph of a structure: layers and, from provenance records, its history.

    ``runs``: :class:`~twin.pipeline.provenance.RunProvenance` objects or their dicts;
    ``surveys``: :class:`~twin.models.catalog.SurveyRecord` objects or dicts (date, team,
    instrument), matched to runs by survey id. ``crs``: a pyproj CRS of the layers'
    coordinates, for the place's geometry (none without it). ``export``: the export
    (``id``, ``structure_id``, ``survey_id``, ``started_at``, ``software``, ``model_key``,
    ``model_files`` (SHA-256 of the model's files), ``layers_rev``, ``layers_sha256``) and
    ``files`` the files it wrote (``path``, ``format``, ``size_bytes``, ``sha256``).
    """
    b = _Graph(base, structure_id)
    _layers(b, layers, structure_id)
    _place(b, layers, crs)
    _history(b, runs, surveys)
    if export is not None:
        _export(b, export, files)
    return b.g


def jsonld_document(layers: LayerFile, structure_id: str, runs: Sequence = (), surveys: Sequence = (), *,
                    base: str = DEFAULT_BASE, crs=None, export: Mapping | None = None, files: Sequence = ()) -> dict:
    """The graph as compacted JSON-LD with :data:`CONTEXT`, nodes sorted by ``@id``."""
    graph = structure_graph(layers, structure_id, runs, surveys, base=base, crs=crs, export=export, files=files)
    data = json.loads(graph.serialize(format="json-ld", context=CONTEXT, auto_compact=True))
    nodes = data.get("@graph", [data] if "@id" in data else [])
    nodes = sorted((n for n in nodes if isinstance(n, dict)), key=lambda n: n.get("@id", ""))
    return {"@context": CONTEXT, "@graph": nodes}


def write_jsonld(layers: LayerFile, structure_id: str, path: Path, runs: Sequence = (), surveys: Sequence = (), *,
                 base: str = DEFAULT_BASE, crs=None, export: Mapping | None = None, files: Sequence = ()) -> Path:
    """Write :func:`jsonld_document` atomically (UTF-8, indented)."""
    path = Path(path)
    doc = jsonld_document(layers, structure_id, runs, surveys, base=base, crs=crs, export=export, files=files)
    atomic_write_bytes(path, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return path
