"""Surface reconstruction: the ``Mesh`` container, screened Poisson with trimming, and
ball pivoting.

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

from dataclasses import dataclass, field

import numpy as np

from twin.errors import ProcessingError, UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.spacing import local_spacing, point_spacing


@dataclass
class Mesh:
    """A triangle mesh in float64 local coordinates about ``origin`` (world = origin + vertex)."""

    vertices: np.ndarray
    faces: np.ndarray
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    vertex_normals: np.ndarray | None = None  # (V, 3) float32
    vertex_rgb: np.ndarray | None = None  # (V, 3) uint8

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64).reshape(-1, 3)
        self.origin = np.asarray(self.origin, dtype=np.float64).reshape(3)
        if len(self.faces) and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError("mesh faces index vertices that do not exist")
        for name in ("vertex_normals", "vertex_rgb"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.vertices):
                raise ValueError(f"{name} has {len(values)} rows for {len(self.vertices)} vertices")

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def world_vertices(self) -> np.ndarray:
        return self.vertices + self.origin

    def face_areas(self, which: np.ndarray | None = None) -> np.ndarray:
        """The area of every face, or of the faces ``which`` indexes."""
        faces = self.faces if which is None else self.faces[which]
        a, b, c = (self.vertices[faces[:, k]] for k in range(3))
        return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)

    def vertex_normals_from_faces(self) -> np.ndarray:
        """Unit vertex normals: the sum of the adjacent faces' area-weighted normals (float32)."""
        a, b, c = (self.vertices[self.faces[:, k]] for k in range(3))
        face = np.cross(b - a, c - a)  # length: twice the area
        normals = np.column_stack([
            np.bincount(self.faces.ravel(), weights=np.repeat(face[:, k], 3), minlength=self.n_vertices)
            for k in range(3)
        ])
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        return (normals / np.where(length > 0, length, 1.0)).astype(np.float32)

    def area(self) -> float:
        return float(self.face_areas().sum())

    def keep_faces(self, keep: np.ndarray) -> Mesh:
        """The mesh with only the selected faces, unreferenced vertices dropped."""
        faces = self.faces[keep]
        referenced = np.zeros(len(self.vertices), dtype=bool)
        referenced[faces.ravel()] = True
        used = np.flatnonzero(referenced)
        remap = np.full(len(self.vertices), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return Mesh(
            self.vertices[used],
            remap[faces],
            self.origin.copy(),
            None if self.vertex_normals is None else self.vertex_normals[used],
            None if self.vertex_rgb is None else self.vertex_rgb[used],
        )

    def to_o3d(self):
        from twin.ops._o3d_convert import mesh_to_o3d  # noqa: PLC0415

        return mesh_to_o3d(self.vertices, self.faces, self.vertex_normals, self.vertex_rgb)

    @staticmethod
    def from_o3d(mesh, origin: np.ndarray | None = None) -> Mesh:
        from twin.ops._o3d_convert import mesh_arrays_from_o3d  # noqa: PLC0415

        arrays = mesh_arrays_from_o3d(mesh)
        return Mesh(
            arrays["vertices"],
            arrays["faces"],
            np.zeros(3) if origin is None else origin,
            arrays.get("vertex_normals"),
            arrays.get("vertex_rgb"),
        )


def _require_normals(cloud: PointCloud, what: str) -> None:
    if len(cloud) < 10:
        raise ProcessingError(f"{what} needs at least 10 points, got {len(cloud)}")
    if "normals" not in cloud.attrs:
        raise UsageError(f"{what} needs normals: run the normals stage first")


def trim_by_density(mesh: Mesh, densities: np.ndarray, quantile: float) -> Mesh:
    """Drop vertices (and their faces) whose Poisson density is below the ``quantile``."""
    if not 0 <= quantile < 1:
        raise UsageError(f"density quantile must lie in [0, 1), got {quantile}")
    if quantile == 0 or mesh.n_faces == 0:
        return mesh
    low = densities < np.quantile(densities, quantile)
    return mesh.keep_faces(~low[mesh.faces].any(axis=1))


def trim_by_distance(mesh: Mesh, points: np.ndarray, max_distance: float) -> Mesh:
    """Drop faces with a vertex or the centroid farther than ``max_distance`` from ``points``."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    if not np.isfinite(max_distance) or max_distance <= 0:
        raise UsageError(f"trim distance must be a positive number of metres, got {max_distance}")
    if mesh.n_faces == 0:
        return mesh
    tree = cKDTree(points)
    vertex_far = tree.query(mesh.vertices, distance_upper_bound=max_distance, workers=-1)[0] > max_distance
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    centroid_far = tree.query(centroids, distance_upper_bound=max_distance, workers=-1)[0] > max_distance
    return mesh.keep_faces(~(vertex_far[mesh.faces].any(axis=1) | centroid_far))


def trim_by_local_spacing(mesh: Mesh, points: np.ndarray, along_factor: float, across_factor: float,
                          min_distance: float) -> Mesh:
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
    from scipy.spatial import cKDTree  # noqa: PLC0415

    factors = (along_factor, across_factor, min_distance)
    if not (np.isfinite(factors).all() and along_factor > 0 and across_factor > 0 and min_distance >= 0):
        raise UsageError(f"trim factors and distance must be positive, got {factors}")
    if mesh.n_faces == 0:
        return mesh
    tree = cKDTree(points)
    spacing = local_spacing(points, tree)
    reach_along = np.maximum(along_factor * spacing.along, min_distance)
    reach_across = np.maximum(across_factor * spacing.across, min_distance)

    def far(queries: np.ndarray) -> np.ndarray:
        _, idx = tree.query(queries, workers=-1)
        offset = queries - points[idx]
        along = np.einsum("nj,nj->n", offset, spacing.direction[idx])
        across_sq = np.maximum(np.einsum("nj,nj->n", offset, offset) - along**2, 0.0)
        return (along / reach_along[idx]) ** 2 + across_sq / reach_across[idx] ** 2 > 1.0

    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    return mesh.keep_faces(~(far(mesh.vertices)[mesh.faces].any(axis=1) | far(centroids)))


def poisson_mesh(cloud: PointCloud, depth: int = 10, scale: float = 1.1, linear_fit: bool = False, *,
                 density_quantile: float = 0.02, max_distance: float | None = None,
                 trim_along: float = 3.0, trim_across: float = 1.75) -> Mesh:
    """Screened Poisson reconstruction (open3d), trimmed by density and by distance.

    With ``max_distance`` faces farther than that from every point are dropped; by
    default the limit follows the local point spacing: ``trim_along`` times it along the
    scan lines, ``trim_across`` times it across them (see ``trim_by_local_spacing``), but
    at least the size of a finest octree cell (the mesh cannot be finer than that).
    """
    from twin._deps import open3d  # noqa: PLC0415
    from twin.ops._o3d_convert import cloud_to_o3d  # noqa: PLC0415

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
    mesh = Mesh.from_o3d(o3d_mesh, cloud.origin.copy())
    if mesh.n_faces == 0:
        raise ProcessingError("Poisson reconstruction produced no surface; check the normals and the depth")
    mesh = trim_by_density(mesh, np.asarray(densities), density_quantile)
    if max_distance is not None:
        return trim_by_distance(mesh, cloud.xyz, max_distance)
    extent = float((cloud.xyz.max(axis=0) - cloud.xyz.min(axis=0)).max()) * scale
    return trim_by_local_spacing(mesh, cloud.xyz, trim_along, trim_across, extent / 2 ** int(depth))


def ball_pivoting_mesh(cloud: PointCloud, radii: tuple[float, ...] | None = None) -> Mesh:
    """Ball pivoting (open3d): interpolates the points, never bridges a gap wider than
    the largest ball. ``radii`` default to 1, 2 and 4 times 1.5 x the median spacing."""
    from twin._deps import open3d  # noqa: PLC0415
    from twin.ops._o3d_convert import cloud_to_o3d  # noqa: PLC0415

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
    mesh = Mesh.from_o3d(o3d_mesh, cloud.origin.copy())
    if mesh.n_faces == 0:
        raise ProcessingError("ball pivoting produced no surface; the radii may be too small for the spacing")
    return mesh
