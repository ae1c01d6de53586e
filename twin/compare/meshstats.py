"""Measures of triangle meshes: face areas, whether faces close a volume, and that volume.

A set of faces is *closed* when every edge is shared by exactly two of its faces, once in
each direction (a consistently oriented, watertight surface); only then is its volume
defined (the divergence theorem: the sum of the signed volumes of the tetrahedra from a
point to each face). Vertices are centred first, so building-sized coordinates lose
nothing. A scanned element is rarely closed (open where it meets its neighbours, shadowed
in places): ``sliced_volume`` measures an upright one slice by slice instead.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def is_closed(faces: np.ndarray) -> bool:
    """Every directed edge appears once and its reverse once (watertight, consistently oriented)."""
    f = np.asarray(faces, dtype=np.int64)
    if len(f) < 4:
        return False
    start = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    end = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    n = int(max(start.max(), end.max())) + 1
    forward = start * n + end
    backward = end * n + start
    forward_sorted = np.sort(forward)
    if (np.diff(forward_sorted) == 0).any():  # an edge used twice in one direction
        return False
    return bool(np.array_equal(forward_sorted, np.sort(backward)))


def closed_volume(vertices: np.ndarray, faces: np.ndarray) -> float | None:
    """The enclosed volume (m³) when the faces are closed, else None."""
    f = np.asarray(faces, dtype=np.int64)
    if not is_closed(f):
        return None
    v = np.asarray(vertices, dtype=np.float64)
    used = v[np.unique(f)]
    centre = used.mean(axis=0)
    a, b, c = v[f[:, 0]] - centre, v[f[:, 1]] - centre, v[f[:, 2]] - centre
    return float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)


def _slice_segments(tri: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the triangles (n, 3, 3) cross the level ``z``: segments (start, end), in plan,
    directed so that an outward-facing surface runs counter-clockwise seen from above."""
    above = tri[:, :, 2] > z
    count = above.sum(axis=1)
    tri = tri[(count == 1) | (count == 2)]
    above = above[(count == 1) | (count == 2)]
    if len(tri) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2))
    # the vertex alone on its side, and the two edges from it that cross z
    lone = np.where(above.sum(axis=1) == 1, np.argmax(above, axis=1), np.argmin(above, axis=1))
    rows = np.arange(len(tri))
    a, b, c = tri[rows, lone], tri[rows, (lone + 1) % 3], tri[rows, (lone + 2) % 3]

    def cross_at(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        t = (z - p[:, 2]) / (q[:, 2] - p[:, 2])
        return (p + t[:, None] * (q - p))[:, :2]

    start, end = cross_at(a, b), cross_at(a, c)
    normal = np.cross(b - a, c - a)[:, :2]
    d = end - start
    flip = d[:, 1] * normal[:, 0] - d[:, 0] * normal[:, 1] < 0  # the outward normal on the right
    start[flip], end[flip] = end[flip].copy(), start[flip].copy()
    return start, end


SLICES = 200  # horizontal slices over an element's height for its sliced volume
FULL_TURN = 0.98  # of a turn: a slice the faces surround from its centre
MIN_SURROUNDED = 0.05  # of the slices, surrounded by the faces, to find an element's axis


class SlicedVolume(NamedTuple):
    volume: float  # m³
    measured_share: float  # of the slices' turn round the axis, covered by faces
    surrounded: bool  # the faces surround the element at enough heights to find its axis


def sliced_volume(vertices: np.ndarray, faces: np.ndarray) -> SlicedVolume | None:
    """The volume (m³) of an upright element from horizontal slices of its faces, the
    share of the slices' turn round the element's axis that the faces cover, and whether
    the faces surround it at enough heights (``MIN_SURROUNDED``) to find that axis; None
    without faces or height.

    Each slice's area is the sum of the triangles from its centre to the segments where
    the faces cross it, divided by the share of the full turn they cover: the unseen
    sectors of a slice are assumed to be like its seen ones. That assumption is what the
    volume of a column whose top is shadowed on one side rests on (the eaves hide its
    last 35 cm from some stations); a fan across the ragged rim (``capped_volume``)
    cuts a wedge there instead. The ends need no faces: a slice is its own cross-section.
    The centres lie on the line fitted through the centroids of the slices the faces
    surround (a leaning column keeps its axis); without three such slices, on the
    vertical through the faces' centre, which lies towards the seen side of an element
    seen from one side and overstates the share: such a volume is not to be stated
    (``surrounded`` is false). Slices covered less than half a turn take the area of the
    nearest better ones."""
    f = np.asarray(faces, dtype=np.int64)
    if len(f) == 0:
        return None
    v = np.asarray(vertices, dtype=np.float64)
    used = np.unique(f)
    origin = v[used].mean(axis=0)
    v = v - origin
    bottom, top = float(v[used, 2].min()), float(v[used, 2].max())
    if top - bottom <= 0:
        return None
    step = (top - bottom) / SLICES
    levels = bottom + step * (np.arange(SLICES) + 0.5)
    tri = v[f]
    low, high = tri[:, :, 2].min(axis=1), tri[:, :, 2].max(axis=1)
    cuts = [_slice_segments(tri[(low <= z) & (high > z)], z) for z in levels]

    def sectors(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        area, turn = np.zeros(SLICES), np.zeros(SLICES)
        for k, ((s, e), c) in enumerate(zip(cuts, centres, strict=True)):
            p, q = s - c, e - c
            cross = p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]
            area[k] = 0.5 * cross.sum()
            turn[k] = np.arctan2(cross, (p * q).sum(axis=1)).sum() / (2 * np.pi)
        return area, turn

    centres = np.zeros((SLICES, 2))
    area, turn = sectors(centres)
    full = turn >= FULL_TURN
    surrounded = bool(full.sum() >= max(3, MIN_SURROUNDED * SLICES))
    if surrounded:
        # a full slice's centroid: the sum over its segments of their triangles' centroids, by area
        centroid = np.zeros((SLICES, 2))
        for k in np.flatnonzero(full):
            s, e = cuts[k]
            cross = s[:, 0] * e[:, 1] - s[:, 1] * e[:, 0]
            centroid[k] = ((s + e) * cross[:, None]).sum(axis=0) / (3.0 * cross.sum())
        fit = np.polyfit(levels[full], centroid[full], 1)
        centres = np.column_stack([np.polyval(fit[:, 0], levels), np.polyval(fit[:, 1], levels)])
        area, turn = sectors(centres)
    turn = np.clip(turn, 0.0, 1.0)
    seen = turn >= 0.5
    if not seen.any():
        return SlicedVolume(0.0, float(turn.mean()), surrounded)
    estimate = np.where(seen, area / np.where(seen, turn, 1.0), np.nan)
    nearest = np.flatnonzero(seen)[np.abs(np.flatnonzero(seen)[None, :] - np.arange(SLICES)[:, None]).argmin(axis=1)]
    estimate = estimate[nearest]
    return SlicedVolume(float(np.clip(estimate, 0.0, None).sum() * step), float(turn.mean()), surrounded)
