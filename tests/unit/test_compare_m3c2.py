"""M3C2: the distance, LoD and significance on synthetic surfaces with known change, the
edge cases of the definition, and agreement with py4dgeo (a test-only reference)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from twin.compare.corepoints import subsample
from twin.compare.m3c2 import M3C2Params, level_of_detection, m3c2
from twin.errors import UsageError

NOISE = 0.002


def plane(n: int, seed: int, z=0.0, size: float = 2.0, noise: float = NOISE) -> np.ndarray:
    """``n`` points on [0, size]^2 at height z(x, y) (a number or a function) with noise."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, size, (n, 2))
    height = z(xy) if callable(z) else np.full(n, float(z))
    return np.c_[xy, height + rng.normal(0.0, noise, n)]


def interior(xyz: np.ndarray, margin: float, size: float = 2.0) -> np.ndarray:
    keep = (xyz[:, :2] > margin).all(axis=1) & (xyz[:, :2] < size - margin).all(axis=1)
    return xyz[keep]


def brute_cylinder(points, core, normal, radius, half_length):
    """Projections on the axis of the points inside one cylinder, by brute force."""
    d = points - core
    t = d @ normal
    perp2 = np.einsum("ij,ij->i", d, d) - t * t
    return t[(perp2 <= radius * radius) & (np.abs(t) <= half_length)]


PARAMS = M3C2Params(normal_radius=0.1, cylinder_radius=0.05, cylinder_half_length=0.1)


# ------------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    "bad",
    [
        {"normal_radius": 0.0},
        {"cylinder_radius": -0.1},
        {"cylinder_half_length": 0.0},
        {"registration_error": -0.001},
        {"min_points": 0},
        {"normal_radius": float("nan")},
        {"cylinder_radius": float("inf")},
        {"orientation": "sideways"},
        {"orientation_vector": (0.0, 0.0, 0.0)},
        {"orientation": "toward_points"},  # no points given
        {"unknown": 1},
    ],
)
def test_params_reject_impossible_values(bad):
    base = {"normal_radius": 0.1, "cylinder_radius": 0.05, "cylinder_half_length": 0.2}
    with pytest.raises(ValidationError):
        M3C2Params(**{**base, **bad})


def test_params_defaults_and_slices():
    p = M3C2Params(normal_radius=0.1, cylinder_radius=0.05, cylinder_half_length=0.2)
    assert (p.min_points, p.use_median, p.registration_error, p.orientation) == (5, False, 0.0, "vector")
    assert p.slices == 4
    assert p.search_radius == pytest.approx(np.hypot(0.05, 0.05))
    assert M3C2Params(normal_radius=1, cylinder_radius=1, cylinder_half_length=0.3).slices == 1


def test_level_of_detection_formula():
    lod = level_of_detection(np.array([0.002]), np.array([20]), np.array([0.003]), np.array([30]), 0.001)
    assert lod[0] == pytest.approx(1.96 * (np.sqrt(0.002**2 / 20 + 0.003**2 / 30) + 0.001))


# --------------------------------------------------------------- known change, by hand


def test_two_planes_20mm_apart():
    e1 = plane(40_000, 1)
    e2 = plane(40_000, 2, z=0.02)
    core = interior(subsample(e1, 0.1), 0.2)
    p = PARAMS.model_copy(update={"registration_error": 0.001})
    r = m3c2(e1, e2, core, p)
    assert len(r) == len(core) and r.valid.all()
    assert np.all(r.normal[:, 2] > 0.99)  # +z orientation, horizontal plane
    assert abs(np.mean(r.distance) - 0.020) < 0.0003
    assert np.all(np.abs(r.distance - 0.020) < 0.002)
    assert r.significant.all()
    fields = r.as_fields()
    assert fields["m3c2_distance"] is r.distance and fields["m3c2_significant"].dtype == np.uint8
    # density 10k/m^2 -> about 10000 * pi * 0.05^2 = 79 points per cylinder
    assert 50 < np.median(r.n1) < 110 and 50 < np.median(r.n2) < 110

    # the figures of a few core points, recomputed by hand
    for i in range(0, len(core), max(1, len(core) // 7)):
        t1 = brute_cylinder(e1, core[i], r.normal[i], 0.05, 0.1)
        t2 = brute_cylinder(e2, core[i], r.normal[i], 0.05, 0.1)
        assert (r.n1[i], r.n2[i]) == (len(t1), len(t2))
        assert r.distance[i] == pytest.approx(t2.mean() - t1.mean(), abs=1e-12)
        assert r.sigma1[i] == pytest.approx(t1.std(), abs=1e-12)  # population std, as CloudCompare
        assert r.sigma2[i] == pytest.approx(t2.std(), abs=1e-12)
        lod = 1.96 * (np.sqrt(t1.var() / len(t1) + t2.var() / len(t2)) + 0.001)
        assert r.lod[i] == pytest.approx(lod, rel=1e-9)


def test_raised_cosine_bump_is_detected_at_its_peak():
    peak, radius = 0.030, 0.5

    def bump(xy):
        rr = np.hypot(xy[:, 0] - 1.0, xy[:, 1] - 1.0)
        return np.where(rr < radius, peak * 0.5 * (1 + np.cos(np.pi * rr / radius)), 0.0)

    e1 = plane(40_000, 3)
    e2 = plane(40_000, 4, z=bump)
    core = interior(subsample(e1, 0.05), 0.15)
    r = m3c2(e1, e2, core, PARAMS)
    at_peak = np.argmin(np.hypot(core[:, 0] - 1.0, core[:, 1] - 1.0))
    assert r.significant[at_peak]
    assert abs(r.distance[at_peak] - peak) < 0.002
    true = bump(core[:, :2])
    assert r.significant[true > 0.010].all()  # clearly above the LoD (~1 mm)
    assert np.all(np.abs(r.distance[true > 0.010] - true[true > 0.010]) < 0.003)
    i = np.argmax(np.where(r.significant, np.abs(r.distance), 0))
    assert np.hypot(core[i, 0] - 1.0, core[i, 1] - 1.0) < 0.1  # the largest change is at the peak


def test_stable_area_is_rarely_significant():
    e1 = plane(40_000, 5)
    e2 = plane(40_000, 6)  # the same surface, sampled again
    core = interior(subsample(e1, 0.05), 0.15)
    # with a (small, realistic) registration error the stable area is quiet
    r = m3c2(e1, e2, core, PARAMS.model_copy(update={"registration_error": 0.0005}))
    assert r.significant.mean() < 0.02
    assert abs(np.mean(r.distance)) < 0.0003
    # without it the LoD is a 95 % interval: about 5 % false alarms, by construction
    r0 = m3c2(e1, e2, core, PARAMS)
    assert 0.01 < r0.significant.mean() < 0.10


def test_median_resists_outliers_and_reports_the_iqr():
    rng = np.random.default_rng(7)
    e1 = plane(40_000, 8)
    e2 = plane(40_000, 9, z=0.02)
    junk = e2[rng.random(len(e2)) < 0.1].copy()
    junk[:, 2] += 0.08  # 10 % outliers 8 cm above, still inside the cylinder
    e2 = np.concatenate([e2, junk])
    core = interior(subsample(e1, 0.1), 0.2)
    p = M3C2Params(normal_radius=0.1, cylinder_radius=0.05, cylinder_half_length=0.2)
    mean = m3c2(e1, e2, core, p)
    median = m3c2(e1, e2, core, p.model_copy(update={"use_median": True}))
    assert np.median(mean.distance) > 0.025  # pulled up by the outliers
    assert abs(np.median(median.distance) - 0.020) < 0.001
    assert np.median(median.sigma1) == pytest.approx(1.349 * NOISE, rel=0.2)  # IQR of a Gaussian
    i = len(core) // 2
    t1 = np.sort(brute_cylinder(e1, core[i], median.normal[i], 0.05, 0.2))
    t2 = np.sort(brute_cylinder(e2, core[i], median.normal[i], 0.05, 0.2))
    assert median.distance[i] == pytest.approx(np.median(t2) - np.median(t1), abs=1e-12)


# ---------------------------------------------------------------------- definitions


def test_few_points_give_a_distance_but_no_lod():
    e1 = plane(40_000, 10)
    e2 = np.array([[1.0, 1.0, 0.01], [1.01, 1.0, 0.012], [1.0, 1.5, 0.01]])
    core = np.array([[1.0, 1.0, 0.0], [1.0, 1.5, 0.0], [0.5, 0.5, 0.0]])
    r = m3c2(e1, e2, core, PARAMS)
    assert list(r.n2) == [2, 1, 0]
    assert np.isfinite(r.distance[:2]).all() and np.isnan(r.distance[2])
    assert np.isnan(r.lod).all() and not r.significant.any()
    r1 = m3c2(e1, e2, core, PARAMS.model_copy(update={"min_points": 1}))
    assert np.isfinite(r1.lod[:2]).all()


def test_core_point_without_neighbours_has_no_normal():
    e1 = plane(10_000, 11)
    r = m3c2(e1, e1, np.array([[1.0, 1.0, 5.0], [1.0, 1.0, 0.0]]), PARAMS)
    assert np.isnan(r.normal[0]).all() and np.isnan(r.distance[0]) and r.n1[0] == 0
    assert np.isfinite(r.distance[1]) and r.distance[1] == 0.0


@pytest.mark.parametrize(
    ("normal_radius", "source"),
    [
        (0.1, "epoch1"),  # epoch 1's cylinder: inner part from the normal search, ends searched
        (0.3, "epoch1"),  # the normal sphere holds the whole cylinder
        (0.02, "epoch1"),  # smaller than the cylinder radius: all searched
        (0.1, "epoch2"),
        (0.3, "core"),  # 300 core points on 4 m^2: a wide sphere to find 3
    ],
)
def test_each_point_counted_once(normal_radius, source):
    """Counts equal brute force; with an even slice count a core point taken from epoch 1
    lies on a slice border, and the inner part's ends are borders too."""
    e1 = plane(30_000, 12)
    e2 = plane(30_000, 13, z=0.01)
    core = e1[np.random.default_rng(0).choice(len(e1), 300, replace=False)]
    p = M3C2Params(
        normal_radius=normal_radius, cylinder_radius=0.03, cylinder_half_length=0.12, normal_source=source
    )
    assert p.slices == 4
    r = m3c2(e1, e2, core, p)
    ok = r.valid
    assert ok.mean() > 0.9
    for i in np.flatnonzero(ok):
        t1 = brute_cylinder(e1, core[i], r.normal[i], 0.03, 0.12)
        t2 = brute_cylinder(e2, core[i], r.normal[i], 0.03, 0.12)
        assert (r.n1[i], r.n2[i]) == (len(t1), len(t2))
        assert r.distance[i] == pytest.approx(t2.mean() - t1.mean(), abs=1e-12)


def walls(seed: int, offset: float = 0.0) -> np.ndarray:
    """Two parallel vertical walls, x = 0 and x = 4, each moved outward by ``offset``."""
    rng = np.random.default_rng(seed)
    n = 20_000
    yz = rng.uniform(0.0, 2.0, (2 * n, 2))
    x = np.r_[np.full(n, -offset), np.full(n, 4.0 + offset)] + rng.normal(0, NOISE, 2 * n)
    return np.c_[x, yz]


@pytest.mark.parametrize(
    ("update", "sign_at_x0", "sign_at_x4"),
    [
        ({"orientation": "outward"}, -1, 1),
        ({"orientation": "inward"}, 1, -1),
        ({"orientation_vector": (1.0, 0.0, 0.0)}, 1, 1),
        ({"orientation": "toward_points", "orientation_points": ((-5.0, 1.0, 1.0), (9.0, 1.0, 1.0))}, -1, 1),
    ],
)
def test_normal_orientation_and_the_sign_of_distances(update, sign_at_x0, sign_at_x4):
    e1, e2 = walls(14), walls(15, offset=0.01)
    core = subsample(e1, 0.25)
    core = core[(core[:, 1:] > 0.2).all(axis=1) & (core[:, 1:] < 1.8).all(axis=1)]
    r = m3c2(e1, e2, core, PARAMS.model_copy(update=update))
    west = core[:, 0] < 2
    assert np.all(np.sign(r.normal[west, 0]) == sign_at_x0)
    assert np.all(np.sign(r.normal[~west, 0]) == sign_at_x4)
    # both walls moved outward by 10 mm: the distance's sign follows the normal's
    assert np.allclose(r.distance[west], -0.01 * sign_at_x0, atol=0.002)
    assert np.allclose(r.distance[~west], 0.01 * sign_at_x4, atol=0.002)


def test_given_normals_and_georeferenced_coordinates():
    e1 = plane(20_000, 16)
    e2 = plane(20_000, 17, z=0.015)
    core = interior(subsample(e1, 0.2), 0.2)
    local = m3c2(e1, e2, core, PARAMS)
    utm = np.array([749_012.0, 1_821_034.0, 12.0])
    far = m3c2(e1 + utm, e2 + utm, core + utm, PARAMS)
    assert np.allclose(far.distance, local.distance, atol=1e-9)
    assert np.array_equal(far.n1, local.n1) and np.array_equal(far.significant, local.significant)
    assert np.allclose(far.core, core + utm)
    vertical = m3c2(e1, e2, core, PARAMS, normals=(0.0, 0.0, 2.0))
    assert np.allclose(vertical.normal, [0.0, 0.0, 1.0])
    assert abs(np.mean(vertical.distance) - 0.015) < 0.0005


def test_threads_and_chunks_do_not_change_the_result():
    e1 = plane(20_000, 18)
    e2 = plane(20_000, 19, z=0.005)
    core = subsample(e1, 0.1)
    a = m3c2(e1, e2, core, PARAMS, workers=1)
    b = m3c2(e1, e2, core, PARAMS, workers=2, chunk_size=37)
    for name in ("distance", "lod", "n1", "n2", "sigma1", "normal"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


def test_bad_input_is_refused():
    e = plane(1000, 20)
    with pytest.raises(UsageError):
        m3c2(e, np.empty((0, 3)), e[:5], PARAMS)
    with pytest.raises(UsageError):
        m3c2(e[:, :2], e, e[:5], PARAMS)
    bad = e.copy()
    bad[3, 1] = np.nan
    with pytest.raises(UsageError):
        m3c2(bad, e, e[:5], PARAMS)
    with pytest.raises(UsageError):
        m3c2(e, e, e[:5], PARAMS, normals=np.ones((4, 3)))
    empty = m3c2(e, e, np.empty((0, 3)), PARAMS)
    assert len(empty) == 0 and empty.summary()["core_points"] == 0


# ------------------------------------------------------------------ py4dgeo agreement


def simulate_sample_surveys(points_per_station: int):
    """The sample pavilion's two surveys, simulated in memory in the site frame (true
    station poses, so already registered; outliers and mixed pixels included)."""
    from twin.sample import MeshScene, ScannerModel, SiteSpec, apply_deformations, build_pavilion, scan
    from twin.sample.deform import default_deformations
    from twin.sample.generate import SURVEYS, plan_stations

    spec, model = SiteSpec(), ScannerModel()
    reference = build_pavilion(spec)
    clouds = []
    for si, survey in enumerate(SURVEYS):
        mesh = apply_deformations(reference, default_deformations(spec)) if survey.deformed else reference
        scene = MeshScene(mesh)
        pts = []
        for sp in plan_stations(scene, spec, 4, si, survey, 1805, points_per_station, model, False):
            st = sp.setup
            for chunk in scan(scene, st, seed=1805, sun=np.array([0.0, 0.0, 1.0]), model=model):
                pts.append(st.position + chunk.xyz @ st.rotation.T)
        clouds.append(np.concatenate(pts))
    return clouds


def test_agrees_with_py4dgeo_on_the_sample_surveys():
    py4dgeo = pytest.importorskip("py4dgeo")
    e1, e2 = simulate_sample_surveys(40_000)
    core = subsample(e1, 0.15)
    p = M3C2Params(normal_radius=0.25, cylinder_radius=0.1, cylinder_half_length=0.5)
    ours = m3c2(e1, e2, core, p)
    algo = py4dgeo.M3C2(
        epochs=(py4dgeo.Epoch(e1), py4dgeo.Epoch(e2)),
        corepoints=core,
        cyl_radius=p.cylinder_radius,
        normal_radii=(p.normal_radius,),
        max_distance=p.cylinder_half_length,
        orientation_vector=np.array([0.0, 0.0, 1.0]),
    )
    distance, unc = algo.run()
    # both orient toward +z; a wall's normal is perpendicular to it, so its sign is arbitrary
    # on either side: compare along the same axis
    sign = np.sign(np.einsum("ij,ij->i", ours.normal, algo.directions()))
    theirs = distance * np.where(sign < 0, -1.0, 1.0)
    agree = (np.abs(ours.distance - theirs) <= 0.002) | (np.isnan(ours.distance) & np.isnan(theirs))
    assert agree.mean() >= 0.95
    both = np.isfinite(ours.distance) & np.isfinite(theirs)
    assert np.array_equal(ours.n1[both], unc["num_samples1"][both])  # an odd slice count: same cylinders
    assert np.array_equal(ours.n2[both], unc["num_samples2"][both])
