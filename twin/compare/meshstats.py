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
