"""Registration of the stations of one survey into the frame of a reference station.

Each station arrives as a PointCloud in its own local frame (a scanner frame, or a
georeferenced one). The result is one 4x4 transform per station that maps the station's
*local* coordinates (``cloud.xyz``) to the reference station's local coordinates, plus
fitness / inlier RMSE / correspondence counts per station and per pairwise edge.

0. **Stations**: each station's scanner position is the one given, or the one its scan
   order reveals (twin.ops.viewpoint: a georeferenced LAS has lost it), or its frame's
   zero when the points surround it. Normals are estimated at every scale with a radius
   of at least a few point spacings and turned toward the scanner, so that the two
   faces of a column or a wall never pair up. The vertical is the least-squares normal
   of the floor around the scanner (a tripod a few tenths of a degree off blurs the
   plan-view search).
1. **Coarse** (skipped when initial poses are given, e.g. from E57 headers or a previous
   survey). Terrestrial scanners are levelled, so two stations differ by a yaw and a
   translation: for every yaw on a grid, the plan-view footprints of the stations'
   steep surfaces are correlated by FFT, the best distinct peaks are sharpened on a
   finer grid and settled by a short ICP. Buildings are symmetric and repetitive, so
   several candidates fit about as well; the one chosen is the one with most overlap
   after penalising *visibility conflicts* (points of one station floating in space
   that the other scanner saw through). Open3d's FPFH + RANSAC hypotheses can be added
   (``six_dof_hypotheses``) for frames that are not levelled. The best edges (a maximum
   spanning tree from the reference) give every station an initial pose.
2. **Multiway ICP**: each station in turn is aligned, point-to-plane and coarse to
   fine, to the union of all the others; the union constrains every axis where one
   overlapping pair often leaves one free (a long façade, a stair). Every ICP here is
   twin.ops.icp's: pairs only points whose oriented normals agree, Tukey-weighted.
3. **Pose graph**: every overlapping pair is refined by ICP from there, with an
   information matrix from its correspondences, and all are optimised together
   (Levenberg-Marquardt, line-process pruning of bad loop closures); the graph's poses
   are kept only when they fit the data better than the multiway ones.
4. **Checks**: a station whose final fitness against the others is too low, or whose
   point-to-plane RMSE is too high, or that no edge connects to the reference, is
   refused with a ProcessingError naming it, instead of merging a misaligned scan.

Everything runs in float64 on coordinates centred per station (bounding-box centre
subtracted), so UTM-sized numbers (~1.8e6 m) never reach open3d's solvers; centred
transforms are converted back to local ones at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from twin.errors import ProcessingError, UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.icp import IcpResult, point_to_plane_icp
from twin.ops.spacing import point_spacing


@dataclass(frozen=True)
class RegistrationSettings:
    """Parameters of :func:`register_stations`; lengths in metres."""

    coarse_voxel: float = 0.08  # downsampling for FPFH + RANSAC
    feature_radius_factor: float = 5.0  # FPFH radius = factor x coarse voxel
    ransac_max_iterations: int = 50_000
    ransac_confidence: float = 0.9995
    hypotheses: int = 8  # distinct candidate alignments per pair (symmetric buildings have several)
    yaw_step_deg: float = 2.0  # yaw grid of the levelled (4-DoF) search
    plan_cell: float = 0.15  # plan-view occupancy cell of that search
    plan_fine_cell: float = 0.03  # cell of its local refinement
    six_dof_hypotheses: bool = False  # also try open3d's 6-DoF RANSAC (for unlevelled frames)
    conflict_weight: float = 4.0  # hypothesis score = fitness - weight x visibility conflict
    max_conflict: float = 0.05  # share of points seen through by the other scanner, for an edge to count
    check_voxel: float = 0.05  # scale on which overlap (fitness) is judged; distance 2 x voxel
    # Normals: radius 2.5 x voxel, but never under this many times the scan's own point
    # spacing (a sparse scan's fine levels otherwise get normals from two or three points).
    normal_spacing_factor: float = 4.0
    max_normal_angle_deg: float = 30.0  # ICP pairs only points whose normals agree this well
    settle_schedule: tuple[tuple[float, float], ...] = ((0.05, 0.3), (0.05, 0.15), (0.05, 0.1))
    icp_max_points: int = 25_000  # source points per ICP iteration (an even stride through them)
    multiway_max_points: int = 200_000  # ... in the last multiway round, which sets the final poses
    # Point-to-plane ICP stages, (voxel, max correspondence distance), coarse to fine. The
    # multiway stages align each station to all the others together (the union constrains
    # every axis, where one overlapping pair often leaves one free); the pairwise stages
    # then measure the edges of the pose graph from there.
    multiway_schedule: tuple[tuple[float, float], ...] = (
        (0.05, 0.3), (0.05, 0.15), (0.02, 0.08), (0.01, 0.04), (0.005, 0.02), (0.005, 0.01))
    multiway_rounds: int = 4
    icp_schedule: tuple[tuple[float, float], ...] = ((0.05, 0.1), (0.02, 0.05), (0.01, 0.03))
    icp_max_iterations: int = 60
    min_edge_fitness: float = 0.15  # share of a station's points with a partner, for an edge to count
    min_station_fitness: float = 0.2  # a station's final fitness against all others
    max_station_rmse: float = 0.015  # point-to-plane within the finest ICP distance, against all others
    max_candidate_pairs_all: int = 12  # up to this many stations every pair is searched; beyond, neighbours
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("coarse_voxel", "feature_radius_factor", "check_voxel"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise UsageError(f"registration {name} must be positive, got {value}")
        for name in ("multiway_schedule", "icp_schedule", "settle_schedule"):
            stages = [tuple(stage) for stage in getattr(self, name)]
            if not stages or any(len(st) != 2 or not all(np.isfinite(x) and x > 0 for x in st) for st in stages):
                raise UsageError(f"registration {name} must be (voxel, distance) pairs > 0, got {stages}")
        if self.multiway_rounds < 1:
            raise UsageError("registration multiway_rounds must be at least 1")
        for name in ("min_edge_fitness", "min_station_fitness"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise UsageError(f"registration {name} must lie in [0, 1], got {value}")
        if self.ransac_max_iterations < 1 or self.hypotheses < 1 or self.icp_max_iterations < 1:
            raise UsageError("registration iteration counts must be at least 1")

    @property
    def finest_distance(self) -> float:
        return float(self.icp_schedule[-1][1])

    @property
    def fine_voxel(self) -> float:
        return float(self.icp_schedule[-1][0])

    @property
    def check_distance(self) -> float:
        return 2.0 * self.check_voxel

    @property
    def rmse_limit(self) -> float:
        return float(self.max_station_rmse)


@dataclass(frozen=True)
class EdgeMetrics:
    """One pairwise alignment: ``transform`` maps ``source`` local coordinates to ``target``'s."""

    source: int
    target: int
    transform: np.ndarray
    fitness: float
    inlier_rmse: float
    correspondences: int
    method: str  # "ransac" or "initial"
    in_graph: bool  # used in the pose graph


@dataclass(frozen=True)
class StationPose:
    """A station's transform into the reference station's local frame, and its fit
    against all the other stations once everything is aligned."""

    index: int
    name: str
    transform: np.ndarray
    fitness: float
    inlier_rmse: float
    correspondences: int
    scanner: np.ndarray | None = None  # where the scanner stood, in the station's local frame, when known


@dataclass(frozen=True)
class RegistrationResult:
    reference: int
    stations: list[StationPose]
    edges: list[EdgeMetrics] = field(default_factory=list)

    @property
    def transforms(self) -> list[np.ndarray]:
        return [s.transform for s in self.stations]


# --------------------------------------------------------------------------- helpers


def _translation(t: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = t
    return m


def _check_transform(t, what: str) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if t.shape != (4, 4) or not np.isfinite(t).all():
        raise UsageError(f"{what} must be a finite 4x4 matrix")
    r = t[:3, :3]
    if not np.allclose(r.T @ r, np.eye(3), atol=1e-5) or np.linalg.det(r) < 0 or not np.allclose(t[3], [0, 0, 0, 1]):
        raise UsageError(f"{what} is not a rigid transform (rotation + translation)")
    return t


def rotation_angle_deg(t: np.ndarray) -> float:
    """The rotation angle of a 4x4 (or 3x3) transform, in degrees."""
    r = np.asarray(t)[:3, :3]
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def initial_poses_from_origins(clouds: Sequence[PointCloud], reference: int = 0) -> list[np.ndarray]:
    """Initial poses for stations already in one common (e.g. georeferenced) frame:
    pure translations by the difference of origins."""
    ref = clouds[reference].origin
    return [_translation(c.origin - ref) for c in clouds]


def apply_transform(cloud: PointCloud, transform: np.ndarray, origin: np.ndarray) -> PointCloud:
    """The cloud moved by ``transform`` (its local → a frame whose origin is ``origin``);
    normals are rotated too."""
    t = np.asarray(transform, dtype=np.float64)
    attrs = dict(cloud.attrs)
    if "normals" in attrs:
        attrs["normals"] = (attrs["normals"].astype(np.float64) @ t[:3, :3].T).astype(np.float32)
    return PointCloud(cloud.xyz @ t[:3, :3].T + t[:3, 3], np.asarray(origin, dtype=np.float64).copy(), attrs)


def merge_registered(clouds: Sequence[PointCloud], result: RegistrationResult) -> PointCloud:
    """All stations in the reference station's frame (and origin), concatenated, with
    ``point_source_id`` saying which station (1, 2, ... in input order) saw each point."""
    origin = clouds[result.reference].origin
    moved = []
    for i, (cloud, station) in enumerate(zip(clouds, result.stations, strict=True)):
        part = apply_transform(cloud, station.transform, origin)
        part.attrs["point_source_id"] = np.full(len(part), i + 1, dtype=np.uint16)
        moved.append(part)
    return PointCloud.concatenate(moved)


@dataclass
class _Station:
    """A station's working copies: centred coordinates at every scale, normals, features."""

    name: str
    centre: np.ndarray
    scanner: np.ndarray | None  # scanner position in centred coordinates, when known
    points: np.ndarray  # centred full-resolution points
    levels: dict = field(default_factory=dict)  # voxel size -> open3d cloud with normals
    trees: dict = field(default_factory=dict)  # voxel size -> KdTree of that level's points
    structure: np.ndarray | None = None  # coarse points off the dominant plane
    plane_normal: np.ndarray | None = None  # unit normal of the dominant plane, when there is one
    features: tuple | None = None  # (structure points, their FPFH features)
    min_normal_radius: float = 0.0  # a few of the scan's point spacings
    up: np.ndarray | None = None  # the vertical, in the station's frame


def _orient(pcd, scanner: np.ndarray | None, k: int = 15) -> None:
    if scanner is not None:
        pcd.orient_normals_towards_camera_location(scanner)
    elif len(pcd.points) > k:
        pcd.orient_normals_consistent_tangent_plane(k)


def _level(station: _Station, voxel: float):
    """The station downsampled at ``voxel`` with normals (radius 2.5 voxel, or a few point
    spacings where the scan is sparser than that), oriented toward the scanner; cached."""
    if voxel not in station.levels:
        from twin._deps import open3d  # noqa: PLC0415
        from twin.ops._o3d_convert import points_to_o3d  # noqa: PLC0415
        from twin.ops.voxel import voxel_downsample  # noqa: PLC0415

        o3d = open3d()
        down = voxel_downsample(PointCloud(station.points), voxel).xyz
        pcd = points_to_o3d(down)
        radius = max(2.5 * voxel, station.min_normal_radius)
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=40))
        _orient(pcd, station.scanner)
        station.levels[voxel] = pcd
    return station.levels[voxel]


def _structure(station: _Station, settings: RegistrationSettings):
    """Indices of the coarse points off the station's dominant plane (the ground, usually).

    A TLS station samples the ground around it densely, and every wrong alignment that
    lays one ground on the other still scores well on plain fitness; planar points also
    all share one FPFH signature. Feature matching and the choice between candidate
    alignments therefore use only the points off that plane (when it holds more than a
    quarter of the points); ICP still uses everything.
    """
    if station.structure is None:
        from twin._deps import open3d  # noqa: PLC0415

        pcd = _level(station, settings.coarse_voxel)
        n = len(pcd.points)
        keep = np.arange(n)
        if n >= 100:
            open3d().utility.random.seed(settings.seed)
            plane, inliers = pcd.segment_plane(2.0 * settings.coarse_voxel, 3, 1000)
            if len(inliers) > 0.25 * n and n - len(inliers) >= 50:
                keep = np.setdiff1d(keep, np.asarray(inliers))
                on_plane = np.asarray(pcd.points)[np.asarray(inliers)]
                # Least squares on the inliers: RANSAC's three-point plane is off by tenths of a degree.
                normal = np.linalg.svd(on_plane - on_plane.mean(axis=0), full_matrices=False)[2][2]
                station.plane_normal = normal if normal @ plane[:3] > 0 else -normal
        station.structure = keep
    return station.structure


def _features(station: _Station, settings: RegistrationSettings):
    """The structure points (open3d cloud) and their FPFH features (computed in full context)."""
    if station.features is None:
        from twin._deps import open3d  # noqa: PLC0415

        o3d = open3d()
        pcd = _level(station, settings.coarse_voxel)
        radius = settings.feature_radius_factor * settings.coarse_voxel
        fpfh = o3d.pipelines.registration.compute_fpfh_feature(
            pcd, o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=100)
        )
        keep = _structure(station, settings)
        sub = o3d.pipelines.registration.Feature()
        sub.data = np.ascontiguousarray(np.asarray(fpfh.data)[:, keep])
        station.features = (pcd.select_by_index(keep.tolist()), sub)
    return station.features


def _feature_matches(src: _Station, dst: _Station, settings: RegistrationSettings) -> np.ndarray:
    """Mutual nearest neighbours in FPFH space between the structure points, (m, 2)."""
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    _, f_src = _features(src, settings)
    _, f_dst = _features(dst, settings)
    a = np.asarray(f_src.data).T
    b = np.asarray(f_dst.data).T
    _, ab = KdTree(b).query(a, k=1)
    _, ba = KdTree(a).query(b, k=1)
    mutual = np.flatnonzero(ba[ab] == np.arange(len(a)))
    return np.column_stack([mutual, ab[mutual]]).astype(np.int32)


def _ransac_hypotheses(src: _Station, dst: _Station, settings: RegistrationSettings, seed: int) -> list[np.ndarray]:
    """Several distinct RANSAC alignments: after each, the feature matches it explains are
    removed and RANSAC runs again, so that the symmetric twins of a building (a pavilion
    turned 90° or 180° fits itself) all come up as candidates instead of hiding the truth."""
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    reg = o3d.pipelines.registration
    distance = 1.5 * settings.coarse_voxel
    src_pcd, _ = _features(src, settings)
    dst_pcd, _ = _features(dst, settings)
    src_pts = np.asarray(src_pcd.points)
    dst_pts = np.asarray(dst_pcd.points)
    matches = _feature_matches(src, dst, settings)
    hypotheses = []
    for attempt in range(settings.hypotheses):
        if len(matches) < 6:
            break
        o3d.utility.random.seed(seed + 7919 * attempt)
        result = reg.registration_ransac_based_on_correspondence(
            src_pcd,
            dst_pcd,
            o3d.utility.Vector2iVector(matches),
            distance,
            reg.TransformationEstimationPointToPoint(False),
            3,
            [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(distance)],
            reg.RANSACConvergenceCriteria(settings.ransac_max_iterations, settings.ransac_confidence),
        )
        t = np.asarray(result.transformation)
        moved = src_pts[matches[:, 0]] @ t[:3, :3].T + t[:3, 3]
        # Drop every match this alignment roughly explains (not just its inliers), so the
        # next round cannot return a near copy of it.
        explained = np.linalg.norm(moved - dst_pts[matches[:, 1]], axis=1) < 0.5 + 5.0 * distance
        if explained.sum() < 3:
            break
        hypotheses.append(t)
        matches = matches[~explained]
    return hypotheses


def _visibility_conflict(src: _Station, dst: _Station, transform: np.ndarray, settings: RegistrationSettings,
                         step_deg: float = 0.5) -> float | None:
    """Share of the target's points that, moved into the source's frame, float in space
    that the source's scanner saw through (in front of its first return, by a margin).

    A scanner sees everything between itself and its first return, so a correct
    alignment leaves almost no point there; a symmetric twin of the right alignment
    (which fits surfaces just as well) puts many there. None without a scanner position.
    """
    if src.scanner is None:
        return None
    src_pts = np.asarray(_level(src, settings.coarse_voxel).points) - src.scanner
    inv = np.linalg.inv(transform)
    dst_pts = np.asarray(_level(dst, settings.coarse_voxel).points) @ inv[:3, :3].T + inv[:3, 3] - src.scanner

    def bins(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.linalg.norm(p, axis=1)
        az = np.degrees(np.arctan2(p[:, 1], p[:, 0])) + 180.0
        el = np.degrees(np.arcsin(np.clip(p[:, 2] / np.maximum(r, 1e-12), -1, 1))) + 90.0
        cols = int(np.ceil(360.0 / step_deg))
        return (np.floor(el / step_deg).astype(np.int64) * cols + np.floor(az / step_deg).astype(np.int64)), r

    src_bin, src_r = bins(src_pts)
    dst_bin, dst_r = bins(dst_pts)
    size = int(np.ceil(181.0 / step_deg) * np.ceil(360.0 / step_deg)) + 1
    first_return = np.full(size, np.inf)
    np.minimum.at(first_return, src_bin, src_r)
    seen = np.isfinite(first_return[dst_bin])
    if seen.sum() == 0:
        return 0.0
    margin = 3.0 * settings.coarse_voxel + 0.02 * first_return[dst_bin[seen]]
    conflict = dst_r[seen] < first_return[dst_bin[seen]] - margin
    return float(conflict.mean())


def _guarded_step(station: _Station, voxel: float, before: np.ndarray, result: IcpResult, distance: float) -> np.ndarray:
    """ICP's new pose, unless it rests on almost no correspondences or jumps further than
    the stage could justify (sparse scans at fine stages): then the previous pose."""
    moved = result.transform
    centre = np.asarray(_level(station, voxel).points).mean(axis=0)
    jump = np.linalg.norm((moved[:3, :3] - before[:3, :3]) @ centre + moved[:3, 3] - before[:3, 3])
    return moved if result.fitness >= 0.05 and jump <= 2.0 * distance else before


def _arrays(station: _Station, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    pcd = _level(station, voxel)
    return np.asarray(pcd.points), np.asarray(pcd.normals)


def _tree(station: _Station, voxel: float):
    """A k-d tree of the station's level at ``voxel``, in its own (centred) frame; cached."""
    if voxel not in station.trees:
        from twin.ops.neighbours import KdTree  # noqa: PLC0415

        station.trees[voxel] = KdTree(_arrays(station, voxel)[0])
    return station.trees[voxel]


class _PlacedUnion:
    """Nearest neighbours among several stations, each moved by its pose, answered from
    each station's own cached tree: the query points are brought into each station's frame
    instead of building a tree of the moved union at every stage (on stations of millions
    of points that rebuild was most of registration's time). ``query`` answers like
    ``cKDTree.query`` would on the concatenation of the stations' moved points."""

    def __init__(self, stations: Sequence[_Station], poses: Sequence[np.ndarray], voxel: float):
        self.parts = []
        offset = 0
        for station, pose in zip(stations, poses):
            tree = _tree(station, voxel)
            self.parts.append((tree, np.linalg.inv(pose), offset))
            offset += tree.n
        self.n = offset
        arrays = [_arrays(station, voxel) for station in stations]
        self.points = _MovedRows([a for a, _ in arrays], poses, translate=True)
        self.normals = _MovedRows([b for _, b in arrays], poses, translate=False)

    def query(self, x: np.ndarray, k: int = 1, distance_upper_bound: float = np.inf):
        dist, idx = [], []
        for tree, inv, offset in self.parts:
            d, i = tree.query(x @ inv[:3, :3].T + inv[:3, 3], k=k, distance_upper_bound=distance_upper_bound)
            if k == 1:
                d, i = d[:, None], i[:, None]
            dist.append(d)
            idx.append(np.where(i < tree.n, i + offset, self.n))  # a missing neighbour is n, as in cKDTree
        if len(self.parts) == 1:
            d, i = dist[0], idx[0]
        else:
            d, i = np.concatenate(dist, axis=1), np.concatenate(idx, axis=1)
            order = np.argsort(d, axis=1, kind="stable")[:, :k]
            d, i = np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)
        return (d[:, 0], i[:, 0]) if k == 1 else (d, i)


def _signed(*stations: _Station) -> bool:
    """Normals can be compared with their signs when every scanner position is known."""
    return all(st.scanner is not None for st in stations)


class _MovedRows:
    """The concatenation of several stations' points (or normals), each moved by its
    pose, computed only for the rows asked for: ``view[index]`` for an integer array of
    any shape, and ``len(view)``."""

    def __init__(self, arrays: Sequence[np.ndarray], poses: Sequence[np.ndarray], translate: bool):
        self.arrays = list(arrays)
        self.rotations = [pose[:3, :3] for pose in poses]
        self.shifts = [pose[:3, 3] if translate else np.zeros(3) for pose in poses]
        self.ends = np.cumsum([len(a) for a in self.arrays])

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def __getitem__(self, index) -> np.ndarray:
        index = np.asarray(index)
        flat = index.ravel()
        part = np.searchsorted(self.ends, flat, side="right")
        out = np.empty((len(flat), 3))
        for k, (rows, r, t) in enumerate(zip(self.arrays, self.rotations, self.shifts)):
            mine = part == k
            if mine.any():
                out[mine] = rows[flat[mine] - (self.ends[k] - len(rows))] @ r.T + t
        return out.reshape(*index.shape, 3)


def _icp_stage(src: _Station, target: tuple[np.ndarray, np.ndarray], init: np.ndarray, voxel: float,
               distance: float, settings: RegistrationSettings, signed: bool,
               max_points: int | None = None, tree=None) -> IcpResult:
    points, normals = _arrays(src, voxel)
    return point_to_plane_icp(points, normals, target[0], target[1], init, distance,
                              max_angle_deg=settings.max_normal_angle_deg, iterations=settings.icp_max_iterations,
                              signed=signed, max_points=max_points or settings.icp_max_points, tree=tree)


def _icp(src: _Station, dst: _Station, init: np.ndarray, settings: RegistrationSettings,
         schedule: Sequence[tuple[float, float]] | None = None) -> tuple[np.ndarray, IcpResult | None]:
    """Point-to-plane ICP through the stages of ``schedule`` (default: the pairwise
    stages); (transform, result of the last stage that was kept)."""
    transform = init
    kept = None
    signed = _signed(src, dst)
    for voxel, distance in schedule or settings.icp_schedule:
        result = _icp_stage(src, _arrays(dst, voxel), transform, voxel, distance, settings, signed,
                            tree=_tree(dst, voxel))
        new = _guarded_step(src, voxel, transform, result, distance)
        if new is not transform:
            transform, kept = new, result
    return transform, kept


def _evaluate(src_pcd, dst_pcd, transform: np.ndarray, distance: float):
    from twin._deps import open3d  # noqa: PLC0415

    return open3d().pipelines.registration.evaluate_registration(src_pcd, dst_pcd, distance, transform)


def _spanning_poses(n: int, reference: int, edges: dict[tuple[int, int], tuple[np.ndarray, float]]):
    """Poses (centred station → centred reference) along a maximum spanning tree on fitness,
    grown from the reference (Prim's algorithm); None for unreachable stations."""
    poses: list[np.ndarray | None] = [None] * n
    poses[reference] = np.eye(4)
    tree: set[tuple[int, int]] = set()
    while True:
        best = None
        for (i, j), (t_ij, fit) in edges.items():  # t_ij maps i into j
            if poses[j] is not None and poses[i] is None and (best is None or fit > best[0]):
                best = (fit, i, j, poses[j] @ t_ij)
            if poses[i] is not None and poses[j] is None and (best is None or fit > best[0]):
                best = (fit, j, i, poses[i] @ np.linalg.inv(t_ij))
        if best is None:
            return poses, tree
        _, new, known, pose = best
        poses[new] = pose
        tree.add((min(new, known), max(new, known)))


# --------------------------------------------------------------------------- main entry


def register_stations(
    clouds: Sequence[PointCloud],
    *,
    names: Sequence[str] | None = None,
    reference: int = 0,
    initial_poses: Sequence[np.ndarray] | None = None,
    scanner_positions: Sequence[np.ndarray | None] | None = None,
    settings: RegistrationSettings | None = None,
) -> RegistrationResult:
    """Align every station to ``clouds[reference]``; see the module docstring.

    ``initial_poses`` (local → reference local, e.g. from E57 poses or
    :func:`initial_poses_from_origins`) skip the feature matching. ``scanner_positions``
    (each in its station's local frame) orient normals; where one is not given,
    twin.ops.viewpoint.scanner_position finds it (the frame's zero when the points
    surround it, else from the scan order).
    """
    settings = settings or RegistrationSettings()
    n = len(clouds)
    if n == 0:
        raise UsageError("registration needs at least one station")
    names = list(names) if names is not None else [f"station {i}" for i in range(n)]
    if len(names) != n:
        raise UsageError(f"{len(names)} names for {n} stations")
    if not 0 <= reference < n:
        raise UsageError(f"reference station {reference} does not exist ({n} stations)")
    if initial_poses is not None and len(initial_poses) != n:
        raise UsageError(f"{len(initial_poses)} initial poses for {n} stations")
    if scanner_positions is not None and len(scanner_positions) != n:
        raise UsageError(f"{len(scanner_positions)} scanner positions for {n} stations")
    for name, cloud in zip(names, clouds, strict=True):
        if len(cloud) < 100:
            raise ProcessingError(f"{name}: only {len(cloud)} points, too few to register; check the scan")

    stations = []
    for i, cloud in enumerate(clouds):
        given = None if scanner_positions is None else scanner_positions[i]
        stations.append(_make_station(names[i], cloud, given, settings))

    if n == 1:
        scanner = None if stations[0].scanner is None else stations[0].scanner + stations[0].centre
        return RegistrationResult(reference, [StationPose(0, names[0], np.eye(4), 1.0, 0.0, 0, scanner)])

    # Poses map centred station coordinates to centred reference coordinates.
    c_ref = stations[reference].centre
    if initial_poses is not None:
        poses = []
        for i, t in enumerate(initial_poses):
            t = _check_transform(t, f"initial pose of {names[i]}")
            poses.append(_translation(-c_ref) @ t @ _translation(stations[i].centre))
        method = "initial"
    else:
        poses = _coarse_poses(stations, reference, settings)
        method = "ransac"

    poses = _multiway_refine(stations, poses, reference, settings)
    edges = _refine_edges(stations, poses, settings, method)
    graph_poses = _optimise_pose_graph(stations, poses, edges, reference, settings)
    # Pairwise edges can slide along axes their overlap leaves free, and the graph then
    # follows them; keep whichever set of poses fits the data better.
    if _misfit(stations, graph_poses, settings) <= _misfit(stations, poses, settings):
        poses = graph_poses
    return _finish(clouds, stations, poses, edges, reference, settings)


def _make_station(name: str, cloud: PointCloud, scanner: np.ndarray | None,
                  settings: RegistrationSettings) -> _Station:
    """A station's working copy, centred on its bounding box, with its scanner position:
    the one given, else twin.ops.viewpoint's (its frame's zero when the points surround
    it, else from its scan order), else unknown."""
    from twin.ops.viewpoint import scanner_position  # noqa: PLC0415

    lo, hi = cloud.xyz.min(axis=0), cloud.xyz.max(axis=0)
    centre = (lo + hi) / 2.0
    if scanner is None:
        scanner = scanner_position(cloud.xyz, cloud.origin)
    scanner = None if scanner is None else np.asarray(scanner, dtype=np.float64).reshape(3) - centre
    points = cloud.xyz - centre
    return _Station(name, centre, scanner, points,
                    min_normal_radius=settings.normal_spacing_factor * point_spacing(points, sample=20_000))


def _pairs(n: int, settings: RegistrationSettings) -> list[tuple[int, int]]:
    if n <= settings.max_candidate_pairs_all:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    # Many stations: neighbours in acquisition order, and two steps apart, as candidates.
    return [(i, j) for i in range(n) for j in (i + 1, i + 2) if j < n]


def _up_direction(station: _Station, settings: RegistrationSettings) -> np.ndarray:
    """The station's vertical in its own frame: the normal of its lowest level surface.

    Terrestrial scanners are levelled, but a tripod a few tenths of a degree off tips a
    10 m façade by centimetres in plan, enough to blur the plan-view search. The
    courtyard or floor around the scanner is the reference: points whose normals are
    within 18° of the frame's z (or, in a frame of arbitrary orientation, of the
    dominant plane's normal) near the lowest such level are fitted by least squares,
    twice dropping points more than 3 cm off. Falls back to z when no such surface exists.
    """
    if station.up is not None:
        return station.up
    z = np.array([0.0, 0.0, 1.0])
    pcd = _level(station, settings.check_voxel)
    pts, nrm = np.asarray(pcd.points), np.asarray(pcd.normals)
    guess = z
    _structure(station, settings)
    if station.plane_normal is not None and abs(station.plane_normal @ z) < np.cos(np.radians(10.0)):
        n = station.plane_normal  # not a levelled frame: start from the dominant plane
        ref = station.scanner if station.scanner is not None else pts.mean(axis=0)
        guess = n if ref @ n >= np.median(pts @ n) else -n
    flat = pts[np.abs(nrm @ guess) > 0.95]
    up = guess
    if len(flat) >= 50:
        heights = flat @ guess
        ground = np.quantile(heights, 0.05)
        chosen = flat[np.abs(heights - ground) < 0.3]
        for _ in range(3):
            if len(chosen) < 30:
                break
            centre = chosen.mean(axis=0)
            normal = np.linalg.svd(chosen - centre, full_matrices=False)[2][2]
            up = normal if normal @ guess > 0 else -normal
            chosen = flat[np.abs((flat - centre) @ up) < 0.03]
        if up @ guess < np.cos(np.radians(5.0)):
            up = guess  # not a floor after all
    station.up = up
    return up


def _levelling(up: np.ndarray) -> np.ndarray:
    """A rotation (4x4) that turns ``up`` onto +z."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(up, z)
    s, c = np.linalg.norm(axis), float(up @ z)
    m = np.eye(4)
    if s < 1e-12:
        if c < 0:
            m[:3, :3] = np.diag([1.0, -1.0, -1.0])
        return m
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    m[:3, :3] = np.eye(3) + s * kx + (1 - c) * kx @ kx
    return m


def _plan_images(points: np.ndarray, ground: float, lo: np.ndarray, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Occupancy of levelled points in plan, one image per height band above the ground."""
    bands = np.array([0.3, 1.5, 3.0, np.inf])
    h = points[:, 2] - ground
    ij = np.floor((points[:, :2] - lo) / cell).astype(np.int64)
    ok = (h >= bands[0]) & (ij[:, 0] >= 0) & (ij[:, 1] >= 0) & (ij[:, 0] < shape[0]) & (ij[:, 1] < shape[1])
    band = np.searchsorted(bands, h[ok], side="right") - 1
    images = np.zeros((len(bands) - 1, *shape), dtype=np.float32)
    images[band, ij[ok, 0], ij[ok, 1]] = 1.0
    return images


def _subcell(values: np.ndarray) -> float:
    """Offset of a peak from three samples around it (parabola), in [-0.5, 0.5]."""
    left, mid, right = values
    denom = left - 2.0 * mid + right
    if denom >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))


class _PlanMatcher:
    """Correlates the plan-view footprints of two levelled stations for any yaw."""

    def __init__(self, p: np.ndarray, g_src: float, q: np.ndarray, g_dst: float, cell: float):
        import scipy.fft  # noqa: PLC0415  (several times numpy's FFT here, on both cores)

        self.p, self.g_src, self.cell = p, g_src, cell
        radius = max(np.abs(p[:, :2]).max(), np.abs(q[:, :2]).max())
        half = int(np.ceil(radius / cell)) + 2
        self.size = 1 << int(np.ceil(np.log2(4 * half)))  # room for any shift without wrap-around
        self.lo = np.array([-half * cell, -half * cell])
        self.target = scipy.fft.rfft2(_plan_images(q, g_dst, self.lo, (self.size, self.size), cell), workers=-1)

    def best_shift(self, yaw: float) -> tuple[float, np.ndarray]:
        """(correlation, horizontal shift) of the best placement at ``yaw``, sub-cell precise."""
        import scipy.fft  # noqa: PLC0415

        c, s = np.cos(yaw), np.sin(yaw)
        p = self.p
        rotated = np.column_stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1], p[:, 2]])
        shape = (self.size, self.size)
        source = scipy.fft.rfft2(_plan_images(rotated, self.g_src, self.lo, shape, self.cell), workers=-1)
        # Occupancy images are 0/1, so the correlation counts cells: rounding it takes the
        # FFT's rounding noise out of which of two equal peaks wins.
        corr = np.rint(scipy.fft.irfft2((self.target * np.conj(source)).sum(axis=0), s=shape, workers=-1))
        di, dj = np.unravel_index(int(np.argmax(corr)), shape)
        fi = _subcell(corr[[(di - 1) % self.size, di, (di + 1) % self.size], dj])
        fj = _subcell(corr[di, [(dj - 1) % self.size, dj, (dj + 1) % self.size]])
        wrap = lambda k: k if k < self.size // 2 else k - self.size  # noqa: E731
        return float(corr[di, dj]), np.array([wrap(di) + fi, wrap(dj) + fj]) * self.cell


def _yaw_hypotheses(src: _Station, dst: _Station, settings: RegistrationSettings, seed: int) -> list[np.ndarray]:
    """Alignments with 4 degrees of freedom (yaw about the vertical + translation).

    Once both stations are levelled only yaw and translation remain. For every yaw on a
    grid, the source's plan-view footprint of steep surfaces (in height bands above its
    ground) is correlated with the target's by FFT, which gives the best horizontal
    shift at once; the ground heights give the vertical one. The best distinct peaks are
    refined on a finer yaw grid (sub-cell peak interpolation) to within a few
    centimetres, close enough for fine ICP not to snap onto a repeated element (a stair
    tread, a tile row), and come back as 4x4 transforms (centred source → centred target).
    Feature matching is not used here: on buildings made of repeated elements (columns,
    bays) FPFH matches are mostly between twins.
    """
    l_src = _levelling(_up_direction(src, settings))
    l_dst = _levelling(_up_direction(dst, settings))
    p, g_src = _vertical_structure(src, l_src, settings)
    q, g_dst = _vertical_structure(dst, l_dst, settings)
    if len(p) < 20 or len(q) < 20:
        return []
    matcher = _PlanMatcher(p, g_src, q, g_dst, settings.plan_cell)
    step = np.radians(settings.yaw_step_deg)
    yaws = np.arange(0.0, 2 * np.pi, step)
    coarse = [matcher.best_shift(yaw) for yaw in yaws]
    order = np.argsort([-c for c, _ in coarse], kind="stable")
    chosen: list[tuple[float, np.ndarray]] = []
    for k in order:
        if len(chosen) == settings.hypotheses:
            break
        yaw, shift = yaws[k], coarse[k][1]
        if any(abs(np.angle(np.exp(1j * (yaw - y)))) < 2.5 * step and np.linalg.norm(shift - sh) < 1.0
               for y, sh in chosen):
            continue
        # Refine: yaw in quarter steps around the peak, then a parabola through the best three.
        fine_step = step / 4.0
        fine_yaws = yaw + fine_step * np.arange(-4, 5)
        fine = [matcher.best_shift(y) for y in fine_yaws]
        scores = np.array([c for c, _ in fine])
        b = int(np.clip(np.argmax(scores), 1, len(fine_yaws) - 2))
        best_yaw = fine_yaws[b] + fine_step * _subcell(scores[b - 1 : b + 2])
        chosen.append((best_yaw, matcher.best_shift(best_yaw)[1]))
    out = []
    for yaw, shift in chosen:
        yaw, shift = _refine_plan(p, q, yaw, shift, settings)
        h = np.eye(4)
        h[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]]
        h[:3, 3] = [shift[0], shift[1], g_dst - g_src]
        out.append(np.linalg.inv(l_dst) @ h @ l_src)
    return out


def _refine_plan(p: np.ndarray, q: np.ndarray, yaw: float, shift: np.ndarray,
                 settings: RegistrationSettings) -> tuple[float, np.ndarray]:
    """Sharpen a plan-view alignment by brute force on a fine grid around it.

    Footprint cells (``plan_fine_cell``) of the rotated source are counted against the
    target's for every yaw within ±1° (eighth-degree steps) and every shift within
    ±6 cells; the best count wins, with a sub-cell parabola on the shift.
    """
    cell = settings.plan_fine_cell
    big = np.int64(1 << 32)

    def keys(xy: np.ndarray) -> np.ndarray:
        ij = np.floor(xy / cell).astype(np.int64) + (1 << 30)
        return np.unique(ij[:, 0] * big + ij[:, 1])

    target = keys(q[:, :2])
    reach = 6
    offsets = np.arange(-reach, reach + 1)
    best = (-1, yaw, shift, None)
    for y in yaw + np.radians(np.arange(-1.0, 1.0001, 0.125)):
        c, s_ = np.cos(y), np.sin(y)
        xy = np.column_stack([c * p[:, 0] - s_ * p[:, 1], s_ * p[:, 0] + c * p[:, 1]]) + shift
        src = keys(xy)
        counts = np.zeros((len(offsets), len(offsets)))
        for a, di in enumerate(offsets):
            for b, dj in enumerate(offsets):
                moved = src + di * big + dj
                pos = np.searchsorted(target, moved)
                pos[pos == len(target)] = 0
                counts[a, b] = np.count_nonzero(target[pos] == moved)
        a, b = np.unravel_index(int(np.argmax(counts)), counts.shape)
        if counts[a, b] > best[0]:
            best = (counts[a, b], y, shift, (counts, a, b))
    _, y, shift, (counts, a, b) = best
    fa = _subcell(counts[[a - 1, a, a + 1], b]) if 0 < a < len(offsets) - 1 else 0.0
    fb = _subcell(counts[a, [b - 1, b, b + 1]]) if 0 < b < len(offsets) - 1 else 0.0
    return float(y), shift + np.array([offsets[a] + fa, offsets[b] + fb]) * cell


def _vertical_structure(station: _Station, levelling: np.ndarray, settings: RegistrationSettings):
    """Levelled points on steep surfaces (walls, columns, piers), and the ground height.

    Horizontal surfaces (platforms, floors, roofs seen from below) make large uniform
    blobs in plan that match anywhere; the footprint of vertical surfaces is what
    tells one position of a building from another.
    """
    pcd = _level(station, settings.coarse_voxel)
    pts = np.asarray(pcd.points) @ levelling[:3, :3].T
    normals = np.asarray(pcd.normals) @ levelling[:3, :3].T
    return pts[np.abs(normals[:, 2]) < 0.3], _ground_height(pts)


def _ground_height(levelled: np.ndarray) -> float:
    """Height of the lowest surface (the ground around a building) in levelled coordinates.

    A low quantile, not the dominant plane: that may be a raised platform in one station
    and the courtyard in another.
    """
    return float(np.quantile(levelled[:, 2], 0.02))


def _pair_conflict(src: _Station, dst: _Station, transform: np.ndarray, settings: RegistrationSettings) -> float:
    a = _visibility_conflict(src, dst, transform, settings)
    b = _visibility_conflict(dst, src, np.linalg.inv(transform), settings)
    return max(a or 0.0, b or 0.0)


def _best_alignment(src: _Station, dst: _Station, settings: RegistrationSettings, seed: int):
    """(transform, fitness, conflict) of the most credible hypothesis, or None.

    Each hypothesis is settled by a short, wide-basin ICP first; then the highest
    overlap penalised by visibility conflicts wins.
    """
    hypotheses = _yaw_hypotheses(src, dst, settings, seed)
    if settings.six_dof_hypotheses or not hypotheses:
        hypotheses += _ransac_hypotheses(src, dst, settings, seed)
    best = None
    for hypothesis in hypotheses:
        transform = _settle(src, dst, hypothesis, settings)
        fitness = float(_evaluate(_level(src, settings.check_voxel), _level(dst, settings.check_voxel), transform,
                                  settings.check_distance).fitness)
        conflict = _pair_conflict(src, dst, transform, settings)
        score = fitness - settings.conflict_weight * conflict
        if best is None or score > best[0]:
            best = (score, transform, fitness, conflict)
    return None if best is None else best[1:]


def _settle(src: _Station, dst: _Station, init: np.ndarray, settings: RegistrationSettings) -> np.ndarray:
    """Point-to-plane ICP on the check scale, wide then narrow, to settle a coarse guess."""
    return _icp(src, dst, init, settings, settings.settle_schedule)[0]


def _coarse_poses(stations: list[_Station], reference: int, settings: RegistrationSettings) -> list[np.ndarray]:
    found: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
    best_fit: dict[int, tuple[float, int | None]] = {i: (0.0, None) for i in range(len(stations))}
    for i, j in _pairs(len(stations), settings):
        best = _best_alignment(stations[i], stations[j], settings, settings.seed + 31 * i + j)
        if best is None:
            continue
        transform, fitness, conflict = best
        for k, other in ((i, j), (j, i)):
            if fitness > best_fit[k][0]:
                best_fit[k] = (fitness, other)
        if fitness >= settings.min_edge_fitness and conflict <= settings.max_conflict:
            found[(i, j)] = (transform, fitness - settings.conflict_weight * conflict)
    poses, _ = _spanning_poses(len(stations), reference, found)
    for i, pose in enumerate(poses):
        if pose is None:
            fit, other = best_fit[i]
            partner = f" (best: {fit:.2f} with {stations[other].name})" if other is not None else ""
            raise ProcessingError(
                f"{stations[i].name} could not be aligned: no other station overlaps it with fitness >= "
                f"{settings.min_edge_fitness}{partner}; check that the scan belongs to this survey or give "
                "initial poses"
            )
    return poses


def _multiway_refine(stations: list[_Station], poses: list[np.ndarray], reference: int,
                     settings: RegistrationSettings) -> list[np.ndarray]:
    """Align each station in turn to the union of all the others, for a few rounds.

    Starting within a few decimetres (the coarse search), a big correspondence distance
    first and finer stages after pull every station into place; earlier rounds stop
    before the finest stage since the others are still moving.
    """
    poses = [p.copy() for p in poses]
    order = [i for i in range(len(stations)) if i != reference]
    stages = list(settings.multiway_schedule)
    signed = _signed(*stations)
    for round_ in range(settings.multiway_rounds):
        last = round_ == settings.multiway_rounds - 1
        for i in order:
            others = [j for j in range(len(stations)) if j != i]
            for voxel, distance in stages if last else stages[:-1]:
                union = _PlacedUnion([stations[j] for j in others], [poses[j] for j in others], voxel)
                result = _icp_stage(stations[i], (union.points, union.normals), poses[i], voxel, distance,
                                    settings, signed, max_points=settings.multiway_max_points if last else None,
                                    tree=union)
                poses[i] = _guarded_step(stations[i], voxel, poses[i], result, distance)
    return poses


def _refine_edges(stations: list[_Station], poses: list[np.ndarray], settings: RegistrationSettings,
                  method: str) -> list[tuple[EdgeMetrics, np.ndarray]]:
    """ICP-refine every pair that the current poses say overlaps; edges with their
    information matrices."""
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    coarse = settings.check_voxel
    fine = settings.fine_voxel
    edges = []
    n = len(stations)
    for i in range(n):
        for j in range(i + 1, n):
            predicted = np.linalg.inv(poses[j]) @ poses[i]
            overlap = _evaluate(_level(stations[i], coarse), _level(stations[j], coarse), predicted,
                                settings.check_distance)
            if overlap.fitness < settings.min_edge_fitness / 2:
                continue
            transform, result = _icp(stations[i], stations[j], predicted, settings)
            if result is None:
                continue
            # Overlap judged on the check scale: the fine one also counts the point spacing.
            overlap = _evaluate(_level(stations[i], coarse), _level(stations[j], coarse), transform,
                                settings.check_distance)
            if overlap.fitness < settings.min_edge_fitness:
                continue
            info = o3d.pipelines.registration.get_information_matrix_from_point_clouds(
                _level(stations[i], fine), _level(stations[j], fine), settings.finest_distance, transform
            )
            edge = EdgeMetrics(i, j, transform, float(overlap.fitness), float(result.rmse), result.pairs, method, True)
            edges.append((edge, np.asarray(info)))
    return edges


def _optimise_pose_graph(stations: list[_Station], poses: list[np.ndarray],
                         edges: list[tuple[EdgeMetrics, np.ndarray]], reference: int,
                         settings: RegistrationSettings) -> list[np.ndarray]:
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    reg = o3d.pipelines.registration
    _, tree = _spanning_poses(len(stations), reference,
                              {(e.source, e.target): (e.transform, e.fitness) for e, _ in edges})
    graph = reg.PoseGraph()
    for pose in poses:
        graph.nodes.append(reg.PoseGraphNode(pose))
    for e, information in edges:
        # open3d's edge (s, t, T) states pose_t^-1 @ pose_s = T, i.e. T maps s into t.
        uncertain = (e.source, e.target) not in tree
        graph.edges.append(reg.PoseGraphEdge(e.source, e.target, e.transform, information,
                                             uncertain=uncertain))
    option = reg.GlobalOptimizationOption(
        max_correspondence_distance=settings.finest_distance,
        edge_prune_threshold=0.25,
        preference_loop_closure=1.0,
        reference_node=reference,
    )
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        reg.global_optimization(graph, reg.GlobalOptimizationLevenbergMarquardt(),
                                reg.GlobalOptimizationConvergenceCriteria(), option)
    optimised = [np.asarray(node.pose).copy() for node in graph.nodes]
    ref_inv = np.linalg.inv(optimised[reference])  # keep the reference exactly fixed
    return [ref_inv @ p for p in optimised]


@dataclass(frozen=True)
class _Fit:
    fitness: float  # at the coarsest ICP scale: insensitive to point density
    inlier_rmse: float  # point-to-plane, at the finest scale
    correspondences: int  # at the finest scale


def _measure(src: _Station, transform: np.ndarray, others: Sequence[_Station], poses: Sequence[np.ndarray],
             settings: RegistrationSettings) -> _Fit:
    """Fitness of ``src`` (moved by ``transform``) against ``others`` (moved by ``poses``).

    Fitness is measured on the coarse scale (a share of points with a partner within
    the coarse ICP distance), so that sparse scans are not penalised for their spacing;
    the RMSE is point-to-plane on the finest scale, which measures misalignment rather
    than spacing. A station of more than ``MEASURE_MAX_POINTS`` fine points is measured
    on an even stride through them, and the correspondence count scaled up to all.
    """
    r, t = transform[:3, :3], transform[:3, 3]
    coarse_src = _arrays(src, settings.check_voxel)[0]
    dist, _ = _PlacedUnion(others, poses, settings.check_voxel).query(
        coarse_src @ r.T + t, k=1, distance_upper_bound=settings.check_distance)
    fitness = float(np.isfinite(dist).mean()) if len(dist) else 0.0
    fine_src = _arrays(src, settings.fine_voxel)[0]
    stride = max(1, int(np.ceil(len(fine_src) / MEASURE_MAX_POINTS)))
    moved = fine_src[::stride] @ r.T + t
    union = _PlacedUnion(others, poses, settings.fine_voxel)
    _, idx = union.query(moved, k=1, distance_upper_bound=settings.finest_distance)
    paired = idx < union.n
    if not paired.any():
        return _Fit(fitness, float("inf"), 0)
    hit = idx[paired]
    residual = np.einsum("ij,ij->i", moved[paired] - union.points[hit], union.normals[hit])
    pairs = int(round(paired.sum() * len(fine_src) / len(moved)))
    return _Fit(fitness, float(np.sqrt(np.mean(residual**2))), pairs)


MEASURE_MAX_POINTS = 1_000_000


def _misfit(stations: list[_Station], poses: list[np.ndarray], settings: RegistrationSettings) -> float:
    """Mean point-to-plane RMSE of every station against all the others (lower is better)."""
    total = 0.0
    for i, st in enumerate(stations):
        others = [j for j in range(len(stations)) if j != i]
        fit = _measure(st, poses[i], [stations[j] for j in others], [poses[j] for j in others], settings)
        total += fit.inlier_rmse if np.isfinite(fit.inlier_rmse) else 1.0
    return total / len(stations)


def _finish(clouds, stations, poses, edges, reference, settings) -> RegistrationResult:
    """Final metrics with the optimised poses, the checks, and local-frame transforms."""
    c_ref = stations[reference].centre

    def local(i: int, pose: np.ndarray) -> np.ndarray:
        return _translation(c_ref) @ pose @ _translation(-stations[i].centre)

    final_edges = []
    for e, _ in edges:
        fit = _measure(stations[e.source], poses[e.source], [stations[e.target]], [poses[e.target]], settings)
        t = np.linalg.inv(poses[e.target]) @ poses[e.source]
        t_local = _translation(stations[e.target].centre) @ t @ _translation(-stations[e.source].centre)
        final_edges.append(EdgeMetrics(e.source, e.target, t_local, fit.fitness, fit.inlier_rmse,
                                       fit.correspondences, e.method, e.in_graph))

    results = []
    for i, st in enumerate(stations):
        others = [j for j in range(len(stations)) if j != i]
        fit = _measure(st, poses[i], [stations[j] for j in others], [poses[j] for j in others], settings)
        # The reference defines the frame: a misfit is blamed on the station that moved.
        if i != reference and fit.fitness < settings.min_station_fitness:
            raise ProcessingError(
                f"{st.name} could not be aligned: after optimisation only {fit.fitness:.0%} of its points lie "
                f"within {settings.check_distance * 1000:.0f} mm of the other stations "
                f"(needs {settings.min_station_fitness:.0%}); check the scan or give initial poses"
            )
        if i != reference and fit.inlier_rmse > settings.rmse_limit:
            raise ProcessingError(
                f"{st.name} could not be aligned: point-to-plane RMSE {fit.inlier_rmse * 1000:.1f} mm against "
                f"the other stations exceeds {settings.rmse_limit * 1000:.1f} mm; check the scan or the "
                "registration settings"
            )
        scanner = None if st.scanner is None else st.scanner + st.centre
        results.append(StationPose(i, st.name, local(i, poses[i]), fit.fitness, fit.inlier_rmse, fit.correspondences,
                                   scanner))
    return RegistrationResult(reference, results, final_edges)
