"""KdTree answers as scipy's cKDTree does: same neighbours, same conventions for the missing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from twin.ops.neighbours import KdTree


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.random((5000, 3)) * [20.0, 10.0, 4.0] - 5.0


@pytest.mark.parametrize("k, bound", [(1, np.inf), (4, np.inf), (4, 0.2), (16, 0.5), (1, 0.05)])
def test_same_neighbours_as_ckdtree(points, k, bound):
    queries = np.random.default_rng(8).random((700, 3)) * [22.0, 12.0, 5.0] - 6.0
    d_ours, i_ours = KdTree(points).query(queries, k=k, distance_upper_bound=bound)
    d_ref, i_ref = cKDTree(points).query(queries, k=k, distance_upper_bound=bound)
    assert d_ours.shape == d_ref.shape and i_ours.shape == i_ref.shape
    assert i_ours.dtype == np.intp
    np.testing.assert_array_equal(i_ours, i_ref)
    np.testing.assert_allclose(d_ours, d_ref, rtol=1e-12)
    if np.isfinite(bound):
        assert (i_ours == len(points)).any()  # some neighbours are missing: index n, distance inf
        assert np.isinf(d_ours[i_ours == len(points)]).all()


def test_more_neighbours_than_points_are_missing_ones():
    pts = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    dist, idx = KdTree(pts).query(np.array([[0.1, 0.0, 0.0]]), k=5)
    np.testing.assert_array_equal(idx, [[0, 1, 2, 3, 3]])
    assert np.isinf(dist[0, 3:]).all() and np.isfinite(dist[0, :3]).all()


def test_empty_tree_and_empty_queries():
    dist, idx = KdTree(np.empty((0, 3))).query(np.zeros((2, 3)), k=2)
    assert np.isinf(dist).all() and (idx == 0).all()
    dist, idx = KdTree(np.eye(3)).query(np.empty((0, 3)), k=1)
    assert dist.shape == (0,) and idx.shape == (0,)
