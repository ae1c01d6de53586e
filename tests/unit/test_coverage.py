"""Coverage of a footprint by a model's points, its occlusion holes, and the scanner stations
suggested to see them (issue 16.2), against buildings whose coverage is known:

- a turned box sampled whole reads full coverage; with patches of its walls (one round a
  corner) and roof left out, each hole is found where its patch is, with the patch's area;
- a courtyard building: its courtyard's walls face into the courtyard and are sampled too;
- a box scanned by twin's scanner simulator from four stations, a screen wall in front of
  its south face: the screen's shadow is found where rays cast against the scene's mesh
  say no station sees the wall; the flat roof, which no ground station sees, is out of
  reach; the suggested station sees the shadow by an independent ray cast, and scanning
  again from there with the simulator fills it.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.coverage_scene import (
    RoofPatch,
    WallPatch,
    occluded_site,
    prism_points,
    rotated_rectangle,
    scan_all,
    station,
    unseen_by,
    wall_samples,
)
from twin.ops.coverage import measure_coverage
from twin.ops.coverage.stations import suggest_stations

FOOTPRINT = rotated_rectangle((0.0, 0.0), (12.0, 8.0), 20.0)  # faces: S (160°), E, N, W
HEIGHT = 6.0
WALL_AREA = 2 * (12 + 8) * HEIGHT
PATCH_E = WallPatch(face=1, u=(2.0, 4.5), z=(1.0, 2.5))  # 3.75 m² on the east face
PATCH_SW = [WallPatch(face=3, u=(6.5, 8.0), z=(3.0, 5.0)), WallPatch(face=0, u=(0.0, 2.0), z=(3.0, 5.0))]  # round
# the south-west corner, where the unrolled walls close on themselves: 7 m² in one hole
PATCH_ROOF = RoofPatch(u=(4.0, 7.0), v=(2.0, 4.5))  # 7.5 m²


def _centre(patches: list[WallPatch]) -> np.ndarray:
    areas = np.array([p.area for p in patches])
    return (np.array([p.centre(FOOTPRINT) for p in patches]) * areas[:, None]).sum(axis=0) / areas.sum()


def test_a_building_sampled_whole_reads_full_coverage():
    xyz = prism_points(FOOTPRINT, 0.0, HEIGHT, density=400.0, seed=1)
    found = measure_coverage(xyz, [[FOOTPRINT]])
    f = found.figures
    cell = f.settings.cell_m
    assert f.walls >= 0.995 and f.roof >= 0.995 and f.holes == [], (f.walls, f.roof, f.holes)
    assert f.wall_area_m2 == pytest.approx(WALL_AREA, rel=0.02) and f.roof_area_m2 == pytest.approx(96.0, rel=0.02)
    assert [(x.direction, x.azimuth_deg) for x in f.faces] == [("S", 160.0), ("E", 70.0), ("N", 340.0), ("W", 250.0)]
    assert all(abs(x.ground_z) <= cell and abs(x.top_z - HEIGHT) <= cell for x in f.faces), f.faces
    assert all(x.top_from == "points" for x in f.faces) and not f.openings_detected
    assert measure_coverage(xyz + [500.0, 0.0, 0.0], [[FOOTPRINT]]) is None  # no point near the footprint


def test_missing_patches_are_found_where_they_are_and_as_large():
    xyz = prism_points(FOOTPRINT, 0.0, HEIGHT, density=400.0, seed=2, wall_patches=[PATCH_E, *PATCH_SW],
                       roof_patches=[PATCH_ROOF])
    origin = np.array([775200.0, 1822600.0, 5.0])  # reported in the survey CRS
    f = measure_coverage(xyz, [[FOOTPRINT]], origin=origin).figures
    cell = f.settings.cell_m
    walls = {tuple(h.faces): h for h in f.holes if h.surface == "wall"}
    roofs = [h for h in f.holes if h.surface == "roof"]
    assert sorted(walls) == [(0, 3), (1,)] and len(roofs) == 1, f.holes

    east = walls[(1,)]
    assert np.linalg.norm(np.array(east.centroid) - origin - PATCH_E.centre(FOOTPRINT)) < 0.1
    assert east.area_m2 == pytest.approx(PATCH_E.area, rel=0.1) and east.direction == "E"
    assert east.above_ground == pytest.approx(PATCH_E.z, abs=1.5 * cell)
    assert east.width_m == pytest.approx(2.5, abs=cell)

    corner = walls[(0, 3)]
    assert np.linalg.norm(np.array(corner.centroid) - origin - _centre(PATCH_SW)) < 0.1
    assert corner.area_m2 == pytest.approx(sum(p.area for p in PATCH_SW), rel=0.1)
    assert corner.direction == "S" and corner.width_m == pytest.approx(3.5, abs=2 * cell)
    assert len(corner.plan) == 2  # a stretch of outline on each face

    roof = roofs[0]
    e_u, e_v = FOOTPRINT[1] - FOOTPRINT[0], FOOTPRINT[3] - FOOTPRINT[0]
    centre = FOOTPRINT[0] + e_u / 12.0 * 5.5 + e_v / 8.0 * 3.25
    assert np.linalg.norm(np.array(roof.centroid[:2]) - origin[:2] - centre) < 0.1
    assert roof.centroid[2] == pytest.approx(HEIGHT + origin[2], abs=0.05)  # on the plane of the roof round it
    assert roof.area_m2 == pytest.approx(PATCH_ROOF.area, rel=0.1)

    missing = PATCH_E.area + sum(p.area for p in PATCH_SW)
    assert f.walls == pytest.approx(1 - missing / WALL_AREA, abs=0.01)
    assert f.roof == pytest.approx(1 - PATCH_ROOF.area / 96.0, abs=0.015)


def test_a_courtyard_has_walls_facing_into_it():
    outer = rotated_rectangle((0.0, 0.0), (20.0, 14.0), 0.0)
    court = rotated_rectangle((1.0, 0.5), (8.0, 6.0), 0.0)[::-1]  # clockwise: its walls face into it
    rng = np.random.default_rng(3)
    plan = rng.random((rng.poisson(280 * 400), 2)) * [20, 14] - [10, 7]
    plan = plan[~((np.abs(plan[:, 0] - 1.0) < 4.0) & (np.abs(plan[:, 1] - 0.5) < 3.0))]
    xyz = np.vstack([prism_points(outer, 0.0, 4.0, roof=False, seed=4),
                     prism_points(court, 0.0, 4.0, roof=False, seed=5),
                     np.column_stack([plan, np.full(len(plan), 4.0)])])
    f = measure_coverage(xyz, [[outer, court]]).figures
    assert f.walls >= 0.99 and f.roof >= 0.99 and f.holes == []
    assert f.roof_area_m2 == pytest.approx(280 - 48, rel=0.02)
    assert f.wall_area_m2 == pytest.approx((2 * (20 + 14) + 2 * (8 + 6)) * 4.0, rel=0.03)
    inner = [x for x in f.faces if x.ring == 1]
    assert len(inner) == 4 and {x.direction for x in inner} == {"N", "E", "S", "W"}
    south_of_court = next(x for x in inner if abs(x.start[1] - x.end[1]) < 1e-6 and x.start[1] < 0.5)
    assert south_of_court.direction == "N"  # the courtyard's south wall looks north, into the courtyard


@pytest.fixture(scope="module")
def site():
    return occluded_site()


@pytest.fixture(scope="module")
def measured(site):
    result = measure_coverage(site.points, [[site.footprint]], scanners=site.positions, scanner_of=site.station_of)
    stations, unseen = suggest_stations(result, site.points)
    return result, stations, unseen


@pytest.fixture(scope="module")
def truth(site, measured):
    """Centres of a 5 cm grid on the south face, and which of them no station sees."""
    points, normal = wall_samples(site.footprint, 0, site.height, 0.05)
    return points, normal, unseen_by(site.scene, site.positions, points, normal)


def test_the_screen_shadow_is_the_hole(site, measured, truth):
    result = measured[0]
    f = result.figures
    points, _, unseen = truth
    true_area = unseen.sum() * 0.05 * 0.05
    true_centre = points[unseen].mean(axis=0)
    assert true_area > 10.0  # the screen does hide a good part of the face
    (hole,) = [h for h in f.holes if h.surface == "wall"]
    assert hole.faces == [0] and hole.direction == "S"
    assert np.linalg.norm(np.array(hole.centroid) - true_centre) < 0.2, (hole.centroid, true_centre)
    assert hole.area_m2 == pytest.approx(true_area, rel=0.1)
    south = f.faces[0]
    assert south.coverage == pytest.approx(1 - true_area / south.area_m2, abs=0.02)
    assert all(x.coverage >= 0.99 for x in f.faces[1:]) and f.openings_detected


def test_a_flat_roof_is_out_of_reach_from_the_ground(measured):
    result, stations, unseen = measured
    (roof,) = [h for h in result.figures.holes if h.surface == "roof"]
    assert result.figures.roof < 0.01 and roof.area_m2 == pytest.approx(96.0, rel=0.03)
    assert unseen == [roof.id] and roof.seen_by_suggested == 0.0
    assert all(roof.id not in [v.hole for v in s.sees] for s in stations)


def _wall_station(measured):
    result, stations, _ = measured
    (hole,) = [h for h in result.figures.holes if h.surface == "wall"]
    assert len(stations) == 1 and [v.hole for v in stations[0].sees] == [hole.id], stations
    assert stations[0].sees[0].share >= 0.9 and hole.seen_by_suggested >= 0.9
    return stations[0], hole


def test_the_suggested_station_sees_the_hole_by_an_independent_ray_cast(site, measured, truth):
    import shapely

    suggested, _ = _wall_station(measured)
    eye = np.array([suggested.x, suggested.y, suggested.scanner_z])
    where = shapely.Point(suggested.x, suggested.y)
    assert not shapely.Polygon(site.footprint).intersects(where) and shapely.Polygon(site.screen).distance(where) > 0.3
    points, normal, unseen = truth
    hidden = points[unseen]
    assert unseen_by(site.scene, eye[None], hidden, normal).mean() < 0.1  # it sees over 90 % of what nobody saw


def test_scanning_from_the_suggested_station_fills_the_hole(site, measured):
    suggested, hole = _wall_station(measured)
    cells = measured[0].holes[hole.id - 1].points
    extra = station(site.scene, np.array([suggested.x, suggested.y, suggested.scanner_z]), cells[:, :2],
                    float(cells[:, 2].max()), 0.12, key=7)
    points, owner = scan_all(site, [extra], seed=11)
    again = measure_coverage(np.vstack([site.points, points]), [[site.footprint]],
                             scanners=np.vstack([site.positions, extra.position]),
                             scanner_of=np.concatenate([site.station_of, owner + len(site.stations)])).figures
    left = sum(h.area_m2 for h in again.holes if h.surface == "wall")
    assert left < 0.1 * hole.area_m2 and again.faces[0].coverage >= 0.98, again.holes


def test_each_point_finds_its_scanner_in_the_registration_record():
    """A processed model's points carry their station's number (point_source_id, 1.. in name
    order); the registration records each station's number and its scanner in the survey CRS."""
    from twin.inventory.coverage import scanner_of_points
    from twin.models.pointcloud import PointCloud

    origin = np.array([775200.0, 1822600.0, 5.0])
    cloud = PointCloud(np.zeros((5, 3)), origin, {"point_source_id": np.array([1, 2, 3, 2, 7], dtype=np.uint16)})
    provenance = {"registration": {"station_index": {"S1": 1, "S2": 2, "S3": 3},
                                   "scanner_positions": {"S1": [775190.0, 1822590.0, 6.5], "S2": None,
                                                         "S3": [775210.0, 1822610.0, 6.6]}}}
    positions, owner = scanner_of_points(provenance, cloud)
    assert owner.tolist() == [1, -1, 3, -1, -1]  # S2's scanner is not known, there is no station 7
    assert positions[1] == pytest.approx([-10.0, -10.0, 1.5]) and positions[3] == pytest.approx([10.0, 10.0, 1.6])
    assert scanner_of_points({}, cloud) == (None, None)
