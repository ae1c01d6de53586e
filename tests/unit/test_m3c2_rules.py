"""M3C2 rules of the references, one small case each where the rule decides the result.

Each expected value is computed here by hand from the reference's rule:
CloudCompare's qM3C2 (plugins/core/Standard/qM3C2/src/qM3C2Process.cpp, qM3C2Tools.cpp,
qM3C2Dialog.ui; CCCoreLib src/DgmOctree.cpp for the cylinder) and PDAL's filters.m3c2
(filters/M3C2Filter.cpp, pdal/private/MathUtils.*). PDAL's own test values and the
CloudCompare output kept in PDAL's repository are checked when those files are present.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from twin.compare import m3c2 as M
from twin.compare.m3c2 import M3C2Params, m3c2, planarity, progressive_half_lengths
from twin.compare.options import make_options, m3c2_params

CORE = np.array([[0.0, 0.0, 0.0]])


def grid(z: float = 0.0, half: float = 1.0, step: float = 0.05) -> np.ndarray:
    """A flat square grid at height z: PCA normals are exactly (0, 0, +-1)."""
    v = np.arange(-half, half + step / 2, step)
    x, y = np.meshgrid(v, v)
    return np.c_[x.ravel(), y.ravel(), np.full(x.size, z)]


def column(ts, r: float = 0.03) -> np.ndarray:
    """Points at heights ``ts`` near the z axis (within ``r`` of it)."""
    ts = np.asarray(ts, dtype=np.float64)
    angle = np.arange(len(ts)) * 2.399963
    return np.c_[r * np.cos(angle), r * np.sin(angle), ts]


P = M3C2Params(normal_radius=0.3, cylinder_radius=0.12, cylinder_half_length=0.5)


def in_disc(points, radius):
    return int((np.hypot(points[:, 0], points[:, 1]) <= radius).sum())


# ------------------------------------------------------------------- mean, median, IQR


def test_median_and_iqr_versus_mean_and_std():
    """qM3C2Tools.cpp ComputeStatistics: mean and population std, or median (mid-point
    average) and Mathworld's IQR; the distance is centre2 - centre1 either way."""
    e1 = grid()
    ts = [0.01, 0.01, 0.012, 0.02, 0.30]
    e2 = column(ts)
    n1 = in_disc(e1, 0.12)
    mean = m3c2(e1, e2, CORE, P)
    med = m3c2(e1, e2, CORE, P.model_copy(update={"use_median": True}))
    t = np.sort(ts)
    assert mean.distance[0] == pytest.approx(np.mean(t), abs=1e-12)  # 0.0704
    assert mean.sigma2[0] == pytest.approx(np.sqrt(np.mean((t - t.mean()) ** 2)), abs=1e-12)
    assert med.distance[0] == pytest.approx(0.012, abs=1e-12)  # the median ignores the 0.30 point
    # IQR, Mathworld: q1 = median of the first (n+1)//2, q3 = median of those from n//2
    q1, q3 = np.median(t[:3]), np.median(t[2:])
    assert med.sigma2[0] == pytest.approx(q3 - q1, abs=1e-12)
    assert (mean.n1[0], mean.n2[0]) == (n1, 5)
    lod = 1.96 * np.sqrt(0.0 / n1 + (q3 - q1) ** 2 / 5)
    assert med.lod[0] == pytest.approx(lod, abs=1e-12)


def test_level_of_detection_with_registration_error():
    """LoD95 = 1.96 * (sqrt(s1^2/n1 + s2^2/n2) + reg), qM3C2Process.cpp and M3C2Filter.cpp;
    significant when |d| > LoD."""
    e1 = np.r_[grid(), column([-0.01, 0.01, -0.02, 0.02], r=0.05)]
    ts = [0.02, 0.025, 0.03, 0.035, 0.04, 0.045]
    r = m3c2(e1, column(ts), CORE, P.model_copy(update={"registration_error": 0.004}), normals=(0.0, 0.0, 1.0))
    n1 = in_disc(grid(), 0.12) + 4
    t1 = np.r_[np.zeros(n1 - 4), [-0.01, 0.01, -0.02, 0.02]]
    lod = 1.96 * (np.sqrt(t1.var() / n1 + np.var(ts) / 6) + 0.004)
    assert r.lod[0] == pytest.approx(lod, rel=1e-9)
    assert r.distance[0] == pytest.approx(np.mean(ts) - t1.mean(), abs=1e-12)
    assert r.significant[0] == (abs(r.distance[0]) > lod)


# ------------------------------------------------------------------------ orientation


@pytest.mark.parametrize(
    ("orientation", "sign"),
    [("up", 1), ("down", -1), ("toward-origin", -1), ("from-origin", 1), ("+x", None)],
)
def test_orientation_flips_the_sign(orientation, sign):
    """ccNormalVectors::UpdateNormalOrientations: N is flipped when N . pref < 0 (pref: +Z,
    -Z, P - origin, origin - P); PDAL's up/down. A surface at z = 1 that rose by 2 cm."""
    core = np.array([[0.0, 0.0, 1.0]])
    e1, e2 = grid(1.0), grid(1.02)
    o = make_options(orientation=orientation, median=False)
    r = m3c2(e1, e2, core, m3c2_params(o, registration_error=0.0))
    if sign is None:  # N . (1, 0, 0) == 0: no flip, the eigen solver's sign stands
        assert abs(r.distance[0]) == pytest.approx(0.02, abs=1e-9)
    else:
        assert r.normal[0, 2] == pytest.approx(sign, abs=1e-12)
        assert r.distance[0] == pytest.approx(0.02 * sign, abs=1e-9)


def test_outward_is_cloudcompare_from_barycenter():
    """CloudCompare's 'From barycenter': pref = P - G, G the core points' gravity centre."""
    e1 = np.r_[grid(0.0), grid(2.0)]
    e2 = np.r_[grid(-0.01), grid(2.01)]
    core = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    r = m3c2(e1, e2, core, P.model_copy(update={"orientation": "outward"}))
    assert np.allclose(r.normal[:, 2], [-1.0, 1.0])
    assert np.allclose(r.distance, [0.01, 0.01], atol=1e-9)


# ------------------------------------------------------------------- min points, NaN


def test_one_point_below_min_points():
    """qM3C2: the distance needs one point a side, the LoD min_points (default 5) a side.
    PDAL: below min_points the core point gets nothing. Twin reports NaN with a reason."""
    e1 = grid()
    four, five = column([0.01, 0.02, 0.03, 0.04]), column([0.01, 0.02, 0.03, 0.04, 0.05])
    cc = m3c2(e1, four, CORE, P)  # min_points 5, gate 'lod'
    assert cc.distance[0] == pytest.approx(0.025, abs=1e-12) and np.isnan(cc.lod[0])
    assert not cc.significant[0] and cc.reason[0] == M.FEW_POINTS
    pdal = m3c2(e1, four, CORE, P.model_copy(update={"min_points_gate": "distance"}))
    assert np.isnan(pdal.distance[0]) and np.isnan(pdal.lod[0]) and pdal.reason[0] == M.FEW_POINTS
    ok = m3c2(e1, five, CORE, P.model_copy(update={"min_points_gate": "distance"}))
    assert ok.distance[0] == pytest.approx(0.03, abs=1e-12) and np.isfinite(ok.lod[0])
    assert ok.reason[0] == M.OK
    assert "fewer than min_points" in M.REASONS[int(cc.reason[0])]


def test_empty_side_and_no_normal_reasons():
    e1 = grid()
    far = np.array([[0.0, 0.0, 9.0]])
    r = m3c2(e1, far, np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0]]), P)
    assert np.isnan(r.distance).all()
    assert list(r.reason) == [M.EMPTY2, M.NO_NORMAL]
    assert r.reasons() == {M.REASONS[M.EMPTY2]: 1, M.REASONS[M.NO_NORMAL]: 1}


def test_no_normal_ball_rule():
    """CloudCompare and PDAL keep a zero normal when fewer than 3 points lie within the
    normal radius: the cylinder test becomes |p - c|^2 <= R^2 and every projection 0, so
    the distance is 0 and the counts are the points within R (CloudCompare's output in
    PDAL's test data shows exactly this: distance -0, normal 0,0,0)."""
    e1 = np.array([[0.0, 0.0, 0.0], [0.05, 0.0, 0.0], [0.5, 0.0, 0.0]])
    e2 = np.array([[0.0, 0.05, 0.02], [0.0, 0.1, 0.03], [0.0, 0.2, 0.0]])
    p = M3C2Params(normal_radius=0.04, cylinder_radius=0.12, cylinder_half_length=0.5, min_points=1)
    nan = m3c2(e1, e2, CORE, p)
    assert np.isnan(nan.distance[0]) and nan.reason[0] == M.NO_NORMAL
    ball = m3c2(e1, e2, CORE, p.model_copy(update={"no_normal": "ball"}))
    assert (ball.n1[0], ball.n2[0]) == (2, 2)
    assert ball.distance[0] == 0.0 and ball.lod[0] == 0.0 and not ball.significant[0]
    assert np.array_equal(ball.normal[0], [0.0, 0.0, 0.0]) and ball.reason[0] == M.ZERO_NORMAL


# --------------------------------------------------------------------------- cylinder


def test_cylinder_membership_is_closed_and_positive_only():
    """DgmOctree::getPointsInCylindricalNeighbourhood: d2 <= R^2 and -L <= t <= L (PDAL:
    the same closed tests); 'positive only': 0 <= t <= L."""
    e1 = grid()
    R, L = 0.125, 0.5  # binary fractions: the boundary tests are exact
    inside = np.array([[R, 0.0, 0.25], [0.0, 0.0, L], [0.0, 0.0, -L], [0.0, 0.0, -0.125]])
    outside = np.array([[R + 1e-9, 0.0, 0.25], [0.0, 0.0, L + 1e-9], [0.0, 0.0, -L - 1e-9]])
    p = M3C2Params(normal_radius=0.3, cylinder_radius=R, cylinder_half_length=L, min_points=1)
    r = m3c2(e1, np.r_[inside, outside], CORE, p)
    assert r.n2[0] == 4 and r.distance[0] == pytest.approx(np.mean([0.25, L, -L, -0.125]), abs=1e-12)
    pos = m3c2(e1, np.r_[inside, outside], CORE, p.model_copy(update={"positive_only": True}))
    assert pos.n2[0] == 2 and pos.distance[0] == pytest.approx((0.25 + L) / 2, abs=1e-12)
    assert pos.n1[0] == in_disc(e1, R)  # t = 0 is on the positive side


def test_progressive_depth_search_stops_early():
    """qM3C2Process.cpp ComputeM3C2DistForPoint with progressive search (CloudCompare's
    default): the half length grows by R per pass (DgmOctree ...Progressive: a remainder
    under R/2 joins the last pass); at a pass whose count changed and reaches min_points,
    it stops if |mean| + 2 std < current half length."""
    assert progressive_half_lengths(0.2, 1.0) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert progressive_half_lengths(0.3, 1.0) == pytest.approx([0.3, 0.6, 1.0])  # 1.0 - 0.9 < 0.15
    e1 = grid()
    near = [0.04, 0.05, 0.05, 0.06, 0.05]
    e2 = column(near + [0.9, 0.95])
    p = M3C2Params(normal_radius=0.3, cylinder_radius=0.2, cylinder_half_length=1.0)
    single = m3c2(e1, e2, CORE, p)
    prog = m3c2(e1, e2, CORE, p.model_copy(update={"progressive": True}))
    assert single.n2[0] == 7 and single.distance[0] == pytest.approx(np.mean(near + [0.9, 0.95]), abs=1e-12)
    # pass 1 (H = 0.2): 5 points, |0.05| + 2 * std < 0.2: stop
    assert prog.n2[0] == 5 and prog.distance[0] == pytest.approx(np.mean(near), abs=1e-12)
    assert prog.sigma2[0] == pytest.approx(np.std(near), abs=1e-12)
    # with min_points 6 pass 1 cannot stop, and no later pass adds a point until H = 1.0
    late = m3c2(e1, e2, CORE, p.model_copy(update={"progressive": True, "min_points": 6}))
    assert late.n2[0] == 7


# ----------------------------------------------------------------------- normals


def test_planarity_criterion():
    """qM3C2Tools.cpp: eigenvalues squared, normalised, sorted descending; b = 2 s0 + 4 s1 - 2."""
    assert planarity(np.array([0.0, 1.0, 1.0])) == pytest.approx(1.0)  # a plane
    assert planarity(np.array([0.0, 0.0, 1.0])) == pytest.approx(0.0)  # a line
    assert planarity(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.0)  # a blob
    ev = np.array([0.1, 0.5, 0.8])
    s = np.sort(ev**2)[::-1] / (ev**2).sum()
    assert planarity(ev) == pytest.approx(2 * s[0] + 4 * s[1] - 2)
    assert M.cloudcompare_scales(0.1, 0.1, 0.35) == pytest.approx((0.1, 0.2, 0.3))


def test_multiscale_picks_the_flatter_scale():
    """A flat patch inside a folded surface: at radius 0.2 the neighbourhood is a plane, at
    0.6 it includes the fold. qM3C2 keeps the scale of the highest planarity, tried from the
    largest down (ties to the larger). The expected normal and scale are computed here."""
    flat = grid(0.0, half=1.0, step=0.04)
    x = flat[:, 0]
    folded = flat.copy()
    folded[:, 2] = np.where(x > 0.25, 0.8 * (x - 0.25), 0.0)  # one-sided: tilts the wide PCA
    e2 = folded + [0.0, 0.0, 0.01]
    radii = (0.2, 0.4, 0.6)
    expected = {}
    for rad in radii:
        nb = folded[np.linalg.norm(folded, axis=1) <= rad]
        w, v = np.linalg.eigh(np.cov(nb.T, bias=True))
        expected[rad] = (planarity(w), v[:, 0] * np.sign(v[2, 0]))
    best = max(sorted(radii, reverse=True), key=lambda r: expected[r][0])  # max keeps the first of equals
    assert best == 0.2
    p = M3C2Params(normal_radius=0.6, normal_radii=radii, cylinder_radius=0.1, cylinder_half_length=0.3)
    r = m3c2(folded, e2, CORE, p)
    assert r.normal_scale[0] == best
    assert np.allclose(r.normal[0], expected[best][1], atol=1e-9)
    assert r.distance[0] == pytest.approx(0.01, abs=1e-9)
    single = m3c2(folded, e2, CORE, M3C2Params(normal_radius=0.6, cylinder_radius=0.1, cylinder_half_length=0.3))
    assert single.normal_scale[0] == 0.6
    assert np.allclose(single.normal[0], expected[0.6][1], atol=1e-9)
    assert abs(single.normal[0, 2]) < 0.999  # the fold tilts the single-scale normal
    with pytest.raises(ValueError):
        M3C2Params(normal_radius=0.5, normal_radii=radii, cylinder_radius=0.1, cylinder_half_length=0.3)


# ------------------------------------------------------------------------ presets


def test_presets():
    cc = m3c2_params(make_options(preset="cloudcompare"), registration_error=0.0)
    assert (cc.use_median, cc.orientation_vector, cc.min_points, cc.min_points_gate, cc.progressive,
            cc.no_normal) == (False, (0.0, 0.0, 1.0), 5, "lod", True, "ball")
    pd = m3c2_params(make_options(preset="pdal"), registration_error=0.0)
    assert (pd.use_median, pd.min_points, pd.min_points_gate, pd.progressive) == (False, 1, "distance", False)
    twin = make_options()
    assert (twin.median, twin.orientation, twin.no_normal, twin.progressive) == (True, "outward", "nan", False)
    assert make_options(preset="pdal", median=True).median  # an explicit value beats the preset


# ------------------------------------------------- the references' own data (optional)

REF = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "pdal"


def _table(name: str) -> dict[str, np.ndarray]:
    rows = list(csv.reader((REF / name).open()))
    data = np.array(rows[1:], dtype=np.float64)
    return {k: data[:, i] for i, k in enumerate(rows[0])}


def _epochs():
    laspy = pytest.importorskip("laspy")
    if not (REF / "autzen-bmx-2010.las").is_file():
        pytest.skip(f"PDAL's autzen-bmx test files are not in {REF}")
    return laspy.read(REF / "autzen-bmx-2010.las").xyz, laspy.read(REF / "autzen-bmx-2023.las").xyz


def test_pdal_m3c2_filter_test_values():
    """test/unit/filters/M3C2FilterTest.cpp, test1 and verifyPoints, with the pdal preset."""
    e1, e2 = _epochs()
    cores = _table("autzen-bmx-cores.txt")
    o = make_options(preset="pdal", normal_radius=5.24414, cylinder_radius=10.4882815,
                     cylinder_half_length=2.763006)
    r = m3c2(e1, e2, np.c_[cores["X"], cores["Y"], cores["Z"]], m3c2_params(o, registration_error=0.0))
    assert np.allclose(r.distance, [1.396, 0.670, 1.246], atol=0.001)
    assert np.allclose(r.lod, [0.275, 0.140, 0.226], atol=0.001) and r.significant.all()
    assert (r.sigma1[0], r.sigma2[0]) == pytest.approx((0.732, 1.582), abs=0.001)
    assert (r.n1[0], r.n2[0]) == (118, 166)
    big, ref = _table("autzen-bmx-largersample.txt"), _table("autzen-bmx-m3c2.txt")
    o = o.model_copy(update={"normal_radius": 1.390432, "cylinder_radius": 2.890432, "cylinder_half_length": 5.5})
    r = m3c2(e1, e2, np.c_[big["X"], big["Y"], big["Z"]], m3c2_params(o, registration_error=0.0))
    written = ref["m3c2_count1"] > 0  # PDAL leaves the dimensions 0 where it computed nothing
    d = np.abs(r.distance - ref["m3c2_distance"])[written & np.isfinite(r.distance)]
    # row 0: PDAL skips the first neighbour when the core point is the cloud's first point
    assert (d <= 0.011).all() and (d <= 0.001).mean() > 0.98


def test_cloudcompare_output_in_pdal_test_data():
    """autzen-bmx-cc.txt: CloudCompare's qM3C2 on the same pair and 103 core points
    (single-pass depth search, +Z, mean). Agreement within 1 cm (both NaN counts as agreement)."""
    e1, e2 = _epochs()
    big, cc = _table("autzen-bmx-largersample.txt"), _table("autzen-bmx-cc.txt")
    o = make_options(preset="cloudcompare", progressive=False, normal_radius=1.390432,
                     cylinder_radius=2.890432, cylinder_half_length=5.5)
    r = m3c2(e1, e2, np.c_[big["X"], big["Y"], big["Z"]], m3c2_params(o, registration_error=0.0))
    ref = cc["M3C2 distance"]
    agree = (np.abs(r.distance - ref) <= 0.01) | (np.isnan(r.distance) & np.isnan(ref))
    assert agree.mean() >= 0.9
