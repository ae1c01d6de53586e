"""Generated scenes for testing registration: truth, variation, overlap, files."""

from __future__ import annotations

import json

import laspy
import numpy as np
import pytest
from typer.testing import CliRunner

from twin._deps import open3d
from twin.cli.app import app
from twin.errors import UsageError
from twin.io.registry import read_scan
from twin.sample.scenes import SCENE_KINDS, generate_scene, overlap, truth_relative, write_scene
from twin.sample.scenes.stations import doubled_stations, factors

BUILDINGS = [k for k in SCENE_KINDS if k != "statue"]
POINTS = 3000


@pytest.fixture(scope="module")
def scenes():
    # the statue at the full 30k: its patches shrink with the point budget (the spacing is fixed)
    return {
        kind: generate_scene(kind, 3, points_per_station=30_000 if kind == "statue" else POINTS) for kind in SCENE_KINDS
    }


def _distances(scene, k: int) -> np.ndarray:
    o3d = open3d()
    rs = o3d.t.geometry.RaycastingScene()
    mesh = scene.truth_mesh
    rs.add_triangles(
        o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.triangles.astype(np.uint32))
    )
    return rs.compute_distance(o3d.core.Tensor(scene.site_points(k).astype(np.float32))).numpy()


def test_same_seed_same_scene_other_seed_another():
    a, b = (generate_scene("hall", 5, points_per_station=1500) for _ in range(2))
    c = generate_scene("hall", 6, points_per_station=1500)
    assert len(a.stations) == len(b.stations)
    for sa, sb in zip(a.stations, b.stations, strict=True):
        assert np.array_equal(sa.xyz, sb.xyz) and np.array_equal(sa.intensity, sb.intensity)
        assert np.array_equal(sa.true_pose, sb.true_pose)
    assert np.array_equal(a.truth_mesh.vertices, b.truth_mesh.vertices)
    assert not np.allclose(a.stations[0].true_pose, c.stations[0].true_pose)
    assert a.truth_mesh.vertices.shape != c.truth_mesh.vertices.shape or not np.allclose(
        a.truth_mesh.vertices, c.truth_mesh.vertices
    )


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_points_moved_by_their_true_pose_lie_on_the_truth(scenes, kind):
    scene = scenes[kind]
    for k, st in enumerate(scene.stations):
        assert (
            st.xyz.dtype == np.float64 and st.intensity.dtype == np.uint16 and np.array_equal(st.scanner, np.zeros(3))
        )
        model = st.plan.model
        sigma = model.range_sigma + model.range_sigma_per_m * float(np.median(np.linalg.norm(st.xyz, axis=1)))
        d = _distances(scene, k)
        assert np.median(d) < 2 * sigma, (st.name, np.median(d), sigma)
        assert np.percentile(d, 95) < 6 * sigma, (st.name, np.percentile(d, 95), sigma)
    rel = truth_relative(scene, 1)
    assert np.allclose(rel[1], np.eye(4))
    moved = scene.stations[0].xyz[:50] @ rel[0][:3, :3].T + rel[0][:3, 3]  # into S2's frame, then to the site
    T1 = scene.stations[1].true_pose
    assert np.allclose(moved @ T1[:3, :3].T + T1[:3, 3], scene.site_points(0)[:50])


def test_station_counts_and_tilts(scenes):
    for kind, scene in scenes.items():
        lo, hi = (5, 8) if kind == "statue" else (3, 6)
        assert lo <= len(scene.stations) <= hi
    counts = {len(generate_scene("tower", s, points_per_station=300).stations) for s in range(6)}
    assert len(counts) > 1 and counts <= {3, 4, 5, 6}
    for n in (2, 40):
        assert len(generate_scene("tower", 1, points_per_station=150, stations=n).stations) == n
    for bad in (1, 41):
        with pytest.raises(UsageError):
            generate_scene("tower", 1, stations=bad)
    with pytest.raises(UsageError, match="unknown scene"):
        generate_scene("castle", 1)
    tilts = np.array([st.tilt_deg for k in BUILDINGS for st in scenes[k].stations])
    assert tilts.max() <= 3.0 + 1e-9 and tilts.max() > 1.0 and len(np.unique(np.round(tilts, 1))) > len(tilts) // 2
    statue = [st.tilt_deg for st in scenes["statue"].stations]
    assert max(statue) > 30.0  # hand-held: not levelled at all
    headings = [st.plan.heading_deg for k in BUILDINGS for st in scenes[k].stations]
    assert np.ptp(headings) > 90.0


def test_densities_differ_and_noise_varies(scenes):
    rng = np.random.default_rng(0)
    for _ in range(20):
        f = factors(rng, 5, (0.3, 1.0))
        assert 10**0.3 - 1e-9 <= f.max() / f.min() <= 10.0 + 1e-9
    for kind in BUILDINGS:
        n = np.array([len(st.xyz) / (2 if st.doubled else 1) for st in scenes[kind].stations])
        assert n.max() / n.min() > 1.6, (kind, n)
        sig = [st.plan.model.range_sigma for st in scenes[kind].stations]
        assert min(sig) >= 0.001 - 1e-12
        assert max(sig) <= 0.004 + 1e-12 and max(sig) > min(sig)


def test_doubling_when_the_seed_asks():
    asked = [doubled_stations(np.random.default_rng(s), 5, None).any() for s in range(200)]
    assert 0.2 < np.mean(asked) < 0.5
    assert not any(doubled_stations(np.random.default_rng(s), 5, False).any() for s in range(20))
    scene = generate_scene("courtyard", 2, points_per_station=1000, doubling=True)
    doubled = [st for st in scene.stations if st.doubled]
    assert doubled
    for st in scene.stations:
        n = len(st.xyz)
        if st.doubled:
            assert np.array_equal(st.xyz[: n // 2], st.xyz[n // 2 :])
        else:
            assert len(np.unique(st.xyz, axis=0)) == n


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_neighbours_overlap(scenes, kind):
    scene = scenes[kind]
    for i, j in scene.neighbours:
        share = overlap(scene, i, j)
        assert (0.1 if (i, j) in scene.weak else 0.3) <= share <= 1.0, (kind, i, j, share)
    assert overlap(scene, 0, 0) == 1.0


def test_statue_is_an_object_scanned_sub_millimetre(scenes):
    scene = scenes["statue"]
    assert scene.is_object
    assert 0.0002 < scene.nominal_spacing < 0.0008
    extent = np.ptp(scene.truth_mesh.vertices, axis=0)
    assert 0.18 < extent[2] < 0.42
    ranges = np.concatenate([np.linalg.norm(st.xyz, axis=1) for st in scene.stations])
    assert np.percentile(ranges, 5) > 0.1
    assert np.percentile(ranges, 95) < 1.0
    ups = np.array([st.true_pose[:3, 2] for st in scene.stations])  # instrument z axes in the site
    assert ups[:, 2].min() < 0.5


def test_cli_writes_readable_laz(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["sample", "--scene", "gate", "--seed", "4", "--out", str(tmp_path),
                                 "--stations", "3", "--points-per-station", "1000"])  # fmt: skip
    assert result.exit_code == 0, result.output
    root = tmp_path / "gate-4"
    truth = json.loads((root / "truth.json").read_text())
    scene = generate_scene("gate", 4, points_per_station=1000, stations=3)
    assert truth["kind"] == "gate" and len(truth["stations"]) == 3
    for st, rec in zip(scene.stations, truth["stations"], strict=True):
        cloud = read_scan(root / rec["file"])
        assert len(cloud) == rec["points"] == len(st.xyz)
        assert np.abs(cloud.world_xyz - st.xyz).max() < 1e-4
        assert np.allclose(np.array(rec["true_pose"]), st.true_pose, atol=1e-8)
        assert laspy.read(root / rec["file"]).header.point_count == len(st.xyz)
    bad = runner.invoke(app, ["sample", "--scene", "castle", "--out", str(tmp_path)])
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [
        "error: --scene castle: unknown scene; choose one of pavilion, gate, hall, tower, courtyard, statue"
    ]


def test_write_scene_statue_keeps_tenths_of_a_millimetre(tmp_path, scenes):
    root = write_scene(scenes["statue"], tmp_path)
    las = laspy.read(root / "S1.laz")
    xyz = np.c_[las.x, las.y, las.z]
    assert np.abs(xyz - scenes["statue"].stations[0].xyz).max() < 1e-5
