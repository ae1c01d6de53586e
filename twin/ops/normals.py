"""Normal estimation (PCA over each point's neighbourhood, open3d) and orientation.

Orientation matters for meshing (Poisson puts the inside behind the normals) and for
FPFH features in registration. A laser scanner sees every surface from its station, so
the most reliable orientation is toward the station: flip each normal so that
``dot(n, station - p) > 0``. Merged clouds carry ``point_source_id``; each point is then
oriented toward its own station. Without station positions, normals are oriented toward
a viewpoint, or made consistent over the surface (open3d's tangent-plane propagation).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud

ORIENTATIONS = ("station", "viewpoint", "consistent", "none")


def _search_param(radius: float | None, max_nn: int | None):
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    if radius is not None and (not np.isfinite(radius) or radius <= 0):
        raise UsageError(f"normal search radius must be a positive number of metres, got {radius}")
    if max_nn is not None and (int(max_nn) != max_nn or max_nn < 3):
        raise UsageError(f"normals need at least 3 neighbours, got max_nn={max_nn}")
    if radius is not None and max_nn is not None:
        return o3d.geometry.KDTreeSearchParamHybrid(radius=float(radius), max_nn=int(max_nn))
    if radius is not None:
        return o3d.geometry.KDTreeSearchParamRadius(radius=float(radius))
    if max_nn is not None:
        return o3d.geometry.KDTreeSearchParamKNN(knn=int(max_nn))
    raise UsageError("normal estimation needs a radius, max_nn, or both")


def estimate_normal_vectors(xyz: np.ndarray, radius: float | None = None, max_nn: int | None = 30) -> np.ndarray:
    """Unit normals (float32, sign arbitrary) from PCA over the hybrid radius/k neighbourhood.

    Points with fewer than 3 neighbours get open3d's default (0, 0, 1).
    """
    from twin.ops._o3d_convert import points_to_o3d  # noqa: PLC0415

    param = _search_param(radius, max_nn)
    pcd = points_to_o3d(xyz)
    pcd.estimate_normals(param, fast_normal_computation=False)
    return np.asarray(pcd.normals, dtype=np.float32)


def orient_toward(xyz: np.ndarray, normals: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Flip normals so that each points toward its position (one (3,) or per-point (n, 3))."""
    to_station = np.asarray(positions, dtype=np.float64) - xyz
    flip = np.einsum("ij,ij->i", normals.astype(np.float64), to_station) < 0
    out = normals.copy()
    out[flip] *= -1
    return out


def station_positions_per_point(cloud: PointCloud, stations: np.ndarray | Mapping[int, np.ndarray]) -> np.ndarray:
    """A (3,) position, or a per-point (n, 3) array picked by ``point_source_id``."""
    if not isinstance(stations, Mapping):
        pos = np.asarray(stations, dtype=np.float64)
        if pos.shape != (3,):
            raise UsageError(f"a station position must be 3 numbers, got shape {pos.shape}")
        return pos
    ids = cloud.attrs.get("point_source_id")
    if ids is None:
        raise UsageError("station positions by source id need the point_source_id attribute")
    present = np.unique(ids)
    missing = sorted(set(present.tolist()) - {int(k) for k in stations})
    if missing:
        raise UsageError(f"no station position for point_source_id {missing}")
    table = np.zeros((int(present.max()) + 1, 3))
    for key, pos in stations.items():
        if 0 <= int(key) < len(table):
            table[int(key)] = np.asarray(pos, dtype=np.float64).reshape(3)
    return table[ids]


def estimate_normals(cloud: PointCloud, radius: float | None = None, max_nn: int | None = 30, *,
                     orientation: str = "station",
                     station: np.ndarray | Mapping[int, np.ndarray] | None = None,
                     viewpoint: np.ndarray | None = None, consistent_k: int = 15) -> PointCloud:
    """A cloud with ``normals`` set.

    ``station`` / ``viewpoint`` are in the cloud's local frame (``world - cloud.origin``);
    ``station`` may map point_source_id to positions. ``orientation``:

    - ``"station"``: toward the station when given, else toward ``viewpoint`` when given,
      else consistent propagation;
    - ``"viewpoint"``: toward ``viewpoint`` (required);
    - ``"consistent"``: open3d's ``orient_normals_consistent_tangent_plane(consistent_k)``;
    - ``"none"``: leave the PCA sign.
    """
    if orientation not in ORIENTATIONS:
        raise UsageError(f"unknown normal orientation {orientation!r}; use one of {', '.join(ORIENTATIONS)}")
    if orientation == "viewpoint" and viewpoint is None:
        raise UsageError("orientation 'viewpoint' needs a viewpoint")
    normals = estimate_normal_vectors(cloud.xyz, radius, max_nn)
    if orientation == "station" and station is not None:
        normals = orient_toward(cloud.xyz, normals, station_positions_per_point(cloud, station))
    elif orientation in ("station", "viewpoint") and viewpoint is not None:
        normals = orient_toward(cloud.xyz, normals, np.asarray(viewpoint, dtype=np.float64).reshape(3))
    elif orientation in ("station", "consistent"):
        normals = orient_consistently(cloud.xyz, normals, consistent_k)
    attrs = dict(cloud.attrs)
    attrs["normals"] = normals.astype(np.float32)
    return PointCloud(cloud.xyz, cloud.origin.copy(), attrs)


def orient_consistently(xyz: np.ndarray, normals: np.ndarray, k: int = 15) -> np.ndarray:
    """Propagate one orientation over the surface (minimum spanning tree on a k-NN graph)."""
    from twin.ops._o3d_convert import points_to_o3d  # noqa: PLC0415

    if int(k) != k or k < 3:
        raise UsageError(f"consistent orientation needs k >= 3, got {k}")
    if len(xyz) <= k:
        return normals
    pcd = points_to_o3d(xyz, normals)
    pcd.orient_normals_consistent_tangent_plane(int(k))
    return np.asarray(pcd.normals, dtype=np.float32)


def orient_from_oriented_neighbours(xyz: np.ndarray, normals: np.ndarray, oriented: np.ndarray) -> np.ndarray:
    """Orient the normals not yet ``oriented`` like their nearest oriented neighbour.

    Used when some stations' positions are known and others' are not (a georeferenced
    station written without its scanner position): the overlap between stations lets
    the known orientation carry over, point by point, without a global propagation.
    """
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    oriented = np.asarray(oriented, dtype=bool)
    todo = ~oriented
    if not todo.any() or not oriented.any():
        return normals
    nearest = KdTree(xyz[oriented]).query(xyz[todo], k=1)[1]
    reference = normals[oriented][nearest]
    out = normals.copy()
    flip = np.einsum("ij,ij->i", out[todo].astype(np.float64), reference.astype(np.float64)) < 0
    rows = np.flatnonzero(todo)[flip]
    out[rows] *= -1
    return out
