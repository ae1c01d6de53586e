"""A model's mesh and the structure's layers as IFC 4.3 (IFC4X3_ADD2), for BIM tools (HBIM).

One file, ``<structure>-<survey>-<level>.ifc``, written with IfcOpenShell::

    IfcProject            the structure; metres; pset Twin_Documentation (Dublin Core, model, level)
      IfcSite             the place (metadata.spatial), its reference latitude/longitude from the CRS
        IfcBuilding       the structure's id and name
          IfcBuildingStorey   one storey that contains every element
            IfcColumn, IfcWall, IfcSlab, ...   one per element with faces at this level
            IfcBuildingElementProxy            the faces that lie in no element ("unlabelled")
      IfcGroup            one per union of elements (a group such as "columns"), holding its members

**Which IFC class.** The layer file names an element's CIDOC-CRM class, not its building
role, so the role is read from its id, then its name (the first word that says, plurals
too): ``column``/``pillar`` → IfcColumn, ``wall`` → IfcWall, ``slab``, ``floor``,
``platform``, ``paving``, ``courtyard``, ``terrace`` → IfcSlab, ``roof`` → IfcRoof,
``stair``/``step`` → IfcStair, ``door`` → IfcDoor, ``window`` → IfcWindow, ``beam``,
``lintel``, ``rafter``, ``purlin`` → IfcBeam, ``railing``/``balustrade`` → IfcRailing;
anything else (a stele, an urn) is an IfcBuildingElementPart. Names as ``twin layers
suggest`` writes them (``column-07``, ``wall-north``) and the sample's are read this way.

**Geometry.** Each element's faces of the chosen level, as they were labelled
(:func:`twin.ops.labelling.label_faces`, the same labels as the GLB), form one
IfcTriangulatedFaceSet (an IfcCartesianPointList3D of the vertices its faces use, in the
mesh's order and winding) in a ``Body``/``Tessellation`` representation. Every face of the
level is in exactly one product. Coordinates are the mesh's local ones about the model's
origin (never UTM-sized numbers), rounded to a micrometre, the model context's precision:
a reader such as IfcOpenShell's geometry iterator leaves out only the faces narrower than
that (slivers whose corners lie within a micrometre of a line: 7 of the 199,999 faces of
the sample's 200k level). Every placement is the identity.

**Georeferencing.** With a survey CRS, an IfcMapConversion from the model context to an
IfcProjectedCRS (``EPSG:32648``, its datum, projection, zone and map unit; a compound
CRS's vertical datum) has Eastings, Northings and OrthogonalHeight = the model's origin,
no rotation and scale 1: a point's map coordinates are ``origin + (x, y, z)``, to the
millimetre. A geographic or geocentric CRS cannot be a map conversion's target: as
without a CRS, the file is then in the model's own frame (the site placed at its origin)
and a warning says so.

**Properties.** Every element and group carries ``Twin_Heritage`` (custom: the ``Pset_``
prefix is buildingSMART's): its id, CIDOC-CRM class, knowledge status after the London
Charter with its sources and note, stability, its phases (ids, types, names, EDTF dates,
sources) and the primary phase with its earliest and latest day, its materials (ids,
labels, Getty AAT URIs) and the primary one, the groups it belongs to, the documentation's
rights and licence, and its face count and level. Elements also get their class's
standard ``Pset_<Class>Common`` (``Reference`` = the id, ``Status`` EXISTING). Materials
are IfcMaterial (name = label) with ``Twin_Material`` (id, AAT URI and id, the layer
file's properties); an element of several materials gets an IfcMaterialConstituentSet.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import twin
from twin.catalog.store import atomic_target
from twin.export.labelled import legend
from twin.io.crs import pyproj_crs
from twin.models.layers import LayerFile, UnionRegion
from twin.models.mesh import TriMesh
from twin.models.scan import CRSInfo
from twin.ops.labelling import NO_LABEL, CompiledLayers

SCHEMA = "IFC4X3"
DECIMALS = 6  # metres: vertices rounded to a micrometre, the model context's precision
UNLABELLED = "unlabelled"
PART = "IfcBuildingElementPart"
KEYWORDS = {
    "column": "IfcColumn", "pillar": "IfcColumn",
    "wall": "IfcWall",
    "slab": "IfcSlab", "floor": "IfcSlab", "platform": "IfcSlab", "paving": "IfcSlab", "courtyard": "IfcSlab",
    "terrace": "IfcSlab",
    "roof": "IfcRoof",
    "stair": "IfcStair", "step": "IfcStair",
    "door": "IfcDoor",
    "window": "IfcWindow",
    "beam": "IfcBeam", "lintel": "IfcBeam", "rafter": "IfcBeam", "purlin": "IfcBeam",
    "railing": "IfcRailing", "balustrade": "IfcRailing",
}


@dataclass
class IfcExport:
    """What :func:`write_ifc` wrote: the file, the faces of each product (element id, or
    ``unlabelled``), the elements left out for want of faces, and warnings for the report."""

    path: Path
    faces: dict[str, int]
    without_faces: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# -- pure parts -------------------------------------------------------------------------------


def ifc_class(element_id: str, name: str) -> str:
    """The IFC class an element's id, else its name, says (see the module); else a part."""
    for text in (element_id, name):
        for word in re.findall(r"[a-z]+", text.lower()):
            for candidate in (word, word[:-1] if word.endswith("s") else None):
                if candidate in KEYWORDS:
                    return KEYWORDS[candidate]
    return PART


def face_groups(face_element: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(label, face indices)`` for every label that has faces, unlabelled (-1) first."""
    face_element = np.asarray(face_element)
    order = np.argsort(face_element, kind="stable")
    labels, starts = np.unique(face_element[order], return_index=True)
    return [(int(label), part) for label, part in zip(labels, np.split(order, starts[1:]), strict=True)]


def local_face_set(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertices ``faces`` use (rounded to :data:`DECIMALS`) and the faces as 1-based
    indices into them, as IfcTriangulatedFaceSet wants."""
    used, index = np.unique(np.asarray(faces).ravel(), return_inverse=True)
    return np.round(vertices[used], DECIMALS), index.reshape(-1, 3) + 1


# -- the coordinate system --------------------------------------------------------------------


@dataclass(frozen=True)
class MapCRS:
    """The IfcProjectedCRS of a survey CRS, and the origin's latitude and longitude."""

    name: str
    description: str
    datum: str | None
    projection: str | None
    zone: str | None
    vertical_datum: str | None
    lat_lon: tuple[float, float]


def map_crs(crs: CRSInfo | None, origin: np.ndarray) -> tuple[MapCRS | None, list[str]]:
    """The projected CRS to georeference with, or None and a warning why not."""
    full = pyproj_crs(crs)
    if full is None:
        return None, ["the survey has no coordinate system: the IFC is in the model's own frame (no "
                      "IfcMapConversion, the site placed at the model's origin); give the scans a CRS at ingest "
                      "(--crs EPSG:NNNN) to georeference it"]
    from pyproj import Transformer  # noqa: PLC0415  (slow to import)

    parts = full.sub_crs_list or [full]
    horizontal, vertical = parts[0], (parts[1] if len(parts) > 1 else None)
    if not horizontal.is_projected:
        return None, [f"the survey's coordinate system {full.name} is not projected, so it cannot be an "
                      "IfcMapConversion's target: the IFC is in the model's own frame (the site placed at the "
                      "model's origin)"]
    epsg = horizontal.to_epsg()
    lon, lat = Transformer.from_crs(horizontal, "EPSG:4326", always_xy=True).transform(origin[0], origin[1])
    operation = horizontal.coordinate_operation
    return MapCRS(name=f"EPSG:{epsg}" if epsg else horizontal.name, description=horizontal.name,
                  datum=horizontal.datum.name if horizontal.datum else None,
                  projection=operation.method_name if operation else None, zone=horizontal.utm_zone,
                  vertical_datum=vertical.name if vertical is not None else None,
                  lat_lon=(float(lat), float(lon))), []


# -- writing ------------------------------------------------------------------------------------


def write_ifc(path: Path, mesh: TriMesh, face_element: np.ndarray, layers: LayerFile, *,
              compiled: CompiledLayers | None = None, crs: CRSInfo | None = None, structure_id: str,
              structure_name: str | None = None, level: str | None = None,
              about: Mapping[str, str] | None = None) -> IfcExport:
    """Write ``mesh`` with its faces' elements (int, -1 = none) as IFC 4.3, atomically.

    ``about`` (survey, model key, layers revision, ...) goes into the project's
    Twin_Documentation. Raises ValueError for labels that do not fit the mesh or the layers,
    :class:`~twin.errors.CRSError` for a CRS pyproj cannot read.
    """
    face_element = np.asarray(face_element)
    if not mesh.n_faces:
        raise ValueError(f"{Path(path).name}: the mesh has no faces; there is nothing to write as IFC")
    if face_element.shape != (mesh.n_faces,):
        raise ValueError(f"{len(face_element)} face labels for {mesh.n_faces} faces")
    table = legend(layers, compiled)
    if face_element.max() >= len(table["elements"]) or face_element.min() < NO_LABEL:
        raise ValueError("face labels out of the layers' range; were they made with other layers?")
    place, warnings = map_crs(crs, mesh.origin)
    writer = _Writer(layers, table, level)
    writer.spatial_tree(structure_id, structure_name, about or {}, place, mesh.origin)
    products, faces = {}, {}
    for label, which in face_groups(face_element):
        row = table["elements"][label] if label != NO_LABEL else None
        products[label] = writer.element(row, mesh.vertices, mesh.faces[which])
        faces[row["id"] if row else UNLABELLED] = len(which)
    writer.contain(list(products.values()))
    writer.materials({label: product for label, product in products.items() if label != NO_LABEL})
    writer.groups(products)
    path = Path(path)
    with atomic_target(path) as tmp:
        writer.file.write(str(tmp))
    leaves = [e["id"] for e in table["elements"] if e["region"] != "union"]
    missing = [e for e in leaves if e not in faces]
    if missing:
        warnings.append(f"{len(missing)} element(s) have no face {f'at level {level}' if level else 'in the mesh'} "
                        "and are not in the IFC: "
                        + ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else ""))
    return IfcExport(path, faces, missing, warnings)


def _api():
    import ifcopenshell  # noqa: PLC0415  (slow to import)
    import ifcopenshell.api.aggregate  # noqa: PLC0415
    import ifcopenshell.api.context  # noqa: PLC0415
    import ifcopenshell.api.georeference  # noqa: PLC0415
    import ifcopenshell.api.group  # noqa: PLC0415
    import ifcopenshell.api.material  # noqa: PLC0415
    import ifcopenshell.api.pset  # noqa: PLC0415
    import ifcopenshell.api.root  # noqa: PLC0415
    import ifcopenshell.api.spatial  # noqa: PLC0415
    import ifcopenshell.api.unit  # noqa: PLC0415
    import ifcopenshell.util.geolocation  # noqa: PLC0415

    return ifcopenshell


class _Writer:
    """One IFC file under construction: the spatial tree, then elements, materials, groups."""

    def __init__(self, layers: LayerFile, table: dict, level: str | None):
        self.ifc = _api()
        self.api = self.ifc.api
        self.file = self.ifc.file(schema=SCHEMA)
        self.layers, self.table, self.level = layers, table, level
        self.phases = {p["id"]: p for p in table["phases"]}
        self.material_rows = {m["id"]: m for m in table["materials"]}
        self.groups_of = _groups_of(layers)

    # the project and its spatial tree

    def spatial_tree(self, structure_id: str, structure_name: str | None, about: Mapping[str, str],
                     place: MapCRS | None, origin: np.ndarray) -> None:
        f, api, meta = self.file, self.api, self.layers.metadata
        f.header.file_name.name = f"{structure_id}.ifc"
        f.header.file_name.originating_system = f"twin {twin.__version__}"
        f.header.file_description.description = ("ViewDefinition [ReferenceView]",)
        project = api.root.create_entity(f, ifc_class="IfcProject", name=structure_id)
        project.LongName, project.Description = meta.title, meta.description
        self.metre = api.unit.add_si_unit(f, unit_type="LENGTHUNIT")
        api.unit.assign_unit(f, units=[self.metre, api.unit.add_si_unit(f, unit_type="AREAUNIT"),
                                       api.unit.add_si_unit(f, unit_type="VOLUMEUNIT")])
        model = api.context.add_context(f, context_type="Model")
        model.Precision = 10.0 ** -DECIMALS  # the geometry iterator keeps every face wider than this
        self.body = api.context.add_context(f, context_type="Model", context_identifier="Body",
                                            target_view="MODEL_VIEW", parent=model)
        site = api.root.create_entity(f, ifc_class="IfcSite", name=meta.spatial or structure_id)
        building = api.root.create_entity(f, ifc_class="IfcBuilding", name=structure_id)
        building.LongName, building.Description = structure_name, meta.title
        self.storey = api.root.create_entity(f, ifc_class="IfcBuildingStorey", name="elements")
        self.storey.Description = "every element of the structure (the survey records no storeys)"
        self.storey.Elevation = 0.0
        api.aggregate.assign_object(f, products=[site], relating_object=project)
        api.aggregate.assign_object(f, products=[building], relating_object=site)
        api.aggregate.assign_object(f, products=[self.storey], relating_object=building)
        site.ObjectPlacement = self._placement(None, origin if place is None else np.zeros(3))
        building.ObjectPlacement = self._placement(site.ObjectPlacement)
        self.storey.ObjectPlacement = self._placement(building.ObjectPlacement)
        if place is not None:
            self._georeference(place, origin, site)
        self._pset(project, "Twin_Documentation", _documentation(meta, about, self.level))

    def _georeference(self, place: MapCRS, origin: np.ndarray, site) -> None:
        f, geolocation = self.file, self.ifc.util.geolocation
        self.api.georeference.add_georeferencing(f, name=place.name)
        self.api.georeference.edit_georeferencing(
            f, projected_crs={"Description": place.description, "GeodeticDatum": place.datum,
                              "VerticalDatum": place.vertical_datum, "MapProjection": place.projection,
                              "MapZone": place.zone, "MapUnit": self.metre},
            coordinate_operation={"Eastings": float(origin[0]), "Northings": float(origin[1]),
                                  "OrthogonalHeight": float(origin[2]), "XAxisAbscissa": 1.0,
                                  "XAxisOrdinate": 0.0, "Scale": 1.0})
        lat, lon = place.lat_lon
        site.RefLatitude = geolocation.dd2dms(lat, use_us=True)
        site.RefLongitude = geolocation.dd2dms(lon, use_us=True)
        site.RefElevation = float(origin[2])

    def _placement(self, relative_to, at: np.ndarray | None = None):
        f = self.file
        point = f.createIfcCartesianPoint([float(v) for v in (np.zeros(3) if at is None else at)])
        return f.createIfcLocalPlacement(relative_to, f.createIfcAxis2Placement3D(point, None, None))

    # elements

    def element(self, row: dict | None, vertices: np.ndarray, faces: np.ndarray):
        """One product with its faces' geometry and properties (row None: the unlabelled faces)."""
        f, api = self.file, self.api
        if row is None:
            cls, name = "IfcBuildingElementProxy", UNLABELLED
        else:
            cls, name = ifc_class(row["id"], row["name"]), row["name"]
        product = api.root.create_entity(f, ifc_class=cls, name=name)
        coords, index = local_face_set(vertices, faces)
        face_set = f.createIfcTriangulatedFaceSet(f.createIfcCartesianPointList3D(coords.tolist()), None, False,
                                                  index.tolist())
        shape = f.createIfcShapeRepresentation(self.body, "Body", "Tessellation", [face_set])
        product.Representation = f.createIfcProductDefinitionShape(None, None, [shape])
        product.ObjectPlacement = self._placement(self.storey.ObjectPlacement)
        if row is None:
            product.Description = "the faces of the mesh that lie in no element's region"
            self._pset(product, "Twin_Heritage", [("FaceCount", "IfcCountMeasure", len(faces)),
                                                  ("Level", "IfcLabel", self.level)])
            return product
        product.Tag, product.Description = row["id"], row["description"]
        self._pset(product, "Twin_Heritage", self._heritage(row, len(faces)))
        if cls != PART:
            common = self.api.pset.add_pset(f, product=product, name=f"Pset_{cls[3:]}Common")
            self.api.pset.edit_pset(f, pset=common, properties={"Reference": row["id"], "Status": ["EXISTING"]})
        return product

    def _heritage(self, row: dict, face_count: int | None) -> list[tuple[str, str, object]]:
        phases = [self.phases[p] for p in row["phases"]]
        materials = [self.material_rows[m] for m in row["materials"]]
        primary = self.phases.get(row["primary_phase"]) if row["primary_phase"] else None
        element = self.layers.element(row["id"])
        meta = self.layers.metadata
        return [
            ("ElementId", "IfcIdentifier", row["id"]),
            ("CrmClass", "IfcLabel", row["class"]),
            ("KnowledgeStatus", "IfcLabel", row["knowledge"]),
            ("KnowledgeSources", "IfcText", row["knowledge_sources"]),
            ("KnowledgeNote", "IfcText", element.knowledge.note),
            ("Stable", "IfcBoolean", row["stable"]),
            ("Phases", "IfcIdentifier", row["phases"]),
            ("PhaseTypes", "IfcLabel", [p["type"] for p in phases]),
            ("PhaseNames", "IfcLabel", [p["name"] or p["id"] for p in phases]),
            ("PhaseDates", "IfcLabel", [p["date"] for p in phases]),
            ("PhaseSources", "IfcText", [f"{p['id']}: {s}" for p in phases for s in p["sources"]]),
            ("PrimaryPhase", "IfcIdentifier", row["primary_phase"]),
            ("PrimaryPhaseDate", "IfcLabel", primary and primary["date"]),
            ("PrimaryPhaseEarliest", "IfcDate", primary and primary["earliest"]),
            ("PrimaryPhaseLatest", "IfcDate", primary and primary["latest"]),
            ("Materials", "IfcIdentifier", row["materials"]),
            ("MaterialLabels", "IfcLabel", [m["label"] for m in materials]),
            ("MaterialAAT", "IfcURIReference", [m["aat"] for m in materials]),
            ("PrimaryMaterial", "IfcIdentifier", row["primary_material"]),
            ("Groups", "IfcIdentifier", self.groups_of.get(row["id"], [])),
            ("Members", "IfcIdentifier", row["members"]),
            ("Rights", "IfcText", meta.rights),
            ("License", "IfcURIReference", meta.license),
            ("FaceCount", "IfcCountMeasure", face_count),
            ("Level", "IfcLabel", self.level if face_count is not None else None),
        ]

    def contain(self, products: list) -> None:
        self.api.spatial.assign_container(self.file, products=products, relating_structure=self.storey)

    # materials and groups

    def materials(self, products: Mapping[int, object]) -> None:
        """An IfcMaterial per material; each element gets its own (one) or a constituent set
        (several), one association per distinct combination."""
        f, api = self.file, self.api
        made = {}
        for m in self.table["materials"]:
            material = api.material.add_material(f, name=m["label"], category=None)
            material.Description = f"Getty AAT {m['aat']}"
            self._pset(material, "Twin_Material", [
                ("MaterialId", "IfcIdentifier", m["id"]), ("AAT", "IfcURIReference", m["aat"]),
                ("AATId", "IfcIdentifier", m["aat"].rstrip("/").rsplit("/", 1)[-1]),
                *((k, _measure(v), v) for k, v in m["properties"].items())])
            made[m["id"]] = material
        combos: dict[tuple[str, ...], list] = {}
        for label, product in products.items():
            ids = tuple(self.table["elements"][label]["materials"])
            if ids:
                combos.setdefault(ids, []).append(product)
        for ids, members in combos.items():
            if len(ids) == 1:
                target = made[ids[0]]
            else:
                target = api.material.add_material_set(f, name=" + ".join(ids), set_type="IfcMaterialConstituentSet")
                for mid in ids:
                    api.material.add_constituent(f, constituent_set=target, material=made[mid], name=mid)
            api.material.assign_material(f, products=members, material=target)

    def groups(self, products: Mapping[int, object]) -> None:
        """An IfcGroup per union, holding the products and groups of its members (nested
        unions become nested groups); a union none of whose members has faces is left out."""
        rows = self.table["elements"]
        index = {row["id"]: i for i, row in enumerate(rows)}
        made: dict[str, object] = {}

        def group(element_id: str):
            if element_id in made:
                return made[element_id]
            row = rows[index[element_id]]
            members = [m for m in (products.get(index[mid]) if rows[index[mid]]["region"] != "union" else group(mid)
                                   for mid in row["members"]) if m is not None]
            made[element_id] = None
            if members:
                made[element_id] = self.api.group.add_group(self.file, name=row["id"], description=row["name"])
                self.api.group.assign_group(self.file, products=members, group=made[element_id])
                self._pset(made[element_id], "Twin_Heritage", self._heritage(row, None))
            return made[element_id]

        for row in rows:
            if row["region"] == "union":
                group(row["id"])

    # property sets

    def _pset(self, owner, name: str, spec: list[tuple[str, str, object]]) -> None:
        """A property set of the given (name, IFC type, value) rows; None and [] are left out,
        a list becomes an IfcPropertyListValue."""
        f = self.file
        properties = []
        for key, kind, value in spec:
            if value is None or value == []:
                continue
            if isinstance(value, list):
                properties.append(f.createIfcPropertyListValue(key, None, [f.create_entity(kind, v) for v in value]))
            else:
                properties.append(f.createIfcPropertySingleValue(key, None, f.create_entity(kind, value)))
        pset = self.api.pset.add_pset(f, product=owner, name=name)
        setattr(pset, "Properties" if pset.is_a("IfcMaterialProperties") else "HasProperties", properties)


def _measure(value) -> str:
    if isinstance(value, bool):
        return "IfcBoolean"
    if isinstance(value, int):
        return "IfcInteger"
    if isinstance(value, float):
        return "IfcReal"
    return "IfcText"


def _groups_of(layers: LayerFile) -> dict[str, list[str]]:
    """The unions that name each element as a member."""
    out: dict[str, list[str]] = {}
    for element in layers.elements:
        if isinstance(element.region, UnionRegion):
            for member in element.region.union:
                out.setdefault(member, []).append(element.id)
    return out


def _documentation(meta, about: Mapping[str, str], level: str | None) -> list[tuple[str, str, object]]:
    """The project's Twin_Documentation: Dublin Core terms, what was exported and when."""
    return [
        ("Title", "IfcLabel", meta.title), ("Creator", "IfcLabel", list(meta.creator)),
        ("Contributor", "IfcLabel", list(meta.contributor)), ("Date", "IfcLabel", meta.date),
        ("Description", "IfcText", meta.description), ("Rights", "IfcText", meta.rights),
        ("License", "IfcURIReference", meta.license), ("Source", "IfcText", meta.source),
        ("Identifier", "IfcIdentifier", meta.identifier), ("Spatial", "IfcText", meta.spatial),
        ("Temporal", "IfcLabel", meta.temporal),
        *((key, "IfcLabel", str(value)) for key, value in about.items()),
        ("Level", "IfcLabel", level),
        ("Software", "IfcLabel", f"twin {twin.__version__}"),
        ("Exported", "IfcDateTime", dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()),
    ]
