"""How far apart a cloud's points are: globally (one number) and around each point."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError


def point_spacing(xyz: np.ndarray, sample: int = 50_000, seed: int = 0, quantile: float = 0.5) -> float:
    """Median (or another ``quantile``) of the distance from a point to its nearest
    neighbour (on a sample of the points)."""
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    xyz = np.asarray(xyz, dtype=np.float64)
    if len(xyz) < 2:
        raise UsageError("point spacing needs at least two points")
    rng = np.random.default_rng(seed)
    probe = xyz if len(xyz) <= sample else xyz[rng.choice(len(xyz), sample, replace=False)]
    dist, _ = KdTree(xyz).query(probe, k=2)
    return float(np.quantile(dist[:, 1], quantile))


LINE_NEIGHBOURS = 6
CHUNK = 1 << 18


@dataclass(frozen=True)
class ScanSpacing:
    """How far apart the points are around each point, along and across its scan line."""

    along: np.ndarray  # (n,) distance to the nearest neighbour, smoothed over the neighbourhood
    across: np.ndarray  # (n,) distance to the nearest neighbour across that direction, smoothed
    direction: np.ndarray  # (n, 3) unit vector along the scan line (sign arbitrary)


def local_spacing(xyz: np.ndarray, tree=None, k: int = 8, reach: int = 16) -> ScanSpacing:
    """Each point's spacing along and across its scan line.

    A terrestrial scan is dense near the scanner and sparse far away (spacing grows with
    range), so one number cannot say how far a surface may be from the points. Far away
    and at grazing incidence the sampling is also anisotropic: points follow each other
    closely along a scan line while the lines lie several times farther apart. The
    nearest neighbour gives the first. The line's direction is the main axis of the
    ``LINE_NEIGHBOURS`` nearest points (on the line where lines lie several spacings
    apart; any direction where the sampling is even, and then it does not matter). The gap a surface must span between lines is the
    distance to the nearest of those points lying more than 45 degrees off that axis (to
    the farthest of them where none does). Both spacings are smoothed by the median over
    the point's ``k`` nearest points (itself included).
    """
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    xyz = np.asarray(xyz, dtype=np.float64)
    if len(xyz) <= max(k, reach):
        raise UsageError(f"local spacing needs more than {max(k, reach)} points")
    tree = tree if tree is not None else KdTree(xyz)
    local = (xyz - xyz.mean(axis=0)).astype(np.float32)
    nearest = np.empty(len(xyz), dtype=np.float32)
    across = np.empty(len(xyz), dtype=np.float32)
    direction = np.empty((len(xyz), 3), dtype=np.float32)
    neighbours = np.empty((len(xyz), k), dtype=np.int64)
    for start in range(0, len(xyz), CHUNK):
        rows = slice(start, min(start + CHUNK, len(xyz)))
        dist, idx = tree.query(xyz[rows], k=reach)
        neighbours[rows] = idx[:, :k]
        dist, idx = dist[:, 1:].astype(np.float32), idx[:, 1:]
        offsets = local[idx] - local[rows, None, :]
        way = _main_axis(offsets[:, :LINE_NEIGHBOURS], start=offsets[:, 0])
        cos = np.abs(np.matmul(offsets, way[:, :, None])[:, :, 0]) / np.maximum(dist, 1e-12)
        nearest[rows] = dist[:, 0]
        across[rows] = np.minimum(np.where(cos < np.sqrt(0.5), dist, np.inf).min(axis=1), dist[:, -1])
        direction[rows] = way
    return ScanSpacing(_median_over(nearest, neighbours), _median_over(across, neighbours), direction)


def _main_axis(offsets: np.ndarray, start: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Unit vector along the main axis of each row's offsets, by power iteration on their
    scatter matrix from ``start`` (the nearest neighbour's way: already close)."""
    centred = offsets - offsets.mean(axis=1, keepdims=True)
    scatter = np.matmul(centred.transpose(0, 2, 1), centred)
    way = start / np.maximum(np.linalg.norm(start, axis=1, keepdims=True), 1e-12)
    for _ in range(iterations):
        way = np.matmul(scatter, way[:, :, None])[:, :, 0]
        way /= np.maximum(np.linalg.norm(way, axis=1, keepdims=True), 1e-12)
    return way


def _median_over(values: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Each row's median of ``values`` at its ``neighbours``."""
    gathered = values[neighbours]
    gathered.sort(axis=1)
    half = neighbours.shape[1] // 2
    if neighbours.shape[1] % 2:
        return gathered[:, half].astype(np.float64)
    return 0.5 * (gathered[:, half - 1].astype(np.float64) + gathered[:, half])
