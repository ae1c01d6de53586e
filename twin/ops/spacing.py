"""How far apart a cloud's points are: globally (one number) and around each point."""

from __future__ import annotations

import numpy as np

from twin.errors import UsageError


def point_spacing(xyz: np.ndarray, sample: int = 50_000, seed: int = 0) -> float:
    """Median distance from a point to its nearest neighbour (on a sample of the points)."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    xyz = np.asarray(xyz, dtype=np.float64)
    if len(xyz) < 2:
        raise UsageError("point spacing needs at least two points")
    rng = np.random.default_rng(seed)
    probe = xyz if len(xyz) <= sample else xyz[rng.choice(len(xyz), sample, replace=False)]
    dist, _ = cKDTree(xyz).query(probe, k=2, workers=-1)
    return float(np.median(dist[:, 1]))


def local_spacing(xyz: np.ndarray, tree=None, k: int = 8) -> np.ndarray:
    """Each point's spacing: the median nearest-neighbour distance among its ``k``
    nearest points (itself included).

    A terrestrial scan is dense near the scanner and sparse far away (spacing grows with
    range), so one number cannot say how far a surface may be from the points.
    """
    from scipy.spatial import cKDTree  # noqa: PLC0415

    xyz = np.asarray(xyz, dtype=np.float64)
    if len(xyz) <= k:
        raise UsageError(f"local spacing needs more than {k} points")
    tree = tree if tree is not None else cKDTree(xyz)
    dist, idx = tree.query(xyz, k=k, workers=-1)
    return np.median(dist[:, 1][idx], axis=1)
