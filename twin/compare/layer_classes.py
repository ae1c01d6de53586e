"""Comparing a structure's parts within one survey: per element, phase or material, how
much surface (mesh face area), how many points, what volume, which dates; and between
two revisions of the layers, which elements changed phase or material.

Points are labelled by their position, each with the leaf element whose region holds it,
and faces by the points that support them: each takes the element most of the cloud
points nearest it carry (:func:`twin.ops.labelling.label_faces`). An element
counts in every phase and material that holds for it, its own and those of the unions
that contain it, so a surface rebuilt in 1833 and restored in 1925 counts under both and
the classes of ``--by phase`` can add up to more than the whole. A union element (a
group) gathers its members. Volume is given where the element's faces surround it
(:func:`twin.compare.meshstats.sliced_volume`: horizontal slices round a fitted axis) and
cover at least ``MIN_MEASURED_SHARE`` of the slices' turn; the share is given with it.
For a phase or material, the sum over its elements that have a volume, with how many of
its elements that covers. Date ranges are the EDTF spans of the phases (earliest and
latest possible day).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from twin.compare.element_stats import union_members
from twin.compare.meshstats import face_areas, sliced_volume
from twin.errors import UsageError
from twin.models.layers import LayerFile, UnionRegion, effective_links

By = Literal["phase", "material", "element"]
MIN_MEASURED_SHARE = 0.8  # of the turn round an element's axis, covered by its faces, to state its volume
BY = ("phase", "material", "element")


class ClassRow(BaseModel):
    id: str
    label: str | None = None  # element name, material label, phase name
    type: str | None = None  # phase type
    date: str | None = None  # phase EDTF
    aat: str | None = None  # material
    elements: list[str] = Field(default_factory=list)
    faces: int = 0
    area_m2: float | None = None  # None without a mesh
    points: int = 0
    volume_m3: float | None = None
    measured_share: float | None = None  # of the turn round an element's axis, covered by its faces
    closed_elements: int = 0
    earliest: str | None = None
    latest: str | None = None
    phases: list[str] = Field(default_factory=list)
    materials: list[str] = Field(default_factory=list)


class ElementChange(BaseModel):
    element: str
    phases_added: list[str] = Field(default_factory=list)
    phases_removed: list[str] = Field(default_factory=list)
    materials_added: list[str] = Field(default_factory=list)
    materials_removed: list[str] = Field(default_factory=list)
    area_m2: float | None = None
    points: int = 0


class LayerComparison(BaseModel):
    structure_id: str
    survey_id: str
    model: str
    mesh: str | None
    by: str
    rev: int
    classes: list[ClassRow]
    unlabelled: dict
    total_area_m2: float | None
    total_points: int
    other_rev: int | None = None
    other_classes: list[ClassRow] | None = None
    elements_added: list[str] = Field(default_factory=list)
    elements_removed: list[str] = Field(default_factory=list)
    changes: list[ElementChange] = Field(default_factory=list)


class _Measures:
    """Per leaf element of one layers revision: faces, area, points, closed volume."""

    def __init__(self, layers: LayerFile, mesh, cloud):
        from twin.ops.labelling import compile_layers, label_faces, label_points  # noqa: PLC0415

        self.layers = layers
        self.compiled = compile_layers(layers)
        n = len(self.compiled.element_ids)
        self.has_mesh = mesh is not None
        point_label = label_points(self.compiled, cloud.xyz, cloud.origin)
        if mesh is not None:
            face_label = label_faces(self.compiled, mesh, cloud=cloud, point_element=point_label)
            areas = face_areas(mesh.vertices, mesh.faces)
            self.faces = np.bincount(face_label + 1, minlength=n + 1)
            self.area = np.bincount(face_label + 1, weights=areas, minlength=n + 1)
            order = np.argsort(face_label, kind="stable")
            bounds = np.searchsorted(face_label[order], np.arange(-1, n + 1))
            closed = [sliced_volume(mesh.vertices, mesh.faces[order[bounds[i + 1]: bounds[i + 2]]])
                      if bounds[i + 2] > bounds[i + 1] else None for i in range(n)]
            self.measured: list[float | None] = [c.measured_share if c is not None else None for c in closed]
            self.volume: list[float | None] = [
                c.volume if c is not None and c.surrounded and c.measured_share >= MIN_MEASURED_SHARE else None
                for c in closed
            ]
        else:
            self.faces = np.zeros(n + 1, dtype=np.int64)
            self.area = np.zeros(n + 1)
            self.volume = [None] * n
            self.measured = [None] * n
        self.points = np.bincount(point_label + 1, minlength=n + 1)
        self.leaf = np.array([not isinstance(e.region, UnionRegion) for e in layers.elements], dtype=bool)
        self.spans = {p.id: p.span() for p in layers.phases}

    def members(self, element_ids: list[str]) -> np.ndarray:
        """Leaf element indices (into compiled.element_ids) of these elements, unions opened."""
        groups = union_members(self.layers)
        leaves: set[str] = set()
        for eid in element_ids:
            leaves |= groups.get(eid, {eid})
        return np.array(sorted(self.compiled.element_index(e) for e in leaves), dtype=np.int64)

    def totals(self, leaves: np.ndarray) -> dict:
        volumes = [self.volume[i] for i in leaves]
        closed = [v for v in volumes if v is not None]
        return {
            "faces": int(self.faces[leaves + 1].sum()),
            "area_m2": float(self.area[leaves + 1].sum()) if self.has_mesh else None,
            "points": int(self.points[leaves + 1].sum()),
            "volume_m3": float(sum(closed)) if closed else None,
            "measured_share": self.measured[int(leaves[0])] if len(leaves) == 1 else None,
            "closed_elements": len(closed),
        }

    def dates(self, phases: list[str]) -> tuple[str | None, str | None]:
        spans = [self.spans[p] for p in phases]
        lowers = [s for s in spans if s.earliest is not None]
        uppers = [s for s in spans if s.latest is not None]
        earliest = min(lowers, key=lambda s: s.lower).earliest if lowers else None
        latest = max(uppers, key=lambda s: s.upper).latest if uppers else None
        return earliest, latest


def _rows(m: _Measures, by: str) -> list[ClassRow]:
    layers = m.layers
    rows: list[ClassRow] = []
    if by == "element":
        for el in layers.elements:
            phases, materials = effective_links(layers, el.id)
            leaves = m.members([el.id])
            earliest, latest = m.dates(phases)
            totals = m.totals(leaves)
            if len(leaves) > 1:  # a group: its volume only where each member is closed
                if totals["closed_elements"] < len(leaves):
                    totals["volume_m3"] = None
            rows.append(ClassRow(id=el.id, label=el.name, elements=[el.id], earliest=earliest, latest=latest,
                                 phases=phases, materials=materials, **totals))
        return rows
    table = m.compiled.element_phases if by == "phase" else m.compiled.element_materials
    items = layers.phases if by == "phase" else layers.materials
    for j, item in enumerate(items):
        members = [m.compiled.element_ids[i] for i in np.flatnonzero(table[:, j] & m.leaf)]
        leaves = np.array([m.compiled.element_index(e) for e in members], dtype=np.int64)
        totals = m.totals(leaves)
        listed = [m.compiled.element_ids[i] for i in np.flatnonzero(table[:, j])]
        if by == "phase":
            span = m.spans[item.id]
            rows.append(ClassRow(id=item.id, label=item.name, type=item.type, date=item.date, elements=listed,
                                 earliest=span.earliest, latest=span.latest, **totals))
        else:
            phases = sorted({p for e in listed for p in effective_links(layers, e)[0]})
            earliest, latest = m.dates(phases)
            rows.append(ClassRow(id=item.id, label=item.label, aat=item.aat, elements=listed, phases=phases,
                                 earliest=earliest, latest=latest, **totals))
    return rows


def compare_layer_classes(ws, structure_id: str, survey_id: str, by: str, revs: list[int] | None = None
                          ) -> LayerComparison:
    """Per-class figures of a survey's latest model under the structure's layers (the
    latest revision, or ``revs[0]``); with two revisions, the figures under the second
    too, and which elements changed phase or material from the first to the second."""
    from twin.catalog.layers import diff_layers, get_layers  # noqa: PLC0415
    from twin.catalog.models import latest_model  # noqa: PLC0415
    from twin.compare.inputs import read_cloud, read_mesh  # noqa: PLC0415

    if by not in BY:
        raise UsageError(f"--by: unknown class {by!r}; use one of {', '.join(BY)}")
    revs = list(revs or [])
    if len(revs) > 2:
        raise UsageError("--layers-rev: give at most two revisions (to compare them)")
    if len(revs) == 2 and revs[0] == revs[1]:
        raise UsageError(f"--layers-rev names revision {revs[0]} twice; give two different revisions")
    model = latest_model(ws, structure_id, survey_id)
    first = get_layers(ws, structure_id, revs[0] if revs else None)
    second = get_layers(ws, structure_id, revs[1]) if len(revs) == 2 else None
    cloud = read_cloud(model.require_cloud())
    mesh_path = model.finest_mesh()
    mesh = read_mesh(mesh_path) if mesh_path is not None else None

    base = _Measures(first.layers, mesh, cloud)
    main, main_rev = base, first.rev
    other = None
    if second is not None:
        main, main_rev = _Measures(second.layers, mesh, cloud), second.rev
        other = base
    unlabelled = {
        "faces": int(main.faces[0]),
        "area_m2": float(main.area[0]) if mesh is not None else None,
        "points": int(main.points[0]),
    }
    result = LayerComparison(
        structure_id=structure_id, survey_id=survey_id, model=model.key, mesh=mesh_path.name if mesh_path else None,
        by=by, rev=main_rev, classes=_rows(main, by), unlabelled=unlabelled,
        total_area_m2=float(main.area.sum()) if mesh is not None else None, total_points=int(main.points.sum()),
    )
    if second is not None:
        d = diff_layers(first.layers, second.layers, structure_id=structure_id, rev1=first.rev, rev2=second.rev)
        changes: dict[str, ElementChange] = {}
        for link in d.element_phases:
            c = changes.setdefault(link.element, ElementChange(element=link.element))
            c.phases_added, c.phases_removed = link.added, link.removed
        for link in d.element_materials:
            c = changes.setdefault(link.element, ElementChange(element=link.element))
            c.materials_added, c.materials_removed = link.added, link.removed
        for eid, c in changes.items():
            totals = main.totals(main.members([eid]))
            c.area_m2, c.points = totals["area_m2"], totals["points"]
        result.other_rev = first.rev
        result.other_classes = _rows(other, by)
        result.elements_added = d.elements.added
        result.elements_removed = d.elements.removed
        result.changes = [changes[e] for e in sorted(changes)]
    return result
