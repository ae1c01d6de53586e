"""Robust ICP of a later epoch onto an earlier one, on the parts that did not move."""

from __future__ import annotations

import numpy as np
import pytest

from twin.compare.align import align_epochs
from twin.errors import ProcessingError, UsageError

NOISE = 0.002


def scene(seed: int, bulge: float = 0.0) -> np.ndarray:
    """Ground, two walls and a block, sampled at random; the x = 0 wall bulges by ``bulge``
    (raised cosine, radius 1 m, centred at y = 3, z = 1.5)."""
    rng = np.random.default_rng(seed)
    n = 15_000
    u = rng.uniform(0.0, 1.0, (n, 2))
    ground = np.c_[6 * u[:, 0], 6 * u[:, 1], np.zeros(n)]
    wall_x = np.c_[np.zeros(n), 6 * u[:, 0], 3 * u[:, 1]]
    wall_y = np.c_[6 * u[:, 0], np.zeros(n), 3 * u[:, 1]]
    face = rng.integers(0, 3, n)
    block = 2.0 + rng.uniform(0.0, 1.0, (n, 3))  # the cube [2, 3]^3, three visible faces
    block[np.arange(n), face] = 3.0
    r = np.hypot(wall_x[:, 1] - 3.0, wall_x[:, 2] - 1.5)
    wall_x[:, 0] += np.where(r < 1.0, bulge * 0.5 * (1 + np.cos(np.pi * r)), 0.0)
    xyz = np.concatenate([ground, wall_x, wall_y, block])
    return xyz + rng.normal(0.0, NOISE, xyz.shape)


def rigid(deg: float, axis, t) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.radians(deg)
    m = np.eye(4)
    m[:3, :3] = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k
    m[:3, 3] = t
    return m


def moved(xyz: np.ndarray, m: np.ndarray) -> np.ndarray:
    return xyz @ m[:3, :3].T + m[:3, 3]


@pytest.mark.parametrize("offset", [np.zeros(3), np.array([749_000.0, 1_821_000.0, 10.0])])
def test_recovers_the_transform_despite_a_bulge(offset):
    reference = scene(1) + offset
    truth = rigid(0.3, (0.2, 0.3, 1.0), (0.012, -0.008, 0.005))  # moving -> reference
    later = scene(2, bulge=0.03) + offset
    moving = moved(later - offset, np.linalg.inv(truth)) + offset  # the later survey, off by truth^-1
    shift = np.eye(4)
    shift[:3, 3] = offset
    expected = shift @ truth @ np.linalg.inv(shift)  # the same motion acting on offset coordinates
    r = align_epochs(reference, moving, max_distance=0.1)
    check = reference[::50]
    assert np.max(np.linalg.norm(moved(check, r.transform) - moved(check, expected), axis=1)) < 0.001
    assert r.residual == pytest.approx(NOISE * np.sqrt(2), rel=0.3)  # two noisy samplings
    assert r.sigma == pytest.approx(NOISE * np.sqrt(2), rel=0.3)
    assert 0.85 < r.stable_share < 1.0  # the bulge (and a few edges) left out
    assert r.fitness > 0.95
    assert np.allclose(r.apply(moving[:3]), moved(moving[:3], r.transform))


def test_stable_mask_and_voxel_downsampling():
    reference = scene(3)
    truth = rigid(0.2, (0, 0, 1), (0.01, 0.0, 0.0))
    later = scene(4, bulge=0.05)
    moving = moved(later, np.linalg.inv(truth))
    stable = ~((later[:, 0] < 0.1) & (np.hypot(later[:, 1] - 3.0, later[:, 2] - 1.5) < 1.1))
    r = align_epochs(reference, moving, max_distance=0.1, voxel=0.02, stable=stable)
    check = reference[::50]
    assert np.max(np.linalg.norm(moved(check, r.transform) - moved(check, truth), axis=1)) < 0.0015
    assert r.rotation_deg == pytest.approx(0.2, abs=0.02)


def test_refuses_epochs_that_are_too_far_apart_or_malformed():
    reference = scene(5)
    with pytest.raises(ProcessingError):
        align_epochs(reference, reference + [0.0, 0.0, 5.0], max_distance=0.05)
    part = reference[:, 0] > 4.5
    barely = np.concatenate([reference[part], reference[~part] + [0.0, 0.0, 5.0]])
    with pytest.raises(ProcessingError):  # only a quarter of the moving epoch overlaps
        align_epochs(reference, barely, max_distance=0.05, min_fitness=0.5)
    with pytest.raises(UsageError):
        align_epochs(reference[:, :2], reference)
    with pytest.raises(UsageError):
        align_epochs(reference, reference, max_distance=-1.0)
    with pytest.raises(UsageError):
        align_epochs(reference, reference, stable=np.ones(3, dtype=bool))
