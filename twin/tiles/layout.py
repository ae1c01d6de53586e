"""Where the tiles lie: a square grid in plan, each tile a column of the survey's full
height (buildings are wide, not tall), keyed ``(ix, iy)``."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.errors import UsageError

BYTES_PER_POINT = 200  # the heaviest per-tile step's working set per point (k-NN over tile + halo, normals)


class TileLayout(BaseModel):
    """A plan grid of ``shape`` tiles of ``size`` metres from ``start`` (local x, y about
    ``origin``), read with a ``halo`` metres wide."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    origin: tuple[float, float, float]
    start: tuple[float, float]
    size: float = Field(gt=0)
    shape: tuple[int, int]
    halo: float = Field(ge=0)

    @model_validator(mode="after")
    def _valid(self):
        if min(self.shape) < 1:
            raise ValueError(f"a tile grid needs at least one tile each way, got {self.shape}")
        if self.halo >= self.size:
            raise ValueError(f"the halo ({self.halo} m) must be narrower than a tile ({self.size} m)")
        return self

    @classmethod
    def covering(cls, lo: np.ndarray, hi: np.ndarray, origin: np.ndarray, size: float, halo: float) -> TileLayout:
        """The grid of ``size`` tiles that covers local bounds ``lo``..``hi``."""
        if not (np.isfinite(size) and size > 0):
            raise UsageError(f"tile size must be a positive length, got {size}")
        if not (np.isfinite(halo) and 0 <= halo < size):
            raise UsageError(f"the halo must be at least 0 and narrower than a tile ({size} m), got {halo}")
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        shape = tuple(max(1, math.floor((hi[k] - lo[k]) / size) + 1) for k in range(2))
        return cls(origin=tuple(float(v) for v in origin), start=(float(lo[0]), float(lo[1])), size=float(size),
                   shape=shape, halo=float(halo))

    @property
    def count(self) -> int:
        return self.shape[0] * self.shape[1]

    def keys(self) -> list[tuple[int, int]]:
        return [(ix, iy) for ix in range(self.shape[0]) for iy in range(self.shape[1])]

    def index_of(self, xy: np.ndarray) -> np.ndarray:
        """The flat tile index (ix * ny + iy) of each local (x, y); points past the grid's
        edge go to the edge tile."""
        cell = np.floor((np.asarray(xy)[:, :2] - self.start) / self.size).astype(np.int64)
        ix = np.clip(cell[:, 0], 0, self.shape[0] - 1)
        iy = np.clip(cell[:, 1], 0, self.shape[1] - 1)
        return ix * self.shape[1] + iy

    def key(self, index: int) -> tuple[int, int]:
        return divmod(int(index), self.shape[1])

    def bounds(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The tile's own plan rectangle (local x, y); edge tiles reach to infinity outward,
        so that every point has exactly one tile."""
        ix, iy = key
        lo = np.array([self.start[0] + ix * self.size, self.start[1] + iy * self.size])
        hi = lo + self.size
        lo[0] = -np.inf if ix == 0 else lo[0]
        lo[1] = -np.inf if iy == 0 else lo[1]
        hi[0] = np.inf if ix == self.shape[0] - 1 else hi[0]
        hi[1] = np.inf if iy == self.shape[1] - 1 else hi[1]
        return lo, hi

    def neighbours(self, key: tuple[int, int]) -> list[tuple[int, int]]:
        ix, iy = key
        return [(ix + dx, iy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                if (dx or dy) and 0 <= ix + dx < self.shape[0] and 0 <= iy + dy < self.shape[1]]


def tile_size_for_budget(points: int, area_m2: float, memory_bytes: float, halo: float,
                         bytes_per_point: float = BYTES_PER_POINT) -> float:
    """The tile size (m) whose points, halo included, fit ``memory_bytes`` at
    ``bytes_per_point``, for ``points`` spread over ``area_m2`` of plan.

    Raises UsageError when even a tile four halos wide would not fit: the budget is
    impossible for this density and halo, and the caller should say so before any work."""
    if points <= 0 or area_m2 <= 0:
        raise UsageError("a tile size needs a survey with points over some area")
    density = points / area_m2  # points per m² of plan
    fits = memory_bytes / bytes_per_point  # points a tile and its halo may hold
    # (size + 2 halo)² x density = fits
    size = math.sqrt(fits / density) - 2 * halo
    if size < 2 * halo:
        raise UsageError(
            f"a memory budget of {memory_bytes / 2**30:.1f} GiB cannot hold a tile with its {halo} m halo at "
            f"{density:,.0f} points per m² of plan; raise --memory-limit or thin the cloud first"
        )
    return size
