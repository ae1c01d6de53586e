"""Lengths from the data: ``auto`` voxel, radii and Poisson depth follow the measured spacing
and extent, from a 20 cm statue scanned at 0.3 mm to a 200 m site scanned at 2 cm, and
writing the resolved number in place of ``auto`` gives the same result."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import ProcessingError
from twin.models import pipeline as spec
from twin.models.pointcloud import PointCloud
from twin.ops import scale as auto
from twin.pipeline import stages
from twin.pipeline.provenance import describe_lengths
from twin.pipeline.state import ModelState


def patches(extent: float, spacing: float, per_side: int = 40, seed: int = 0) -> np.ndarray:
    """Square patches sampled at ``spacing`` (jittered by 2 % of it) at the eight corners
    of a box ``extent`` wide: the spacing and the extent of a scanned object or site, in a
    few thousand points whatever the size."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(per_side) * spacing, np.arange(per_side) * spacing)
    patch = np.column_stack([u.ravel(), v.ravel(), np.zeros(u.size)])
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float)
    corners = corners * (extent - per_side * spacing)
    xyz = np.concatenate([patch + c for c in corners])
    return xyz + rng.normal(scale=0.02 * spacing, size=xyz.shape)


STATUE = dict(extent=0.2, spacing=0.0003)  # 20 cm at 0.3 mm
SITE = dict(extent=200.0, spacing=0.02)  # 200 m at 2 cm


def ctx(events: list | None = None) -> stages.StageContext:
    return stages.StageContext(ws=None, scans=[], on_event=(events.append if events is not None else lambda e: None))


@pytest.mark.parametrize("size", [STATUE, SITE], ids=["statue", "site"])
def test_measured_scale_is_the_clouds(size):
    measured = auto.measure_scale([patches(**size)])
    assert measured.spacing == pytest.approx(size["spacing"], rel=0.1)
    assert measured.extent == pytest.approx(size["extent"], rel=0.01)


def test_resolved_lengths_scale_with_the_data():
    statue, site = (auto.auto_lengths(auto.measure_scale([patches(**s)])) for s in (STATUE, SITE))
    for name in ("voxel_size", "normal_radius", "outlier_radius"):
        ratio = site[name].value / statue[name].value
        assert 40 < ratio < 300, (name, statue[name].value, site[name].value)  # spacing x 67, extent x 1000
    # a statue: the spacing / sqrt(3); a site: capped at extent / 10 000 voxels (2 cm, not 1.2 cm)
    assert statue["voxel_size"].value == pytest.approx(0.0003 / 3**0.5, rel=0.1)
    assert site["voxel_size"].value == pytest.approx(0.02, rel=0.01)
    assert statue["normal_radius"].value == pytest.approx(0.000825, rel=0.1)
    assert site["normal_radius"].value == pytest.approx(0.055, rel=0.1)
    assert all(r > 0 for r in statue["ball_radii"].value) and site["ball_radii"].value[0] > 50 * statue["ball_radii"].value[0]
    # Poisson: cells of at most one spacing; the site would need depth 14 and is clamped, with a note
    assert statue["poisson_depth"].value == 10 and statue["poisson_depth"].note is None
    assert 0.2 * 1.1 / 2**10 <= 0.0003
    assert site["poisson_depth"].value == 13 and "clamped to 13" in site["poisson_depth"].note


def test_the_pavilion_keeps_its_hand_tuned_lengths():
    """The four sample stations merged (survey-2024, registered): 1.8 cm median spacing,
    25.8 m largest side; the default pipeline had voxel 1 cm, normals 5 cm, depth 11 by hand."""
    pavilion = auto.CloudScale(spacing=0.018028, extent=25.78, points=547_949)
    got = auto.auto_lengths(pavilion)
    assert got["voxel_size"].value == 0.01 and got["normal_radius"].value == 0.05
    assert got["poisson_depth"].value == 11
    assert auto.poisson_depth(pavilion, 1.1, 0.5).value == 12  # high-detail
    assert auto.voxel_size(pavilion, 500).value == 0.052  # preview


def test_rounding_keeps_two_significant_digits():
    assert auto.round_length(0.0090312) == 0.009 and auto.round_length(0.05417) == 0.054
    assert auto.round_length(0.000151) == 0.00015 and auto.round_length(12.345) == 12.0


@pytest.mark.parametrize("size", [STATUE, SITE], ids=["statue", "site"])
def test_stages_resolve_record_and_announce(size):
    events: list[dict] = []
    context = ctx(events)
    state = ModelState(cloud=PointCloud(patches(**size)))
    state = stages.voxel_downsample(state, spec.VoxelDownsampleStage(stage="voxel_downsample"), context)
    state = stages.normals(state, spec.NormalsStage(stage="normals"), context)
    records = state.metrics["lengths"]
    assert [r["stage"] for r in records] == ["voxel_downsample", "normals"]
    voxel, radius = records[0]["resolved"]["voxel_size"], records[1]["resolved"]["radius"]
    assert 0.4 * size["spacing"] <= voxel <= 1.1 * size["spacing"]
    assert 2 * size["spacing"] <= radius <= 4 * size["spacing"]
    assert records[0]["measured"]["extent"] == pytest.approx(size["extent"], rel=0.01)
    assert records[0]["rules_version"] == auto.RULES_VERSION
    assert "normals" in state.cloud.attrs
    lines = [e["message"] for e in events if e["type"] == "lengths"]
    assert lines[0].startswith(f"voxel_downsample: voxel_size auto = {voxel:g} m (")
    assert lines == [describe_lengths(r) for r in records]


def test_explicit_lengths_are_used_as_given_and_not_recorded():
    state = ModelState(cloud=PointCloud(patches(**STATUE)))
    before = len(state.cloud)
    state = stages.voxel_downsample(state, spec.VoxelDownsampleStage(stage="voxel_downsample", voxel_size=0.01), ctx())
    assert len(state.cloud) < before / 10 and "lengths" not in state.metrics


def test_stations_before_registration_share_one_value():
    """Per-station stages resolve one length for every station (the median of their spacings),
    so that the number recorded is the number to write in its place."""
    a, b = patches(extent=20, spacing=0.01, seed=1), patches(extent=20, spacing=0.03, seed=2) + 1000.0
    c = patches(extent=20, spacing=0.02, seed=3)
    state = ModelState(stations={"A": PointCloud(a), "B": PointCloud(b), "C": PointCloud(c)})
    stage = spec.FlagOutliersStage(stage="flag_outliers", method="radius")
    state = stages.flag_outliers(state, stage, ctx())
    (record,) = state.metrics["lengths"]
    assert record["resolved"] == {"radius": pytest.approx(0.03, rel=0.1)}  # 1.5 x 2 cm
    assert record["measured"]["points"] == len(a) + len(b) + len(c)


def test_auto_and_the_same_number_give_the_same_model(monkeypatch):
    """Writing the resolved numbers in place of auto changes nothing: the same cloud, the
    same normals, and Poisson called with the same arguments on them."""
    from twin.ops import meshing

    calls = []
    real = meshing.poisson_reconstruct

    def spy(cloud, **kwargs):
        calls.append((cloud.xyz.copy(), cloud.attrs["normals"].copy(), kwargs))
        return real(cloud, **kwargs)

    monkeypatch.setattr(meshing, "poisson_reconstruct", spy)
    rng = np.random.default_rng(3)
    d = rng.normal(size=(6_000, 3))
    xyz = 0.1 * d / np.linalg.norm(d, axis=1, keepdims=True)  # a 20 cm sphere, about 2 mm spacing

    def run(voxel, radius, depth):
        state = ModelState(cloud=PointCloud(xyz.copy()))
        context = ctx()
        state = stages.voxel_downsample(state, spec.VoxelDownsampleStage(stage="voxel_downsample", voxel_size=voxel),
                                        context)
        state = stages.normals(state, spec.NormalsStage(stage="normals", radius=radius), context)
        return stages.mesh(state, spec.MeshStage(stage="mesh", depth=depth), context)

    auto_state = run("auto", "auto", "auto")
    resolved = {k: v for r in auto_state.metrics["lengths"] for k, v in r["resolved"].items()}
    assert resolved["max_distance"] == "local spacing"
    assert 6 <= resolved["depth"] <= 9  # a 0.22 m cube over ~2 mm points
    explicit = run(resolved["voxel_size"], resolved["radius"], resolved["depth"])
    assert explicit.mesh.n_faces > 0 and "lengths" in explicit.metrics  # only max_distance stayed auto
    (xyz_a, normals_a, kwargs_a), (xyz_e, normals_e, kwargs_e) = calls
    assert np.array_equal(xyz_a, xyz_e) and np.array_equal(normals_a, normals_e)
    assert kwargs_a == kwargs_e and kwargs_a["depth"] == resolved["depth"] and kwargs_a["max_distance"] is None


def test_ball_pivoting_radii_auto():
    rng = np.random.default_rng(4)
    d = rng.normal(size=(5_000, 3))
    xyz = 0.1 * d / np.linalg.norm(d, axis=1, keepdims=True)
    state = ModelState(cloud=PointCloud(xyz))
    state = stages.normals(state, spec.NormalsStage(stage="normals"), ctx())
    state = stages.mesh(state, spec.MeshStage(stage="mesh", method="ball_pivoting"), ctx())
    radii = state.metrics["lengths"][-1]["resolved"]["radii"]
    spacing = state.metrics["lengths"][-1]["measured"]["spacing"]
    assert len(radii) == 3 and radii[0] == pytest.approx(1.5 * spacing, rel=0.05) and state.mesh.n_faces > 0


def test_too_few_points_to_measure_is_one_clear_error():
    state = ModelState(cloud=PointCloud(np.zeros((1, 3))))
    with pytest.raises(ProcessingError, match="voxel_downsample: voxel_size auto: .*give voxel_size explicitly"):
        stages.voxel_downsample(state, spec.VoxelDownsampleStage(stage="voxel_downsample"), ctx())


def test_a_clamped_depth_is_a_warning():
    events: list[dict] = []
    state = ModelState(cloud=PointCloud(patches(**SITE)))
    rules = {"depth": lambda m: auto.poisson_depth(m, 1.1, 1.0)}
    values = stages.resolve_lengths(state, spec.MeshStage(stage="mesh"), ctx(events), rules)
    assert values["depth"] == 13
    assert any("clamped to 13" in w for w in state.metrics["warnings"])
    assert [e["type"] for e in events] == ["warning", "lengths"]


def test_a_point_budget_coarsens_the_voxel_and_says_so():
    """A cloud denser than max_points allows: the auto voxel grows until the stage keeps at
    most max_points (each later stage's memory follows the points it gets), a warning says
    the model is coarser than the scans, and the number recorded gives the same cloud."""
    xyz = patches(extent=20.0, spacing=0.01, per_side=60)  # 28,800 points at 1 cm
    events: list[dict] = []
    stage = spec.VoxelDownsampleStage(stage="voxel_downsample", max_points=5_000)
    state = stages.voxel_downsample(ModelState(cloud=PointCloud(xyz)), stage, ctx(events))
    record = state.metrics["lengths"][0]
    voxel = record["resolved"]["voxel_size"]
    assert 3_000 < len(state.cloud) <= 5_000, (voxel, len(state.cloud))
    assert voxel > 2 * 0.01 / 3**0.5  # the spacing rule alone (0.0058 m) keeps nearly every point
    assert "5,000 points" in record["notes"][0] and "coarser than the scans" in record["notes"][0]
    assert any(e["type"] == "warning" and "max_points" in e["message"] for e in events)
    explicit = stages.voxel_downsample(ModelState(cloud=PointCloud(xyz)),
                                       spec.VoxelDownsampleStage(stage="voxel_downsample", voxel_size=voxel), ctx())
    assert len(explicit.cloud) == len(state.cloud)
    # within budget, or without one, the rule is the spacing's as before
    free = stages.voxel_downsample(ModelState(cloud=PointCloud(xyz)),
                                   spec.VoxelDownsampleStage(stage="voxel_downsample", max_points=None), ctx())
    assert free.metrics["lengths"][0]["resolved"]["voxel_size"] == pytest.approx(0.01 / 3**0.5, rel=0.1)
    assert "notes" not in free.metrics["lengths"][0]


def test_the_budget_voxel_is_the_smallest_that_fits():
    from twin.ops.voxel import occupied_voxels, voxel_for_budget

    xyz = patches(extent=5.0, spacing=0.005, per_side=80)
    voxel = voxel_for_budget(xyz, 10_000, 0.001)
    assert occupied_voxels(xyz, voxel) <= 10_000 < occupied_voxels(xyz, voxel / 1.05)
    assert voxel_for_budget(xyz, 10**6, 0.001) == 0.001  # already within the budget
    assert auto.round_up_length(0.01234) == 0.013 and auto.round_up_length(0.012) == 0.012


def test_poisson_depth_answers_to_a_cell_budget():
    """The pavilion's 750 m2 at 3.6 mm spacing would mesh at depth 13 (64M finest cells on
    the surface, beyond 23 GB); with max_cells 20M the rule stops at depth 12 (16M cells)
    and says so; without an area or budget it is the spacing's rule as before."""
    dense = auto.CloudScale(spacing=0.0036, extent=25.78, points=9_850_000)
    free = auto.poisson_depth(dense, 1.1, 1.0)
    assert free.value == 13 and free.note is None
    capped = auto.poisson_depth(dense, 1.1, 1.0, max_cells=20_000_000, area=750.0)
    assert capped.value == 12
    assert "max_cells" in capped.note and "depth 12 instead" in capped.note
    # the sample pavilion as shipped (depth 11, 4M cells) is under the budget and unchanged
    pavilion = auto.CloudScale(spacing=0.018028, extent=25.78, points=547_949)
    assert auto.poisson_depth(pavilion, 1.1, 1.0, max_cells=20_000_000, area=750.0).value == 11


def test_surface_area_of_a_scanned_patch():
    from twin.ops.voxel import surface_area

    xyz = patches(extent=10.0, spacing=0.01, per_side=200)  # eight 2 m x 2 m patches at 1 cm
    assert surface_area(xyz, 0.01) == pytest.approx(32.0, rel=0.1)  # edges' voxels overcount a little


def test_the_mesh_stage_caps_its_depth_by_the_surface():
    """A small max_cells lowers the auto depth of a real Poisson run and warns."""
    xyz = patches(extent=2.0, spacing=0.01, per_side=60)
    state = ModelState(cloud=PointCloud(xyz))
    events: list[dict] = []
    state = stages.normals(state, spec.NormalsStage(stage="normals"), ctx(events))
    stage = spec.MeshStage(stage="mesh", max_cells=20_000)
    state = stages.mesh(state, stage, ctx(events))
    record = state.metrics["lengths"][-1]
    depth = record["resolved"]["depth"]
    cube = record["measured"]["extent"] * 1.1
    assert 2.88 / (cube / 2**depth) ** 2 <= 20_000 < 2.88 / (cube / 2 ** (depth + 1)) ** 2 * 1.5
    assert any("max_cells" in n for n in record["notes"])
