"""Can a scanner at one point see another? Rays marched through an occupancy grid.

The grid holds what blocks a ray: every voxel with a point of the model in it, and what
stands round the building (trees, columns, eaves, neighbours: what the survey saw) one
voxel thicker on every side, since a column seen from one side only is sampled on that
side only; less each column's ground and what lies below it (its lowest voxel holding a
few points: the ground does not occlude a view across it); plus the building
itself as a solid: the footprint's prism, each plan column from the ground up to the
highest point measured in it (its roof) or else the walls' top, one voxel in from the
outline so that a wall does not hide its own face.

A ray is blocked when a sample on it, every half voxel, falls in an occupied voxel before
the last ``2 * voxel`` of its length (the target's own surface).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.ops.coverage.footprint import Face, distance_to_outline, inside

GROUND_POINTS = 3
SAMPLES_PER_CHUNK = 1_000_000


@dataclass
class Occupancy:
    lo: np.ndarray  # (3,) corner of voxel (0, 0, 0), local frame
    voxel: float
    grid: np.ndarray  # (nx, ny, nz) bool: blocks a ray
    ground: np.ndarray  # (nx, ny) lowest occupied z of each column (nan: none)

    def index(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Voxel indices of points and whether they fall in the grid."""
        ijk = np.floor((p - self.lo) / self.voxel).astype(np.int64)
        ok = np.all((ijk >= 0) & (ijk < np.array(self.grid.shape)), axis=-1)
        return ijk, ok

    def columns_round(self, xy: np.ndarray, radius: float):
        """For each plan offset within ``radius`` (at least the next voxel), the columns of
        ``xy`` moved by it (:meth:`column`)."""
        reach = max(1, int(np.ceil(radius / self.voxel)))
        for dx in range(-reach, reach + 1):
            for dy in range(-reach, reach + 1):
                if dx * dx + dy * dy <= reach * reach:
                    yield self.column(xy + self.voxel * np.array([dx, dy]))

    def column(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i = np.floor((xy[:, 0] - self.lo[0]) / self.voxel).astype(np.int64)
        j = np.floor((xy[:, 1] - self.lo[1]) / self.voxel).astype(np.int64)
        ok = (i >= 0) & (i < self.grid.shape[0]) & (j >= 0) & (j < self.grid.shape[1])
        return np.clip(i, 0, self.grid.shape[0] - 1), np.clip(j, 0, self.grid.shape[1] - 1), ok


def occupancy(xyz: np.ndarray, lo: np.ndarray, hi: np.ndarray, voxel: float, rings: list[np.ndarray],
              faces: list[Face], ground: float, wall_top: float) -> Occupancy:
    from scipy import ndimage  # noqa: PLC0415

    shape = np.maximum(np.ceil((hi - lo) / voxel).astype(np.int64), 1)
    ijk = np.floor((xyz - lo) / voxel).astype(np.int64)
    ok = np.all((ijk >= 0) & (ijk < shape), axis=1)
    key = np.ravel_multi_index(ijk[ok].T, shape)
    count = np.bincount(key, minlength=int(np.prod(shape))).reshape(shape)
    own = inside(xyz[ok, :2], rings) | (distance_to_outline(xyz[ok, :2], faces) <= 2 * voxel)
    around = np.bincount(key[~own], minlength=int(np.prod(shape))).reshape(shape) > 0
    levels = np.arange(shape[2])
    # the ground of a column: its lowest voxel holding a few points (a stray return below it is no ground)
    any_point, dense = count > 0, count >= GROUND_POINTS
    lowest = np.where(dense.any(axis=2), np.argmax(dense, axis=2),
                      np.where(any_point.any(axis=2), np.argmax(any_point, axis=2), -1))
    highest = np.where(any_point.any(axis=2), shape[2] - 1 - np.argmax(any_point[:, :, ::-1], axis=2), -1)
    column_ground = np.where(lowest >= 0, lo[2] + (lowest + 0.5) * voxel, np.nan)
    above = levels[None, None, :] > lowest[:, :, None]
    # what stands round the building, a voxel thicker: a column or a tree seen from one side only
    around = ndimage.binary_dilation(around & (levels[None, None, :] > lowest[:, :, None] + 1),
                                     np.ones((3, 3, 3), dtype=bool))
    grid = (any_point | around) & above
    # the building as a solid, one voxel in from its outline
    cx = lo[0] + (np.arange(shape[0]) + 0.5) * voxel
    cy = lo[1] + (np.arange(shape[1]) + 0.5) * voxel
    xy = np.column_stack([np.repeat(cx, shape[1]), np.tile(cy, shape[0])])
    solid = inside(xy, rings) & (distance_to_outline(xy, faces) > voxel)
    top = np.where(highest.ravel() >= 0, lo[2] + (highest.ravel() + 1) * voxel, wall_top)
    top = np.maximum(top, wall_top)
    z = lo[2] + (levels + 0.5) * voxel
    fill = solid[:, None] & (z[None, :] >= ground) & (z[None, :] <= top[:, None])
    grid |= fill.reshape(grid.shape)
    return Occupancy(lo, voxel, grid, column_ground)


def unblocked(occ: Occupancy, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(m,) bool: nothing occupied on the segment from each origin to its target (its last
    two voxels left out)."""
    step = occ.voxel / 2
    vec = targets - origins
    length = np.linalg.norm(vec, axis=1)
    reach = np.maximum(length - 2 * occ.voxel, 0.0)
    steps = int(np.ceil(reach.max() / step)) if len(reach) else 0
    out = np.ones(len(origins), dtype=bool)
    if steps == 0:
        return out
    way = vec / np.maximum(length, 1e-12)[:, None]
    s = (np.arange(steps) + 0.5) * step
    chunk = max(1, SAMPLES_PER_CHUNK // steps)
    for a in range(0, len(origins), chunk):
        b = min(a + chunk, len(origins))
        p = origins[a:b, None, :] + way[a:b, None, :] * s[None, :, None]
        ijk, ok = occ.index(p)
        ok &= s[None, :] < reach[a:b, None]
        ijk[~ok] = 0
        hit = occ.grid[ijk[..., 0], ijk[..., 1], ijk[..., 2]] & ok
        out[a:b] = ~hit.any(axis=1)
    return out
