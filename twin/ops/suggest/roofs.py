"""Where two roof planes meet: ridges, hips and valleys.

Two inclined planes of one roof meet along the line where their planes cross, when both
come up to it: each has points within ``reach`` of the line (the roof's own gap between
its pieces). The edge is the stretch of the line that both planes' edges run along: the
points of each within ``band`` of its own nearest approach to the line (a ridge cap or a
gap keeps a plane's points back from the line by as much all along) bound it, so a plane
running on past the edge's end (a hip roof's slope beside its ridge) does not draw the
edge longer than it is by more than ``band``. Its ends are then taken from the planes
where they show them (see ``_ends``). Both planes falling away from the line make a ridge
(level) or a hip (sloping); both rising from it, a valley.
"""

from __future__ import annotations

import numpy as np

from twin.ops.suggest.planes import PlanePiece

LEVEL_DEG = 10.0  # a ridge slopes less than this; two planes closer to parallel have no edge
MIN_POINTS = 20  # of each plane near the line


def roof_edges(xyz: np.ndarray, slopes: list[PlanePiece], reach: float, band: float) -> list[tuple[int, int, dict]]:
    """The edges where two of the ``slopes`` meet: (i, j, figures) with the edge's kind,
    ends (``start`` the lower), length and slope (local coordinates)."""
    out = []
    sin_level = float(np.sin(np.radians(LEVEL_DEG)))
    for i in range(len(slopes)):
        for j in range(i + 1, len(slopes)):
            line = crossing_line(slopes[i], slopes[j], sin_level)
            found = line and _edge_along(xyz, slopes[i], slopes[j], *line, reach, band)
            if not found:
                continue
            p0, d = line
            t0, t1, falls = found
            if t1 - t0 < reach:
                continue
            t0, t1 = _ends(xyz, slopes, i, j, p0, d, (t0, t1), reach, sin_level)
            kind = ("ridge" if abs(d[2]) < sin_level else "hip") if falls else "valley"
            out.append((i, j, {"kind": kind, "start": p0 + t0 * d, "end": p0 + t1 * d, "length_m": round(t1 - t0, 3),
                               "slope_deg": round(float(np.degrees(np.arcsin(min(1.0, abs(d[2]))))), 2)}))
    return out


def _edge_along(xyz, a: PlanePiece, b: PlanePiece, p0, d, reach: float,
                band: float) -> tuple[float, float, bool] | None:
    """The stretch (t0, t1) of the line ``p0 + t d`` that both planes' edges run along, and
    whether both fall away from it; None where either stays away from it or one falls and
    the other rises (a plane's edge against another's middle)."""
    spans, falls = [], []
    for piece in (a, b):
        rel = xyz[piece.index] - p0
        along = rel @ d
        off = rel - np.outer(along, d)  # from the line to each point, square to it
        dist = np.linalg.norm(off, axis=1)
        near = dist <= reach
        if np.count_nonzero(near) < MIN_POINTS:
            return None
        at_edge = near & (dist <= float(np.percentile(dist[near], 2)) + band)
        spans.append((float(along[at_edge].min()), float(along[at_edge].max())))
        falls.append(float(off[near].mean(axis=0)[2]) < 0)
    if falls[0] != falls[1]:
        return None
    return max(spans[0][0], spans[1][0]), min(spans[0][1], spans[1][1]), falls[0]


def _ends(xyz, slopes: list[PlanePiece], i: int, j: int, p0, d, span: tuple[float, float], reach: float,
          sin_level: float) -> tuple[float, float]:
    """An edge's ends where the planes show them better than their points near the line do
    (a plane piece leaves out its narrowest corners): an end within ``2 reach`` of the
    nearest point where a third slope meets both planes is that point (a ridge ends where
    the hips meet it); a sloping edge's lower end is at the eaves, the higher of the two
    planes' lowest points."""
    corners = []
    for k, c in enumerate(slopes):
        if k not in (i, j):
            normals = np.stack([slopes[i].normal, slopes[j].normal, c.normal])
            if abs(np.linalg.det(normals)) > 1e-6:
                corner = np.linalg.solve(normals, [-slopes[i].offset, -slopes[j].offset, -c.offset])
                corners.append(float((corner - p0) @ d))
    t0, t1 = span
    if corners:
        corners = np.array(corners)
        t0, t1 = (float(corners[np.argmin(np.abs(corners - t))]) for t in span)
        t0 = t0 if abs(t0 - span[0]) <= 2 * reach else span[0]
        t1 = t1 if abs(t1 - span[1]) <= 2 * reach else span[1]
    if abs(d[2]) >= sin_level:
        eaves = max(float(xyz[slopes[i].index, 2].min()), float(xyz[slopes[j].index, 2].min()))
        t0 = min(t0, (eaves - p0[2]) / d[2])
    return t0, t1


def crossing_line(a: PlanePiece, b: PlanePiece, min_sin: float) -> tuple[np.ndarray, np.ndarray] | None:
    """A point on the line where two planes cross and its direction (unit: rising, or toward
    +x (else +y) where it slopes less than ``asin(min_sin)``); None where the planes are
    closer to parallel than that."""
    d = np.cross(a.normal, b.normal)
    norm = float(np.linalg.norm(d))
    if norm < min_sin:
        return None
    d /= norm
    if (d[2] if abs(d[2]) >= min_sin else d[0] if abs(d[0]) > 1e-9 else d[1]) < 0:
        d = -d
    p0 = np.linalg.solve(np.stack([a.normal, b.normal, d]), [-a.offset, -b.offset, 0.0])
    return p0, d
