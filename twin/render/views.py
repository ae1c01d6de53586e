"""Orthographic views: elevations, the plan, and sections, as three orthonormal axes.

A view maps a point ``p`` (float64, any frame) to screen coordinates
``(u, v) = (p . right, p . up)`` in metres and a depth ``p . forward`` (the direction the
viewer looks; the smallest depth is nearest). Axes are in the data's frame: x grid east,
y grid north, z up.

Elevations are named after the side of the building they show:

=========  ======================  =============  ===========
view       viewer stands           looks toward   screen right
=========  ======================  =============  ===========
front      south                   north (+y)     east (+x)
back       north                   south (-y)     west (-x)
left       west                    east (+x)      south (-y)
right      east                    west (-x)      north (+y)
plan       above                   down (-z)      east (+x), north up the page
=========  ======================  =============  ===========

"front" is the south elevation, the side a Hue palace faces. A *section* keeps only what
lies within ``thickness / 2`` of a cutting plane and looks at it along the plane's normal:
a horizontal section at a height is seen from above like the plan; a vertical section is
seen from the side its normal points to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError

ELEVATIONS = ("front", "back", "left", "right", "plan")

_AXES = {  # right, up, forward
    "front": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "back": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "left": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
    "right": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (-1.0, 0.0, 0.0)),
    "plan": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}
_LOOKING = {"front": "north", "back": "south", "left": "east", "right": "west", "plan": "down"}


@dataclass(frozen=True)
class View:
    """An orthographic view, with an optional slab (a section) that clips the data."""

    name: str
    right: tuple[float, float, float]
    up: tuple[float, float, float]
    forward: tuple[float, float, float]
    plane_point: tuple[float, float, float] | None = None  # a section's cutting plane (world)
    plane_normal: tuple[float, float, float] | None = None
    thickness: float | None = None

    @property
    def is_section(self) -> bool:
        return self.thickness is not None

    @property
    def matrix(self) -> np.ndarray:
        """Rows: right, up, forward."""
        return np.array([self.right, self.up, self.forward], dtype=np.float64)

    @property
    def is_plan_like(self) -> bool:
        """Looking (nearly) straight down or up: north lies in the image plane."""
        return abs(self.forward[2]) > 0.7

    def describe(self) -> str:
        if self.is_section:
            n = self.plane_normal
            if abs(n[2]) > 0.999:
                return f"horizontal section at z = {self.plane_point[2]:.2f} m (slab {1000 * self.thickness:.0f} mm)"
            return (
                f"vertical section through ({self.plane_point[0]:.2f}, {self.plane_point[1]:.2f}) "
                f"looking {compass_word(self.forward)} (slab {1000 * self.thickness:.0f} mm)"
            )
        if self.name == "plan":
            return "plan (from above, north up)"
        return f"{self.name} elevation (looking {_LOOKING[self.name]})"

    def project(self, xyz: np.ndarray, origin: np.ndarray | None = None) -> np.ndarray:
        """(n, 3) float64 screen coordinates (u, v, depth) of points given relative to
        ``origin`` (world = xyz + origin); screen coordinates are world-based."""
        xyz = np.asarray(xyz, dtype=np.float64)
        shift = self.matrix @ np.asarray(origin, dtype=np.float64) if origin is not None else np.zeros(3)
        out = np.empty((len(xyz), 3), dtype=np.float64, order="F")  # contiguous columns: fast per axis
        for k, axis in enumerate(self.matrix):
            column = out[:, k]
            terms = [(float(c), j) for j, c in enumerate(axis) if c != 0.0]
            if not terms:
                column[:] = shift[k]
                continue
            c, j = terms[0]
            np.multiply(xyz[:, j], c, out=column)
            for c, j in terms[1:]:
                column += c * xyz[:, j]
            if shift[k]:
                column += shift[k]
        return out

    def slab_mask(self, xyz: np.ndarray, origin: np.ndarray | None = None) -> np.ndarray | None:
        """Which points lie in the section's slab (None for a plain view: all of them)."""
        if not self.is_section:
            return None
        n = np.asarray(self.plane_normal, dtype=np.float64)
        offset = float(n @ np.asarray(self.plane_point, dtype=np.float64))
        if origin is not None:
            offset -= float(n @ np.asarray(origin, dtype=np.float64))
        return np.abs(np.asarray(xyz, dtype=np.float64) @ n - offset) <= self.thickness / 2.0

    def plane_offset(self) -> float | None:
        """The cutting plane's position along the view's forward axis (world), if a section."""
        if not self.is_section:
            return None
        return float(np.asarray(self.forward) @ np.asarray(self.plane_point))


def compass_word(vector) -> str:
    """The nearest of the eight compass words for a direction's horizontal part."""
    x, y = float(vector[0]), float(vector[1])
    if math.hypot(x, y) < 1e-9:
        return "down" if vector[2] < 0 else "up"
    words = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")
    azimuth = math.degrees(math.atan2(x, y)) % 360.0
    return words[int((azimuth + 22.5) // 45) % 8]


def elevation(name: str) -> View:
    """One of the named views (front, back, left, right, plan)."""
    if name not in _AXES:
        raise UsageError(f"unknown view {name!r}: use one of {', '.join(ELEVATIONS)}")
    right, up, forward = _AXES[name]
    return View(name, right, up, forward)


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"section {name} must be a positive number of metres, got {value}")
    return float(value)


def section_at_height(z: float, thickness: float = 0.1) -> View:
    """A horizontal section: the slab ``|z - height| <= thickness / 2``, seen from above."""
    if not math.isfinite(z):
        raise UsageError(f"section height must be a number of metres, got {z}")
    thickness = _positive("thickness", thickness)
    right, up, forward = _AXES["plan"]
    return View("section", right, up, forward, (0.0, 0.0, float(z)), (0.0, 0.0, 1.0), thickness)


def section_plane(point, normal, thickness: float = 0.1) -> View:
    """A section by any plane (a point on it and its normal, world coordinates), seen from
    the side the normal points to (looking along ``-normal``)."""
    p = np.asarray(point, dtype=np.float64).reshape(-1)
    n = np.asarray(normal, dtype=np.float64).reshape(-1)
    if p.shape != (3,) or n.shape != (3,) or not (np.isfinite(p).all() and np.isfinite(n).all()):
        raise UsageError("a section plane needs a point and a normal of three finite numbers each")
    length = float(np.linalg.norm(n))
    if length == 0.0:
        raise UsageError("a section plane's normal must not be the zero vector")
    n = n / length
    thickness = _positive("thickness", thickness)
    if abs(n[2]) > 0.999:  # horizontal: like the plan
        if n[2] < 0:
            return View("section", (1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0), tuple(p), tuple(n), thickness)
        right, up, forward = _AXES["plan"]
        return View("section", right, up, forward, tuple(p), tuple(n), thickness)
    forward = -n
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return View("section", tuple(right), tuple(up), tuple(forward), tuple(p), tuple(n), thickness)
