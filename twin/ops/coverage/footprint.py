"""A footprint as the ops see it: rings of (x, y) vertices in the cloud's local frame,
each exterior counter-clockwise and each courtyard clockwise, so that the outward normal
of every edge (the side away from the building's mass) is its tangent turned clockwise.

A *face* is one edge of one ring: the wall that edge stands for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError
from twin.ops.crop import points_in_polygon

COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


@dataclass(frozen=True)
class Face:
    index: int
    ring: int
    a: np.ndarray  # (2,) start, local frame
    b: np.ndarray  # (2,) end
    length: float
    tangent: np.ndarray  # (2,) unit, a -> b
    normal: np.ndarray  # (2,) unit, outward

    @property
    def azimuth(self) -> float:
        """Clockwise from grid north (+y), degrees, of the way the face looks."""
        return azimuth_of(self.normal)

    def along_across(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, d) of points: distance along the face from ``a``, and signed distance from its
        line (positive outside)."""
        rel = xy - self.a
        return rel @ self.tangent, rel @ self.normal


def azimuth_of(vector: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(vector[0], vector[1])) % 360.0)


def compass(azimuth_deg: float) -> str:
    return COMPASS[int(np.round(azimuth_deg / 45.0)) % 8]


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _merge_collinear(ring: np.ndarray, tolerance: float) -> np.ndarray:
    """Drop vertices lying within ``tolerance`` of the line through their neighbours, and
    repeated ones (a loop over the ring's few vertices, never over points)."""
    ring = ring.copy()
    changed = True
    while changed and len(ring) > 3:
        changed = False
        for i in range(len(ring)):
            p, q, r = ring[i - 1], ring[i], ring[(i + 1) % len(ring)]
            span = r - p
            length = float(np.hypot(*span))
            off = abs(float(span[0] * (q - p)[1] - span[1] * (q - p)[0])) / length if length > 0 else 0.0
            if length == 0 or off <= tolerance or float(np.hypot(*(q - p))) <= 1e-9:
                ring = np.delete(ring, i, axis=0)
                changed = True
                break
    return ring


def oriented_rings(polygons: list[list[np.ndarray]], tolerance: float) -> list[np.ndarray]:
    """Every ring of every polygon (exterior first, then its courtyards), open (last vertex
    not repeated), exteriors counter-clockwise, courtyards clockwise, with vertices that
    change the outline by less than ``tolerance`` dropped."""
    out = []
    for polygon in polygons:
        for k, ring in enumerate(polygon):
            ring = np.asarray(ring, dtype=np.float64)[:, :2]
            if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
                ring = ring[:-1]
            ring = _merge_collinear(ring, tolerance)
            if len(ring) < 3 or abs(_signed_area(ring)) <= 0:
                raise UsageError("a footprint ring needs at least three vertices enclosing an area")
            ccw = _signed_area(ring) > 0
            if ccw != (k == 0):
                ring = ring[::-1]
            out.append(ring)
    return out


def faces_of(rings: list[np.ndarray]) -> list[Face]:
    faces = []
    for r, ring in enumerate(rings):
        for a, b in zip(ring, np.roll(ring, -1, axis=0), strict=True):
            span = b - a
            length = float(np.hypot(*span))
            tangent = span / length
            faces.append(Face(len(faces), r, a.copy(), b.copy(), length, tangent, np.array([tangent[1], -tangent[0]])))
    return faces


def inside(xy: np.ndarray, rings: list[np.ndarray]) -> np.ndarray:
    """Which points lie inside the footprint (even-odd over every ring)."""
    mask = np.zeros(len(xy), dtype=bool)
    for ring in rings:
        mask ^= points_in_polygon(xy, ring)
    return mask


def distance_to_outline(xy: np.ndarray, faces: list[Face]) -> np.ndarray:
    """Plan distance from each point to the nearest face."""
    best = np.full(len(xy), np.inf)
    for f in faces:
        u, d = f.along_across(xy)
        along = np.clip(u, 0.0, f.length)
        best = np.minimum(best, np.hypot(u - along, d))
    return best
