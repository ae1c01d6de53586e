"""Per-element change statistics of a comparison, from the structure's layers.

Core points are labelled with the leaf element whose region holds them
(:func:`twin.ops.labelling.label_points`); a union element (a group such as "roof")
gets the statistics of all its members' core points together. Rows come with the
element's name, whether the layers declare it stable, and its phases and materials
(own and inherited from unions). Core points outside every element form the row
``(unlabelled)``; without layers there is one row, ``(all)``.

Order: significant changes first (largest share of significant core points, then the
largest significant change), then the rest by element id.
"""

from __future__ import annotations

import math

import numpy as np

from twin.compare.methods import CoreResult
from twin.compare.stats import label_statistics
from twin.models.layers import LayerFile, UnionRegion, effective_links

UNLABELLED = "(unlabelled)"
ALL = "(all)"


def union_members(layers: LayerFile) -> dict[str, set[str]]:
    """For each union element, the leaf elements it holds (through nested unions too)."""
    by_id = {e.id: e for e in layers.elements}

    def leaves(eid: str, seen: frozenset) -> set[str]:
        el = by_id[eid]
        if not isinstance(el.region, UnionRegion):
            return {eid}
        out: set[str] = set()
        for m in el.region.union:
            if m not in seen:
                out |= leaves(m, seen | {m})
        return out

    return {e.id: leaves(e.id, frozenset({e.id})) for e in layers.elements if isinstance(e.region, UnionRegion)}


def _row(stats, element: str, extra: dict) -> dict:
    d = stats.as_dict()
    d.pop("label", None)
    return {"element": element, **extra, **d}


def element_rows(result: CoreResult, world_core: np.ndarray, layers: LayerFile | None = None,
                 element_index: np.ndarray | None = None, element_ids: tuple[str, ...] = ()) -> list[dict]:
    """Statistics per element (see the module notes), significant changes first."""
    args = (result.distance, result.significant, world_core, result.lod)
    if layers is None or element_index is None:
        stats = label_statistics(np.zeros(len(result), dtype=np.int64), *args)
        return [_row(s, ALL, {"name": "all core points", "group": False, "stable": None, "phases": [],
                              "materials": []}) for s in stats]
    names = np.array([*element_ids, UNLABELLED], dtype=object)[np.asarray(element_index)]
    by_id = {e.id: e for e in layers.elements}
    rows = []
    for s in label_statistics(names.astype(str), *args):
        eid = s.label
        if eid == UNLABELLED:
            extra = {"name": "outside every element", "group": False, "stable": None, "phases": [], "materials": []}
        else:
            el = by_id[eid]
            phases, materials = effective_links(layers, eid)
            extra = {"name": el.name, "group": False, "stable": el.stable, "phases": phases, "materials": materials}
        rows.append(_row(s, eid, extra))
    index_of = {eid: i for i, eid in enumerate(element_ids)}
    for uid, leaves in union_members(layers).items():
        member = np.isin(element_index, [index_of[x] for x in leaves if x in index_of])
        if not member.any():
            continue
        stats = label_statistics(np.where(member, 1, 0), *args, ignore=0)
        el = by_id[uid]
        phases, materials = effective_links(layers, uid)
        rows.append(_row(stats[0], uid, {"name": el.name, "group": True, "stable": el.stable, "phases": phases,
                                         "materials": materials}))
    return sort_rows(rows)


def sort_rows(rows: list[dict]) -> list[dict]:
    """Significant changes first: by share of significant core points, then by the size of
    the largest significant change; then the rest by element id."""

    def key(row: dict):
        share = row.get("significant_share")
        share = share if isinstance(share, float) and math.isfinite(share) else -1.0
        biggest = row.get("max_change")
        biggest = abs(biggest) if isinstance(biggest, float) and math.isfinite(biggest) else 0.0
        has = (row.get("significant") or 0) > 0
        return (not has, -share if has else 0.0, -biggest, row["element"])

    return sorted(rows, key=key)
