"""Surface reconstruction: screened Poisson with trimming, and ball pivoting.

Screened Poisson fits a watertight implicit surface, so it invents surface wherever
the data say nothing: across a door opening, between two columns, over the sky. Two
trims take that back:

- **density**: Poisson reports how many samples support each vertex; vertices below a
  low quantile of that density (the far-fetched extrapolation) go;
- **distance**: faces with a vertex or centroid too far from the input points go. This
  is what keeps openings open: a face spanning a 0.5 m gap has its centroid 0.25 m from
  any point, far beyond the spacing of a scan. "Too far" is ``max_distance`` where given,
  otherwise it follows the local spacing along and across the scan lines, measured in
  the points' tangent plane, *and* the face must lie on the surface the points describe:
  its offset along the nearest points' normals (the median over ``SUPPORT_NEIGHBOURS``
  of them) at most ``trim_normal`` times the spacing along the scan lines. Poisson fills
  the gaps between scan lines far from a scanner (a courtyard seen at grazing incidence,
  a roof seen from the ground) with surface that bulges centimetres off the points; such
  faces are near the points sideways but not on their surface, and go.

Two more steps keep the surface on the points. Before reconstruction, a normal that
disagrees with most of its neighbours' is turned over (``consistent_orientation``):
Poisson needs normals that point one way, and a normal oriented toward a scanner it
barely faces (a courtyard seen at grazing incidence) can point into the ground. Before
the support trim, each vertex is projected onto the surface the points around it
describe (``project_to_points``, a moving-least-squares projection onto a weighted
quadric fitted to its nearest points): Poisson's smoothing leaves surface a few
millimetres off the points between sparse scan lines and shrinks curved surfaces such as
columns, and the projection takes that out before the trim judges whether a face lies on
the points' surface. Where the points do not lie on one smooth sheet (an edge, a corner,
a gap) the fit's residual is large and the vertex stays.

``poisson_reconstruct`` also measures the result's support (``MeshSupport``): how much of
the area lies within one and two local spacings of a cloud point, and how much each trim
removed, for the pipeline's provenance.

Meshes stay in the cloud's float64 local frame and carry its origin.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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


SUPPORT_NEIGHBOURS = 8  # points whose tangent planes judge a face's offset (median)


@dataclass(frozen=True)
class MeshSupport:
    """How well the cloud vouches for a mesh (areas in m², shares of the mesh's area).

    ``local spacing`` is the nearest point's spacing across its scan line (the gap a
    surface must span between lines; the plain point spacing where sampling is even)."""

    area: float  # the mesh's area
    within_1_spacing: float  # share of the area whose faces' centroids lie within 1x the local spacing of a point
    within_2_spacing: float  # ... within 2x
    median_distance: float  # area-weighted median distance from a face centroid to the nearest point, metres
    density_trimmed_faces: int  # faces dropped by the Poisson-density trim
    density_trimmed_area: float
    support_trimmed_faces: int  # faces dropped because no point vouches for them (distance trim)
    support_trimmed_area: float
    off_surface_faces: int  # of those, faces near points sideways but off their surface (normal offset)
    off_surface_area: float
    normals_turned: int  # input normals turned over to agree with their neighbours
    vertices_projected: int  # vertices moved onto the surface of the points around them
    projection_median: float  # median distance they moved, metres

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PoissonResult:
    mesh: TriMesh
    support: MeshSupport


def _support_masks(mesh: TriMesh, points: np.ndarray, normals: np.ndarray | None, along_factor: float,
                   across_factor: float, normal_factor: float, min_distance: float,
                   tree=None, spacing=None) -> tuple[np.ndarray, np.ndarray]:
    """Per face: (outside the points' reach, off their surface), each true when a vertex
    or the centroid is. See ``trim_by_local_spacing``."""
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    tree = tree if tree is not None else KdTree(points)
    spacing = spacing if spacing is not None else local_spacing(points, tree)
    reach_along = np.maximum(along_factor * spacing.along, min_distance)
    reach_across = np.maximum(across_factor * spacing.across, min_distance)
    tolerance = np.maximum(normal_factor * spacing.along, min_distance / 4) if normals is not None else None
    k = min(SUPPORT_NEIGHBOURS, len(points))

    def judge(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        far = np.empty(len(queries), dtype=bool)
        off = np.zeros(len(queries), dtype=bool)
        for start in range(0, len(queries), 1 << 18):
            rows = slice(start, min(start + (1 << 18), len(queries)))
            q = queries[rows]
            _, idx = tree.query(q, k=k)
            idx = idx.reshape(len(q), k)
            offset = q[:, None, :] - points[idx]
            near, first = offset[:, 0], idx[:, 0]
            along = np.einsum("nj,nj->n", near, spacing.direction[first])
            sideways_sq = np.einsum("nj,nj->n", near, near) - along**2
            if normals is not None:
                height = np.abs(np.einsum("nkj,nkj->nk", offset, normals[idx]))
                sideways_sq -= height[:, 0] ** 2  # reach is measured in the tangent plane
                off[rows] = np.median(height, axis=1) > tolerance[first]
            sideways_sq = np.maximum(sideways_sq, 0.0)
            far[rows] = (along / reach_along[first]) ** 2 + sideways_sq / reach_across[first] ** 2 > 1.0
        return far, off

    far_v, off_v = judge(mesh.vertices)
    far_c, off_c = judge(mesh.vertices[mesh.faces].mean(axis=1))
    return far_v[mesh.faces].any(axis=1) | far_c, (off_v[mesh.faces].any(axis=1) | off_c)


def trim_by_local_spacing(mesh: TriMesh, points: np.ndarray, along_factor: float, across_factor: float,
                          min_distance: float, normals: np.ndarray | None = None,
                          normal_factor: float = 1.1) -> TriMesh:
    """Drop faces with a vertex or the centroid outside the nearest point's reach: an
    ellipse ``along_factor`` times the point's spacing along its scan line long and
    ``across_factor`` times the spacing across it wide (neither under ``min_distance``);
    with ``normals``, measured in the point's tangent plane, and faces whose offset along
    the normals of the nearest points (median over ``SUPPORT_NEIGHBOURS``) exceeds
    ``normal_factor`` times the spacing along the lines (at least a quarter of
    ``min_distance``) go too.

    Poisson closes every hole; what is kept is surface the points vouch for. Near the
    scanner a door opening's edge is densely sampled and the surface spanning it is cut;
    far away a roof sampled every 6 cm keeps its faces, and so does a courtyard seen at
    grazing incidence, whose scan lines lie 5 cm apart with points 1 cm apart along them,
    as long as the surface between the lines lies on the lines' plane.
    Faces between two lines lie half the across spacing from a point; faces past the end
    of a line are held to the along spacing, so the surface does not run on past a
    doorway's jamb.
    """
    factors = (along_factor, across_factor, normal_factor, min_distance)
    if not (np.isfinite(factors).all() and along_factor > 0 and across_factor > 0 and normal_factor > 0
            and min_distance >= 0):
        raise UsageError(f"trim factors and distance must be positive, got {factors}")
    if mesh.n_faces == 0:
        return mesh
    far, off = _support_masks(mesh, points, normals, along_factor, across_factor, normal_factor, min_distance)
    return mesh.keep_faces(~(far | off))


def mesh_support(mesh: TriMesh, points: np.ndarray, tree=None, spacing=None) -> tuple[float, float, float]:
    """Shares of ``mesh``'s area whose face centroids lie within 1x and 2x the local
    spacing (across the scan lines) of the nearest point, and the area-weighted median
    distance to it."""
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    if mesh.n_faces == 0:
        return 0.0, 0.0, float("nan")
    tree = tree if tree is not None else KdTree(points)
    spacing = spacing if spacing is not None else local_spacing(points, tree)
    dist, idx = tree.query(mesh.vertices[mesh.faces].mean(axis=1))
    area = mesh.face_areas()
    total = float(area.sum())
    ratio = dist / np.maximum(spacing.across[idx], 1e-12)
    order = np.argsort(dist)
    median = float(dist[order][np.searchsorted(np.cumsum(area[order]), total / 2)]) if total > 0 else float("nan")
    return float(area[ratio <= 1].sum() / total), float(area[ratio <= 2].sum() / total), median


ORIENTATION_NEIGHBOURS = 64
PROJECTION_NEIGHBOURS = 16
PROJECTION_RESIDUAL = 0.15  # the fit's weighted RMS residual, as a share of the neighbourhood's radius: "one sheet"
MAX_INFLATION = 1.0  # a fit's variance at the vertex over a single point's, at most
PROJECTION_REACH = 4.0  # the farthest a vertex moves, in spacings along the scan lines of its nearest point


def consistent_orientation(points: np.ndarray, normals: np.ndarray, tree=None, k: int = ORIENTATION_NEIGHBOURS,
                           rounds: int = 10) -> tuple[np.ndarray, int]:
    """``normals`` with each one that disagrees with its ``k`` nearest neighbours' (the
    sum of the dot products is negative) turned over, repeated up to ``rounds`` times;
    and how many ended turned. Orientation is a vote, the normals' directions stay."""
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    normals = np.asarray(normals, dtype=np.float64)
    if len(points) <= k:
        return normals.copy(), 0
    tree = tree if tree is not None else KdTree(points)
    idx = np.empty((len(points), k), dtype=np.int32)
    chunk = 1 << 15
    for start in range(0, len(points), chunk):
        idx[start:start + chunk] = tree.query(points[start:start + chunk], k=k + 1)[1][:, 1:]
    sign = np.ones(len(points))
    for _ in range(rounds):
        oriented = (normals * sign[:, None]).astype(np.float32)
        vote = np.concatenate([np.einsum("nj,nkj->n", oriented[start:start + chunk], oriented[idx[start:start + chunk]])
                               for start in range(0, len(points), chunk)])
        against = vote < 0
        if not against.any():
            break
        sign[against] *= -1
    return normals * sign[:, None], int((sign < 0).sum())


def project_to_points(mesh: TriMesh, points: np.ndarray, normals: np.ndarray, max_move: np.ndarray | float,
                      tree=None, k: int = PROJECTION_NEIGHBOURS,
                      max_residual: float = PROJECTION_RESIDUAL) -> tuple[TriMesh, np.ndarray]:
    """Move each vertex along the local normal onto a quadric fitted to its ``k`` nearest
    points (a moving-least-squares projection); the mesh and the distances moved (0
    where a vertex stays).

    Around each vertex the points are weighted by a Gaussian of their distance (its
    width the distance to the ``k``-th point); the frame is their weighted centre and the
    weighted mean of their (consistently oriented) ``normals``; the height over that
    frame is fitted with a quadratic in the two tangent coordinates by weighted least
    squares, or with a plane or a level where the points do not determine more (see
    ``MAX_INFLATION``). A vertex moves only where the fit's weighted RMS residual is under
    ``max_residual`` times the neighbourhood's radius (the points lie on one smooth sheet)
    and the move is under ``max_move`` (per vertex or one value). At a sharp edge the
    quadric rounds the corner: a vertex there moves onto that rounding, millimetres
    inside the edge, as Poisson's own surface already is."""
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    if mesh.n_vertices == 0 or len(points) < k:
        return mesh, np.zeros(mesh.n_vertices)
    tree = tree if tree is not None else KdTree(points)
    normals = np.asarray(normals, dtype=np.float64)
    vertices = mesh.vertices.copy()
    moved = np.zeros(len(vertices))
    limit = np.broadcast_to(np.asarray(max_move, dtype=np.float64), (len(vertices),))
    for start in range(0, len(vertices), 1 << 16):
        rows = slice(start, min(start + (1 << 16), len(vertices)))
        query = vertices[rows]
        dist, idx = tree.query(query, k=k)
        radius = np.maximum(dist[:, -1], 1e-12)
        weight = np.exp(-2.0 * (dist / radius[:, None]) ** 2)
        total = weight.sum(axis=1)
        normal = np.einsum("nk,nkj->nj", weight, normals[idx])
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
        centre = np.einsum("nk,nkj->nj", weight, points[idx]) / total[:, None]
        helper = np.where(np.abs(normal[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        u = np.cross(normal, helper)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        v = np.cross(normal, u)

        def tangent_terms(offset: np.ndarray) -> np.ndarray:  # 1, x, y, x², xy, y² (x, y in radii)
            x = np.einsum("n...j,nj->n...", offset, u) / (radius if offset.ndim == 2 else radius[:, None])
            y = np.einsum("n...j,nj->n...", offset, v) / (radius if offset.ndim == 2 else radius[:, None])
            return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)

        offset = points[idx] - centre[:, None, :]
        terms = tangent_terms(offset)
        height = np.einsum("nkj,nj->nk", offset, normal)
        # fit only what the points determine: the height at the vertex must be no noisier
        # than a single point's (the weighted least squares' variance factor at most
        # MAX_INFLATION). Where two scan lines cross the neighbourhood they fix a plane but
        # not a bend across them, and along one line not even the plane's tilt across it:
        # there the fit drops to a plane, or to the level of the points' centre.
        here = query - centre
        at_vertex = tangent_terms(here)
        lhs = np.einsum("nki,nk,nkj->nij", terms, weight, terms)
        stiff = np.zeros((len(query), 6))
        for terms_used in (6, 3):
            block = lhs[:, :terms_used, :terms_used] + 1e-9 * total[:, None, None] * np.eye(terms_used)
            lever = np.linalg.solve(block, at_vertex[:, :terms_used, None])[..., 0]
            inflation = np.einsum("nk,nk->n", weight**2, np.einsum("nki,ni->nk", terms[..., :terms_used], lever) ** 2)
            stiff[inflation > MAX_INFLATION, 1 if terms_used == 3 else 3:] = 1.0
        lhs = lhs + 1e6 * total[:, None, None] * (stiff[:, :, None] * np.eye(6)) + 1e-12 * np.eye(6)
        rhs = np.einsum("nki,nk,nk->ni", terms, weight, height)
        coef = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        residual = height - np.einsum("nki,ni->nk", terms, coef)
        rms = np.sqrt(np.einsum("nk,nk->n", weight, residual**2) / total)
        step = np.einsum("ni,ni->n", at_vertex, coef) - np.einsum("nj,nj->n", here, normal)
        move = (rms < max_residual * radius) & (np.abs(step) < limit[rows])
        vertices[rows] = query + np.where(move, step, 0.0)[:, None] * normal
        moved[rows] = np.where(move, np.abs(step), 0.0)
    return TriMesh(vertices, mesh.faces, mesh.origin.copy(), dict(mesh.vertex_attrs), dict(mesh.face_attrs)), moved


def poisson_reconstruct(cloud: PointCloud, depth: int = 10, scale: float = 1.1, linear_fit: bool = False, *,
                        density_quantile: float = 0.02, max_distance: float | None = None,
                        trim_along: float = 3.0, trim_across: float = 1.75,
                        trim_normal: float = 1.1) -> PoissonResult:
    """Screened Poisson reconstruction (open3d), trimmed by density and by support, and
    the support figures of what is kept (``MeshSupport``).

    With ``max_distance`` faces farther than that from every point are dropped; by
    default the limit follows the local point spacing: ``trim_along`` times it along the
    scan lines, ``trim_across`` times it across them, and ``trim_normal`` times the
    spacing along the lines off the points' surface (see ``trim_by_local_spacing``), but
    at least the size of a finest octree cell (the mesh cannot be finer than that).
    """
    from twin._deps import open3d  # noqa: PLC0415
    from twin.ops._o3d_convert import points_to_o3d, trimesh_from_o3d  # noqa: PLC0415
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    _require_normals(cloud, "Poisson meshing")
    if int(depth) != depth or not 4 <= depth <= 14:
        raise UsageError(f"Poisson depth must be an integer in 4..14, got {depth}")
    if not np.isfinite(scale) or scale < 1.0:
        raise UsageError(f"Poisson scale must be at least 1.0, got {scale}")
    o3d = open3d()
    tree = KdTree(cloud.xyz)
    normals, turned = consistent_orientation(cloud.xyz, cloud.attrs["normals"], tree)
    pcd = points_to_o3d(cloud.xyz, normals)
    # One thread: PoissonRecon's threaded solve crashes the process now and then
    # (segmentation fault; Open3D issues 6828 and 7229, PoissonRecon 298); a clean clone's CI
    # lost a test worker to it. On two cores one thread takes about 1.5 times as long (the
    # sample's 558k points: 22.0 s against 14.8 s at depth 10, 33.8 s against 23.1 s at 11).
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        o3d_mesh, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
            pcd, depth=int(depth), width=0, scale=float(scale), linear_fit=bool(linear_fit), n_threads=1
        )
    raw = trimesh_from_o3d(o3d_mesh, cloud.origin.copy())
    if raw.n_faces == 0:
        raise ProcessingError("Poisson reconstruction produced no surface; check the normals and the depth")
    dense = trim_by_density(raw, np.asarray(densities), density_quantile)
    density_trimmed_area = raw.area() - dense.area()
    spacing = local_spacing(cloud.xyz, tree)
    extent = float((cloud.xyz.max(axis=0) - cloud.xyz.min(axis=0)).max()) * scale
    cell = extent / 2 ** int(depth)
    _, nearest = tree.query(dense.vertices)
    reach = np.maximum(PROJECTION_REACH * spacing.along[nearest], cell / 2)
    dense, moved = project_to_points(dense, cloud.xyz, normals, reach, tree)
    if max_distance is not None:
        mesh = trim_by_distance(dense, cloud.xyz, max_distance)
        off = np.zeros(0, dtype=bool)
        trimmed_faces, trimmed_area = dense.n_faces - mesh.n_faces, dense.area() - mesh.area()
    else:
        factors = (trim_along, trim_across, trim_normal)
        if not (np.isfinite(factors).all() and min(factors) > 0):
            raise UsageError(f"trim factors must be positive, got {factors}")
        far, off = _support_masks(dense, cloud.xyz, normals, trim_along, trim_across, trim_normal, cell, tree, spacing)
        off = off & ~far
        mesh = dense.keep_faces(~(far | off))
        trimmed_faces, trimmed_area = int((far | off).sum()), float(dense.face_areas(far | off).sum())
    within_1, within_2, median = mesh_support(mesh, cloud.xyz, tree, spacing)
    support = MeshSupport(
        area=float(mesh.area()), within_1_spacing=within_1, within_2_spacing=within_2, median_distance=median,
        density_trimmed_faces=int(raw.n_faces - dense.n_faces), density_trimmed_area=float(density_trimmed_area),
        support_trimmed_faces=int(trimmed_faces), support_trimmed_area=float(trimmed_area),
        off_surface_faces=int(off.sum()), off_surface_area=float(dense.face_areas(off).sum()) if off.any() else 0.0,
        normals_turned=turned, vertices_projected=int((moved > 0).sum()),
        projection_median=float(np.median(moved[moved > 0])) if (moved > 0).any() else 0.0,
    )
    return PoissonResult(mesh, support)


def poisson_mesh(cloud: PointCloud, depth: int = 10, scale: float = 1.1, linear_fit: bool = False, *,
                 density_quantile: float = 0.02, max_distance: float | None = None,
                 trim_along: float = 3.0, trim_across: float = 1.75, trim_normal: float = 1.1) -> TriMesh:
    """The mesh of ``poisson_reconstruct`` (same parameters), without its support figures."""
    return poisson_reconstruct(cloud, depth, scale, linear_fit, density_quantile=density_quantile,
                               max_distance=max_distance, trim_along=trim_along, trim_across=trim_across,
                               trim_normal=trim_normal).mesh


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
