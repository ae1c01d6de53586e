"""Element figures that are real: the headline peak of an element is a supported figure
(a neighbourhood of agreeing significant core points), never one core point; an element
where nothing moved reports no significant change. Synthetic walls with known truth,
through M3C2 (twin's preset) and the per-element statistics that `twin compare` writes."""

from __future__ import annotations

import numpy as np
import pytest

from twin.compare.corepoints import subsample
from twin.compare.element_stats import element_rows
from twin.compare.m3c2 import OK
from twin.compare.methods import run_m3c2
from twin.compare.options import make_options, m3c2_params
from twin.compare.stats import MIN_SUPPORT, label_statistics

NOISE = 0.0015
PEAK = 0.030  # the bulge's true peak, outward (+y)
BULGE_CENTRE = (2.0, 1.5)  # x, z on the bulging wall
BULGE_RADIUS = 1.2
OUTLIER = -0.129  # one core point's reading where nothing moved
SPACING = 0.1
REGISTRATION_ERROR = 0.0  # the strictest case: LoD about 0.5 mm, and ~4 % of the still wall passes it by chance


def wall(rng, x0: float, density: float = 4000) -> np.ndarray:
    """A 4 x 3 m wall in the plane y = 0 from x = x0."""
    n = int(density * 12)
    return np.c_[x0 + 4.0 * rng.random(n), np.zeros(n), 3.0 * rng.random(n)]


def bulge(xyz: np.ndarray) -> np.ndarray:
    """The true outward displacement: a raised cosine of PEAK over BULGE_RADIUS."""
    r = np.hypot(xyz[:, 0] - BULGE_CENTRE[0], xyz[:, 2] - BULGE_CENTRE[1])
    return np.where(r < BULGE_RADIUS, PEAK * 0.5 * (1 + np.cos(np.pi * r / BULGE_RADIUS)), 0.0)


@pytest.fixture(scope="module")
def two_walls():
    """Wall "bulging" (x 0..4) bulges by PEAK; wall "still" (x 6..10) does not move.
    Returns the M3C2 result (core points from the earlier survey every SPACING) and each
    core point's element."""
    rng = np.random.default_rng(21)
    surface = np.concatenate([wall(rng, 0.0), wall(rng, 6.0)])
    earlier = surface + rng.normal(0.0, NOISE, surface.shape)
    later = surface + rng.normal(0.0, NOISE, surface.shape)
    later[:, 1] += bulge(surface)
    core = subsample(earlier, SPACING)
    params = m3c2_params(make_options(orientation="+y"), registration_error=REGISTRATION_ERROR)
    result = run_m3c2(earlier, later, core, params)
    labels = np.where(core[:, 0] < 5.0, "bulging", "still")
    return result, labels


def with_outlier(result, labels):
    """The result with one core point of the bulging wall, far from the bulge where nothing
    moved, reading OUTLIER (significant, its level of detection as measured): a single
    bad core point, as a stray reading would give."""
    core = result.core
    far = (labels == "bulging") & (np.hypot(core[:, 0] - 3.6, core[:, 2] - 0.4) < 0.1) & (result.reason == OK)
    j = int(np.flatnonzero(far)[0])
    distance, significant = result.distance.copy(), result.significant.copy()
    distance[j], significant[j] = OUTLIER, True
    return distance, significant, j


def stats_by_label(result, labels, distance=None, significant=None):
    d = result.distance if distance is None else distance
    s = result.significant if significant is None else significant
    return {x.label: x for x in label_statistics(labels, d, s, result.core, result.lod, trusted=result.trusted)}


def test_the_peak_is_the_supported_bulge_not_a_single_point(two_walls):
    result, labels = two_walls
    distance, significant, j = with_outlier(result, labels)
    stats = stats_by_label(result, labels, distance, significant)["bulging"]
    # the single point is still there for inspection, but is not the headline
    assert stats.raw_max_change == pytest.approx(OUTLIER)
    assert stats.max_change == pytest.approx(PEAK, abs=0.002)
    x, _, z = stats.max_change_xyz
    assert np.hypot(x - BULGE_CENTRE[0], z - BULGE_CENTRE[1]) < 0.3  # found where the bulge is
    # its region: the significant part of the bulge, tens of core points, with its area
    assert stats.max_change_points >= 30
    assert stats.max_change_area == pytest.approx(stats.max_change_points * SPACING**2, rel=0.1)
    # the share that changed: the disc where the true bulge exceeds the level of detection,
    # against the 4 x 3 m wall
    lod = np.nanmedian(result.lod[labels == "bulging"])
    reach = BULGE_RADIUS / np.pi * np.arccos(2 * lod / PEAK - 1)
    assert stats.changed_share == pytest.approx(np.pi * reach**2 / 12.0, rel=0.15)
    assert stats.changed <= stats.significant  # the outlier is significant but not changed
    assert 0.0 < stats.distance_iqr < PEAK and stats.distance_p95 > 0.5 * PEAK


def test_an_element_where_nothing_moved_reports_no_significant_change(two_walls):
    """Some core points of the still wall pass their 95 % level by chance; none makes a
    supported region, so the element has no peak and no changed share."""
    result, labels = two_walls
    stats = stats_by_label(result, labels)["still"]
    assert stats.core_points > 1000 and stats.trusted > 0.9 * stats.core_points
    assert stats.significant >= 20  # chance exceedances of the 95 % level, some of them neighbours
    assert np.isnan(stats.max_change) and stats.max_change_xyz is None and stats.max_change_points == 0
    assert stats.changed == 0 and stats.changed_share == 0.0
    assert abs(stats.median_distance) < 0.0005


def test_element_rows_carry_the_supported_headline(two_walls):
    """What `twin compare` writes (elements.csv/.json): the headline is the supported peak,
    and the rows say how many core points were left out and why."""
    result, labels = two_walls
    distance, significant, _ = with_outlier(result, labels)
    result = type(result)(**{**result.__dict__, "distance": distance, "significant": significant})
    (row,) = element_rows(result, result.core)  # no layers: one row for all core points
    assert row["max_change"] == pytest.approx(PEAK, abs=0.002)
    assert row["raw_max_change"] == pytest.approx(OUTLIER)
    assert row["changed"] >= MIN_SUPPORT and 0.0 < row["changed_share"] < 1.0
    assert set(row["left_out"]) <= {"multiple_surfaces", "rough_normal", "few_points", "unseen_epoch1",
                                    "unseen_epoch2", "no_normal"}


def test_a_clump_smaller_than_the_support_is_not_a_peak(two_walls):
    """Three neighbouring core points reading OUTLIER together (fewer than MIN_SUPPORT)
    stay out of the headline; the bulge is the peak."""
    result, labels = two_walls
    core = result.core
    spot = np.array([3.6, 0.0, 0.4])
    candidates = np.flatnonzero((labels == "bulging") & (result.reason == OK))
    clump = candidates[np.argsort(np.linalg.norm(core[candidates] - spot, axis=1))[:3]]
    distance, significant = result.distance.copy(), result.significant.copy()
    distance[clump], significant[clump] = OUTLIER, True
    stats = stats_by_label(result, labels, distance, significant)["bulging"]
    assert stats.raw_max_change == pytest.approx(OUTLIER)
    assert stats.max_change == pytest.approx(PEAK, abs=0.002)
