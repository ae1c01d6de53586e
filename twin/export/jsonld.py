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
- **phases**: a construction is a ``crm:E12_Production`` (``crm:P108i_was_produced_by``);
  a reconstruction, restoration or repair a ``crm:E11_Modification``
  (``crm:P31i_was_modified_by``); damage and other events a ``crm:E5_Event``
  (``crm:P12i_was_present_at``). Each has a ``crm:E52_Time-Span`` whose label is the EDTF
  string (also as an ``edtf:EDTF`` typed literal) with ``crm:P82a_begin_of_the_begin`` and
  ``crm:P82b_end_of_the_end`` as ``xsd:dateTime`` (left out where the EDTF end is open or
  unknown); a PeriodO period is ``crm:P10_falls_within``;
- **materials**: a ``crm:E57_Material`` per material of the layer file, labelled as
  there, whose Getty AAT concept is ``crm:P127_has_broader_term`` (the AAT term is the
  general concept, the layer's material the one used here, with its own properties as
  notes);
- **the documentation** (the digital twin itself): a ``crmdig:D1_Digital_Object``
  ``crm:P129_is_about`` the structure, with the layers' Dublin Core terms;
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

Namespaces are the current ones published by the CIDOC-CRM SIG
(``http://www.cidoc-crm.org/extensions/crmba/`` and ``.../crmdig/``); older data uses
``http://www.cidoc-crm.org/cidoc-crm/CRMba/`` and ``http://www.ics.forth.gr/isl/CRMdig/``.

IRIs are ``<base><structure>/...`` with a configurable ``base`` (an institution's
namespace, e.g. ``https://monuments.example.org/twin/``); the default ``urn:twin:``
keeps them local and opaque.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from twin.catalog.store import atomic_write_bytes
from twin.models.edtf import iso_date, parse_edtf
from twin.models.layers import LayerFile, UnionRegion, effective_links

CRM = "http://www.cidoc-crm.org/cidoc-crm/"
CRMBA = "http://www.cidoc-crm.org/extensions/crmba/"
CRMDIG = "http://www.cidoc-crm.org/extensions/crmdig/"
DCTERMS = "http://purl.org/dc/terms/"
EDTF = "http://id.loc.gov/datatypes/edtf/EDTF"
DEFAULT_BASE = "urn:twin:"

CONTEXT = {
    "crm": CRM,
    "crmba": CRMBA,
    "crmdig": CRMDIG,
    "dcterms": DCTERMS,
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "aat": "http://vocab.getty.edu/aat/",
}

# phase type -> (event class, property from the element to the event)
_PHASE_EVENTS = {
    "construction": ("E12_Production", "P108i_was_produced_by"),
    "reconstruction": ("E11_Modification", "P31i_was_modified_by"),
    "restoration": ("E11_Modification", "P31i_was_modified_by"),
    "repair": ("E11_Modification", "P31i_was_modified_by"),
    "damage": ("E5_Event", "P12i_was_present_at"),
    "other": ("E5_Event", "P12i_was_present_at"),
}


def _iso_datetime(day: float, end: bool) -> str | None:
    if math.isinf(day):
        return None
    return iso_date(int(day)) + ("T23:59:59Z" if end else "T00:00:00Z")


class _Graph:
    """A thin builder over rdflib: IRIs from local paths, terms from prefixed names."""

    def __init__(self, base: str, structure_id: str):
        from rdflib import Graph, Namespace  # noqa: PLC0415

        self.g = Graph()
        self.root = f"{base}{quote(structure_id, safe='')}/"
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
        for p in own_and_inherited_phases:
            _, prop = _PHASE_EVENTS[layers.phase(p).type]
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


def structure_graph(layers: LayerFile, structure_id: str, runs: Sequence = (), surveys: Sequence = (), *,
                    base: str = DEFAULT_BASE):
    """The rdflib Graph of a structure: layers and, from provenance records, its history.

    ``runs``: :class:`~twin.pipeline.provenance.RunProvenance` objects or their dicts;
    ``surveys``: :class:`~twin.models.catalog.SurveyRecord` objects or dicts (date, team,
    instrument), matched to runs by survey id.
    """
    b = _Graph(base, structure_id)
    _layers(b, layers, structure_id)
    _history(b, runs, surveys)
    return b.g


def jsonld_document(layers: LayerFile, structure_id: str, runs: Sequence = (), surveys: Sequence = (), *,
                    base: str = DEFAULT_BASE) -> dict:
    """The graph as compacted JSON-LD with :data:`CONTEXT`, nodes sorted by ``@id``."""
    graph = structure_graph(layers, structure_id, runs, surveys, base=base)
    data = json.loads(graph.serialize(format="json-ld", context=CONTEXT, auto_compact=True))
    nodes = data.get("@graph", [data] if "@id" in data else [])
    nodes = sorted((n for n in nodes if isinstance(n, dict)), key=lambda n: n.get("@id", ""))
    return {"@context": CONTEXT, "@graph": nodes}


def write_jsonld(layers: LayerFile, structure_id: str, path: Path, runs: Sequence = (), surveys: Sequence = (), *,
                 base: str = DEFAULT_BASE) -> Path:
    """Write :func:`jsonld_document` atomically (UTF-8, indented)."""
    path = Path(path)
    doc = jsonld_document(layers, structure_id, runs, surveys, base=base)
    atomic_write_bytes(path, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return path
