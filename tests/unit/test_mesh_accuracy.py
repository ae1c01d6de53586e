"""Mesh accuracy as Tanks and Temples and DTU measure it (twin.sample.evaluate): precision
from every face of the mesh, completeness of the true surface the cloud sampled, F-score.

The true surface is a 4 m x 2 m plate (z = 0). The cloud samples it up to x = 1.9 m on a
1 cm grid, so the surface with 3 points within 5 cm reaches x = 1.94 m (48.5 % of the plate). Each case below puts known surface in known
places and checks the figures it must give.
"""

from __future__ import annotations

import numpy as np
import pytest

from twin.sample.evaluate import Distances, distance_to_mesh, f_score, surface_scores


def _quad(x0: float, x1: float, y0: float, y1: float, z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=np.float64)
    return v, np.array([[0, 1, 2], [0, 2, 3]])


def _join(*parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces, offset = [], [], 0
    for v, f in parts:
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.concatenate(vertices), np.concatenate(faces)


TRUTH = _quad(0.0, 4.0, 0.0, 2.0)


def _cloud(x1: float = 1.9, spacing: float = 0.01) -> np.ndarray:
    g = np.arange(0.0, x1 + 1e-9, spacing)
    h = np.arange(0.0, 2.0 + 1e-9, spacing)
    x, y = np.meshgrid(g, h, indexing="ij")
    return np.column_stack([x.ravel(), y.ravel(), np.zeros(x.size)])


def test_a_perfect_mesh_of_the_sampled_half_scores_full_marks():
    scores = surface_scores(*_quad(0.0, 2.0, 0.0, 2.0), *TRUTH, _cloud(), per_m2=2000)
    assert scores.precision.within_5mm == 1.0 and scores.precision.mean_mm < 1e-3
    assert scores.completeness.within_10mm == 1.0
    assert scores.sampled_share == pytest.approx(0.485, abs=0.005)  # the unsampled half is not asked for
    assert scores.completeness.area_m2 == pytest.approx(3.88, rel=0.02)
    assert scores.precision.area_m2 == pytest.approx(4.0)
    assert scores.precision.samples == 8000 and scores.precision.per_m2 == 2000
    assert scores.f_score_5mm == 1.0


def test_invented_surface_costs_precision_by_its_area():
    """The mesh also holds a 1 m² sheet floating 7 cm over the unsampled half (what an
    untrimmed Poisson surface does): a fifth of its 5 m² lies off the truth."""
    mesh = _join(_quad(0.0, 2.0, 0.0, 2.0), _quad(2.5, 3.5, 0.5, 1.5, z=0.07))
    scores = surface_scores(*mesh, *TRUTH, _cloud(), per_m2=4000)
    assert scores.precision.within_5mm == pytest.approx(0.8, abs=0.01)
    assert scores.precision.p95_mm == pytest.approx(70.0, abs=0.5)
    assert scores.completeness.within_10mm == 1.0
    assert scores.f_score_5mm == pytest.approx(f_score(scores.precision.within_5mm, 1.0))


def test_a_hole_in_the_sampled_surface_costs_completeness():
    """A hole over x 1..2 m, y 1.5..2 m: of the sampled 3.88 m², the part of the hole
    that was sampled (x up to 1.94 m) lies more than 1 cm from the mesh, less the 1 cm
    rim the hole's edges cover."""
    mesh = _join(_quad(0.0, 2.0, 0.0, 1.5), _quad(0.0, 1.0, 1.5, 2.0))
    scores = surface_scores(*mesh, *TRUTH, _cloud(), per_m2=4000)
    assert scores.precision.within_5mm == 1.0
    expected = 1 - (0.94 - 0.01) * (0.5 - 0.01) / 3.88
    assert scores.completeness.within_10mm == pytest.approx(expected, abs=0.01)
    assert scores.completeness.within_10mm < 0.9


def test_a_mesh_off_by_8_mm_is_within_1_cm_but_not_5_mm():
    mesh = _quad(0.0, 2.0, 0.0, 2.0, z=0.008)
    scores = surface_scores(*mesh, *TRUTH, _cloud(), per_m2=1000)
    assert scores.precision.within_5mm == 0.0 and scores.precision.within_10mm == 1.0
    assert scores.completeness.within_5mm == 0.0 and scores.completeness.within_10mm == 1.0
    assert scores.precision.mean_mm == pytest.approx(8.0, abs=1e-3)
    assert scores.f_score_5mm == 0.0 and scores.f_score_10mm == 1.0


def test_completeness_counts_surface_with_enough_points_nearby():
    """A grid 4 cm apart has 3 or more points within 5 cm everywhere it covers (at the
    middle of a cell's edge: 2 at 2 cm and 4 at 4.5 cm) and counts; one 6 cm apart only
    around its cells' centres (4 points at 4.2 cm; 2 at the middle of an edge); asking
    for 20 points leaves nothing sampled."""
    assert 0.47 < surface_scores(*TRUTH, *TRUTH, _cloud(spacing=0.04), per_m2=500).sampled_share < 0.5
    sparse = _cloud(spacing=0.06)
    assert 0.05 < surface_scores(*TRUTH, *TRUTH, sparse, per_m2=500).sampled_share < 0.2
    assert surface_scores(*TRUTH, *TRUTH, sparse, per_m2=500, min_points=20).sampled_share == 0.0


def test_an_empty_mesh_scores_zero_and_the_inputs_are_checked():
    scores = surface_scores(np.zeros((0, 3)), np.zeros((0, 3), dtype=int), *TRUTH, _cloud(), per_m2=500)
    assert scores.precision.samples == 0 and scores.completeness.within_10mm == 0.0
    assert scores.f_score_10mm == 0.0
    with pytest.raises(ValueError):
        surface_scores(*TRUTH, *TRUTH, _cloud(), per_m2=0)


def test_distances_and_f_score():
    d = Distances.of(np.array([0.001, 0.004, 0.006, 0.02]), per_m2=100, area=1.0)
    assert (d.within_5mm, d.within_10mm, d.samples) == (0.5, 0.75, 4)
    assert d.mean_mm == pytest.approx(7.75)
    assert f_score(0.9, 0.6) == pytest.approx(0.72)
    assert f_score(0.0, 0.0) == 0.0
    v, f = _quad(0.0, 1.0, 0.0, 1.0)
    got = distance_to_mesh(v, f, np.array([[0.5, 0.5, 0.3], [2.0, 0.5, 0.0]]))
    np.testing.assert_allclose(got, [0.3, 1.0], atol=1e-6)
