"""Outlier flagging: statistical (mean distance to k neighbours) and radius (too few
neighbours). Points are flagged in ``attrs["flags"]``, never removed here.

Both follow open3d's definitions exactly, so a flagged set can be checked against
``remove_statistical_outlier`` / ``remove_radius_outlier``:

- statistical: the k nearest neighbours of a point include the point itself; ``d̄`` is
  its mean neighbour distance; with ``μ`` and ``σ`` (Bessel-corrected) the mean and
  standard deviation of ``d̄`` over the cloud, a point is kept when ``0 < d̄ < μ + r·σ``.
- radius: a point is kept when more than ``min_points`` points, itself included, lie
  within ``radius`` (i.e. at least ``min_points`` other points).

Speed. The k-nearest-neighbour search dominates. Tree searches are memory bound, so the
points are first put in a space-filling-curve (Morton) order: neighbours in space become
neighbours in memory for every tree and every query batch, whatever order the file had.
Backends, fastest first: ``pykdtree`` (float32, OpenMP, optional dependency), ``open3d``
(open3d's own filter, run on the reordered points), ``scipy`` (cKDTree). ``auto`` takes
the fastest one installed; all give the same flagged set up to exact ties.
"""

from __future__ import annotations

import numpy as np

from twin.errors import UsageError
from twin.ops.threads import thread_budget
from twin.models.pointcloud import PointCloud
from twin.ops.flags import ALL_FLAGS, FLAG_RADIUS_OUTLIER, FLAG_STAT_OUTLIER, unflagged_mask, with_flag

BACKENDS = ("auto", "pykdtree", "open3d", "scipy")
_QUERY_BATCH = 1 << 16  # points per k-NN query batch: keeps the (batch, k) results in cache


def _have_pykdtree() -> bool:
    try:
        import pykdtree.kdtree  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise UsageError(f"unknown neighbour search backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "pykdtree" if _have_pykdtree() else "open3d"
    if backend == "pykdtree" and not _have_pykdtree():
        raise UsageError("backend 'pykdtree' needs the pykdtree package (pip install pykdtree)")
    return backend


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits between each of the low 21 bits (for 3-D Morton codes)."""
    v = v & 0x1FFFFF
    v = (v | (v << 32)) & 0x1F00000000FFFF
    v = (v | (v << 16)) & 0x1F0000FF0000FF
    v = (v | (v << 8)) & 0x100F00F00F00F00F
    v = (v | (v << 4)) & 0x10C30C30C30C30C3
    v = (v | (v << 2)) & 0x1249249249249249
    return v


_MORTON_BITS = 10
_SPREAD_10 = None


def spatial_order(xyz: np.ndarray) -> np.ndarray:
    """A permutation that puts points in Morton (Z-curve) order on a 1024³ grid over the
    bounding box: coarse, but all a tree search needs for memory locality, and cheap
    (a 1024-entry table spreads the bits; the 30-bit codes sort as int32)."""
    global _SPREAD_10
    if _SPREAD_10 is None:
        _SPREAD_10 = _spread_bits(np.arange(1 << _MORTON_BITS, dtype=np.int64)).astype(np.int32)
    lo = np.array([xyz[:, j].min() for j in range(3)])
    hi = np.array([xyz[:, j].max() for j in range(3)])
    scale = (2**_MORTON_BITS - 1) / max(float((hi - lo).max()), 1e-12)
    code = np.zeros(len(xyz), dtype=np.int32)
    for j in range(3):
        q = ((xyz[:, j] - lo[j]) * scale).astype(np.int32)
        code |= _SPREAD_10[q] << j
    return np.argsort(code)


def _knn_mean_distances_sorted(xyz: np.ndarray, k: int, backend: str, queries: int | None = None
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and largest distance to the k nearest neighbours (self included) of spatially
    sorted points; with ``queries``, of the first ``queries`` of them only (neighbours are
    still sought among all)."""
    count = len(xyz) if queries is None else int(queries)
    mean = np.empty(count, dtype=np.float64)
    kth = np.empty(count, dtype=np.float64)
    if backend == "pykdtree":
        from pykdtree.kdtree import KDTree  # noqa: PLC0415

        centre = (xyz.min(axis=0) + xyz.max(axis=0)) / 2.0
        pts = (xyz - centre).astype(np.float32)  # centred: float32 keeps micrometres over ±100 m
        tree = KDTree(pts, leafsize=16)

        def query(rows):
            return tree.query(pts[rows], k=k)[0]
    elif backend == "scipy":
        from scipy.spatial import cKDTree  # noqa: PLC0415

        tree = cKDTree(xyz, leafsize=16, balanced_tree=False, compact_nodes=False)

        def query(rows):
            return tree.query(xyz[rows], k=k, workers=thread_budget())[0]
    else:
        raise UsageError(f"backend {backend!r} does not give neighbour distances")
    for i in range(0, count, _QUERY_BATCH):
        rows = slice(i, min(i + _QUERY_BATCH, count))
        dist = query(rows).reshape(rows.stop - rows.start, -1)
        mean[rows] = dist.mean(axis=1, dtype=np.float64)
        kth[rows] = dist[:, -1]
    return mean, kth


def knn_mean_distances(xyz: np.ndarray, k: int, backend: str = "auto") -> np.ndarray:
    """Mean distance of each point to its k nearest neighbours, the point itself included."""
    return knn_mean_distances_of(xyz, len(xyz), k, backend)[0]


def knn_mean_distances_of(xyz: np.ndarray, queries: int, k: int, backend: str = "auto"
                          ) -> tuple[np.ndarray, np.ndarray]:
    """For the first ``queries`` points of ``xyz`` (a tile's own points, before its halo):
    the mean and the largest distance to their k nearest neighbours among all of ``xyz``."""
    xyz = np.asarray(xyz, dtype=np.float64)
    backend = resolve_backend(backend)
    if backend == "open3d":
        backend = "pykdtree" if _have_pykdtree() else "scipy"
    k = min(k, len(xyz))
    queries = int(queries)
    if queries == 0:
        return np.zeros(0), np.zeros(0)
    # sort the queries and the rest each by space, queries first, so the first rows stay theirs
    parts = [spatial_order(xyz[:queries])] + ([queries + spatial_order(xyz[queries:])] if queries < len(xyz) else [])
    order = np.concatenate(parts)
    mean_sorted, kth_sorted = _knn_mean_distances_sorted(np.take(xyz, order, axis=0), k, backend, queries)
    mean, kth = np.empty(queries), np.empty(queries)
    mean[order[:queries]], kth[order[:queries]] = mean_sorted, kth_sorted
    return mean, kth


def _check_statistical(k: int, std_ratio: float) -> None:
    if int(k) != k or k < 2:
        raise UsageError(f"statistical outlier filter needs k >= 2 neighbours, got {k}")
    if not np.isfinite(std_ratio) or std_ratio <= 0:
        raise UsageError(f"std_ratio must be a positive number, got {std_ratio}")


def _outliers_from_means(means: np.ndarray, std_ratio: float) -> np.ndarray:
    """open3d's rule, including its quirks: zero means (duplicates) are outliers and
    count in μ's denominator but not in its sum."""
    n = len(means)
    positive = means > 0
    mu = means[positive].sum() / n
    sigma = np.sqrt(((means[positive] - mu) ** 2).sum() / max(n - 1, 1))
    return ~(positive & (means < mu + std_ratio * sigma))


def statistical_outlier_mask(xyz: np.ndarray, k: int = 20, std_ratio: float = 2.0,
                             backend: str = "auto") -> np.ndarray:
    """True for the points open3d's ``remove_statistical_outlier(k, std_ratio)`` would remove."""
    _check_statistical(k, std_ratio)
    xyz = np.asarray(xyz, dtype=np.float64)
    n = len(xyz)
    if n < 2:
        return np.zeros(n, dtype=bool)
    backend = resolve_backend(backend)
    order = spatial_order(xyz)
    ordered = np.take(xyz, order, axis=0)
    if backend == "open3d":
        from twin.ops._o3d_convert import points_to_o3d  # noqa: PLC0415

        _, kept = points_to_o3d(ordered).remove_statistical_outlier(int(min(k, n)), float(std_ratio))
        outlier_sorted = np.ones(n, dtype=bool)
        outlier_sorted[np.asarray(kept, dtype=np.int64)] = False
    else:
        means, _ = _knn_mean_distances_sorted(ordered, int(min(k, n)), backend)
        outlier_sorted = _outliers_from_means(means, std_ratio)
    outlier = np.empty(n, dtype=bool)
    outlier[order] = outlier_sorted
    return outlier


def radius_outlier_mask(xyz: np.ndarray, min_points: int, radius: float) -> np.ndarray:
    """True for the points open3d's ``remove_radius_outlier(min_points, radius)`` would remove:
    fewer than ``min_points`` other points within ``radius``."""
    if int(min_points) != min_points or min_points < 1:
        raise UsageError(f"radius outlier filter needs min_points >= 1, got {min_points}")
    if not np.isfinite(radius) or radius <= 0:
        raise UsageError(f"radius must be a positive number of metres, got {radius}")
    from scipy.spatial import cKDTree  # noqa: PLC0415

    xyz = np.asarray(xyz, dtype=np.float64)
    if len(xyz) == 0:
        return np.zeros(0, dtype=bool)
    order = spatial_order(xyz)
    ordered = np.take(xyz, order, axis=0)
    tree = cKDTree(ordered, leafsize=16, balanced_tree=False, compact_nodes=False)
    counts = tree.query_ball_point(ordered, radius, return_length=True, workers=thread_budget())
    outlier = np.empty(len(xyz), dtype=bool)
    outlier[order] = counts <= min_points  # counts include the point itself
    return outlier


def _flag_among(cloud: PointCloud, ignore_flagged: int, bit: int, mask_fn) -> PointCloud:
    considered = unflagged_mask(cloud, ignore_flagged)
    if considered.all():
        return with_flag(cloud, mask_fn(cloud.xyz), bit)
    outlier = np.zeros(len(cloud), dtype=bool)
    outlier[considered] = mask_fn(cloud.xyz[considered])
    return with_flag(cloud, outlier, bit)


def flag_statistical_outliers(cloud: PointCloud, k: int = 20, std_ratio: float = 2.0, *,
                              backend: str = "auto", ignore_flagged: int = ALL_FLAGS) -> PointCloud:
    """Set ``FLAG_STAT_OUTLIER`` on statistical outliers.

    Points already carrying any bit of ``ignore_flagged`` (default: any flag) take no
    part: they neither count as neighbours nor in the statistics, and are not re-judged.
    """
    _check_statistical(k, std_ratio)
    resolve_backend(backend)
    return _flag_among(cloud, ignore_flagged, FLAG_STAT_OUTLIER,
                       lambda xyz: statistical_outlier_mask(xyz, k, std_ratio, backend))


def flag_radius_outliers(cloud: PointCloud, min_points: int, radius: float, *,
                         ignore_flagged: int = ALL_FLAGS) -> PointCloud:
    """Set ``FLAG_RADIUS_OUTLIER`` on points with fewer than ``min_points`` others within ``radius``."""
    radius_outlier_mask(np.empty((0, 3)), min_points, radius)  # validate before any work
    return _flag_among(cloud, ignore_flagged, FLAG_RADIUS_OUTLIER,
                       lambda xyz: radius_outlier_mask(xyz, min_points, radius))
