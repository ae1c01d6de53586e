"""RANSAC over feature matches, in numpy, with the same answer on every run.

Open3D's ``registration_ransac_based_on_correspondence`` draws its samples from one
generator shared by all its threads and stops when any thread's best passes the
confidence test, so the hypotheses it returns depend on how the threads were scheduled:
the same pair of stations gave 1.6 or 2.2 degrees on one run and 3.7 or 4.6 on another
when other processes shared the cores. A survey registered twice must give the same
poses, so the search is done here, from a seeded generator, in batches of samples whose
order does not depend on the machine.

Each sample is three matches. It is kept when the three edges it spans have nearly the
same lengths in both stations (a rigid motion keeps lengths), the motion fitted to it
(Kabsch) brings all three within ``distance``, and then scored by how many of all the
matches that motion brings within ``distance``. The search stops once the best share of
inliers says another sample would find a better one with less than ``1 - confidence``
chance, or after ``max_iterations`` samples. The best motion is refitted to its inliers
until their number stops growing.
"""

from __future__ import annotations

import numpy as np

EDGE_SIMILARITY = 0.9
BATCH = 2048
SCORE_CHUNK = 256


def rigid_fits(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rigid motions (k, 4, 4) taking ``src[i]`` onto ``dst[i]``, (k, n, 3) each."""
    cs = src.mean(axis=1, keepdims=True)
    cd = dst.mean(axis=1, keepdims=True)
    h = np.einsum("kni,knj->kij", src - cs, dst - cd)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("kij,kjl->kil", u, vt)))
    fix = np.ones((len(src), 3))
    fix[:, 2] = np.where(d == 0, 1.0, d)
    r = np.einsum("kji,kj,klj->kil", vt, fix, u)
    out = np.tile(np.eye(4), (len(src), 1, 1))
    out[:, :3, :3] = r
    out[:, :3, 3] = cd[:, 0] - np.einsum("kij,kj->ki", r, cs[:, 0])
    return out


def _inlier_counts(t: np.ndarray, src: np.ndarray, dst: np.ndarray, distance: float) -> np.ndarray:
    counts = np.empty(len(t), dtype=np.int64)
    for start in range(0, len(t), SCORE_CHUNK):
        chunk = t[start:start + SCORE_CHUNK]
        residual = np.einsum("kij,mj->kmi", chunk[:, :3, :3], src) + chunk[:, None, :3, 3] - dst
        counts[start:start + SCORE_CHUNK] = (np.einsum("kmi,kmi->km", residual, residual) < distance**2).sum(axis=1)
    return counts


def _plausible(samples: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Samples of three distinct matches whose edges have nearly equal lengths in both stations."""
    a, b = src[samples], dst[samples]
    distinct = (samples[:, 0] != samples[:, 1]) & (samples[:, 1] != samples[:, 2]) & (samples[:, 0] != samples[:, 2])
    ok = distinct
    for i, j in ((0, 1), (1, 2), (0, 2)):
        la = np.linalg.norm(a[:, i] - a[:, j], axis=1)
        lb = np.linalg.norm(b[:, i] - b[:, j], axis=1)
        ok &= np.minimum(la, lb) >= EDGE_SIMILARITY * np.maximum(la, lb)
    return ok


def _consensus(score_batch, n: int, batch: int, max_iterations: int, confidence: float, seed: int):
    """The model with the most inliers, and their number, over samples of three of ``n``
    items drawn in batches from a generator seeded with ``seed``; ``score_batch`` turns a
    batch (k, 3) of indices into the models that pass its checks and their inlier counts.
    Stops once the best share of inliers says another sample would find a better model
    with less than ``1 - confidence`` chance, or after ``max_iterations`` samples."""
    rng = np.random.default_rng(seed)
    best, best_count, drawn, needed = None, 0, 0, max_iterations
    while drawn < min(needed, max_iterations):
        size = min(batch, max_iterations - drawn)
        models, counts = score_batch(rng.integers(0, n, size=(size, 3)))
        drawn += size
        if len(counts) == 0:
            continue
        k = int(np.argmax(counts))
        if counts[k] > best_count:
            best, best_count = models[k], int(counts[k])
            share = best_count / n
            needed = drawn if share >= 1.0 else int(np.ceil(np.log(1.0 - confidence) / np.log(1.0 - share**3)))
    return best, best_count


def ransac_on_matches(src: np.ndarray, dst: np.ndarray, distance: float, max_iterations: int,
                      confidence: float, seed: int) -> np.ndarray | None:
    """The rigid motion (4x4) that brings most matched points ``src[i]`` within ``distance``
    of ``dst[i]``; None with fewer than three matches or no sample that passes the checks."""
    if len(src) < 3:
        return None

    def score(samples: np.ndarray):
        samples = samples[_plausible(samples, src, dst)]
        fits = rigid_fits(src[samples], dst[samples])
        moved = np.einsum("kij,knj->kni", fits[:, :3, :3], src[samples]) + fits[:, None, :3, 3]
        fits = fits[(np.linalg.norm(moved - dst[samples], axis=2) < distance).all(axis=1)]
        return fits, _inlier_counts(fits, src, dst, distance)

    best, best_count = _consensus(score, len(src), BATCH, max_iterations, confidence, seed)
    return None if best is None else _refit(best, best_count, src, dst, distance)


def _refit(t: np.ndarray, count: int, src: np.ndarray, dst: np.ndarray, distance: float) -> np.ndarray:
    """Refit the motion to its inliers while that brings more matches within ``distance``."""
    for _ in range(10):
        residual = src @ t[:3, :3].T + t[:3, 3] - dst
        inliers = np.einsum("mi,mi->m", residual, residual) < distance**2
        if inliers.sum() < 3:
            break
        refit = rigid_fits(src[inliers][None], dst[inliers][None])[0]
        refit_count = int(_inlier_counts(refit[None], src, dst, distance)[0])
        if refit_count <= count:
            break
        t, count = refit, refit_count
    return t


PLANE_BATCH = 128
PLANE_CONFIDENCE = 1.0 - 1e-8


def dominant_plane(points: np.ndarray, distance: float, max_iterations: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The plane (unit normal n and offset d, n·p + d = 0) through the most points within
    ``distance``, and the indices of those points; None for fewer than three points.

    Open3D's ``segment_plane`` shares one generator between its threads as its RANSAC does,
    so which plane it finds on a cloud with two of nearly equal size changes from run to
    run; this one does not."""
    n = len(points)
    if n < 3:
        return None

    def score(samples: np.ndarray):
        corners = points[samples]
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        length = np.linalg.norm(normal, axis=1)
        ok = length > 0
        normal = normal[ok] / length[ok, None]
        offset = -np.einsum("ki,ki->k", normal, corners[ok, 0])
        return np.column_stack([normal, offset]), (np.abs(points @ normal.T + offset) < distance).sum(axis=0)

    best, _ = _consensus(score, n, PLANE_BATCH, max_iterations, PLANE_CONFIDENCE, seed)
    if best is None:
        return None
    return best, np.flatnonzero(np.abs(points @ best[:3] + best[3]) < distance)
