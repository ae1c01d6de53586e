"""Fine alignment: point-to-plane ICP coarse to fine, pairwise and against the union of
all the other stations (multiway), and the pairwise links the pose graph is built from.

Every ICP here is twin.ops.icp's: it pairs only points whose oriented normals agree,
and weights residuals with Tukey's biweight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin.ops.icp import IcpResult, point_to_plane_icp
from twin.ops.registration.settings import RegistrationSettings
from twin.ops.registration.station import PlacedUnion, Station, arrays, level, signed, tree


def guarded_step(station: Station, voxel: float, before: np.ndarray, result: IcpResult, distance: float) -> np.ndarray:
    """ICP's new pose, unless it rests on almost no correspondences or jumps further than
    the stage could justify (sparse scans at fine stages): then the previous pose."""
    moved = result.transform
    centre = np.asarray(level(station, voxel).points).mean(axis=0)
    jump = np.linalg.norm((moved[:3, :3] - before[:3, :3]) @ centre + moved[:3, 3] - before[:3, 3])
    return moved if result.fitness >= 0.05 and jump <= 2.0 * distance else before


def icp_stage(src: Station, target: tuple[np.ndarray, np.ndarray], init: np.ndarray, voxel: float,
              distance: float, settings: RegistrationSettings, is_signed: bool,
              max_points: int | None = None, target_tree=None) -> IcpResult:
    points, normals = arrays(src, voxel)
    return point_to_plane_icp(points, normals, target[0], target[1], init, distance,
                              max_angle_deg=settings.max_normal_angle_deg, iterations=settings.icp_max_iterations,
                              signed=is_signed, max_points=max_points or settings.icp_max_points, tree=target_tree)


def icp(src: Station, dst: Station, init: np.ndarray, settings: RegistrationSettings,
        schedule: Sequence[tuple[float, float]] | None = None) -> tuple[np.ndarray, IcpResult | None]:
    """Point-to-plane ICP through the stages of ``schedule`` (default: the pairwise
    stages); (transform, result of the last stage that was kept)."""
    transform = init
    kept = None
    is_signed = signed(src, dst)
    for voxel, distance in schedule or settings.icp_schedule:
        result = icp_stage(src, arrays(dst, voxel), transform, voxel, distance, settings, is_signed,
                           target_tree=tree(dst, voxel))
        new = guarded_step(src, voxel, transform, result, distance)
        if new is not transform:
            transform, kept = new, result
    return transform, kept


def settle(src: Station, dst: Station, init: np.ndarray, settings: RegistrationSettings) -> np.ndarray:
    """Point-to-plane ICP on the check scale, wide then narrow, to settle a coarse guess."""
    return icp(src, dst, init, settings, settings.settle_schedule)[0]


def overlap_share(src: Station, dst: Station, transform: np.ndarray, settings: RegistrationSettings) -> float:
    """Share of ``src``'s check-scale points with a ``dst`` point within the check distance."""
    pts = arrays(src, settings.check_voxel)[0]
    if len(pts) == 0:
        return 0.0
    dist, _ = tree(dst, settings.check_voxel).query(pts @ transform[:3, :3].T + transform[:3, 3], k=1,
                                                    distance_upper_bound=settings.check_distance)
    return float(np.isfinite(dist).mean())


def multiway_refine(stations: list[Station], poses: list[np.ndarray], reference: int,
                    settings: RegistrationSettings) -> list[np.ndarray]:
    """Align each station in turn to the union of all the others, for a few rounds.

    Starting within a few units (the coarse search), a big correspondence distance
    first and finer stages after pull every station into place; earlier rounds stop
    before the finest stage since the others are still moving. The union constrains
    every axis where one overlapping pair often leaves one free (a long façade, a stair).
    """
    poses = [p.copy() for p in poses]
    order = [i for i in range(len(stations)) if i != reference]
    stages = list(settings.multiway_schedule)
    is_signed = signed(*stations)
    for round_ in range(settings.multiway_rounds):
        last = round_ == settings.multiway_rounds - 1
        for i in order:
            others = [j for j in range(len(stations)) if j != i]
            for voxel, distance in stages if last else stages[:-1]:
                union = PlacedUnion([stations[j] for j in others], [poses[j] for j in others], voxel)
                result = icp_stage(stations[i], (union.points, union.normals), poses[i], voxel, distance,
                                   settings, is_signed, max_points=settings.multiway_max_points if last else None,
                                   target_tree=union)
                poses[i] = guarded_step(stations[i], voxel, poses[i], result, distance)
    return poses


@dataclass(frozen=True)
class Link:
    """A pairwise alignment measured from the current poses: ``transform`` maps centred
    ``source`` coordinates to centred ``target`` ones."""

    source: int
    target: int
    transform: np.ndarray
    overlap: float
    rmse: float
    pairs: int
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
            if overlap_share(stations[i], stations[j], predicted, settings) < settings.min_edge_fitness / 2:
                continue
            transform, result = icp(stations[i], stations[j], predicted, settings)
            if result is None:
                continue
            share = overlap_share(stations[i], stations[j], transform, settings)
            if share < settings.min_edge_fitness:
                continue
            info = o3d.pipelines.registration.get_information_matrix_from_point_clouds(
                level(stations[i], fine), level(stations[j], fine), settings.finest_distance, transform
            )
            links.append(Link(i, j, transform, share, float(result.rmse), result.pairs, np.asarray(info)))
    return links
