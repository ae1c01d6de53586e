"""The footprint seen from above: a plan raster of the cells whose centre lies inside it.

A cell is **occupied** when its points above ``cap_z`` (no lower than the walls' top: the
roof, not a floor or ceiling under it) span no more height than a roof pitched at most
STEEPEST_DEG would over the cell (a wall, a drum or a chimney's side seen in plan is not
the roof), **covered** after closing. A hole's
surface is taken from the roof around it: a plane fitted to the highest point of each
occupied cell on a band round the hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.ops.coverage.footprint import inside
from twin.ops.coverage.raster import close, disk

STEEPEST_DEG = 60.0
MIN_RIM = 0.25


@dataclass
class RoofRaster:
    x0: float
    y0: float
    cell: float
    cap_z: float
    inside: np.ndarray  # (ny, nx) bool
    occupied: np.ndarray
    covered: np.ndarray
    z_top: np.ndarray  # (ny, nx) highest point of each occupied cell, nan elsewhere

    @property
    def hole(self) -> np.ndarray:
        return self.inside & ~self.covered

    def surface(self, rows: np.ndarray, cols: np.ndarray, fallback_z: float) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) centres of a hole's cells on the plane of the roof round it, and its (n, 3)
        upward normal; flat at ``fallback_z`` where the roof round it is mostly unsampled too
        (less than MIN_RIM of the cells round it)."""
        from scipy import ndimage  # noqa: PLC0415

        mask = np.zeros_like(self.inside)
        mask[rows, cols] = True
        band = ndimage.binary_dilation(mask, disk(3)) & ~mask & self.occupied
        x = self.x0 + (cols + 0.5) * self.cell
        y = self.y0 + (rows + 0.5) * self.cell
        rim = ndimage.binary_dilation(mask, disk(3)) & ~mask & self.inside
        br, bc = np.nonzero(band)
        normal = np.array([0.0, 0.0, 1.0])
        z = np.full(len(rows), fallback_z)
        if len(br) >= max(3, MIN_RIM * rim.sum()):
            bx, by, bz = self.x0 + (bc + 0.5) * self.cell, self.y0 + (br + 0.5) * self.cell, self.z_top[br, bc]
            design = np.column_stack([bx - bx.mean(), by - by.mean(), np.ones(len(bx))])
            spread = np.linalg.svd(design[:, :2], compute_uv=False)
            if len(spread) == 2 and spread[-1] > self.cell * np.sqrt(len(bx)) * 0.5:
                (a, b, c), *_ = np.linalg.lstsq(design, bz, rcond=None)
                z = c + a * (x - bx.mean()) + b * (y - by.mean())
                normal = np.array([-a, -b, 1.0]) / np.sqrt(a * a + b * b + 1.0)
            else:
                z[:] = float(np.median(bz))
        return np.column_stack([x, y, z]), np.broadcast_to(normal, (len(rows), 3)).copy()


def roof_raster(xyz: np.ndarray, rings: list[np.ndarray], *, cell: float, cap_z: float, closing: int) -> RoofRaster:
    lo = np.min([r.min(axis=0) for r in rings], axis=0)
    hi = np.max([r.max(axis=0) for r in rings], axis=0)
    nx, ny = (np.ceil((hi - lo) / cell).astype(int) + 1).tolist()
    gx = lo[0] + (np.arange(nx) + 0.5) * cell
    gy = lo[1] + (np.arange(ny) + 0.5) * cell
    centres = np.column_stack([np.repeat(gx[None, :], ny, 0).ravel(), np.repeat(gy[:, None], nx, 1).ravel()])
    within = inside(centres, rings).reshape(ny, nx)
    above = xyz[:, 2] >= cap_z
    ix = np.floor((xyz[above, 0] - lo[0]) / cell).astype(np.int64)
    iy = np.floor((xyz[above, 1] - lo[1]) / cell).astype(np.int64)
    ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    key, z = iy[ok] * nx + ix[ok], xyz[above, 2][ok]
    z_top, z_low = np.full(ny * nx, -np.inf), np.full(ny * nx, np.inf)
    np.maximum.at(z_top, key, z)
    np.minimum.at(z_low, key, z)
    flat = z_top - z_low <= np.sqrt(2.0) * cell * np.tan(np.radians(STEEPEST_DEG))
    z_top = np.where(flat, z_top, -np.inf).reshape(ny, nx)
    occupied = np.isfinite(z_top) & within
    z_top[~np.isfinite(z_top)] = np.nan
    covered = close(occupied | ~within, closing) & within
    return RoofRaster(float(lo[0]), float(lo[1]), cell, cap_z, within, occupied, covered, z_top)
