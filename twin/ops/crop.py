"""Crop a cloud to a region: an axis-aligned box, an oriented box, or a polygon
footprint (x, y) extruded over a z range.

Regions are given in the cloud's local frame, or with ``world=True`` in georeferenced
coordinates (the cloud's origin is subtracted in float64 before testing, so UTM-sized
numbers lose nothing). :func:`crop_mask` answers "inside?" per point; :func:`crop`
either drops the outside points or flags them with ``FLAG_CROPPED``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.flags import FLAG_CROPPED, with_flag


def _vec3(value, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (3,) or not np.isfinite(arr).all():
        raise UsageError(f"{name} must be three finite numbers, got {value!r}")
    return arr


@dataclass(frozen=True)
class AxisAlignedBox:
    min_corner: np.ndarray
    max_corner: np.ndarray

    def __post_init__(self) -> None:
        lo, hi = _vec3(self.min_corner, "min_corner"), _vec3(self.max_corner, "max_corner")
        if np.any(hi < lo):
            raise UsageError(f"box max {hi.tolist()} is below its min {lo.tolist()} on some axis")
        object.__setattr__(self, "min_corner", lo)
        object.__setattr__(self, "max_corner", hi)

    def shifted(self, offset: np.ndarray) -> AxisAlignedBox:
        return AxisAlignedBox(self.min_corner + offset, self.max_corner + offset)

    def contains(self, xyz: np.ndarray) -> np.ndarray:
        return np.all((xyz >= self.min_corner) & (xyz <= self.max_corner), axis=1)


@dataclass(frozen=True)
class OrientedBox:
    """A box of full side lengths ``extent`` centred at ``center``; the columns of
    ``rotation`` are the box axes in the cloud's frame."""

    center: np.ndarray
    extent: np.ndarray
    rotation: np.ndarray

    def __post_init__(self) -> None:
        center, extent = _vec3(self.center, "center"), _vec3(self.extent, "extent")
        rot = np.asarray(self.rotation, dtype=np.float64)
        if np.any(extent < 0):
            raise UsageError(f"box extent {extent.tolist()} has a negative side")
        if rot.shape != (3, 3) or not np.allclose(rot.T @ rot, np.eye(3), atol=1e-6):
            raise UsageError("box rotation must be a 3x3 orthonormal matrix")
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "extent", extent)
        object.__setattr__(self, "rotation", rot)

    def shifted(self, offset: np.ndarray) -> OrientedBox:
        return OrientedBox(self.center + offset, self.extent, self.rotation)

    def contains(self, xyz: np.ndarray) -> np.ndarray:
        in_box = (xyz - self.center) @ self.rotation  # coordinates along the box axes
        return np.all(np.abs(in_box) <= self.extent / 2.0, axis=1)


@dataclass(frozen=True)
class PolygonPrism:
    """A footprint polygon in (x, y), open or closed, with an optional z range."""

    polygon_xy: np.ndarray
    z_min: float = -np.inf
    z_max: float = np.inf

    def __post_init__(self) -> None:
        poly = np.asarray(self.polygon_xy, dtype=np.float64)
        if poly.ndim != 2 or poly.shape[1] != 2 or not np.isfinite(poly).all():
            raise UsageError("polygon must be a list of finite (x, y) vertices")
        if len(poly) > 1 and np.array_equal(poly[0], poly[-1]):
            poly = poly[:-1]
        if len(poly) < 3:
            raise UsageError(f"polygon needs at least 3 distinct vertices, got {len(poly)}")
        z_min = -np.inf if self.z_min is None else float(self.z_min)
        z_max = np.inf if self.z_max is None else float(self.z_max)
        if z_max < z_min:
            raise UsageError(f"z_max {z_max} is below z_min {z_min}")
        object.__setattr__(self, "polygon_xy", poly)
        object.__setattr__(self, "z_min", z_min)
        object.__setattr__(self, "z_max", z_max)

    def shifted(self, offset: np.ndarray) -> PolygonPrism:
        return PolygonPrism(self.polygon_xy + offset[:2], self.z_min + offset[2], self.z_max + offset[2])

    def contains(self, xyz: np.ndarray) -> np.ndarray:
        inside = (xyz[:, 2] >= self.z_min) & (xyz[:, 2] <= self.z_max)
        return inside & points_in_polygon(xyz[:, :2], self.polygon_xy)


Region = AxisAlignedBox | OrientedBox | PolygonPrism


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule, vectorised over points; the loop runs over the polygon's edges only.

    Points exactly on an edge may fall either way (as with any crossing-number test).
    """
    x, y = xy[:, 0], xy[:, 1]
    lo, hi = polygon.min(axis=0), polygon.max(axis=0)
    candidates = np.flatnonzero((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]))
    xc, yc = x[candidates], y[candidates]
    inside = np.zeros(len(candidates), dtype=bool)
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if y1 == y2:
            continue  # horizontal edges never cross a horizontal ray
        straddles = (y1 > yc) != (y2 > yc)
        x_cross = x1 + (yc - y1) * (x2 - x1) / (y2 - y1)
        inside ^= straddles & (xc < x_cross)
    result = np.zeros(len(xy), dtype=bool)
    result[candidates] = inside
    return result


def crop_mask(cloud: PointCloud, region: Region, world: bool = False) -> np.ndarray:
    """Which points lie inside ``region`` (local coordinates, or georeferenced with ``world``)."""
    if world:
        region = region.shifted(-cloud.origin)
    return region.contains(cloud.xyz)


def crop(cloud: PointCloud, region: Region, *, world: bool = False, invert: bool = False,
         flag: bool = False) -> PointCloud:
    """Keep the points inside ``region`` (outside with ``invert``).

    With ``flag`` nothing is removed: the rejected points get ``FLAG_CROPPED`` so that a
    later ``drop_flagged`` stage removes them.
    """
    keep = crop_mask(cloud, region, world=world)
    if invert:
        keep = ~keep
    if flag:
        return with_flag(cloud, ~keep, FLAG_CROPPED)
    return cloud.subset(keep)


def region_from_params(params: dict) -> Region:
    """A region from plain parameters, as a pipeline file gives them.

    ``{"min": [...], "max": [...]}`` → axis-aligned box;
    ``{"center": [...], "extent": [...], "rotation": 3x3}`` or ``"yaw_deg": a`` → oriented box;
    ``{"polygon": [[x, y], ...], "z_min": .., "z_max": ..}`` → polygon prism.
    """
    keys = set(params)
    if keys <= {"min", "max"} and keys == {"min", "max"}:
        return AxisAlignedBox(params["min"], params["max"])
    if {"center", "extent"} <= keys <= {"center", "extent", "rotation", "yaw_deg"}:
        if "rotation" in params and "yaw_deg" in params:
            raise UsageError("give an oriented box either rotation or yaw_deg, not both")
        if "yaw_deg" in params:
            a = np.radians(float(params["yaw_deg"]))
            rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
        else:
            rot = params.get("rotation", np.eye(3))
        return OrientedBox(params["center"], params["extent"], rot)
    if "polygon" in keys and keys <= {"polygon", "z_min", "z_max"}:
        return PolygonPrism(params["polygon"], params.get("z_min"), params.get("z_max"))
    raise UsageError(
        f"unknown crop region with keys {sorted(keys)}; use min/max, center/extent[/rotation|yaw_deg] "
        "or polygon[/z_min/z_max]"
    )
