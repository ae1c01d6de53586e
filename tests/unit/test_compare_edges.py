"""No false change at edges and occlusions: twin's M3C2 edge rules on small synthetic
scenes where nothing moved (a wall under an eave seen differently by two surveys) and
where the rules must stay quiet (a wall that moved, a round column)."""

from __future__ import annotations

import numpy as np
import pytest

from twin.compare.corepoints import subsample
from twin.compare.m3c2 import MULTIPLE_SURFACES, OK, REASON_NAMES, ROUGH_NORMAL, m3c2
from twin.compare.options import make_options, m3c2_params

NOISE = 0.0015
WALL_TOP = 2.0
EAVE = WALL_TOP + 0.08  # the eave's underside, 8 cm above the wall's top: inside a 10 cm cylinder's reach
EDGE_ZONE = 0.15  # core points this close to the top have cylinders (radius 0.1 m) or normals reaching it


def rect(rng, p0, u, v, density: float) -> np.ndarray:
    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    n = int(density * np.linalg.norm(u) * np.linalg.norm(v))
    a = rng.random((n, 2))
    return np.asarray(p0, dtype=float) + a[:, :1] * u + a[:, 1:] * v


def wall_under_eave(seed: int, eave_density: float, top_density: float) -> np.ndarray:
    """A 3 m wall (face y = 0, outward +y) 2 m high, 30 cm thick, under an eave slab that
    reaches 40 cm behind and 50 cm in front of it. The survey's stations decide how densely
    the eave's underside and the wall's top are seen (``*_density``, points per m²): the
    earlier survey barely saw the eave and not the wall top, the later one saw both."""
    rng = np.random.default_rng(seed)
    parts = [
        rect(rng, (0, 0, 0), (3, 0, 0), (0, 0, WALL_TOP), 4000),  # the face
        rect(rng, (0, -0.3, WALL_TOP), (3, 0, 0), (0, 0.3, 0), top_density),  # the wall's top
        rect(rng, (0, -0.4, EAVE), (3, 0, 0), (0, 0.9, 0), eave_density),  # the eave's underside
    ]
    xyz = np.concatenate(parts)
    return xyz + rng.normal(0.0, NOISE, xyz.shape)


@pytest.fixture(scope="module")
def eave_scene():
    earlier = wall_under_eave(1, eave_density=300, top_density=0)
    later = wall_under_eave(2, eave_density=4000, top_density=3000)
    core = subsample(earlier[np.abs(earlier[:, 1]) < 0.005], 0.1)  # core points on the wall's face
    return earlier, later, core


def run(scene, preset: str = "twin"):
    earlier, later, core = scene
    options = make_options(preset=preset, orientation="+y")
    return m3c2(earlier, later, core, m3c2_params(options, registration_error=0.0))


def test_no_false_change_where_the_wall_meets_the_eave(eave_scene):
    """Nothing moved. Without the edge rules (the CloudCompare-like definition), core
    points at the wall's top read change because the later survey saw the wall top and the
    eave far more densely; with them, none there is significant and each carries why."""
    core = eave_scene[2]
    edge = core[:, 2] > WALL_TOP - EDGE_ZONE
    top = core[:, 2] > WALL_TOP - 0.05
    assert edge.sum() >= 40 and top.sum() >= 20

    options = make_options(orientation="+y", edge_rules=False)
    plain = m3c2(*eave_scene, m3c2_params(options, registration_error=0.0))
    assert plain.significant[edge].sum() >= 3  # the false change the rules exist for
    assert np.nanmin(plain.distance[edge]) < -0.010

    ruled = run(eave_scene)
    assert not ruled.significant[edge].any()
    assert np.isin(ruled.reason[top], [MULTIPLE_SURFACES, ROUGH_NORMAL]).all()
    assert np.isnan(ruled.lod[ruled.reason == MULTIPLE_SURFACES]).all()
    assert set(ruled.reason_names[top]) <= {"multiple_surfaces", "rough_normal"}
    # away from the edge the face is measured as before
    face = core[:, 2] < WALL_TOP - 0.3
    assert (ruled.reason[face] == OK).mean() > 0.95
    assert np.array_equal(ruled.distance, plain.distance, equal_nan=True)  # distances kept for inspection


def test_the_cloudcompare_preset_keeps_its_rules(eave_scene):
    """The reference presets follow CloudCompare / PDAL: no edge rules, no new reasons."""
    for preset in ("cloudcompare", "pdal"):
        r = run(eave_scene, preset=preset)
        assert not np.isin(r.reason, [MULTIPLE_SURFACES, ROUGH_NORMAL]).any(), preset
        assert r.params.surface_depth == 0.0 and r.params.rough_normal_ratio == 0.0


def test_the_rules_leave_real_change_and_round_columns_alone():
    """A wall that moved 30 mm and a 30 cm column under a 25 cm normal radius (as rough as
    an edge by Lague's ratio, but its normal holds at half the scale) stay measured."""
    rng = np.random.default_rng(5)
    face = rect(rng, (0, 0, 0), (2, 0, 0), (0, 0, 2), 4000)
    earlier = face + rng.normal(0.0, NOISE, face.shape)
    later = face + rng.normal(0.0, NOISE, face.shape) + [0.0, 0.030, 0.0]
    core = subsample(earlier[(earlier[:, 0] > 0.4) & (earlier[:, 0] < 1.6) & (earlier[:, 2] > 0.4)
                             & (earlier[:, 2] < 1.6)], 0.1)
    moved = m3c2(earlier, later, core, m3c2_params(make_options(orientation="+y"), registration_error=0.0))
    assert (moved.reason == OK).all() and moved.significant.all()
    assert np.median(moved.distance) == pytest.approx(0.030, abs=0.001)

    angle, height = rng.random((2, 60_000))
    column = np.c_[0.15 * np.cos(2 * np.pi * angle), 0.15 * np.sin(2 * np.pi * angle), 3.0 * height]
    earlier = column + rng.normal(0.0, NOISE, column.shape)
    later = column + rng.normal(0.0, NOISE, column.shape)
    core = subsample(earlier[(earlier[:, 2] > 0.5) & (earlier[:, 2] < 2.5)], 0.1)
    params = m3c2_params(make_options(orientation="outward"), registration_error=0.0)
    params = params.model_copy(update={"rough_normal_ratio": 25.0})  # no preset applies it (see options.py)
    r = m3c2(earlier, later, core, params)
    ratio = 2 * r.normal_scale / r.roughness
    assert np.median(ratio) < 25  # rough by Lague's ratio alone
    assert (r.reason == OK).mean() > 0.95, {REASON_NAMES[int(k)]: int(n) for k, n in
                                          zip(*np.unique(r.reason, return_counts=True), strict=True)}


def test_a_column_seen_through_in_both_surveys_alike_is_measured():
    """A cylinder long enough to pass through a 30 cm column holds its front and back faces
    in both surveys alike: the back face shifts both medians the same way, so the movement
    (30 mm) is measured and not left out as mixed surfaces. A cylinder that holds the two
    in different proportions (the eave above) is what the rule is for."""
    rng = np.random.default_rng(7)
    angle, height = rng.random((2, 80_000))
    column = np.c_[0.15 * np.cos(2 * np.pi * angle), 0.15 * np.sin(2 * np.pi * angle), 3.0 * height]
    earlier = column + rng.normal(0.0, NOISE, column.shape)
    later = column + rng.normal(0.0, NOISE, column.shape) + [0.030, 0.0, 0.0]
    front = (earlier[:, 0] > 0.14) & (earlier[:, 2] > 0.5) & (earlier[:, 2] < 2.5)
    core = subsample(earlier[front], 0.1)
    params = m3c2_params(make_options(orientation="outward"), registration_error=0.0)
    params = params.model_copy(update={"cylinder_half_length": 0.5})  # reaches the back face at 0.3 m
    r = m3c2(earlier, later, core, params)
    assert (r.reason == OK).mean() > 0.95, {REASON_NAMES[int(k)]: int(n) for k, n in
                                          zip(*np.unique(r.reason, return_counts=True), strict=True)}
    assert np.median(r.distance[r.reason == OK]) == pytest.approx(0.030, abs=0.003)
