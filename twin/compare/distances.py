"""Cloud-to-cloud and cloud-to-mesh distances, signed where normals allow.

- **C2C**: for each point of the compared cloud, the distance to its nearest neighbour in
  the reference cloud (scipy's KD-tree, all cores). With reference normals the distance
  is also given signed (positive on the side the neighbour's normal points to) and as a
  point-to-plane distance along that normal (CloudCompare's "local model" in its simplest
  form: less sensitive to the reference's point spacing).
- **C2M**: for each point, the distance to the closest triangle of a mesh (open3d's
  ``RaycastingScene``). Signed by the closest triangle's normal (its winding; right for
  any consistently oriented mesh, open or closed), or, for a watertight mesh, by inside
  and outside (ray parity; negative inside), or unsigned.

open3d's ray casting works in float32: points and vertices are moved to a frame centred
on the mesh first, so for a building-sized mesh the rounding stays at the micrometre
level; distances are then recomputed in float64 from the closest points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from twin.errors import UsageError


def _xyz(name: str, xyz: np.ndarray, allow_empty: bool = True) -> np.ndarray:
    arr = np.asarray(xyz, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise UsageError(f"{name} must be an (n, 3) array, got shape {arr.shape}")
    if not allow_empty and len(arr) == 0:
        raise UsageError(f"{name} is empty")
    if len(arr) and not np.isfinite(arr).all():
        raise UsageError(f"{name} holds NaN or infinite coordinates")
    return arr


@dataclass
class C2CResult:
    distance: np.ndarray  # (n,) float64 nearest-neighbour distance; NaN beyond max_distance
    nearest: np.ndarray  # (n,) int64 index of the nearest reference point; -1 beyond max_distance
    signed: np.ndarray | None  # (n,) distance with the sign of the neighbour's normal side
    point_to_plane: np.ndarray | None  # (n,) (p - q) . n_q, signed along the neighbour's normal


def cloud_to_cloud(
    compared_xyz: np.ndarray,
    reference_xyz: np.ndarray,
    *,
    reference_normals: np.ndarray | None = None,
    max_distance: float | None = None,
    workers: int = -1,
) -> C2CResult:
    """Nearest-neighbour distances from each compared point to the reference cloud.

    ``max_distance``: points farther than this from the reference get NaN (and -1).
    ``reference_normals``: (n_ref, 3) normals of the reference, for the signed outputs.
    """
    from scipy.spatial import cKDTree  # noqa: PLC0415

    compared = _xyz("compared cloud", compared_xyz)
    reference = _xyz("reference cloud", reference_xyz, allow_empty=False)
    if max_distance is not None and not (np.isfinite(max_distance) and max_distance > 0):
        raise UsageError(f"max_distance must be a positive number, got {max_distance}")
    normals = None
    if reference_normals is not None:
        normals = np.asarray(reference_normals, dtype=np.float64)
        if normals.shape != reference.shape:
            raise UsageError(f"reference normals must be {reference.shape}, got {normals.shape}")
    shift = reference.mean(axis=0)
    tree = cKDTree(reference - shift, balanced_tree=False, compact_nodes=False)
    bound = np.inf if max_distance is None else float(max_distance)
    dist, nearest = tree.query(compared - shift, k=1, distance_upper_bound=bound, workers=workers)
    found = np.isfinite(dist)
    nearest = np.where(found, nearest, -1).astype(np.int64)
    dist = np.where(found, dist, np.nan)
    signed = plane = None
    if normals is not None:
        plane = np.full(len(compared), np.nan)
        q = nearest[found]
        plane[found] = np.einsum("ij,ij->i", compared[found] - reference[q], normals[q])
        signed = np.where(plane < 0, -dist, dist)
    return C2CResult(distance=dist, nearest=nearest, signed=signed, point_to_plane=plane)


@dataclass
class C2MResult:
    distance: np.ndarray  # (n,) float64; signed unless sign="none"
    closest: np.ndarray  # (n, 3) float64 closest point on the mesh, in the input frame
    triangle: np.ndarray  # (n,) int64 index of the closest triangle


def cloud_to_mesh(
    xyz: np.ndarray,
    vertices: np.ndarray,
    triangles: np.ndarray,
    *,
    sign: Literal["normal", "inside", "none"] = "normal",
) -> C2MResult:
    """Distance from each point to a triangle mesh.

    ``sign``: "normal" (positive on the side the closest triangle's normal points to, by
    its vertex winding), "inside" (negative inside a watertight mesh), "none" (unsigned).
    """
    from twin._deps import open3d  # noqa: PLC0415

    if sign not in ("normal", "inside", "none"):
        raise UsageError(f"cloud-to-mesh sign must be 'normal', 'inside' or 'none', got {sign!r}")
    points = _xyz("point cloud", xyz)
    verts = _xyz("mesh vertices", vertices, allow_empty=False)
    tris = np.asarray(triangles)
    if tris.ndim != 2 or tris.shape[1] != 3 or len(tris) == 0:
        raise UsageError(f"mesh triangles must be a non-empty (m, 3) index array, got shape {tris.shape}")
    if not np.issubdtype(tris.dtype, np.integer) or tris.min() < 0 or tris.max() >= len(verts):
        raise UsageError("mesh triangles must index the vertices (0 .. n_vertices - 1)")
    o3d = open3d()
    shift = 0.5 * (verts.min(axis=0) + verts.max(axis=0))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(np.ascontiguousarray(verts - shift, dtype=np.float32)),
        o3d.core.Tensor(np.ascontiguousarray(tris, dtype=np.uint32)),
    )
    local = points - shift
    query = o3d.core.Tensor(np.ascontiguousarray(local, dtype=np.float32))
    ans = scene.compute_closest_points(query)
    closest = ans["points"].numpy().astype(np.float64)
    triangle = ans["primitive_ids"].numpy().astype(np.int64)
    distance = np.linalg.norm(local - closest, axis=1)
    if sign == "normal":
        face_normal = ans["primitive_normals"].numpy().astype(np.float64)
        distance = np.where(np.einsum("ij,ij->i", local - closest, face_normal) < 0, -distance, distance)
    elif sign == "inside":
        inside = scene.compute_signed_distance(query, nsamples=3).numpy() < 0
        distance = np.where(inside, -distance, distance)
    return C2MResult(distance=distance, closest=closest + shift, triangle=triangle)
