"""Surface reconstruction: screened Poisson with trimming, and ball pivoting.

Screened Poisson fits a watertight implicit surface, so it invents surface wherever
the data say nothing: across a door opening, between two columns, over the sky. Two
trims take that back:

- **density**: Poisson reports how many samples support each vertex; vertices below a
  low quantile of that density (the far-fetched extrapolation) go;
- **distance**: faces with a vertex or centroid too far from the input points go. This
  is what keeps openings open: a face spanning a 0.5 m gap has its centroid 0.25 m from
  any point, far beyond the spacing of a scan. "Too far" is ``max_distance`` where given,
  otherwise it follows the local spacing along and across the scan lines.

Meshes stay in the cloud's float64 local frame and carry its origin.
"""

from __future__ import annotations

import numpy as np

from twin.errors import ProcessingError, UsageError
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.ops.spacing import local_spacing, point_spacing


def _require_normals(cloud: PointCloud, what: str) -> None:
    if len(cloud) < 10:
        raise ProcessingError(f"{what} needs at least 10 points, got {len(cloud)}")
    if "normals" not in cloud.attrs:
        raise UsageError(f"{what} needs normals: run the normals stage first")


def trim_by_density(mesh: TriMesh, densities: np.ndarray, quantile: float) -> TriMesh:
    """Drop vertices (and their faces) whose Poisson density is below the ``quantile``."""
    if not 0 <= quantile < 1:
        raise UsageError(f"density quantile must lie in [0, 1), got {quantile}")
    if quantile == 0 or mesh.n_faces == 0:
        return mesh
    low = densities < np.quantile(densities, quantile)
    return mesh.keep_faces(~low[mesh.faces].any(axis=1))


def trim_by_distance(mesh: TriMesh, points: np.ndarray, max_distance: float) -> TriMesh:
    """Drop faces with a vertex or the centroid farther than ``max_distance`` from ``points``."""
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    if not np.isfinite(max_distance) or max_distance <= 0:
        raise UsageError(f"trim distance must be a positive number of metres, got {max_distance}")
    if mesh.n_faces == 0:
        return mesh
    tree = KdTree(points)
    vertex_far = tree.query(mesh.vertices, distance_upper_bound=max_distance)[0] > max_distance
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    centroid_far = tree.query(centroids, distance_upper_bound=max_distance)[0] > max_distance
    return mesh.keep_faces(~(vertex_far[mesh.faces].any(axis=1) | centroid_far))


def trim_by_local_spacing(mesh: TriMesh, points: np.ndarray, along_factor: float, across_factor: float,
                          min_distance: float) -> TriMesh:
    """Drop faces with a vertex or the centroid outside the nearest point's reach: an
    ellipse ``along_factor`` times the point's spacing along its scan line long and
    ``across_factor`` times the spacing across it wide (neither under ``min_distance``).

    Poisson closes every hole; what is kept is surface the points vouch for. Near the
    scanner a door opening's edge is densely sampled and the surface spanning it is cut;
    far away a roof sampled every 6 cm keeps its faces, and so does a courtyard seen at
    grazing incidence, whose scan lines lie 5 cm apart with points 1 cm apart along them.
    Faces between two lines lie half the across spacing from a point; faces past the end
    of a line are held to the along spacing, so the surface does not run on past a
    doorway's jamb.
    """
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    factors = (along_factor, across_factor, min_distance)
    if not (np.isfinite(factors).all() and along_factor > 0 and across_factor > 0 and min_distance >= 0):
        raise UsageError(f"trim factors and distance must be positive, got {factors}")
    if mesh.n_faces == 0:
        return mesh
    tree = KdTree(points)
    spacing = local_spacing(points, tree)
    reach_along = np.maximum(along_factor * spacing.along, min_distance)
    reach_across = np.maximum(across_factor * spacing.across, min_distance)

    def far(queries: np.ndarray) -> np.ndarray:
        _, idx = tree.query(queries)
        offset = queries - points[idx]
        along = np.einsum("nj,nj->n", offset, spacing.direction[idx])
        across_sq = np.maximum(np.einsum("nj,nj->n", offset, offset) - along**2, 0.0)
        return (along / reach_along[idx]) ** 2 + across_sq / reach_across[idx] ** 2 > 1.0

    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    return mesh.keep_faces(~(far(mesh.vertices)[mesh.faces].any(axis=1) | far(centroids)))


def poisson_mesh(cloud: PointCloud, depth: int = 10, scale: float = 1.1, linear_fit: bool = False, *,
                 density_quantile: float = 0.02, max_distance: float | None = None,
                 trim_along: float = 3.0, trim_across: float = 1.75) -> TriMesh:
    """Screened Poisson reconstruction (open3d), trimmed by density and by distance.

    With ``max_distance`` faces farther than that from every point are dropped; by
    default the limit follows the local point spacing: ``trim_along`` times it along the
    scan lines, ``trim_across`` times it across them (see ``trim_by_local_spacing``), but
    at least the size of a finest octree cell (the mesh cannot be finer than that).
    """
    from twin._deps import open3d  # noqa: PLC0415
    from twin.ops._o3d_convert import cloud_to_o3d, trimesh_from_o3d  # noqa: PLC0415

    _require_normals(cloud, "Poisson meshing")
    if int(depth) != depth or not 4 <= depth <= 14:
        raise UsageError(f"Poisson depth must be an integer in 4..14, got {depth}")
    if not np.isfinite(scale) or scale < 1.0:
        raise UsageError(f"Poisson scale must be at least 1.0, got {scale}")
    o3d = open3d()
    pcd = cloud_to_o3d(cloud)
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        o3d_mesh, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
            pcd, depth=int(depth), width=0, scale=float(scale), linear_fit=bool(linear_fit)
        )
    mesh = trimesh_from_o3d(o3d_mesh, cloud.origin.copy())
    if mesh.n_faces == 0:
        raise ProcessingError("Poisson reconstruction produced no surface; check the normals and the depth")
    mesh = trim_by_density(mesh, np.asarray(densities), density_quantile)
    if max_distance is not None:
        return trim_by_distance(mesh, cloud.xyz, max_distance)
    extent = float((cloud.xyz.max(axis=0) - cloud.xyz.min(axis=0)).max()) * scale
    return trim_by_local_spacing(mesh, cloud.xyz, trim_along, trim_across, extent / 2 ** int(depth))


def ball_pivoting_mesh(cloud: PointCloud, radii: tuple[float, ...] | None = None) -> TriMesh:
    """Ball pivoting (open3d): interpolates the points, never bridges a gap wider than
    the largest ball. ``radii`` default to 1, 2 and 4 times 1.5 x the median spacing."""
    from twin._deps import open3d  # noqa: PLC0415
    from twin.ops._o3d_convert import cloud_to_o3d, trimesh_from_o3d  # noqa: PLC0415

    _require_normals(cloud, "ball pivoting")
    if radii is None:
        base = 1.5 * point_spacing(cloud.xyz)
        radii = (base, 2 * base, 4 * base)
    if not radii or any(not np.isfinite(r) or r <= 0 for r in radii):
        raise UsageError(f"ball pivoting radii must be positive, got {radii}")
    o3d = open3d()
    o3d_mesh = o3d.geometry.TriangleMesh.create_from_point_cloud_ball_pivoting(
        cloud_to_o3d(cloud), o3d.utility.DoubleVector([float(r) for r in sorted(radii)])
    )
    mesh = trimesh_from_o3d(o3d_mesh, cloud.origin.copy())
    if mesh.n_faces == 0:
        raise ProcessingError("ball pivoting produced no surface; the radii may be too small for the spacing")
    return mesh
