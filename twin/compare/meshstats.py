"""Measures of triangle meshes: face areas, whether faces close a volume, and that volume.

A set of faces is *closed* when every edge is shared by exactly two of its faces, once in
each direction (a consistently oriented, watertight surface); only then is its volume
defined (the divergence theorem: the sum of the signed volumes of the tetrahedra from a
point to each face). Vertices are centred first, so building-sized coordinates lose
nothing.
"""

from __future__ import annotations

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


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """The rims of the faces' holes: each a closed chain of directed edges (n, 2) that no
    face crosses back, in order. Where two holes touch at a vertex, the chain follows
    the first free edge out of it."""
    f = np.asarray(faces, dtype=np.int64)
    if len(f) == 0:
        return []
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    n = int(f.max()) + 1
    forward = edges[:, 0] * n + edges[:, 1]
    open_edges = edges[~np.isin(forward, edges[:, 1] * n + edges[:, 0])]
    leaving: dict[int, list[int]] = {}
    for i, start in enumerate(open_edges[:, 0].tolist()):
        leaving.setdefault(start, []).append(i)
    used = np.zeros(len(open_edges), dtype=bool)
    loops = []
    for first in range(len(open_edges)):
        if used[first]:
            continue
        chain, edge = [], first
        while edge is not None and not used[edge]:
            used[edge] = True
            chain.append(edge)
            nexts = [e for e in leaving.get(int(open_edges[edge, 1]), []) if not used[e]]
            edge = nexts[0] if nexts else None
        loops.append(open_edges[chain])
    return loops


def _hub(rim: np.ndarray) -> np.ndarray:
    """Where a hole's fan meets: over the rim's centre, on the quadric through its
    vertices (a hole in a column's side bulges with the shaft; an open end is flat, and
    the quadric is its plane). Under six vertices, the rim's centre."""
    centre = rim.mean(axis=0)
    if len(rim) < 6:
        return centre
    _, _, axes = np.linalg.svd(rim - centre, full_matrices=False)
    local = (rim - centre) @ axes.T  # x, y in the rim's plane, z off it
    x, y, z = local[:, 0], local[:, 1], local[:, 2]
    scale = max(float(np.abs(local[:, :2]).max()), 1e-12)
    x, y = x / scale, y / scale
    terms = np.column_stack([np.ones_like(x), x, y, x * x, x * y, y * y])
    coef, *_ = np.linalg.lstsq(terms, z, rcond=None)
    return centre + coef[0] * axes[2]


def capped_volume(vertices: np.ndarray, faces: np.ndarray) -> tuple[float, float] | None:
    """The volume (m³) the faces enclose once each hole is closed by a fan of triangles
    from its rim to the rim's centre, and the share of the closed surface's area that is
    the faces' own (measured) rather than filled; None without faces. The fan's hub sits
    on the quadric through the rim (``_hub``), so a hole in a curved side is closed along
    the curve rather than across its chord.

    For a column meshed from its scans the holes are the ends where it meets its base and
    capital, and any patch of shaft no scan reached; the fans close them flat. The volume
    is the divergence theorem's sum over the faces and the fans, which holds for any
    consistently oriented surface with its holes closed (the faces need not be watertight
    on their own)."""
    f = np.asarray(faces, dtype=np.int64)
    if len(f) == 0:
        return None
    v = np.asarray(vertices, dtype=np.float64)
    centre = v[np.unique(f)].mean(axis=0)
    tri = v[f] - centre
    signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()
    own_area = float(face_areas(v, f).sum())
    filled_area = 0.0
    for rim in boundary_loops(f):
        hub = _hub(v[rim[:, 0]]) - centre
        a, b = v[rim[:, 1]] - centre, v[rim[:, 0]] - centre  # reversed: the fan faces the way the faces do
        signed += np.einsum("ij,j->i", np.cross(a, b), hub).sum()
        filled_area += float(0.5 * np.linalg.norm(np.cross(a - hub, b - hub), axis=1).sum())
    return abs(float(signed)) / 6.0, own_area / (own_area + filled_area)
