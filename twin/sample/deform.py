"""Known deformations between surveys, applied to the geometry of one element each.

Two kinds, each a rigid or smooth displacement field that can be evaluated at any point
(mesh vertices when the deformed mesh is built, scan points when a test asks what the
true change at a point is):

- ``Lean``: an element (a column) rotates rigidly by ``angle_deg`` about a horizontal
  axis through ``pivot`` (its base centre), so that its top moves toward the grid
  azimuth ``azimuth_deg`` (degrees clockwise from grid north). A point at height h above
  the pivot moves h·sin(angle) horizontally toward the azimuth and h·(1 - cos(angle))
  down.
- ``Bulge``: a wall bows outward. Every point of the element moves along the wall's
  outward unit normal by d(r) = peak · (1 + cos(pi·r/radius)) / 2 for r < radius and 0
  beyond, where r is the distance from ``centre`` measured in the wall's plane (the
  component along the normal ignored). The peak is at the centre; d falls smoothly to 0
  at r = radius.

Coordinates here are in the site frame (see twin.sample.geometry); ground_truth.json
states the same parameters in UTM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.sample.geometry import LabelledMesh, SiteSpec


@dataclass(frozen=True)
class Lean:
    element: str
    angle_deg: float
    azimuth_deg: float  # grid azimuth of the lean, clockwise from north
    pivot: tuple[float, float, float]  # site frame
    height: float  # of the element above the pivot (for the stated top displacement)

    @property
    def direction(self) -> np.ndarray:
        a = np.radians(self.azimuth_deg)
        return np.array([np.sin(a), np.cos(a), 0.0])

    @property
    def axis(self) -> np.ndarray:
        """Rotation axis (right-handed, through the pivot): up × direction."""
        return np.cross([0.0, 0.0, 1.0], self.direction)

    @property
    def top_displacement(self) -> float:
        """Horizontal displacement of the element's top, height · sin(angle)."""
        return float(self.height * np.sin(np.radians(self.angle_deg)))

    def rotation(self) -> np.ndarray:
        k = self.axis
        th = np.radians(self.angle_deg)
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        return np.eye(3) + np.sin(th) * kx + (1 - np.cos(th)) * kx @ kx

    def displacement(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64) - self.pivot
        return p @ self.rotation().T - p


@dataclass(frozen=True)
class Bulge:
    element: str
    centre: tuple[float, float, float]  # on the wall's outer face, site frame
    normal: tuple[float, float, float]  # outward unit normal of the wall
    radius: float
    peak: float

    def amplitude(self, points: np.ndarray) -> np.ndarray:
        """d(r) at each point: the displacement along the normal."""
        n = np.asarray(self.normal, dtype=np.float64)
        q = np.asarray(points, dtype=np.float64) - self.centre
        in_plane = q - np.outer(q @ n, n)
        r = np.linalg.norm(in_plane, axis=1)
        return np.where(r < self.radius, self.peak * 0.5 * (1.0 + np.cos(np.pi * r / self.radius)), 0.0)

    def displacement(self, points: np.ndarray) -> np.ndarray:
        return self.amplitude(points)[:, None] * np.asarray(self.normal, dtype=np.float64)


Deformation = Lean | Bulge


def default_deformations(spec: SiteSpec | None = None) -> list[Deformation]:
    """What changed between the 2024 and the 2025 survey.

    Column A5 (south row, fifth from the west; beside the door) leans 1.0° toward grid
    azimuth 150° (outward, south-south-east); the north wall bulges 30 mm outward
    between columns D2 and D3, 1.7 m above the hall floor, over a radius of 1.2 m.
    """
    s = spec or SiteSpec()
    col = dict((name, (x, y)) for name, x, y in s.column_names())
    cx, cy = col["column-A5"]
    return [
        Lean("column-A5", 1.0, 150.0, (cx, cy, s.platform_height), s.column_height),
        Bulge("wall-north", (-3.0, s.hall_y[1], s.platform_height + 1.7), (0.0, 1.0, 0.0), 1.2, 0.030),
    ]


def displacement_field(
    points: np.ndarray, element_ids: np.ndarray, deformations: list[Deformation]
) -> np.ndarray:
    """True displacement (site frame) of each point, given the element it belongs to.

    ``element_ids`` holds one element id string per point (as from
    twin.sample.truth.label_points_by_truth); points of undeformed elements get 0.
    """
    points = np.asarray(points, dtype=np.float64)
    out = np.zeros_like(points)
    for d in deformations:
        sel = np.asarray(element_ids) == d.element
        if sel.any():
            out[sel] = d.displacement(points[sel])
    return out


def apply_deformations(mesh: LabelledMesh, deformations: list[Deformation]) -> LabelledMesh:
    """A copy of ``mesh`` with each deformation applied to its element's vertices."""
    out = mesh.copy()
    vidx = mesh.vertex_element_index()
    ids = mesh.element_ids
    for d in deformations:
        sel = vidx == ids.index(d.element)
        out.vertices[sel] += d.displacement(mesh.vertices[sel])
    return out
