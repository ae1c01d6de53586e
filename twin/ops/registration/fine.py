"""Fine alignment: ICP coarse to fine, pairwise and against the union of all the other
stations (multiway), and the pairwise links the pose graph is built from.

Every stage uses twin.ops.icp by default: it pairs only points whose oriented normals
agree, so the two faces of a column or a wall seen from opposite sides never pull
together, and weights residuals with Tukey's biweight. Stages whose correspondence
distance is under ``settings.gicp_below_units`` units use small_gicp's generalized ICP
instead (multithreaded C++, plane-to-plane through each point's covariance). Measured:
on the sparse real LiDAR pair GICP's fine stages end 0.44 degrees from the given pose
against 1.08 without; on the cleaned sample pavilion they leave a station 6.4 mm off
against 4.6 mm without, so the default (0) keeps twin's ICP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import dataclasses

from twin.ops.threads import thread_budget
from twin.ops.icp import IcpResult, point_to_plane_icp
from twin.ops.registration.settings import RegistrationSettings
from twin.ops.registration.station import PlacedUnion, Station, arrays, even_stride, level, signed, tree


def moved_by(before: np.ndarray, after: np.ndarray, centre: np.ndarray) -> float:
    """How far the change from pose ``before`` to ``after`` carries the point ``centre``."""
    return float(np.linalg.norm((after[:3, :3] - before[:3, :3]) @ centre + after[:3, 3] - before[:3, 3]))


MAX_JUMP_DISTANCES = 2.0  # a stage that would carry a station's centre further than this many of its
# correspondence distances rests on too little (sparse scans at fine stages, a misplaced station)


def guarded_step(station: Station, voxel: float, before: np.ndarray, result: IcpResult, distance: float) -> np.ndarray:
    """ICP's new pose, unless it rests on almost no correspondences or jumps further than
    the stage could justify: then the previous pose."""
    moved = result.transform
    centre = np.asarray(level(station, voxel).points).mean(axis=0)
    jump = moved_by(before, moved, centre)
    return moved if result.fitness >= 0.05 and jump <= MAX_JUMP_DISTANCES * distance else before


ICP_MIN_MOVE = 0.01  # an ICP stage stops once an update moves no point a hundredth of its voxel:
# the next, finer stage goes on from there (the tight absolute tolerance ran most wide stages
# to their 60 iterations)


def icp_stage(src: Station, target: tuple[np.ndarray, np.ndarray], init: np.ndarray, voxel: float,
              distance: float, settings: RegistrationSettings, is_signed: bool,
              max_points: int | None = None, target_tree=None) -> IcpResult:
    points, normals = arrays(src, voxel)
    return point_to_plane_icp(points, normals, target[0], target[1], init, distance,
                              max_angle_deg=settings.max_normal_angle_deg, iterations=settings.icp_max_iterations,
                              signed=is_signed, max_points=max_points or settings.icp_max_points, tree=target_tree,
                              min_conditioning=settings.min_conditioning, min_move=ICP_MIN_MOVE * voxel)


def icp(src: Station, dst: Station, init: np.ndarray, settings: RegistrationSettings,
        schedule: Sequence[tuple[float, float]] | None = None) -> tuple[np.ndarray, bool]:
    """ICP through the stages of ``schedule`` (default: the pairwise stages), twin's on
    wide stages and GICP on fine ones; (transform, whether any stage moved it)."""
    transform = init
    moved = False
    is_signed = signed(src, dst)
    for voxel, distance in schedule or settings.icp_schedule:
        if uses_gicp(distance, settings):
            new, _ = gicp_step(src, arrays(src, voxel)[0], arrays(dst, voxel)[0], transform, voxel, distance)
        else:
            result = icp_stage(src, arrays(dst, voxel), transform, voxel, distance, settings, is_signed,
                               target_tree=tree(dst, voxel))
            new = guarded_step(src, voxel, transform, result, distance)
        if new is not transform:
            transform, moved = new, True
    return transform, moved


THREADS = max(1, min(8, thread_budget()))


def gicp(src_points: np.ndarray, dst_points: np.ndarray, init: np.ndarray, voxel: float, distance: float,
         iterations: int = 30):
    """small_gicp's generalized ICP of ``src_points`` onto ``dst_points`` from ``init``
    (both centred near zero, downsampled at ``voxel``); its RegistrationResult."""
    import small_gicp  # noqa: PLC0415

    return small_gicp.align(dst_points, src_points, init_T_target_source=init, registration_type="GICP",
                            downsampling_resolution=voxel, max_correspondence_distance=distance,
                            num_threads=THREADS, max_iterations=iterations)


def gicp_step(station: Station, src_points: np.ndarray, dst_points: np.ndarray, before: np.ndarray,
              voxel: float, distance: float) -> tuple[np.ndarray, int]:
    """One GICP stage with the same guard as :func:`guarded_step`: (pose, inliers)."""
    result = gicp(src_points, dst_points, before, voxel, distance)
    moved = np.asarray(result.T_target_source)
    centre = src_points.mean(axis=0) if len(src_points) else np.zeros(3)
    jump = moved_by(before, moved, centre)
    enough = result.num_inliers >= 0.05 * max(1, len(src_points)) and result.num_inliers >= 30
    if enough and jump <= 2.0 * distance and np.isfinite(moved).all():
        return moved, int(result.num_inliers)
    return before, 0


def uses_gicp(distance: float, settings: RegistrationSettings) -> bool:
    return distance < settings.gicp_below_units * settings.unit


# Candidates settle on an even stride of this many points and at most 30 iterations a
# stage. Fewer points (6k was tried) settle the pavilion's candidates less well and the
# multiway stages then end 8 mm off instead of 3.
SETTLE_MAX_POINTS = 25_000


def settle(src: Station, dst: Station, init: np.ndarray, settings: RegistrationSettings) -> np.ndarray:
    """Point-to-plane ICP on the check scale, wide then narrow, to settle a coarse guess."""
    light = dataclasses.replace(settings, icp_max_points=min(settings.icp_max_points, SETTLE_MAX_POINTS),
                                icp_max_iterations=settings.icp_max_iterations)
    return icp(src, dst, init, light, settings.settle_schedule)[0]


OVERLAP_MAX_POINTS = 50_000  # a share is estimated on an even stride through at most this many points
# (its standard error then at most 0.22 percentage points); the check level of a dense station holds
# up to 300k, and the coarse search asks for a thousand shares


def overlap_share(src: Station, dst: Station, transform: np.ndarray, settings: RegistrationSettings) -> float:
    """Share of ``src``'s check-scale points with a ``dst`` point within the check distance."""
    pts = arrays(src, settings.check_voxel)[0]
    pts = even_stride(pts, OVERLAP_MAX_POINTS)
    if len(pts) == 0:
        return 0.0
    dist, _ = tree(dst, settings.check_voxel).query(pts @ transform[:3, :3].T + transform[:3, 3], k=1,
                                                    distance_upper_bound=settings.check_distance)
    return float(np.isfinite(dist).mean())


def pair_overlap(src: Station, dst: Station, transform: np.ndarray, settings: RegistrationSettings) -> float:
    """The overlap of a pair: the larger of the two stations' shares that the other sees
    (:func:`overlap_share` both ways). A small station (an upper floor, a gate's passage)
    may lie wholly within a big one that shares only a tenth of its own points with it;
    the link is as good as the small station's share says."""
    inverse = np.linalg.inv(transform)
    return max(overlap_share(src, dst, transform, settings), overlap_share(dst, src, inverse, settings))


def multiway_refine(stations: list[Station], poses: list[np.ndarray], reference: int,
                    settings: RegistrationSettings,
                    schedule: Sequence[tuple[float, float]] | None = None) -> list[np.ndarray]:
    """Align each station in turn to the union of all the others, for a few rounds.

    Starting within a few units (the coarse search), a big correspondence distance
    first and finer stages after pull every station into place; earlier rounds stop
    before the finest stage since the others are still moving. The union constrains
    every axis where one overlapping pair often leaves one free (a long façade, a stair).
    """
    poses = [p.copy() for p in poses]
    order = [i for i in range(len(stations)) if i != reference]
    stages = list(settings.multiway_schedule if schedule is None else schedule)
    is_signed = signed(*stations)
    for round_ in range(settings.multiway_rounds):
        last = round_ == settings.multiway_rounds - 1
        for i in order:
            others = [j for j in range(len(stations)) if j != i]
            for voxel, distance in stages if last else stages[:-1]:
                if uses_gicp(distance, settings):
                    union = np.concatenate([arrays(stations[j], voxel)[0] @ poses[j][:3, :3].T + poses[j][:3, 3]
                                            for j in others])
                    poses[i], _ = gicp_step(stations[i], arrays(stations[i], voxel)[0], union, poses[i], voxel,
                                            distance)
                    continue
                union = PlacedUnion([stations[j] for j in others], [poses[j] for j in others], voxel)
                result = icp_stage(stations[i], (union.points, union.normals), poses[i], voxel, distance,
                                   settings, is_signed, max_points=settings.multiway_max_points if last else None,
                                   target_tree=union)
                poses[i] = guarded_step(stations[i], voxel, poses[i], result, distance)
    return poses


POLISH_MAX_POINTS = 100_000  # per station, and twice that of the others (an even stride beyond)
POLISH_DISTANCE_UNITS = 5.0


def polish(stations: list[Station], poses: list[np.ndarray], reference: int,
           settings: RegistrationSettings) -> list[np.ndarray]:
    """Each station's pose once more by open3d's generalized ICP (plane to plane, through
    each point's covariance) of its own points against the others' together.

    Point-to-plane ICP on voxel levels stops in a shallow valley where sparse scans
    (a rotating LiDAR's rings) give poor normals: on the real outdoor pair it ended 0.45
    degrees from where a careful generalized ICP on the same points converges, from any
    start nearby."""
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    reg = o3d.pipelines.registration

    def cloud(points: np.ndarray):
        return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(points)))

    out = [p.copy() for p in poses]
    for i in range(len(stations)):
        if i == reference:
            continue
        others = np.concatenate([even_stride(stations[j].points, POLISH_MAX_POINTS) @ out[j][:3, :3].T + out[j][:3, 3]
                                 for j in range(len(stations)) if j != i])
        result = reg.registration_generalized_icp(
            cloud(even_stride(stations[i].points, POLISH_MAX_POINTS)), cloud(even_stride(others, 2 * POLISH_MAX_POINTS)),
            POLISH_DISTANCE_UNITS * settings.unit, out[i],
            reg.TransformationEstimationForGeneralizedICP(), reg.ICPConvergenceCriteria(1e-8, 1e-8, 60))
        moved = np.asarray(result.transformation)
        # a polish, not a search: a station it would carry further than a unit stays put
        if (result.fitness > 0 and np.isfinite(moved).all()
                and moved_by(out[i], moved, stations[i].points.mean(axis=0)) <= settings.unit):
            out[i] = moved
    return out


@dataclass(frozen=True)
class Link:
    """A pairwise alignment measured from the current poses: ``transform`` maps centred
    ``source`` coordinates to centred ``target`` ones."""

    source: int
    target: int
    transform: np.ndarray
    overlap: float
    information: np.ndarray  # 6x6, open3d's convention (rotation first)


def refine_links(stations: list[Station], poses: list[np.ndarray], settings: RegistrationSettings) -> list[Link]:
    """ICP-refine every pair that the current poses say overlaps; each with its
    information matrix, for the pose graph."""
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    fine = settings.fine_voxel
    links = []
    n = len(stations)
    for i in range(n):
        for j in range(i + 1, n):
            predicted = np.linalg.inv(poses[j]) @ poses[i]
            if pair_overlap(stations[i], stations[j], predicted, settings) < settings.min_edge_fitness / 2:
                continue
            transform, moved = icp(stations[i], stations[j], predicted, settings)
            if not moved:
                continue
            share = pair_overlap(stations[i], stations[j], transform, settings)
            if share < settings.min_edge_fitness:
                continue
            info = o3d.pipelines.registration.get_information_matrix_from_point_clouds(
                level(stations[i], fine), level(stations[j], fine), settings.finest_distance, transform
            )
            links.append(Link(i, j, transform, share, np.asarray(info)))
    return links
