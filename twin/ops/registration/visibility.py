"""What a scanner saw through: each station's first returns as a range image, and the
share of another station's points that a candidate alignment puts in that free space.

A scanner sees everything between itself and its first return. At the right alignment
another station's points lie on or behind this station's surfaces; at a symmetric or
repeated twin of it (which can fit surfaces just as well) whole walls land in space the
scanner saw through. The range image is binned at the station's own angular step (so a
sparse scan has no holes between its beams that would read as free space), and each
bin holds the nearest return over its 3x3 neighbourhood: a point beside a silhouette
edge, or on a thin pole between two beams, is not counted as seen through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE = 200_000  # points used to measure the angular step
MAX_IMAGE_POINTS = 4_000_000  # points binned into the range image (an even stride beyond)
MAX_BINS = 8_000_000  # the image's size limit (the step is widened beyond)


@dataclass(frozen=True)
class RangeImage:
    """Nearest range per (elevation, azimuth) bin around a scanner; inf where nothing returned."""

    step: float  # bin size (radians)
    rows: int
    cols: int
    nearest: np.ndarray  # (rows, cols)

    def bins(self, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, range) of points given relative to the scanner."""
        r = np.linalg.norm(rel, axis=1)
        az = np.arctan2(rel[:, 1], rel[:, 0]) + np.pi
        el = np.arcsin(np.clip(rel[:, 2] / np.maximum(r, 1e-12), -1.0, 1.0)) + np.pi / 2
        row = np.minimum((el / self.step).astype(np.int64), self.rows - 1)
        col = np.minimum((az / self.step).astype(np.int64), self.cols - 1)
        return row, col, r


def angular_step(rel: np.ndarray) -> float:
    """The scanner's angular step: the median angle between a return and its nearest
    distinct neighbour (doubled points left out), from a sample scaled back to the whole."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    r = np.linalg.norm(rel, axis=1)
    unit = rel[r > 0] / r[r > 0, None]
    if len(unit) < 10:
        return np.radians(1.0)
    stride = max(1, len(unit) // SAMPLE)
    sample = unit[::stride]
    dist, _ = cKDTree(sample).query(sample, k=4, workers=-1)
    distinct = np.where(dist[:, 1:] > 1e-9, dist[:, 1:], np.inf).min(axis=1)
    distinct = distinct[np.isfinite(distinct)]
    if len(distinct) == 0:
        return np.radians(1.0)
    # A scan is a 2-D sampling of directions: thinning it by ``stride`` widens spacings by its root.
    return float(np.median(distinct) / np.sqrt(stride))


def range_image(points: np.ndarray, scanner: np.ndarray) -> RangeImage:
    """The range image of ``points`` seen from ``scanner`` (both in one frame)."""
    rel = points[:: max(1, len(points) // MAX_IMAGE_POINTS)] - scanner
    step = 1.5 * angular_step(rel)
    step = max(step, np.sqrt(2 * np.pi * np.pi / MAX_BINS))
    rows, cols = int(np.ceil(np.pi / step)) + 1, int(np.ceil(2 * np.pi / step)) + 1
    image = RangeImage(step, rows, cols, np.empty(0))
    row, col, r = image.bins(rel)
    flat = np.full(rows * cols, np.inf)
    np.minimum.at(flat, row * cols + col, r)
    grid = flat.reshape(rows, cols)
    # Nearest over each bin's 3x3 neighbourhood (azimuth wraps around).
    padded = np.pad(grid, ((1, 1), (0, 0)), constant_values=np.inf)
    padded = np.concatenate([padded[:, -1:], padded, padded[:, :1]], axis=1)
    nearest = grid.copy()
    for di in (0, 1, 2):
        for dj in (0, 1, 2):
            np.minimum(nearest, padded[di : di + rows, dj : dj + cols], out=nearest)
    return RangeImage(step, rows, cols, nearest)


def seen_through(image: RangeImage, rel: np.ndarray, margin: float, margin_per_m: float) -> tuple[int, int]:
    """(points in front of the nearest return by more than the margin, points in bins with
    a return), for points given relative to the image's scanner."""
    row, col, r = image.bins(rel)
    nearest = image.nearest[row, col]
    known = np.isfinite(nearest)
    if not known.any():
        return 0, 0
    front = r[known] < nearest[known] - (margin + margin_per_m * nearest[known])
    return int(front.sum()), int(known.sum())
