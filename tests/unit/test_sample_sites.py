"""Generated sites (twin.sample.sites): several pavilion-like buildings in one survey."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import tracemalloc

import laspy
import numpy as np
import pytest

from twin.layers.load import parse_layers
from twin.models.layers import region_kind
from twin.sample import load_truth_mesh
from twin.sample.geometry import SiteSpec
from twin.sample.sites import generate_site, load_site, plan_site
from twin.sample.sites.place import turn_words
from twin.sample.sites.plan import KEPT_FIELDS, PLAN_FIELDS, X_FIELDS, Y_FIELDS, Z_FIELDS

POINTS = 60_000  # in all: 3 buildings x 2 stations, about 10,000 a station


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return generate_site(tmp_path_factory.mktemp("site"), buildings=3, stations=2, points=POINTS, seed=5)


def read_utm(truth, station) -> np.ndarray:
    las = laspy.read(truth.path(station.file))
    return station.to_utm(np.c_[las.x, las.y, las.z])


# --------------------------------------------------------------------------- the plan


def test_every_field_of_the_pavilion_is_stretched_or_kept_on_purpose():
    named = [*X_FIELDS, *Y_FIELDS, *Z_FIELDS, *PLAN_FIELDS, *KEPT_FIELDS]
    assert sorted(named) == sorted(f.name for f in dataclasses.fields(SiteSpec)), "a new SiteSpec field: classify it"
    assert len(named) == len(set(named))


def test_plots_tile_rows_without_overlap_and_the_site_grows_with_the_buildings():
    for n in (2, 5, 20):
        plans = plan_site(n, seed=11)
        assert [p.id for p in plans][:2] == ["b01", "b02"] and len(plans) == n
        assert plans[0].scale == (1.0, 1.0, 1.0) and plans[0].turns == 0  # building 1 is the sample pavilion
        for a, b in itertools.combinations(plans, 2):
            (ax0, ax1), (ay0, ay1) = a.plot
            (bx0, bx1), (by0, by1) = b.plot
            assert ax1 <= bx0 + 1e-9 or bx1 <= ax0 + 1e-9 or ay1 <= by0 + 1e-9 or by1 <= ay0 + 1e-9, (n, a.id, b.id)
        # each courtyard is its plot: same size once turned, centred on the building's origin
        for p in plans:
            hx, hy = p.spec.courtyard_half[:: -1 if p.turns % 2 else 1]
            (x0, x1), (y0, y1) = p.plot
            assert np.allclose([x1 - x0, y1 - y0], [2 * hx, 2 * hy])
            assert np.allclose(p.centre, [(x0 + x1) / 2, (y0 + y1) / 2])
    area = {n: sum((p.plot[0][1] - p.plot[0][0]) * (p.plot[1][1] - p.plot[1][0]) for p in plan_site(n, seed=11))
            for n in (5, 20)}
    assert 3.0 < area[20] / area[5] < 5.5  # four times the buildings, about four times the ground
    plans = plan_site(20, seed=11)
    assert len({p.turns for p in plans}) == 4 and len({p.scale for p in plans}) == 20  # varied, all of them


def test_compass_words_turn_with_the_building():
    assert turn_words("wall-north", 1) == "wall-west"
    assert turn_words("South flight of steps; the west annex", 2) == "North flight of steps; the east annex"
    assert turn_words("southeast, northern", 1) == "southeast, northern"  # whole words only
    assert turn_words("wall-east", 4) == "wall-east"


# --------------------------------------------------------------------------- the written site


def test_plots_and_footprints_do_not_overlap(site):
    assert [b.id for b in site.buildings] == ["b01", "b02", "b03"]
    for b in site.buildings:
        assert b.plot_utm.contains(b.footprint_utm), b.id
    for a, b in itertools.combinations(site.buildings, 2):
        assert not a.plot_utm.overlaps(b.plot_utm), (a.id, b.id)
        assert not a.footprint_utm.overlaps(b.footprint_utm), (a.id, b.id)
    again = load_site(site.root)
    assert again == site and again.point_count == site.point_count
    assert 0.9 * POINTS < site.point_count < 1.1 * POINTS


def test_every_station_file_is_listed_once_with_its_hash_and_count(site):
    names, numbers = [], []
    for b in site.buildings:
        truth = site.building_truth(b.id)
        assert truth.structure.id == b.id and [s.id for s in truth.surveys] == [site.survey.id]
        assert np.allclose(truth.origin, b.origin_utm)
        for st in truth.surveys[0].stations:
            path = truth.path(st.file)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == st.sha256
            las = laspy.read(path)
            assert len(las.points) == st.point_count > 5_000
            numbers += list(np.unique(las.point_source_id))
            names.append(st.name)
            assert st.name.startswith(f"{b.id}-S") and path.stem == st.name  # unique names: one survey, one folder each
    assert len(set(names)) == len(names) == 6
    assert numbers == list(range(1, 7))  # one source id per station, across the site
    assert sorted(p.name for p in site.station_files()) == sorted(f"{n}.laz" for n in names)


def test_one_control_station_in_utm_and_the_others_in_their_own_frames(site):
    for b in site.buildings:
        for st in site.building_truth(b.id).surveys[0].stations:
            header = laspy.open(site.building_truth(b.id).path(st.file)).header
            if st.name == "b01-S1":
                assert st.control and st.frame == "utm" and np.allclose(st.pose_matrix(), np.eye(4))
                assert header.parse_crs().to_epsg() == 32648
            else:
                assert not st.control and st.frame == "scanner" and header.parse_crs() is None
                assert np.allclose(st.pose_matrix(), st.instrument_matrix()) and st.tilt_deg <= 0.5


def test_true_poses_put_every_station_on_the_buildings_true_surfaces(site):
    """Each building's truth: its stations' true poses map their points onto the true meshes within the noise
    (measured on this fixture: median 0.85-1.0 mm, 97.5-98.3 % within 2 cm, outliers and mixed pixels making the
    rest; limits 3 mm and 97 %), most of them onto the building's own (92-98 %, limit 85 %: the rest is its
    neighbours, in range and in its window)."""
    meshes = {b.id: load_truth_mesh(site.building_truth(b.id), site.survey.id) for b in site.buildings}
    for b in site.buildings:
        truth = site.building_truth(b.id)
        for st in truth.surveys[0].stations:
            utm = read_utm(truth, st)
            d = np.min([m.distance(utm) for m in meshes.values()], axis=0)
            assert np.median(d) < 0.003, (st.name, np.median(d))
            assert np.mean(d < 0.02) > 0.97, st.name
            assert np.mean(meshes[b.id].distance(utm) < 0.02) > 0.85, st.name


def test_sides_are_named_as_they_face_and_the_layers_follow(site):
    """A turned building's walls and steps are named for the way they face, in its truth and its layers."""
    turned = [b for b in site.buildings if b.quarter_turns % 4]
    assert turned, "the fixture's seed should turn at least one building"
    for b in site.buildings:
        truth = site.building_truth(b.id)
        walls = {e.id: e for e in truth.elements if e.kind == "wall"}
        assert sorted(walls) == ["wall-east", "wall-north", "wall-south", "wall-west"]

        def centre(e):
            return np.mean([np.add(r.min, r.max) / 2 for r in e.regions_utm], axis=0)[:2]

        middle = np.mean([centre(e) for e in walls.values()], axis=0)
        toward = {"wall-east": (1, 0), "wall-north": (0, 1), "wall-west": (-1, 0), "wall-south": (0, -1)}
        for wid, e in walls.items():
            assert np.dot(centre(e) - middle, toward[wid]) > 1.0, (b.id, b.quarter_turns, wid)
        layers = parse_layers((site.root / b.id / "layers.yaml").read_text(encoding="utf-8"), source="layers.yaml")
        leaf = {e.id for e in layers.elements if region_kind(e.region) != "union"}
        assert leaf == {e.id for e in truth.elements}, b.id


def test_same_arguments_same_bytes(tmp_path):
    for name in ("a", "b"):
        generate_site(tmp_path / "x", buildings=2, stations=2, points=4_000, seed=9)
        (tmp_path / "x").rename(tmp_path / name)  # the same folder both times: the truth records the command
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 1 + 2 * 5  # site.json; per building 2 stations, truth mesh and file, layers
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


# --------------------------------------------------------------------------- streaming


def test_generating_four_times_the_points_does_not_take_more_memory(tmp_path):
    """Stations are simulated and written a batch at a time: the peak of the arrays the generator holds
    (tracemalloc: numpy's and Python's; native buffers are the bench's RSS figure, ./run bench scale) does
    not grow with the points. Measured with 4,096-ray batches: 14.46 MB at 30,000 and at 120,000 points (equal
    within 0.01 MB); holding the extra 90,000 points' coordinates alone would add 2.2 MB. Margin: 0.5 MB."""
    generate_site(tmp_path / "warm", buildings=2, stations=2, points=2_000, seed=3)  # imports and caches
    peaks = {}
    for points in (30_000, 120_000):
        tracemalloc.start()
        try:
            made = generate_site(tmp_path / str(points), buildings=2, stations=2, points=points, seed=3,
                                 batch_rays=4096)
            peaks[points] = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
        assert 0.9 * points < made.point_count < 1.1 * points
    assert peaks[120_000] - peaks[30_000] < 0.5, peaks
