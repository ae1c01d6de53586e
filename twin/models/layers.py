"""The layer file: what is known about a structure, authored as one YAML file.

Four sections:

``metadata``
    Dublin Core terms describing the documentation (title, creator, contributor, date,
    description, rights, license, source, identifier, spatial and temporal coverage).
``elements``
    named parts of the structure. Each has a region in the structure's coordinates (the
    georeferenced CRS of its scans, e.g. UTM metres): ``box`` (axis-aligned, min/max),
    ``boxes`` (a list of axis-aligned boxes whose union the element occupies: a wall around
    an opening, a frame of beams, a pot under a shrub), ``oriented_box`` (center, full side lengths ``extent``, and ``yaw_deg`` about the
    vertical axis or a 3x3 ``rotation`` whose columns are the box axes), ``polygon``
    (an x, y footprint with ``z_min``/``z_max``) or ``union`` (a list of other elements:
    a group such as "roof" made of "ridge" and "eaves"). Each element has a CIDOC-CRM /
    CRMba ``class``, a ``knowledge`` status after the London Charter (measured, inferred,
    hypothetical, with the sources it rests on), the ``phases`` it belongs to and the
    ``materials`` it is made of. A union's phases and materials hold for its members too.
``phases``
    dated events (construction, reconstruction, restoration, repair, damage, other) with an
    EDTF date (``1805``, ``1833~``, ``1920/1925``, ``19XX``), an optional PeriodO URI, a
    description and sources.
``materials``
    a label, a Getty AAT URI and optional properties.

Beyond field types, :func:`check_references` enforces these rules, each reported with its
place in the file (``elements[3].phases[1]: unknown phase 'restoration-1999'``):

- ids are unique within elements, phases and materials;
- every phase, material and union member an element names exists, and is named once;
- a union does not contain itself, directly or through other unions;
- an EDTF interval does not start after it ends (checked when the date is parsed);
- two *construction* phases of one element (its own or inherited from a union holding it)
  must not overlap in time: an element is built once, a later building is a reconstruction;
- a reconstruction, restoration, repair or damage of an element cannot end before the
  element's earliest construction begins.
- an inferred or hypothetical element names at least one source (London Charter).

Overlapping phases of different types (a restoration during a repair campaign) are fine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    FiniteFloat,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from twin.models.edtf import EDTF, parse_edtf

# -- simple types ----------------------------------------------------------------------

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ID = re.compile(ID_PATTERN)
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def _check_id(value: str) -> str:
    # the rules of twin.catalog.ids.check_identifier: ids become file names and URIs
    if not _ID.match(value) or value.endswith(".") or value.lower().split(".")[0] in _WINDOWS_RESERVED:
        raise ValueError(
            f"id {value!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (ids become file names)"
        )
    return value


Ident = Annotated[
    str,
    AfterValidator(_check_id),
    WithJsonSchema({"type": "string", "pattern": ID_PATTERN, "description": "file-name-safe id"}),
]

# A loose pattern for editors; the parser in twin.models.edtf is the authority.
_EDTF_DATE = r"[?~%]?(Y-?[0-9]{5,}|-?[0-9X]{4})[?~%]?(-[?~%]?[0-9X]{2}[?~%]?(-[?~%]?[0-9X]{2}[?~%]?(T[0-9:.Z+-]+)?)?)?"
EDTF_PATTERN = rf"^({_EDTF_DATE}|({_EDTF_DATE}|\.\.)?/({_EDTF_DATE}|\.\.)?|\[[^\]]+\]|\{{[^}}]+\}})$"


def _edtf_input(value: Any) -> Any:
    """YAML reads ``date: 1805`` as a number and (with the stock loader) ``1805-03-12`` as a date."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        source = getattr(value, "yaml_source", None)  # as written, from twin.layers.load
        if source is not None:
            return source
        if 1000 <= value <= 9999:
            return str(value)
        raise ValueError(f"write the year {value} as a four-digit EDTF string, e.g. '{value:04d}'")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _check_edtf(value: str) -> str:
    parse_edtf(value)  # ValueError with the reason
    return value


EDTFDate = Annotated[
    str,
    BeforeValidator(_edtf_input),
    AfterValidator(_check_edtf),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": EDTF_PATTERN},
                {"type": "integer", "minimum": 1000, "maximum": 9999},
            ],
            "description": "EDTF date or interval: 1805, 1805-03-12, 1833~, 19XX, 1920/1925, 1920/..",
        }
    ),
]

AAT_PATTERN = r"^https?://vocab\.getty\.edu/(page/)?aat/[0-9]+$"
PERIODO_PATTERN = r"^https?://(n2t\.net/ark:/99152/|perio\.do/)p0[0-9a-z]+$"
URI_PATTERN = r"^https?://[^\s]+$"


def _pattern(pattern: str, what: str, example: str):
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if not rx.match(value):
            raise ValueError(f"{value!r} is not {what} (like {example})")
        return value

    return Annotated[
        str, AfterValidator(check), WithJsonSchema({"type": "string", "pattern": pattern, "description": what})
    ]


AatUri = _pattern(AAT_PATTERN, "a Getty AAT URI", "http://vocab.getty.edu/aat/300011176")
PeriodOUri = _pattern(PERIODO_PATTERN, "a PeriodO URI", "http://n2t.net/ark:/99152/p0qhb66fc5q")
Uri = _pattern(URI_PATTERN, "an http(s) URI", "https://creativecommons.org/licenses/by/4.0/")

Vec2 = tuple[FiniteFloat, FiniteFloat]
Vec3 = tuple[FiniteFloat, FiniteFloat, FiniteFloat]
Text = Annotated[str, Field(min_length=1)]

ElementClass = Literal[
    "E22_Human-Made_Object",
    "E24_Physical_Human-Made_Thing",
    "E25_Human-Made_Feature",
    "E26_Physical_Feature",
    "B1_Built_Work",
    "B2_Morphological_Building_Section",
    "B3_Filled_Morphological_Building_Section",
    "B4_Empty_Morphological_Building_Section",
    "B5_Stratigraphic_Building_Unit",
]
KnowledgeStatus = Literal["measured", "inferred", "hypothetical"]
PhaseType = Literal["construction", "reconstruction", "restoration", "repair", "damage", "other"]

ELEMENT_CLASSES: tuple[str, ...] = ElementClass.__args__
KNOWLEDGE_STATUSES: tuple[str, ...] = KnowledgeStatus.__args__
PHASE_TYPES: tuple[str, ...] = PhaseType.__args__


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)


# -- metadata ---------------------------------------------------------------------------


class Metadata(_Model):
    """Dublin Core terms (dcterms) describing the structure's documentation."""

    title: Text
    creator: list[Text] = Field(default_factory=list, description="people or bodies who made the documentation")
    contributor: list[Text] = Field(default_factory=list)
    date: EDTFDate | None = Field(default=None, description="when the documentation was made (EDTF)")
    description: str | None = None
    rights: str | None = Field(default=None, description="rights statement, e.g. '© Hue Monuments Conservation Centre'")
    license: Uri | None = Field(default=None, description="license URI")
    source: str | None = Field(default=None, description="what the documentation derives from")
    identifier: str | None = Field(default=None, description="e.g. an inventory number")
    spatial: str | None = Field(default=None, description="spatial coverage: a place name or URI")
    temporal: EDTFDate | None = Field(default=None, description="temporal coverage (EDTF)")


# -- regions ----------------------------------------------------------------------------


class Box(_Model):
    min: Vec3
    max: Vec3

    @model_validator(mode="after")
    def _ordered(self):
        bad = [axis for axis, lo, hi in zip("xyz", self.min, self.max, strict=True) if not lo < hi]
        if bad:
            raise ValueError(f"max must be greater than min on every axis (not on {', '.join(bad)})")
        return self


class BoxRegion(_Model):
    """An axis-aligned box."""

    box: Box


class BoxesRegion(_Model):
    """Several axis-aligned boxes: the element occupies their union."""

    boxes: list[Box] = Field(min_length=1)


class OrientedBox(_Model):
    center: Vec3
    extent: tuple[Annotated[FiniteFloat, Field(gt=0)], Annotated[FiniteFloat, Field(gt=0)], Annotated[FiniteFloat, Field(gt=0)]] = Field(
        description="full side lengths along the box axes"
    )
    yaw_deg: FiniteFloat | None = Field(
        default=None, description="rotation about the vertical axis, degrees counter-clockwise from +x"
    )
    rotation: tuple[Vec3, Vec3, Vec3] | None = Field(
        default=None, description="3x3 rotation matrix (rows); its columns are the box axes"
    )

    @model_validator(mode="after")
    def _rotation(self):
        if self.yaw_deg is not None and self.rotation is not None:
            raise ValueError("give yaw_deg or rotation, not both")
        if self.rotation is not None:
            r = self.rotation
            for i in range(3):
                for j in range(3):
                    dot = sum(r[k][i] * r[k][j] for k in range(3))
                    if abs(dot - (1.0 if i == j else 0.0)) > 1e-6:
                        raise ValueError("rotation must be orthonormal (its columns unit length and perpendicular)")
        return self

    def matrix(self) -> list[list[float]]:
        """The rotation as rows of a 3x3 matrix (columns: box axes in structure coordinates)."""
        if self.rotation is not None:
            return [list(row) for row in self.rotation]
        a = math.radians(self.yaw_deg or 0.0)
        return [[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]]


class OrientedBoxRegion(_Model):
    """A box turned about its centre."""

    oriented_box: OrientedBox


class PolygonRegion(_Model):
    """A footprint polygon (x, y), extruded from z_min to z_max."""

    polygon: list[Vec2] = Field(min_length=3)
    z_min: FiniteFloat
    z_max: FiniteFloat

    @model_validator(mode="after")
    def _valid(self):
        pts = list(self.polygon)
        if len(pts) > 3 and pts[0] == pts[-1]:
            pts = pts[:-1]
        if len(set(pts)) < 3:
            raise ValueError("polygon needs at least 3 distinct vertices")
        if polygon_area(pts) <= 0:
            raise ValueError("polygon has zero area (its vertices lie on one line)")
        if not self.z_min < self.z_max:
            raise ValueError(f"z_max ({self.z_max}) must be greater than z_min ({self.z_min})")
        return self


class UnionRegion(_Model):
    """The union of other elements' regions: a group of elements."""

    union: list[Ident] = Field(min_length=1)


REGION_KINDS = ("box", "boxes", "oriented_box", "polygon", "union")


def _region_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for kind in REGION_KINDS:
            if kind in value:
                return kind
        return None
    return next((k for k, cls in _REGION_CLASSES.items() if isinstance(value, cls)), None)


def region_kind(region: Any) -> str:
    """Which kind of region this is ("box", "boxes", "oriented_box", "polygon", "union")."""
    kind = _region_tag(region)
    if kind is None:
        raise TypeError(f"not a region: {region!r}")
    return kind


_REGION_CLASSES = {
    "box": BoxRegion,
    "boxes": BoxesRegion,
    "oriented_box": OrientedBoxRegion,
    "polygon": PolygonRegion,
    "union": UnionRegion,
}

Region = Annotated[
    Union[
        Annotated[BoxRegion, Tag("box")],
        Annotated[BoxesRegion, Tag("boxes")],
        Annotated[OrientedBoxRegion, Tag("oriented_box")],
        Annotated[PolygonRegion, Tag("polygon")],
        Annotated[UnionRegion, Tag("union")],
    ],
    Discriminator(
        _region_tag,
        custom_error_type="region_kind",
        custom_error_message="a region is one of: box, boxes, oriented_box, polygon (with z_min, z_max) or union",
    ),
]


def polygon_area(points) -> float:
    """Unsigned area of a simple polygon (shoelace)."""
    s = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


# -- elements, phases, materials ---------------------------------------------------------


class Knowledge(_Model):
    """How the element is known, after the London Charter."""

    status: KnowledgeStatus
    sources: list[Text] = Field(default_factory=list, description="surveys, documents, analogies the status rests on")
    note: str | None = None

    @model_validator(mode="after")
    def _sources(self):
        if self.status != "measured" and not self.sources:
            raise ValueError(f"an element whose status is {self.status} must name its sources (knowledge.sources)")
        return self


class Element(_Model):
    id: Ident
    name: Text
    class_: ElementClass = Field(alias="class", description="CIDOC-CRM / CRMba class")
    region: Region
    knowledge: Knowledge
    stable: bool = Field(default=True, description="expected not to move between surveys (change detection)")
    phases: list[Ident] = Field(default_factory=list, description="ids of the phases the element belongs to")
    materials: list[Ident] = Field(default_factory=list, description="ids of the materials it is made of")
    description: str | None = None


class Phase(_Model):
    id: Ident
    type: PhaseType
    date: EDTFDate
    name: str | None = None
    periodo: PeriodOUri | None = Field(default=None, description="PeriodO period URI")
    description: str | None = None
    sources: list[Text] = Field(default_factory=list)

    def span(self) -> EDTF:
        return parse_edtf(self.date)


class Material(_Model):
    id: Ident
    label: Text
    aat: AatUri
    properties: dict[str, Union[bool, int, float, str]] = Field(default_factory=dict)


class LayerFile(_Model):
    """A structure's layers: metadata, elements, phases and materials."""

    metadata: Metadata
    crs: str | None = Field(
        default=None, description="the coordinate system of the regions, e.g. EPSG:32648 (informational)"
    )
    elements: list[Element] = Field(default_factory=list)
    phases: list[Phase] = Field(default_factory=list)
    materials: list[Material] = Field(default_factory=list)

    @field_validator("elements", "phases", "materials", mode="before")
    @classmethod
    def _null_is_empty(cls, value):
        return [] if value is None else value

    @model_validator(mode="after")
    def _references(self):
        problems = check_references(self)
        if problems:
            raise LayerReferenceError(problems)
        return self

    # -- lookups --------------------------------------------------------------------------

    def element(self, element_id: str) -> Element:
        return next(e for e in self.elements if e.id == element_id)

    def phase(self, phase_id: str) -> Phase:
        return next(p for p in self.phases if p.id == phase_id)

    def material(self, material_id: str) -> Material:
        return next(m for m in self.materials if m.id == material_id)


class LayerReferenceError(ValueError):
    """Cross-reference problems, each with its place in the file."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in problems))


def format_loc(loc) -> str:
    """``('elements', 2, 'region')`` → ``elements[2].region``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# -- cross references ------------------------------------------------------------------


_AFTER_CONSTRUCTION = {"reconstruction", "restoration", "repair", "damage"}


def check_references(layers: LayerFile) -> list[tuple[tuple, str]]:
    """Every cross-reference problem, as (place in the file, reason)."""
    problems: list[tuple[tuple, str]] = []
    for section, items in (("elements", layers.elements), ("phases", layers.phases), ("materials", layers.materials)):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.id in first:
                problems.append(((section, i, "id"), f"duplicate id {item.id!r} (also {section}[{first[item.id]}])"))
            else:
                first[item.id] = i
    elements = {e.id: e for e in layers.elements}
    phases = {p.id: p for p in layers.phases}
    materials = {m.id for m in layers.materials}

    for i, el in enumerate(layers.elements):
        for field, known, what in (("phases", phases, "phase"), ("materials", materials, "material")):
            seen: set[str] = set()
            for j, ref in enumerate(getattr(el, field)):
                if ref not in known:
                    problems.append(((("elements", i, field, j)), f"unknown {what} {ref!r}{_known(known)}"))
                elif ref in seen:
                    problems.append(((("elements", i, field, j)), f"{what} {ref!r} is listed twice"))
                seen.add(ref)
        if isinstance(el.region, UnionRegion):
            seen = set()
            for j, ref in enumerate(el.region.union):
                loc = ("elements", i, "region", "union", j)
                if ref == el.id:
                    problems.append((loc, f"element {el.id!r} cannot contain itself"))
                elif ref not in elements:
                    problems.append((loc, f"unknown element {ref!r}{_known(elements)}"))
                elif ref in seen:
                    problems.append((loc, f"element {ref!r} is listed twice"))
                seen.add(ref)
    if problems:
        return problems

    index = {e.id: i for i, e in enumerate(layers.elements)}
    for cycle in _union_cycles(layers):
        problems.append(
            (("elements", index[cycle[0]], "region", "union"), "unions form a cycle: " + " → ".join(cycle + [cycle[0]]))
        )
    if problems:
        return problems

    spans = {p.id: p.span() for p in layers.phases}
    for i, el in enumerate(layers.elements):
        own_and_inherited, _ = effective_links(layers, el.id)
        built = [p for p in own_and_inherited if phases[p].type == "construction"]
        for a_i, a in enumerate(built):
            for b in built[a_i + 1 :]:
                if spans[a].overlaps(spans[b]):
                    problems.append(
                        (
                            ("elements", i, "phases"),
                            f"element {el.id!r}: construction phases {a!r} ({phases[a].date}) and {b!r} "
                            f"({phases[b].date}) overlap: "
                            "an element is built once; make the later one a reconstruction or correct the dates",
                        )
                    )
        if built:
            first_built = min(built, key=lambda p: spans[p].lower)
            for p in own_and_inherited:
                if phases[p].type in _AFTER_CONSTRUCTION and spans[p].upper < spans[first_built].lower:
                    problems.append(
                        (
                            ("elements", i, "phases"),
                            f"element {el.id!r}: {phases[p].type} {p!r} ({phases[p].date}) ends before its construction "
                            f"{first_built!r} ({phases[first_built].date}) begins",
                        )
                    )
    return problems


def _known(known) -> str:
    names = sorted(known)
    if not names:
        return " (none defined)"
    shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
    return f" (known: {shown})"


def _union_cycles(layers: LayerFile) -> list[list[str]]:
    members = {e.id: list(e.region.union) if isinstance(e.region, UnionRegion) else [] for e in layers.elements}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in members.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :])
            elif state.get(nxt) is None:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for e in layers.elements:
        if state.get(e.id) is None:
            visit(e.id, [])
    return cycles


def union_parents(layers: LayerFile) -> dict[str, list[str]]:
    """For each element, the union elements that list it directly."""
    parents: dict[str, list[str]] = {e.id: [] for e in layers.elements}
    for e in layers.elements:
        if isinstance(e.region, UnionRegion):
            for m in e.region.union:
                parents.setdefault(m, []).append(e.id)
    return parents


def effective_links(layers: LayerFile, element_id: str) -> tuple[list[str], list[str]]:
    """The phases and materials that hold for an element: its own first, then those of the
    unions that contain it (directly or through other unions), each once, in file order."""
    parents = union_parents(layers)
    by_id = {e.id: e for e in layers.elements}
    order, queue, seen = [], [element_id], {element_id}
    while queue:
        current = queue.pop(0)
        order.append(current)
        for p in parents.get(current, []):
            if p not in seen:
                seen.add(p)
                queue.append(p)
    phases: list[str] = []
    materials: list[str] = []
    for eid in order:
        el = by_id[eid]
        phases += [p for p in el.phases if p not in phases]
        materials += [m for m in el.materials if m not in materials]
    return phases, materials


# -- canonical form ------------------------------------------------------------------------


def layers_to_data(layers: LayerFile) -> dict:
    """Plain JSON-ready data, with the file's key names (``class``)."""
    return layers.model_dump(mode="json", by_alias=True)


def canonical_json(layers: LayerFile) -> str:
    """Defaults filled in, keys sorted, no whitespace: equal content gives equal text."""
    return json.dumps(layers_to_data(layers), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def layers_digest(layers: LayerFile) -> str:
    """SHA-256 of the canonical JSON: the identity of a layer revision's content."""
    return hashlib.sha256(canonical_json(layers).encode("utf-8")).hexdigest()


# -- catalog records (what `twin layers ... --json` and `twin query --json` print) --------------


class RevisionInfo(BaseModel):
    """One stored revision of a structure's layers, without its content."""

    structure_id: str
    rev: int
    author: str
    created_at: str
    sha256: str
    message: str | None = None
    source_name: str | None = None
    elements: int = 0
    phases: int = 0
    materials: int = 0
    created: bool = Field(default=True, description="false when set found the content identical to the latest")


class LayerRevision(RevisionInfo):
    """A revision with its content: the validated layers and the YAML as authored."""

    layers: LayerFile
    yaml_text: str


class FieldChange(BaseModel):
    field: str  # dotted path inside the item, e.g. region.box.min
    old: Any = None
    new: Any = None


class ItemChange(BaseModel):
    id: str
    fields: list[FieldChange]


class SectionDiff(BaseModel):
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    changed: list[ItemChange] = Field(default_factory=list)


class LinkChange(BaseModel):
    """An element whose phases (or materials) changed, unions included."""

    element: str
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


class LayerDiff(BaseModel):
    structure_id: str
    rev1: int
    rev2: int
    identical: bool
    metadata: list[FieldChange] = Field(default_factory=list, description="metadata fields and crs")
    elements: SectionDiff = Field(default_factory=SectionDiff)
    phases: SectionDiff = Field(default_factory=SectionDiff)
    materials: SectionDiff = Field(default_factory=SectionDiff)
    element_phases: list[LinkChange] = Field(default_factory=list)
    element_materials: list[LinkChange] = Field(default_factory=list)


class PhaseRef(BaseModel):
    id: str
    type: str
    date: str
    earliest: str | None = None
    latest: str | None = None


class MaterialRef(BaseModel):
    id: str
    label: str
    aat: str


class QueryHit(BaseModel):
    """An element that matched a query, with what holds for it (its own and its unions')."""

    structure_id: str
    rev: int
    element_id: str
    name: str
    element_class: str
    status: str
    phases: list[PhaseRef] = Field(default_factory=list)
    materials: list[MaterialRef] = Field(default_factory=list)
    matched_phases: list[str] = Field(default_factory=list, description="phases that met --phase/--from/--to")
