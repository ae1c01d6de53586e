"""Conversions between twin's arrays and open3d geometries, in one place.

open3d holds float64 coordinates, so local float64 coordinates pass through unchanged;
colours are floats in [0, 1] in open3d and uint8 in twin.
"""

from __future__ import annotations

import numpy as np

from twin._deps import open3d
from twin.models.pointcloud import PointCloud


def points_to_o3d(xyz: np.ndarray, normals: np.ndarray | None = None, rgb: np.ndarray | None = None):
    """An ``open3d.geometry.PointCloud`` from (n, 3) arrays."""
    o3d = open3d()
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(xyz, dtype=np.float64)))
    if normals is not None:
        pcd.normals = o3d.utility.Vector3dVector(np.ascontiguousarray(normals, dtype=np.float64))
    if rgb is not None:
        pcd.colors = o3d.utility.Vector3dVector(np.asarray(rgb, dtype=np.float64) / 255.0)
    return pcd


def cloud_to_o3d(cloud: PointCloud, normals: bool = True, colors: bool = True):
    """The cloud's local coordinates (and normals, colours when present) as open3d."""
    return points_to_o3d(
        cloud.xyz,
        cloud.attrs.get("normals") if normals else None,
        cloud.attrs.get("rgb") if colors else None,
    )


def mesh_to_o3d(vertices: np.ndarray, faces: np.ndarray, vertex_normals: np.ndarray | None = None,
                vertex_rgb: np.ndarray | None = None):
    """An ``open3d.geometry.TriangleMesh`` from arrays."""
    o3d = open3d()
    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.ascontiguousarray(vertices, dtype=np.float64)),
        o3d.utility.Vector3iVector(np.ascontiguousarray(faces, dtype=np.int32)),
    )
    if vertex_normals is not None:
        mesh.vertex_normals = o3d.utility.Vector3dVector(np.asarray(vertex_normals, dtype=np.float64))
    if vertex_rgb is not None:
        mesh.vertex_colors = o3d.utility.Vector3dVector(np.asarray(vertex_rgb, dtype=np.float64) / 255.0)
    return mesh


def mesh_arrays_from_o3d(mesh) -> dict[str, np.ndarray]:
    """``vertices`` (float64), ``faces`` (int64) and, when present, ``vertex_normals``
    (float32) and ``vertex_rgb`` (uint8) of an open3d TriangleMesh."""
    out = {
        "vertices": np.asarray(mesh.vertices, dtype=np.float64).copy(),
        "faces": np.asarray(mesh.triangles, dtype=np.int64).copy(),
    }
    if mesh.has_vertex_normals():
        out["vertex_normals"] = np.asarray(mesh.vertex_normals, dtype=np.float32)
    if mesh.has_vertex_colors():
        rgb = np.asarray(mesh.vertex_colors)
        out["vertex_rgb"] = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    return out


def trimesh_to_o3d(mesh):
    """A twin TriMesh (local vertices) as an open3d TriangleMesh."""
    return mesh_to_o3d(mesh.vertices, mesh.faces, mesh.vertex_attrs.get("normals"), mesh.vertex_attrs.get("rgb"))


def trimesh_from_o3d(o3d_mesh, origin: np.ndarray | None = None):
    """An open3d TriangleMesh back as a twin TriMesh about ``origin`` (zero if not given)."""
    from twin.models.mesh import TriMesh  # noqa: PLC0415

    arrays = mesh_arrays_from_o3d(o3d_mesh)
    attrs = {}
    if "vertex_normals" in arrays:
        attrs["normals"] = arrays["vertex_normals"]
    if "vertex_rgb" in arrays:
        attrs["rgb"] = arrays["vertex_rgb"]
    return TriMesh(arrays["vertices"], arrays["faces"], np.zeros(3) if origin is None else origin, attrs)
