"""Per-label change statistics, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from twin.compare.m3c2 import M3C2Params, M3C2Result
from twin.compare.stats import label_statistics, m3c2_label_statistics
from twin.errors import UsageError

LABELS = np.array(["wall", "roof", "wall", "wall", "roof", "column", "wall", ""])
DIST = np.array([0.010, -0.002, np.nan, 0.030, 0.001, -0.050, -0.040, 0.9])
SIG = np.array([True, False, False, True, False, True, True, True])
XYZ = np.arange(24, dtype=float).reshape(8, 3)
LOD = np.array([0.005, 0.004, np.nan, 0.005, 0.004, 0.006, 0.005, 0.1])


def test_statistics_by_hand():
    stats = {s.label: s for s in label_statistics(LABELS, DIST, SIG, XYZ, LOD, ignore="")}
    assert list(stats) == ["column", "roof", "wall"]
    wall = stats["wall"]
    assert (wall.core_points, wall.with_distance, wall.significant) == (4, 3, 3)
    assert wall.mean_distance == pytest.approx((0.010 + 0.030 - 0.040) / 3)
    assert wall.median_distance == pytest.approx(0.010)
    assert wall.significant_share == pytest.approx(1.0)
    assert wall.raw_max_change == pytest.approx(-0.040)  # the largest magnitude, signed
    assert wall.raw_max_change_xyz == (18.0, 19.0, 20.0)
    assert np.isnan(wall.max_change) and wall.max_change_xyz is None  # 3 scattered points support no peak
    assert wall.changed == 0 and wall.changed_share == 0.0
    assert wall.mean_lod == pytest.approx(0.005)
    roof = stats["roof"]
    assert roof.median_distance == pytest.approx(-0.0005)  # mid-point of an even count
    assert roof.significant == 0 and roof.significant_share == 0.0
    assert np.isnan(roof.max_change) and roof.max_change_xyz is None and np.isnan(roof.raw_max_change)
    column = stats["column"]
    assert column.raw_max_change == pytest.approx(-0.05) and column.raw_max_change_xyz == (15.0, 16.0, 17.0)
    assert stats["wall"].as_dict()["label"] == "wall"


def test_integer_labels_unlabelled_and_empty():
    labels = np.array([3, 3, -1, 7])
    dist = np.array([np.nan, np.nan, 0.1, 0.02])
    out = label_statistics(labels, dist, ignore=-1)
    assert [s.label for s in out] == [3, 7]
    assert out[0].with_distance == 0 and np.isnan(out[0].mean_distance) and np.isnan(out[0].significant_share)
    assert out[1].significant == 0 and np.isnan(out[1].mean_lod)
    assert label_statistics(np.array([], dtype=int), np.array([])) == []
    with pytest.raises(UsageError):
        label_statistics(labels[:3], dist)
    with pytest.raises(UsageError):
        label_statistics(labels, dist, ignore="unlabelled")


def test_from_an_m3c2_result():
    p = M3C2Params(normal_radius=0.1, cylinder_radius=0.05, cylinder_half_length=0.1)
    m = len(DIST)
    result = M3C2Result(
        core=XYZ, normal=np.tile([0.0, 0.0, 1.0], (m, 1)), distance=DIST, lod=LOD, significant=SIG,
        n1=np.full(m, 10), n2=np.full(m, 10), sigma1=np.full(m, 0.002), sigma2=np.full(m, 0.002), params=p,
    )  # fmt: skip
    stats = m3c2_label_statistics(result, LABELS)
    assert [s.label for s in stats] == ["", "column", "roof", "wall"]
    assert stats[0].raw_max_change == pytest.approx(0.9) and np.isnan(stats[0].max_change)
