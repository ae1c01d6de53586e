"""The synthetic sample pavilion: generator, scanner simulation and ground truth."""

from __future__ import annotations

import datetime as dt
import filecmp
import hashlib
import shutil
from pathlib import Path

import laspy
import numpy as np
import pyproj
import pytest
from scipy.optimize import least_squares

from twin.sample import (
    SiteSpec,
    build_pavilion,
    default_deformations,
    generate,
    label_points_by_region,
    label_points_by_truth,
    load_truth,
    load_truth_mesh,
    read_truth_mesh,
    true_displacement,
)
from twin.sample.__main__ import main

REPO = Path(__file__).resolve().parents[2]
COMMITTED_TRUTH = REPO / "sample_scans" / "pavilion" / "truth" / "ground_truth.json"
SMALL_POINTS = 40_000


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small sample: 4 stations of 40k points in each of the two surveys."""
    out = tmp_path_factory.mktemp("sample")
    truth = generate(out, points_per_station=SMALL_POINTS, stations=4, seed=7)
    return truth


@pytest.fixture(scope="module")
def surveys(small):
    """Per survey: all its points in UTM and the element of each by the true mesh."""
    out = {}
    for survey in small.surveys:
        pts = np.concatenate([st.to_utm(read_station(small, st)[1]) for st in survey.stations])
        out[survey.id] = (pts, label_points_by_truth(pts, small, survey.id, max_distance=0.01))
    return out


def read_station(truth, station):
    las = laspy.read(truth.path(station.file))
    return las, np.c_[las.x, las.y, las.z]


# --------------------------------------------------------------------------- files


def test_every_listed_file_exists_and_reads(small):
    assert [s.id for s in small.surveys] == ["survey-2024", "survey-2025"]
    for survey in small.surveys:
        assert small.path(survey.mesh).is_file()
        assert [st.name for st in survey.stations] == ["S1", "S2", "S3", "S4"]
        for st in survey.stations:
            path = small.path(st.file)
            assert path.suffix == ".laz" and path.is_file()
            assert hashlib.sha256(path.read_bytes()).hexdigest() == st.sha256
            las, xyz = read_station(small, st)
            assert len(xyz) == st.point_count
            assert 0.9 * SMALL_POINTS < st.point_count < 1.1 * SMALL_POINTS
            h = las.header
            assert (h.version.major, h.version.minor) == (1, 4)
            assert h.point_format.id == 7
            assert np.allclose(h.scales, 0.001)
            assert h.creation_date == dt.date.fromisoformat(survey.date)
            assert {"red", "green", "blue", "intensity", "gps_time"} <= set(h.point_format.dimension_names)
            assert np.all(las.point_source_id == int(st.name[1:]))
            # colour as 8-bit x 256 (LAS spec), intensity spread over the range
            assert np.all(np.asarray(las.red) % 256 == 0) and np.asarray(las.red).max() > 100 * 256
            assert np.ptp(np.asarray(las.intensity)) > 10_000
            # a share of a percent or so are outliers, as the truth says
            assert 0.002 < st.outlier_count / st.point_count < 0.02


def test_control_station_is_in_utm_48n_with_crs(small):
    for survey in small.surveys:
        st = survey.stations[0]
        assert st.control and st.frame == "utm"
        assert np.allclose(st.pose_matrix(), np.eye(4))
        las, xyz = read_station(small, st)
        crs = las.header.parse_crs()
        assert crs is not None and crs.to_epsg() == 32648
        # offsets near the data keep a millimetre in the 32-bit integers
        assert np.all(np.abs(las.header.offsets[:2] - xyz[:, :2].mean(axis=0)) < 200.0)
        lon, lat = pyproj.Transformer.from_crs(32648, 4326, always_xy=True).transform(*xyz[:, :2].mean(axis=0))
        assert 16.3 < lat < 16.6 and 107.4 < lon < 107.7  # Hue
        assert 0.0 < xyz[:, 2].min() and xyz[:, 2].max() < 20.0  # elevations of a few metres


def test_other_stations_are_in_their_scanner_frame(small):
    for survey in small.surveys:
        for st in survey.stations[1:]:
            assert not st.control and st.frame == "scanner"
            las, xyz = read_station(small, st)
            assert las.header.parse_crs() is None
            assert np.all(np.abs(xyz) < 100.0)
            pose = st.pose_matrix()
            assert np.allclose(pose, st.instrument_matrix())
            assert np.allclose(pose[:3, 3], st.position_utm)
            # levelled to within half a degree, arbitrary heading
            assert np.degrees(np.arccos(pose[2, 2])) <= 0.5 + 1e-9
            assert st.tilt_deg <= 0.5


def test_true_poses_put_every_station_on_the_true_surface(small):
    for survey in small.surveys:
        mesh = load_truth_mesh(small, survey.id)
        for st in survey.stations:
            _, xyz = read_station(small, st)
            d = mesh.distance(st.to_utm(xyz))
            assert np.median(d) < 0.003, (survey.id, st.name, np.median(d))
            assert np.mean(d < 0.02) > 0.97


def test_truth_mesh_round_trips_and_opens_in_open3d(small, tmp_path):
    from twin._deps import open3d

    mesh = load_truth_mesh(small, "survey-2024")
    ref = build_pavilion()
    # the file stores local vertices as float32: they come back as exactly the float32 of the
    # built mesh (measured: equal; up to 4.8e-7 m from the float64 mesh). Margin: none.
    np.testing.assert_array_equal(mesh.vertices, ref.vertices.astype(np.float32).astype(np.float64))
    assert np.array_equal(mesh.triangles, ref.triangles)
    assert np.array_equal(mesh.element_index, ref.element_index)
    np.testing.assert_array_equal(mesh.origin, small.origin_utm)  # whole metres, written with 3 decimals
    assert small.element_ids() == ref.element_ids
    legacy = open3d().io.read_triangle_mesh(str(small.path(small.survey("survey-2024").mesh)))
    assert len(legacy.triangles) == len(ref.triangles)
    again = read_truth_mesh(small.path(small.survey("survey-2025").mesh))
    assert np.allclose(again.origin, small.origin_utm)


# --------------------------------------------------------------------------- deformations


def test_the_wall_bulges_by_the_stated_amount(small, surveys):
    (bulge,) = [d for d in small.deformations if d.type == "bulge"]
    assert bulge.element == "wall-north" and bulge.peak_m == pytest.approx(0.030)
    local = small.deformations_of("survey-2025")
    (b,) = [d for d in local if d.element == "wall-north"]
    n = np.asarray(b.normal)
    for survey_id, expected_peak in (("survey-2024", 0.0), ("survey-2025", 0.030)):
        pts, labels = surveys[survey_id]
        q = pts[labels == "wall-north"] - small.origin
        offset = (q - b.centre) @ n  # from the undeformed outer face
        outer = offset > -0.05
        q, offset = q[outer], offset[outer]
        profile = b.amplitude(q) / b.peak  # 0..1, the shape of the bump
        near = profile > 0.5
        assert near.sum() > 30
        peak = np.sum(offset[near] * profile[near]) / np.sum(profile[near] ** 2)
        assert peak == pytest.approx(expected_peak, abs=0.002)
        assert np.median(np.abs(offset[profile == 0])) < 0.003  # the rest of the wall did not move


def fit_leaning_cylinder(points: np.ndarray, pivot: np.ndarray, radius: float) -> np.ndarray:
    """Horizontal offset per metre of height (the lean as a vector) of a cylinder's axis."""
    h = points[:, 2] - pivot[2]
    xy = points[:, :2] - pivot[:2]

    def residual(p):
        centre = p[:2] + np.outer(h, p[2:])
        return np.linalg.norm(xy - centre, axis=1) - radius

    return least_squares(residual, np.zeros(4), loss="soft_l1", f_scale=0.005).x


def test_the_column_leans_by_the_stated_angle(small, surveys):
    (lean,) = [d for d in small.deformations if d.type == "lean"]
    assert lean.element == "column-A5" and lean.angle_deg == 1.0
    assert lean.top_displacement_m == pytest.approx(lean.height_m * np.sin(np.radians(1.0)))
    pivot = np.asarray(lean.pivot_utm) - small.origin
    for survey_id, angle in (("survey-2024", 0.0), ("survey-2025", 1.0)):
        pts, labels = surveys[survey_id]
        q = pts[labels == "column-A5"] - small.origin
        assert len(q) > 200
        p = fit_leaning_cylinder(q, pivot, SiteSpec().column_radius)
        assert np.linalg.norm(p[:2]) < 0.003  # the base stays put
        tilt = p[2:]
        top = np.linalg.norm(tilt) * lean.height_m
        assert top == pytest.approx(lean.height_m * np.tan(np.radians(angle)), abs=0.003)
        if angle:
            azimuth = np.degrees(np.arctan2(tilt[0], tilt[1])) % 360
            assert azimuth == pytest.approx(lean.azimuth_deg, abs=3.0)


def test_stable_elements_did_not_move(small, surveys):
    pts, labels = surveys["survey-2025"]
    before = load_truth_mesh(small, "survey-2024")
    d = before.distance(pts)
    moved = np.isin(labels, ["column-A5", "wall-north"])
    stable = (labels != "") & ~moved
    assert np.mean(d[stable] > 0.01) < 0.02
    assert np.percentile(d[labels == "column-A5"], 90) > 0.02
    shift = true_displacement(pts[stable][:5000], small, "survey-2025")
    assert np.all(shift == 0.0)


def test_true_displacement_at_the_bulge_centre(small):
    (bulge,) = [d for d in small.deformations if d.type == "bulge"]
    centre = np.asarray(bulge.centre_utm)[None, :]
    shift = true_displacement(centre, small, "survey-2025")
    assert np.allclose(shift[0], np.asarray(bulge.normal) * bulge.peak_m)
    assert np.all(true_displacement(centre, small, "survey-2024") == 0.0)


# --------------------------------------------------------------------------- regions


def test_element_regions_agree_with_the_true_mesh(small, surveys):
    pts, by_mesh = surveys["survey-2024"]
    by_region = label_points_by_region(pts, small)
    on_surface = by_mesh != ""
    assert np.mean(by_mesh[on_surface] == by_region[on_surface]) > 0.97
    ids = {e.id for e in small.elements}
    assert {"platform", "steps-south", "column-A1", "column-D6", "wall-north", "door", "roof-lower", "roof-upper",
            "stele", "annex", "courtyard"} <= ids  # fmt: skip
    for e in small.elements:
        for box in e.regions_utm:
            assert np.all(np.asarray(box.min) < np.asarray(box.max))
            assert 700_000 < box.min[0] < 800_000 and 1_800_000 < box.min[1] < 1_850_000


# --------------------------------------------------------------------------- determinism and CLI


def test_same_seed_same_bytes_other_seed_other_points(tmp_path):
    a = tmp_path / "a"
    generate(a, points_per_station=3000, stations=2, surveys=1, seed=11)
    first = tmp_path / "first"
    shutil.copytree(a, first)
    generate(a, points_per_station=3000, stations=2, surveys=1, seed=11)
    cmp = filecmp.dircmp(first / "pavilion", a / "pavilion")
    for sub in ("survey-2024", "truth"):
        c = filecmp.dircmp(first / "pavilion" / sub, a / "pavilion" / sub)
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        assert not mismatch and not errors and c.common_files
    assert not cmp.left_only and not cmp.right_only

    generate(tmp_path / "b", points_per_station=3000, stations=2, surveys=1, seed=12)
    x1 = laspy.read(a / "pavilion" / "survey-2024" / "S2.laz")
    x2 = laspy.read(tmp_path / "b" / "pavilion" / "survey-2024" / "S2.laz")
    assert len(x1.points) != len(x2.points) or not np.array_equal(x1.X, x2.X)


def test_the_pavilion_does_not_depend_on_the_seed(tmp_path):
    """Two seeds scan the same building: the seed moves the stations and the noise, never the pavilion,
    its deformations, its elements or its layers. Margin: none, the truth files are byte-identical."""
    a, b = build_pavilion(), build_pavilion()
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.triangles, b.triangles)
    assert {d.element for d in default_deformations()} == {"column-A5", "wall-north"}

    one = generate(tmp_path / "one", points_per_station=500, stations=2, surveys=2, seed=1)
    two = generate(tmp_path / "two", points_per_station=500, stations=2, surveys=2, seed=2)
    # the seed took effect: other station setups, other points (else this test would prove nothing)
    assert [s.position_utm for s in one.surveys[1].stations] != [s.position_utm for s in two.surveys[1].stations]
    assert not filecmp.cmp(one.path("survey-2025/S2.laz"), two.path("survey-2025/S2.laz"), shallow=False)
    # ... and left the building as it was
    for name in ("truth/pavilion-2024.ply", "truth/pavilion-2025.ply", "layers.yaml"):
        assert filecmp.cmp(one.path(name), two.path(name), shallow=False), name
    assert one.elements == two.elements  # ids, materials and regions
    assert one.deformations == two.deformations
    assert [s.mesh for s in one.surveys] == [s.mesh for s in two.surveys]
    # the 2024 truth is build_pavilion's mesh, exactly as the file's float32 stores it (measured: equal,
    # 4.8e-7 m from the float64 mesh; margin: none)
    written = read_truth_mesh(one.path(one.surveys[0].mesh))
    assert np.array_equal(written.triangles, a.triangles)
    np.testing.assert_array_equal(written.vertices, a.vertices.astype(np.float32).astype(np.float64))


def test_cli_writes_a_sample_and_refuses_bad_arguments(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--points-per-station", "2000", "--stations", "1", "--surveys", "1", "--quiet"]) == 0
    truth = load_truth(tmp_path / "pavilion" / "truth" / "ground_truth.json")
    assert [st.name for st in truth.survey("survey-2024").stations] == ["S1"]
    assert not (tmp_path / "pavilion" / "survey-2025").exists()
    assert main(["--out", str(tmp_path), "--points-per-station", "10", "--quiet"]) == 2
    assert "points per station" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--surveys", "3"])


# --------------------------------------------------------------------------- the committed sample


def test_committed_sample_validates_and_its_files_exist():
    truth = load_truth(COMMITTED_TRUTH)
    assert truth.crs.epsg == 32648
    assert [s.id for s in truth.surveys] == ["survey-2024", "survey-2025"]
    assert {d.id for d in truth.deformations} == set(truth.survey("survey-2025").deformations)
    total = 0
    for path in truth.files():
        assert path.is_file(), path
        total += path.stat().st_size
    assert total < 8_000_000
    for survey in truth.surveys:
        for st in survey.stations:
            assert hashlib.sha256(truth.path(st.file).read_bytes()).hexdigest() == st.sha256
            header = laspy.open(truth.path(st.file)).header
            assert header.point_count == st.point_count
            assert header.creation_date == dt.date.fromisoformat(survey.date)
