"""Per-element change statistics of a comparison, from the structure's layers.

Core points are labelled with the leaf element whose region holds them
(:func:`twin.ops.labelling.label_points`); a union element (a group such as "roof")
gets the statistics of all its members' core points together. Rows come with the
element's name, whether the layers declare it stable, and its phases and materials
(own and inherited from unions). Core points outside every element form the row
``(unlabelled)``; without layers there is one row, ``(all)``.

The figures are :mod:`twin.compare.stats`'s: the headline ``max_change`` is the supported
peak (a region of agreeing significant core points, never a single one) with its place,
core points and area; ``changed_share`` the share of the element's core points in
supported regions of significant change; the spread of the trusted distances. Each row
also says how many core points were left out and why (``left_out``: M3C2's reasons other
than "ok", e.g. ``rough_normal``, ``multiple_surfaces``, ``unseen_epoch2``).

Order: supported changes first (largest changed share, then the largest peak), then the
rest by element id.
"""

from __future__ import annotations

import math

import numpy as np

from twin.compare.methods import CoreResult
from twin.compare.stats import core_spacing, label_statistics
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
    reasons = result.reason_names()
    options = {"trusted": result.trusted, "spacing": core_spacing(world_core)}
    if layers is None or element_index is None:
        stats = label_statistics(np.zeros(len(result), dtype=np.int64), *args, **options)
        return [_row(s, ALL, {"name": "all core points", "group": False, "stable": None, "phases": [],
                              "materials": [], "left_out": _left_out(reasons)}) for s in stats]
    names = np.array([*element_ids, UNLABELLED], dtype=object)[np.asarray(element_index)]
    by_id = {e.id: e for e in layers.elements}
    rows = []
    for s in label_statistics(names.astype(str), *args, **options):
        eid = s.label
        if eid == UNLABELLED:
            extra = {"name": "outside every element", "group": False, "stable": None, "phases": [], "materials": []}
        else:
            el = by_id[eid]
            phases, materials = effective_links(layers, eid)
            extra = {"name": el.name, "group": False, "stable": el.stable, "phases": phases, "materials": materials}
        extra["left_out"] = _left_out(reasons, names == eid)
        rows.append(_row(s, eid, extra))
    index_of = {eid: i for i, eid in enumerate(element_ids)}
    for uid, leaves in union_members(layers).items():
        member = np.isin(element_index, [index_of[x] for x in leaves if x in index_of])
        if not member.any():
            continue
        stats = label_statistics(np.where(member, 1, 0), *args, ignore=0, **options)
        el = by_id[uid]
        phases, materials = effective_links(layers, uid)
        rows.append(_row(stats[0], uid, {"name": el.name, "group": True, "stable": el.stable, "phases": phases,
                                         "materials": materials, "left_out": _left_out(reasons, member)}))
    return sort_rows(rows)


def _left_out(reasons: np.ndarray | None, member: np.ndarray | None = None) -> dict[str, int]:
    """Core points (of ``member``) whose reason is not "ok", counted by reason."""
    if reasons is None:
        return {}
    picked = reasons if member is None else reasons[member]
    names, counts = np.unique(picked[picked != "ok"].astype(str), return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts, strict=True)}


def sort_rows(rows: list[dict]) -> list[dict]:
    """Supported changes first: by the share of the element that changed (``changed_share``),
    then by the size of the supported peak; then elements with significant core points but
    no supported change (by their share of significant core points, then the largest
    single one); then the rest by element id."""

    def finite(value, default: float) -> float:
        return value if isinstance(value, float) and math.isfinite(value) else default

    def key(row: dict):
        changed = (row.get("changed") or 0) > 0
        significant = (row.get("significant") or 0) > 0
        return (not changed, -finite(row.get("changed_share"), 0.0) if changed else 0.0,
                -abs(finite(row.get("max_change"), 0.0)),
                not significant, -finite(row.get("significant_share"), 0.0) if significant else 0.0,
                -abs(finite(row.get("raw_max_change"), 0.0)), row["element"])

    return sorted(rows, key=key)
