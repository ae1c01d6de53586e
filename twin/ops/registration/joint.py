"""Joint point-to-plane ICP of every station at once (a multi-view bundle).

Multiway ICP moves one station at a time against the others held still. Where the
coarse search placed a group of stations right among themselves but a few centimetres
off the reference (the spanning tree passes one pair's error on to a whole branch),
each member is held in place by its fellows and the group never moves: on a generated
gate (seed 0, 300k points a station) two stations stayed 10 mm off together after
multiway ICP, and end within 5.8 mm when the narrow stages run jointly (the data
refined jointly from the true poses stay within 2.1 mm). At 30k points a station the
same gate's four stations stood 45-49 mm off the reference after the coarse search
and stayed there under multiway ICP (67 mm at worst); jointly they end within 14 mm.

Here every overlapping ordered pair adds its correspondences to one linear system over
all poses. A residual between a point ``p`` of station i and the plane (``q``, ``n``)
of its partner in station j, all in the reference frame, is ``n . (p - q)``; with a
small rotation ``w`` and translation ``v`` applied on the left of each pose its
Jacobian is ``[p x n, n]`` for i and the negative of that for j. The reference's block
is held fixed and the rest move together, so a group is pulled as one by the pairs
that join it to the others. Pairs are made as twin.ops.icp makes them (nearest point
within the stage's distance whose oriented normal agrees), and weighted by Tukey's
biweight whose scale follows the residuals' robust spread (never under half a voxel,
never over the distance): wide stages then pull only with pairs that agree, instead of
letting every pair within the distance bias the pose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twin.ops.icp import TUKEY_C, compatible_pairs, increment, robust_spread, tukey_weights
from twin.ops.registration.fine import MAX_JUMP_DISTANCES, moved_by
from twin.ops.registration.settings import RegistrationSettings
from twin.ops.registration.station import Station, arrays, even_stride, signed, tree

JOINT_MIN_MOVE = 0.01  # a stage stops once no station's update moves a point a hundredth of its voxel
JOINT_MAX_POINTS = 25_000  # source points per station and iteration (an even stride)
JOINT_ITERATIONS = 30  # per stage
MIN_SCALE_VOXELS = 0.5  # the biweight's scale is at least half the stage's voxel


def _touch(box_a: tuple[np.ndarray, np.ndarray], box_b: tuple[np.ndarray, np.ndarray], margin: float) -> bool:
    return bool(np.all(box_a[0] - margin <= box_b[1]) and np.all(box_b[0] - margin <= box_a[1]))


def _pairs(stations: list[Station], poses: list[np.ndarray], sources: list[tuple[np.ndarray, np.ndarray]],
           voxel: float, distance: float, min_cos: float, is_signed: bool, held: set[int]):
    """(i, j, Jacobian rows [p x n, n], residuals) of every ordered pair of stations
    that can move relative to each other, in the reference frame."""
    world = [(p @ pose[:3, :3].T + pose[:3, 3], nn @ pose[:3, :3].T) for (p, nn), pose in zip(sources, poses)]
    boxes = [(w.min(axis=0), w.max(axis=0)) if len(w) else None for w, _ in world]
    found = []
    for i in range(len(stations)):
        for j in range(len(stations)):
            if i == j or (i in held and j in held) or boxes[i] is None or boxes[j] is None:
                continue
            if not _touch(boxes[i], boxes[j], distance):
                continue
            rj, tj = poses[j][:3, :3], poses[j][:3, 3]
            targets, target_normals = arrays(stations[j], voxel)
            src, dst = compatible_pairs((world[i][0] - tj) @ rj, world[i][1] @ rj, tree(stations[j], voxel),
                                        target_normals, distance, min_cos, signed=is_signed)
            if len(src) < 6:
                continue
            p = world[i][0][src]
            normal = target_normals[dst] @ rj.T
            residual = np.einsum("ij,ij->i", p - (targets[dst] @ rj.T + tj), normal)
            found.append((i, j, np.hstack([np.cross(p, normal), normal]), residual))
    return found


def _normal_equations(found, column: dict[int, int], size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((size, size))
    b = np.zeros(size)
    for i, j, jac, residual in found:
        jw = jac * tukey_weights(residual, scale)[:, None]
        h, g = jw.T @ jac, jw.T @ residual
        blocks = [(column[k], sign) for k, sign in ((i, 1.0), (j, -1.0)) if k in column]
        for ck, sk in blocks:
            b[ck:ck + 6] -= sk * g
            for cm, sm in blocks:
                a[ck:ck + 6, cm:cm + 6] += sk * sm * h
    return a, b


def joint_refine(stations: list[Station], poses: Sequence[np.ndarray], reference: int,
                 settings: RegistrationSettings, schedule: Sequence[tuple[float, float]] | None = None,
                 max_points: int = JOINT_MAX_POINTS) -> list[np.ndarray]:
    """All poses refined together through the stages of ``schedule`` (default: the
    multiway stages), the reference held fixed. Poses map centred station coordinates
    to the reference's centred frame."""
    n = len(stations)
    poses = [np.asarray(p, dtype=np.float64).copy() for p in poses]
    if n < 2:
        return poses
    is_signed = signed(*stations)
    min_cos = float(np.cos(np.radians(settings.max_normal_angle_deg)))
    for voxel, distance in settings.multiway_schedule if schedule is None else schedule:
        sources = []
        for st in stations:
            points, normals = arrays(st, voxel)
            sources.append((even_stride(points, max_points), even_stride(normals, max_points)))
        reach = [float(np.linalg.norm(p, axis=1).max()) if len(p) else 0.0 for p, _ in sources]
        held = {reference}
        start = [p.copy() for p in poses]
        for _ in range(JOINT_ITERATIONS):
            free = [k for k in range(n) if k not in held]
            if not free:
                break
            column = {k: 6 * c for c, k in enumerate(free)}
            found = _pairs(stations, poses, sources, voxel, distance, min_cos, is_signed, held)
            if sum(len(f[3]) for f in found) < 6 * len(free):
                break
            spread = robust_spread(np.concatenate([f[3] for f in found]))
            scale = float(np.clip(TUKEY_C * spread, MIN_SCALE_VOXELS * voxel, distance))
            a, b = _normal_equations(found, column, 6 * len(free), scale)
            damping = 1e-9 * max(float(np.abs(np.diag(a)).max()), 1e-300)
            try:
                x = np.linalg.solve(a + damping * np.eye(len(a)), b)
            except np.linalg.LinAlgError:
                break
            largest = 0.0
            for k in free:
                xk = x[column[k]:column[k] + 6]
                # a bound on how far the update moves any of the station's points
                move = float(np.linalg.norm(xk[:3]) * (reach[k] + np.linalg.norm(poses[k][:3, 3]))
                             + np.linalg.norm(xk[3:]))
                if move > MAX_JUMP_DISTANCES * distance:
                    held.add(k)
                    continue
                poses[k] = increment(xk) @ poses[k]
                largest = max(largest, move)
            if largest < JOINT_MIN_MOVE * voxel:
                break
        # as multiway ICP's guard: a stage that carries a station's centre further than
        # it could justify leaves the station where the stage found it
        for k in range(n):
            centre = sources[k][0].mean(axis=0) if len(sources[k][0]) else np.zeros(3)
            if moved_by(start[k], poses[k], centre) > MAX_JUMP_DISTANCES * distance:
                poses[k] = start[k]
    return poses
