"""Per-element figures of two surveys (issue 17.2): how a column leans and how thick it is, how
far a wall stands out of its plane, in each survey and the change between them.

Which elements: those whose id or name says column (pillar) or wall, by the rule the IFC
export uses (:func:`twin.export.ifc.ifc_class`). Their points in each survey are the
survey's points the layers give to them (the later survey after the comparison's alignment).

- **Column**: the points cut into 0.5 m slices, a least-squares circle per slice that covers
  enough of its arc (:func:`twin.ops.suggest.columns.fit_circle`), the axis the straight line
  through the slice centres, as `twin layers suggest` fits a column. Per survey: lean (degrees
  from the vertical), the grid azimuth its top moves toward, radius, the offset of the top
  from the bottom in plan; and the change: lean and the top's plan offset, later less
  earlier, and the diameter per slice where both surveys have that slice.
- **Wall**: the plane of the earlier survey's points (least squares), both surveys' signed
  distances from it on a 0.25 m grid along the wall and up it (the median of each cell; a
  cell whose distances spread three times as much as the wall's typical cell, where another
  face crosses it, is left out); the change is the later median less the earlier in every
  cell both have: its largest magnitude (where, which
  way: positive is toward the side the plane's normal points to, outward from the
  structure's centre), and its RMS.

An element with too few points in either survey, or a column no slice of which gives a
circle, has its reason instead of figures.
"""

from __future__ import annotations

import math

import numpy as np

SLICE_M = 0.5
CELL_M = 0.25  # m: a bulge of 1 m is not averaged away (its largest cell is 88-97 % of its peak)
MIN_POINTS = 20  # per slice or per element
MIN_ARC_DEG = 100.0
MIN_CELL_POINTS = 10  # per wall cell in each survey


def _column(xyz: np.ndarray) -> dict | str:
    """A column's figures from its points, or why there are none."""
    from twin.ops.suggest.columns import arc_coverage_deg, axis_line, axis_point, fit_circle  # noqa: PLC0415

    if len(xyz) < MIN_POINTS * 2:
        return f"{len(xyz)} points"
    z0 = float(xyz[:, 2].min())
    which = np.floor((xyz[:, 2] - z0) / SLICE_M).astype(int)
    slices = []
    for k in np.unique(which):
        xy = xyz[which == k, :2]
        if len(xy) < MIN_POINTS:
            continue
        centre, radius, rms = fit_circle(xy)
        if arc_coverage_deg(xy, centre) < MIN_ARC_DEG or rms > 0.25 * radius:
            continue
        slices.append((z0 + (k + 0.5) * SLICE_M, centre, radius, len(xy), int(k)))
    if len(slices) < 2:
        return f"{len(slices)} slice(s) give a circle"
    line = axis_line(np.array([s[0] for s in slices]), np.array([s[1] for s in slices]),
                     np.array([s[3] for s in slices], dtype=np.float64))  # x, y = p + q z, as suggest fits it
    bottom, top = float(xyz[:, 2].min()), float(xyz[:, 2].max())
    offset = axis_point(line, np.array([top]))[0] - axis_point(line, np.array([bottom]))[0]
    return {
        "lean_deg": math.degrees(math.atan(math.hypot(line[0, 1], line[1, 1]))),
        "lean_azimuth_deg": math.degrees(math.atan2(offset[0], offset[1])) % 360.0,
        "top_offset": offset,
        "radius_m": float(np.median([s[2] for s in slices])),
        "slices": {s[4]: (s[0], 2 * s[2]) for s in slices},
        "z0": z0,
    }


def _column_change(a: dict, b: dict) -> dict:
    """The two surveys' column figures and their change (mm and degrees)."""
    # slices are counted from each survey's own lowest point: matched by height
    by_height = []
    for ka, (za, da) in a["slices"].items():
        kb = min(b["slices"], key=lambda k: abs(b["slices"][k][0] - za))
        if abs(b["slices"][kb][0] - za) < SLICE_M / 2:
            by_height.append({"z": round(za, 3), "diameter_from_m": round(da, 4),
                              "diameter_to_m": round(b["slices"][kb][1], 4),
                              "change_mm": round(1000 * (b["slices"][kb][1] - da), 1)})
    shift = np.asarray(b["top_offset"]) - np.asarray(a["top_offset"])
    return {
        "kind": "column",
        "lean_from_deg": round(a["lean_deg"], 3), "lean_to_deg": round(b["lean_deg"], 3),
        "lean_change_deg": round(b["lean_deg"] - a["lean_deg"], 3),
        "lean_azimuth_to_deg": round(b["lean_azimuth_deg"], 1),
        "top_shift_mm": round(1000 * float(np.hypot(*shift)), 1),
        "top_shift_azimuth_deg": round(math.degrees(math.atan2(shift[0], shift[1])) % 360.0, 1),
        "radius_from_m": round(a["radius_m"], 4), "radius_to_m": round(b["radius_m"], 4),
        "diameter_by_slice": by_height,
    }


def _wall_change(a: np.ndarray, b: np.ndarray, centre: np.ndarray, origin: np.ndarray) -> dict | str:
    if len(a) < MIN_POINTS * 4 or len(b) < MIN_POINTS * 4:
        return f"{min(len(a), len(b))} points"
    mean = a.mean(axis=0)
    _, _, vt = np.linalg.svd(a - mean, full_matrices=False)
    normal = vt[2]
    if normal @ (mean - centre) < 0:  # outward from the structure
        normal = -normal
    along = np.cross([0.0, 0.0, 1.0], normal)
    along = along / max(np.linalg.norm(along), 1e-12) if np.linalg.norm(along) > 1e-6 else vt[0]
    up = np.cross(normal, along)

    def grid(p: np.ndarray):
        rel = p - mean
        key = np.floor(np.column_stack([rel @ along, rel @ up]) / CELL_M).astype(np.int64)
        cells, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        dev = rel @ normal
        # the median per cell: a cell at the wall's top or end also holds points of its top or
        # end faces, sampled differently in each survey, which would move a mean
        ranked = dev[np.lexsort((dev, inverse))]
        counts = np.bincount(inverse, minlength=len(cells))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        at = lambda q: ranked[starts + np.floor(q * (counts - 1)).astype(np.int64)]  # noqa: E731
        median = 0.5 * (ranked[starts + (counts - 1) // 2] + ranked[starts + counts // 2])
        spread = at(0.75) - at(0.25)
        # a cell where another face crosses (the end of a wall against the next one) spreads
        # its distances over the wall's thickness: not a measure of this face
        typical = float(np.median(spread[counts >= MIN_CELL_POINTS])) if (counts >= MIN_CELL_POINTS).any() else 0.0
        clean = (counts >= MIN_CELL_POINTS) & (spread <= max(3.0 * typical, 0.002))
        return {tuple(c): m for c, m, ok in zip(cells.tolist(), median, clean, strict=True) if ok}

    ga, gb = grid(a), grid(b)
    common = sorted(set(ga) & set(gb))
    if not common:
        return "no part of the wall seen in both surveys"
    delta = np.array([gb[c] - ga[c] for c in common])
    worst = int(np.argmax(np.abs(delta)))
    cell = np.array(common[worst], dtype=np.float64)
    where = mean + ((cell[0] + 0.5) * CELL_M) * along + ((cell[1] + 0.5) * CELL_M) * up
    return {
        "kind": "wall",
        "largest_change_mm": round(1000 * float(delta[worst]), 1),
        "largest_change_at": [round(float(v), 3) for v in where + origin],  # the survey's coordinates
        "rms_change_mm": round(1000 * float(np.sqrt(np.mean(delta**2))), 1),
        "cells": len(common), "cell_m": CELL_M,
        "normal": [round(float(v), 4) for v in normal],
    }


def element_figures(compiled, layers, earlier: np.ndarray, later: np.ndarray, origin: np.ndarray) -> list[dict]:
    """Figures of every column and wall element (see the module), in the layer file's order.
    ``earlier`` and ``later`` are the surveys' points about ``origin`` (the later aligned)."""
    from twin.export.ifc import ifc_class  # noqa: PLC0415
    from twin.ops.labelling import label_points  # noqa: PLC0415

    from twin.models.layers import UnionRegion  # noqa: PLC0415

    kinds = {}
    for element in layers.elements:
        if isinstance(element.region, UnionRegion):  # a group: its members have the points
            continue
        kind = {"IfcColumn": "column", "IfcWall": "wall"}.get(ifc_class(element.id, element.name or ""))
        if kind is not None and element.id in compiled.element_ids:
            kinds[compiled.element_ids.index(element.id)] = (element.id, kind)
    if not kinds:
        return []
    label_a = label_points(compiled, earlier, origin)
    label_b = label_points(compiled, later, origin)
    centre = earlier.mean(axis=0) if len(earlier) else np.zeros(3)
    rows = []
    for index, (element_id, kind) in kinds.items():
        a, b = earlier[label_a == index], later[label_b == index]
        if kind == "column":
            fa, fb = _column(a), _column(b)
            if isinstance(fa, str) or isinstance(fb, str):
                why = fa if isinstance(fa, str) else fb
                rows.append({"element": element_id, "kind": kind, "figures": None,
                             "reason": f"no column fitted ({why} in the {'earlier' if isinstance(fa, str) else 'later'}"
                                       " survey)"})
                continue
            rows.append({"element": element_id, "kind": kind, "figures": _column_change(fa, fb), "reason": None})
        else:
            change = _wall_change(a, b, centre, np.asarray(origin, dtype=np.float64))
            rows.append({"element": element_id, "kind": kind, "figures": None if isinstance(change, str) else change,
                         "reason": change if isinstance(change, str) else None})
    return rows
