"""The in-memory point cloud shared by readers, ops and writers.

Coordinates are float64 *local* coordinates relative to a float64 ``origin``: a
georeferenced point is ``origin + xyz``. Keeping the large part of UTM coordinates in
the origin means float32 output (glTF, PLY) loses nothing as long as the origin is
written beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Attribute names and their conventional dtypes/shapes. Readers fill what the file has.
#   rgb             (N, 3) uint8
#   intensity       (N,)   float32, as stored in the file (LAS: 0..65535)
#   classification  (N,)   uint8
#   point_source_id (N,)   uint16   (scanner station / flight line)
#   normals         (N, 3) float32
#   flags           (N,)   uint8    bit field set by cleaning stages (see twin.ops.flags)
#   <extra>         (N,) or (N, k), any dtype: extra dimensions kept under their own name
STANDARD_ATTRIBUTES = ("rgb", "intensity", "classification", "point_source_id", "normals", "flags")


@dataclass
class PointCloud:
    xyz: np.ndarray
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    attrs: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyz = np.ascontiguousarray(self.xyz, dtype=np.float64).reshape(-1, 3)
        self.origin = np.asarray(self.origin, dtype=np.float64).reshape(3)
        for name, values in self.attrs.items():
            if len(values) != len(self.xyz):
                raise ValueError(f"attribute {name!r} has {len(values)} values for {len(self.xyz)} points")

    def __len__(self) -> int:
        return len(self.xyz)

    @property
    def world_xyz(self) -> np.ndarray:
        """Georeferenced float64 coordinates."""
        return self.xyz + self.origin

    def subset(self, index: np.ndarray) -> PointCloud:
        """A new cloud with the points selected by a boolean mask or an index array."""
        return PointCloud(self.xyz[index], self.origin.copy(), {k: v[index] for k, v in self.attrs.items()})

    def with_origin(self, origin: np.ndarray) -> PointCloud:
        """The same points expressed relative to another origin."""
        origin = np.asarray(origin, dtype=np.float64).reshape(3)
        return PointCloud(self.xyz + (self.origin - origin), origin, dict(self.attrs))

    @staticmethod
    def concatenate(clouds: list[PointCloud]) -> PointCloud:
        """Stack clouds in the first cloud's origin; keep attributes every cloud has."""
        if not clouds:
            return PointCloud(np.empty((0, 3)))
        origin = clouds[0].origin
        moved = [c.with_origin(origin) for c in clouds]
        common = set(moved[0].attrs).intersection(*(c.attrs for c in moved[1:]))
        attrs = {k: np.concatenate([c.attrs[k] for c in moved]) for k in sorted(common)}
        return PointCloud(np.concatenate([c.xyz for c in moved]), origin.copy(), attrs)


def choose_origin(xyz_min: np.ndarray) -> np.ndarray:
    """A round origin near the data: the bounding-box minimum floored to 100 m.

    Round numbers make origins readable in provenance and stable between surveys of
    the same site.
    """
    return np.floor(np.asarray(xyz_min, dtype=np.float64) / 100.0) * 100.0
