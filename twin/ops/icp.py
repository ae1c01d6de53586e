"""Point-to-plane ICP that only pairs points whose surfaces face the same way.

open3d's ICP pairs every source point with its nearest target point within a distance.
Two scanners see a column, a pier or a wall end from different sides: with a wide
correspondence distance the arc one station saw is pulled onto the arc the other saw,
and the whole station slides by a fraction of the element's width (about 25 cm on
the sample's 30 cm columns) into a minimum that no finer stage can leave. Rejecting
pairs whose normals differ by more than ``max_angle_deg`` removes those pulls; a
Tukey-weighted solve keeps the remaining outliers (a surface seen by one station only)
from biasing the estimate.

Everything is numpy and a k-d tree (twin.ops.neighbours), on float64 coordinates that
the caller has centred near zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IcpResult:
    transform: np.ndarray  # 4x4, source -> target
    fitness: float  # share of source points with a compatible partner within the distance
    rmse: float  # point-to-plane RMSE of those pairs
    pairs: int
    iterations: int


TUKEY_C = 4.685  # Tukey's biweight constant (95 % efficiency under Gaussian noise), in standard deviations
MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation, for normal residuals


def robust_spread(residual: np.ndarray) -> float:
    """MAD_TO_SIGMA x the median absolute deviation: the residuals' standard deviation, were
    they normal, unmoved by outliers (0 for no residuals)."""
    return float(MAD_TO_SIGMA * np.median(np.abs(residual - np.median(residual)))) if len(residual) else 0.0


def tukey_weights(residual: np.ndarray, c: float) -> np.ndarray:
    """Tukey's biweight of each residual at scale ``c`` (0 beyond it)."""
    return np.clip(1.0 - (residual / c) ** 2, 0.0, None) ** 2


def increment(x: np.ndarray) -> np.ndarray:
    """The 4x4 motion of a linearised solve's update ``x`` (rotation vector, translation)."""
    step = np.eye(4)
    step[:3, :3] = _rotation(x[:3])
    step[:3, 3] = x[3:]
    return step


def _rotation(w: np.ndarray) -> np.ndarray:
    """Rotation matrix of the rotation vector ``w`` (Rodrigues)."""
    angle = float(np.linalg.norm(w))
    if angle < 1e-15:
        return np.eye(3)
    k = w / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def compatible_pairs(moved: np.ndarray, moved_normals: np.ndarray, tree, target_normals: np.ndarray,
                     max_distance: float, min_cos: float, k: int = 4, signed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(source index, target index) of each source point's nearest target point within
    ``max_distance`` whose normal is within the angle. ``signed`` needs normals oriented
    toward the scanners (then the two faces of a thin column or wall never pair);
    otherwise the sign is ignored."""
    dist, idx = tree.query(moved, k=k, distance_upper_bound=max_distance)
    if k == 1:
        dist, idx = dist[:, None], idx[:, None]
    n_target = len(target_normals)
    valid = idx < n_target
    safe = np.where(valid, idx, 0)
    cos = np.einsum("ikj,ij->ik", target_normals[safe], moved_normals)
    if not signed:
        cos = np.abs(cos)
    ok = valid & (cos >= min_cos)
    first = np.argmax(ok, axis=1)  # neighbours come sorted by distance
    has = ok[np.arange(len(ok)), first]
    src = np.flatnonzero(has)
    return src, safe[src, first[has]]


def _balance(p: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Scales that make the rotation columns of the point-to-plane Jacobian comparable with
    the translation ones: rotations are weighed by the pairs' RMS lever arm."""
    lever = float(np.sqrt(np.sum(weight * np.einsum("ij,ij->i", p, p)) / max(float(weight.sum()), 1e-12)))
    lever = max(lever, 1e-12)
    return np.array([1 / lever] * 3 + [1.0] * 3)


def conditioned_step(a: np.ndarray, b: np.ndarray, p: np.ndarray, weight: np.ndarray, min_share: float) -> np.ndarray:
    """The point-to-plane update with no motion along directions the pairs barely fix.

    Zhang, Kaess and Singh's degeneracy-aware solve (2016): in the eigenbasis of the
    (balanced) normal matrix, components whose eigenvalue is under ``min_share`` of the
    largest are left at zero instead of being driven by noise and by the edges of the
    overlap, which slide a wall seen by two stations along itself by decimetres.
    """
    d = _balance(p, weight)
    values, vectors = np.linalg.eigh(a * d[:, None] * d[None, :])
    keep = values >= min_share * max(values[-1], 1e-300)
    y = vectors[:, keep] @ ((vectors[:, keep].T @ (b * d)) / values[keep])
    return y * d


def point_to_plane_icp(
    source: np.ndarray,
    source_normals: np.ndarray,
    target: np.ndarray,
    target_normals: np.ndarray,
    init: np.ndarray,
    max_distance: float,
    *,
    max_angle_deg: float = 30.0,
    iterations: int = 40,
    tree=None,
    tolerance: float = 1e-6,
    signed: bool = True,
    max_points: int | None = 25_000,
    min_conditioning: float = 0.0,
    min_move: float | None = None,
) -> IcpResult:
    """Align ``source`` to ``target`` (both (n, 3) with unit normals) from ``init``.

    Each iteration pairs points as :func:`compatible_pairs` does, then solves the
    linearised point-to-plane problem with Tukey weights (scale ``max_distance / 2``).
    ``tree`` is a prebuilt ``KdTree(target)`` to reuse across calls. Iterations use at
    most ``max_points`` source points (an even stride through them), and the returned
    fitness and RMSE are measured on the same stride: querying every point of a
    multi-million-point station again would cost more than the iterations.

    ``min_conditioning`` > 0 makes the solve degeneracy-aware: a direction of the
    6-DoF update whose eigenvalue is under this share of the largest (a wall and a
    floor leave the slide along the wall free) is not moved (see :func:`conditioned_step`).

    ``min_move``: stop once an update moves no source point farther than this (a bound:
    the rotation times the sample's reach plus the translation); without it, once the
    update is under ``tolerance`` radians and ten times that in translation.
    """
    from twin.ops.neighbours import KdTree  # noqa: PLC0415

    tree = tree if tree is not None else KdTree(target)
    transform = np.asarray(init, dtype=np.float64).copy()
    min_cos = float(np.cos(np.radians(max_angle_deg)))
    scale = max_distance / 2.0
    if max_points and len(source) > max_points:
        stride = int(np.ceil(len(source) / max_points))
        source, source_normals = source[::stride], source_normals[::stride]
    done = 0
    src_idx = dst_idx = np.empty(0, dtype=np.int64)
    reach = float(np.linalg.norm(source @ transform[:3, :3].T + transform[:3, 3], axis=1).max()) if len(source) else 0.0
    for done in range(1, iterations + 1):
        r, t = transform[:3, :3], transform[:3, 3]
        moved = source @ r.T + t
        moved_n = source_normals @ r.T
        src_idx, dst_idx = compatible_pairs(moved, moved_n, tree, target_normals, max_distance, min_cos, signed=signed)
        if len(src_idx) < 6:
            break
        p = moved[src_idx]
        n = target_normals[dst_idx]
        residual = np.einsum("ij,ij->i", p - target[dst_idx], n)
        weight = tukey_weights(residual, 2.0 * scale)  # c = max_distance
        jac = np.hstack([np.cross(p, n), n])
        a = (jac * weight[:, None]).T @ jac
        b = -(jac * weight[:, None]).T @ residual
        try:
            x = (conditioned_step(a, b, p, weight, min_conditioning) if min_conditioning > 0
                 else np.linalg.solve(a + 1e-9 * np.eye(6), b))
        except np.linalg.LinAlgError:
            break
        transform = increment(x) @ transform
        if min_move is not None:
            if np.linalg.norm(x[:3]) * reach + np.linalg.norm(x[3:]) < min_move:
                break
        elif np.linalg.norm(x[:3]) < tolerance and np.linalg.norm(x[3:]) < tolerance * 10:
            break
    r, t = transform[:3, :3], transform[:3, 3]
    moved = source @ r.T + t
    src_idx, dst_idx = compatible_pairs(moved, source_normals @ r.T, tree, target_normals, max_distance, min_cos,
                                        signed=signed)
    if len(src_idx) == 0:
        return IcpResult(transform, 0.0, float("inf"), 0, done)
    residual = np.einsum("ij,ij->i", moved[src_idx] - target[dst_idx], target_normals[dst_idx])
    return IcpResult(transform, len(src_idx) / max(len(source), 1), float(np.sqrt(np.mean(residual**2))),
                     len(src_idx), done)
