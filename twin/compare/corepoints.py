"""Core points for M3C2: subsampled from a cloud at a stated spacing, or read from a file.

Subsampling keeps, in every occupied cube of side ``spacing``, the one point nearest the
cube's centre (PDAL's ``filters.voxelcenternearestneighbor``, which PDAL's M3C2
documentation suggests for core points): core points are real measured points, about one
per ``spacing`` along a surface, on a regular pattern that rasterises well. Two kept points
in neighbouring cubes can be closer than ``spacing`` (they sit near their centres, so
rarely much closer); CloudCompare's minimum-distance subsampling, which guarantees it, is a
sequential greedy pass that would not vectorise.

A core point file is any point file the readers know (XYZ/TXT/CSV/PTS with or without a
header line, LAS/LAZ, PLY, PCD, E57): ``x y z`` columns are enough.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.errors import UsageError


def subsample_indices(xyz: np.ndarray, spacing: float) -> np.ndarray:
    """Indices (sorted) of the points kept by subsampling at ``spacing`` (see module notes)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise UsageError(f"core points: the cloud must be an (n, 3) array, got shape {xyz.shape}")
    if not (np.isfinite(spacing) and spacing > 0):
        raise UsageError(f"core point spacing must be a positive number of metres, got {spacing}")
    if len(xyz) == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.isfinite(xyz).all():
        raise UsageError("core points: the cloud holds NaN or infinite coordinates")
    lo = xyz.min(axis=0)
    cell = np.floor((xyz - lo) / spacing).astype(np.int64)
    dims = cell.max(axis=0) + 1
    centre = lo + (cell + 0.5) * spacing
    d2 = ((xyz - centre) ** 2).sum(axis=1)
    if float(dims[0]) * float(dims[1]) * float(dims[2]) < 2.0**62:
        key = (cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2]
        order = np.lexsort((d2, key))
        key = key[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = key[1:] != key[:-1]
    else:  # an absurd extent for the spacing: compare the three cell indices
        order = np.lexsort((d2, cell[:, 2], cell[:, 1], cell[:, 0]))
        c = cell[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (c[1:] != c[:-1]).any(axis=1)
    return np.sort(order[first])


def subsample(xyz: np.ndarray, spacing: float) -> np.ndarray:
    """Core points: the points kept by subsampling ``xyz`` at ``spacing``, as an (m, 3) array."""
    xyz = np.asarray(xyz, dtype=np.float64)
    return xyz[subsample_indices(xyz, spacing)]


def read_core_points(path: str | Path, origin: np.ndarray | None = None) -> np.ndarray:
    """Core points from a point file, as (m, 3) float64 coordinates relative to ``origin``
    (default: the file's own, georeferenced coordinates).

    Uses the scan readers, so a text file may have a header line (``x y z``, ``//X,Y,Z``)
    or none (three columns are x, y, z). Raises ScanReadError for an unreadable file.
    """
    from twin.io.registry import read_scan  # noqa: PLC0415

    cloud = read_scan(Path(path))
    if origin is None:
        return cloud.world_xyz
    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    return cloud.xyz + (cloud.origin - origin)
