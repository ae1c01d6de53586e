"""Suggested elements (issue 17, points 1 and 2), measured against known truth.

Three buildings: a synthetic one (floor, platform, hall, 16 columns, one leaning, hipped
roof), a held-out synthetic one with another column count, spacing and radius, and the
sample pavilion's survey-2024 (its four stations placed by their true poses: the registered
cloud a processed model holds, without running the pipeline). For each: at least 95 % of
the columns found with the axis within 2 cm and the radius within 1 cm, and the draft's
regions, applied to every point, give floor, platform, walls and roof a point-level IoU of
at least 0.9 against the truth labels. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from tests.conftest import SAMPLES
from twin.ops.suggest.evaluate import AXIS_TOL, CLASSES, RADIUS_TOL, column_errors, columns_ok, draft_ious

MIN_FOUND = 0.95
MIN_IOU = 0.9


def _report(name: str, suggestion, errors, ious) -> None:
    share, _ = columns_ok(errors)
    print(f"\n{name}: {suggestion.input_points} points, thinned to {len(suggestion.thinned)} at "
          f"{suggestion.voxel * 100:.2f} cm; seconds {suggestion.seconds}")
    print(f"  columns found within {AXIS_TOL * 100:.0f} cm / {RADIUS_TOL * 100:.0f} cm: {share:.0%} of {len(errors)}; "
          f"worst axis {max(e['axis_m'] for e in errors) * 1000:.1f} mm, worst radius "
          f"{max(abs(e['radius_m']) for e in errors) * 1000:.1f} mm; suggested "
          f"{sum(1 for c in suggestion.candidates if c.kind == 'column')}")
    for c in CLASSES:
        r = ious[c]
        print(f"  {c:9s} IoU {r['iou']:.3f} (truth {r['truth_points']}, suggested {r['suggested_points']}: "
              f"{', '.join(r['elements'])})")


# -- the buildings -------------------------------------------------------------------------


@functools.cache
def _synthetic(which: str):
    from twin.ops.suggest import suggest_elements
    from twin.models.pointcloud import PointCloud
    from twin.sample.building import HELD_OUT, Layout, build, truth_class

    building = build(Layout() if which == "synthetic" else HELD_OUT, seed=1)
    origin = building.xyz.min(axis=0)
    suggestion = suggest_elements(PointCloud(building.xyz - origin, origin))
    truth = [(c.bottom, c.top, c.radius) for c in building.columns]
    errors = column_errors(suggestion.candidates, truth)
    ious = draft_ious(suggestion, building.xyz, truth_class(building.labels))
    _report(which, suggestion, errors, ious)
    return building, suggestion, errors, ious


@functools.cache
def _pavilion():
    from twin.io.registry import read_scan
    from twin.ops.suggest import suggest_elements
    from twin.models.pointcloud import PointCloud
    from twin.sample.geometry import SiteSpec
    from twin.sample.truth import label_points_by_truth, load_truth

    truth = load_truth(SAMPLES / "pavilion" / "truth" / "ground_truth.json")
    survey = truth.survey("survey-2024")
    xyz = np.vstack([st.to_utm(read_scan(truth.path(st.file)).world_xyz) for st in survey.stations])
    origin = np.floor(xyz.min(axis=0))
    suggestion = suggest_elements(PointCloud(xyz - origin, origin))
    spec = SiteSpec()
    o = truth.origin
    columns = [(np.array([x, y, spec.platform_height]) + o, np.array([x, y, spec.roof_lower_soffit_z]) + o,
                spec.column_radius) for _, x, y in spec.column_names()]  # survey-2024: none leans yet
    errors = column_errors(suggestion.candidates, columns)
    labels = label_points_by_truth(xyz, truth, "survey-2024")
    cls = np.array([{"courtyard": "floor", "steps": "stairs"}.get(str(x).split("-")[0], str(x).split("-")[0])
                    for x in labels], dtype=object)
    ious = draft_ious(suggestion, xyz, cls)
    _report("sample pavilion, survey-2024", suggestion, errors, ious)
    return suggestion, errors, ious


# -- the checks ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["synthetic", "held-out"])
def test_columns_found_with_their_axis_and_radius(which):
    building, suggestion, errors, _ = _synthetic(which)
    share, _ = columns_ok(errors)
    assert share >= MIN_FOUND, [(e["axis_m"], e["radius_m"]) for e in errors]
    suggested = sum(1 for c in suggestion.candidates if c.kind == "column")
    # no false column: the hall's outer corner was one (a 6 cm "column", fit residual 10-13 %
    # of its radius) until columns where two wall faces meet were left out
    assert suggested == len(building.columns)


@pytest.mark.parametrize("which", ["synthetic", "held-out"])
def test_the_leaning_column_leans_as_built(which):
    building, _, errors, _ = _synthetic(which)
    k = next(i for i, c in enumerate(building.columns) if c.lean_deg > 0)
    found = errors[k]["found"].figures
    assert found["lean_deg"] == pytest.approx(building.columns[k].lean_deg, abs=0.1)
    assert found["lean_azimuth_deg"] == pytest.approx(building.columns[k].lean_azimuth_deg, abs=5.0)
    others = [e["found"].figures["lean_deg"] for i, e in enumerate(errors) if i != k]
    assert max(others) < 0.1
    slices = found["diameter_by_slice"]
    assert len(slices) >= 6 and all(abs(s["diameter_m"] - 2 * building.columns[k].radius) < 0.01 for s in slices)


@pytest.mark.parametrize("which", ["synthetic", "held-out"])
def test_floor_platform_walls_roof_iou(which):
    _, _, _, ious = _synthetic(which)
    for c in ("floor", "platform", "wall", "roof"):
        assert ious[c]["iou"] >= MIN_IOU, (c, ious[c])


def test_walls_named_by_their_facing_with_their_deviation():
    _, suggestion, _, _ = _synthetic("synthetic")
    walls = {c.id: c for c in suggestion.candidates if c.kind == "wall"}
    assert {"wall-north", "wall-south", "wall-east", "wall-west"} <= set(walls)
    for w in walls.values():
        f = w.figures
        assert f["deviation_rms_mm"] < 4.0  # 2 mm noise on a flat wall
        assert f["deviation_map"]["rows_from_bottom"]
    roofs = {c.id for c in suggestion.candidates if c.kind == "roof-plane"}
    assert {"roof-north", "roof-south", "roof-east", "roof-west"} <= roofs


@pytest.mark.parametrize("which", ["synthetic", "held-out"])
def test_the_flight_of_steps_as_built(which):
    """Four steps of 0.2 m up the south side, or six of 0.183 m up the east side: found
    whole (its top step level with the platform), its figures within a centimetre or two
    of the build, and its points (treads, risers, side faces) labelled by it."""
    from twin.sample.building import HELD_OUT, Layout

    layout = Layout() if which == "synthetic" else HELD_OUT
    side, _, width, count, tread = layout.stairs
    _, suggestion, _, ious = _synthetic(which)
    flights = [c for c in suggestion.candidates if c.kind == "stairs"]
    assert len(flights) == 1, [c.figures for c in flights]
    f = flights[0].figures
    assert flights[0].id == f"stairs-{side}" and f["direction"] == side
    assert f["steps"] == count
    assert f["rise_m"] == pytest.approx(layout.platform_height / count, abs=0.005)
    assert f["going_m"] == pytest.approx(tread, abs=0.03)
    assert f["width_m"] == pytest.approx(width, abs=0.1)
    assert ious["stairs"]["iou"] >= MIN_IOU, ious["stairs"]


@pytest.mark.parametrize("which", ["synthetic", "held-out"])
def test_the_door_of_a_wall_seen_from_one_side(which):
    """The generated hall's walls are single faces: the south door (2.4 x 2.4 m, or 1.6 x
    2.8 m) is read from its outline, the face seen round it and nothing in front of it, and
    no other wall has an opening. Measured: 2.463 x 2.402 m and 1.640 x 2.794 m, centres
    within 2 cm of the built."""
    from twin.sample.building import HELD_OUT, Layout

    layout = Layout() if which == "synthetic" else HELD_OUT
    x, width, height = layout.door
    _, suggestion, _, _ = _synthetic(which)
    walls = {c.id: c.figures for c in suggestion.candidates if c.kind == "wall"}
    assert {k: len(f["openings"]) for k, f in walls.items()} == {k: int(k == "wall-south") for k in walls}
    door = walls["wall-south"]["openings"][0]
    assert door["kind"] == "door" and door["evidence"].startswith("shape")
    assert door["width_m"] == pytest.approx(width, abs=0.1)
    assert door["height_m"] == pytest.approx(height, abs=0.05)
    assert door["centre"][0] == pytest.approx(layout.origin[0] + x, abs=0.05)
    element = next(c for c in suggestion.candidates if c.kind == "door")
    assert element.id == "door-south" and element.figures["wall"] == "wall-south"
    from twin.layers.draft import describe

    assert "read from its outline alone" in describe(element)


def test_the_sample_pavilion():
    _, errors, ious = _pavilion()
    share, _ = columns_ok(errors)
    assert share >= MIN_FOUND
    for c in ("floor", "platform", "wall", "roof"):
        assert ious[c]["iou"] >= MIN_IOU, (c, ious[c])


def test_the_draft_relabels_the_pavilion_nearly_as_the_hand_written_layers_do():
    """The sample's hand-written layer file, applied to the same points, against the same
    truth: 0.991-0.996 per class. The draft, with no hand in it, comes within 0.05 of it in
    every class (measured: floor 0.963, platform 0.951, stairs 0.957, walls 0.962, columns
    0.975, roof 0.945)."""
    from twin.io.registry import read_scan
    from twin.layers import parse_layers
    from twin.ops.labelling import compile_layers, label_points
    from twin.ops.suggest.evaluate import class_iou
    from twin.sample.truth import label_points_by_truth, load_truth

    suggestion, _, draft = _pavilion()
    truth = load_truth(SAMPLES / "pavilion" / "truth" / "ground_truth.json")
    survey = truth.survey("survey-2024")
    xyz = np.vstack([st.to_utm(read_scan(truth.path(st.file)).world_xyz) for st in survey.stations])
    cls = np.array([{"courtyard": "floor", "steps": "stairs"}.get(str(x).split("-")[0], str(x).split("-")[0])
                    for x in label_points_by_truth(xyz, truth, "survey-2024")], dtype=object)
    compiled = compile_layers(parse_layers((SAMPLES / "pavilion" / "layers.yaml").read_text(encoding="utf-8")))
    origin = suggestion.thinned.origin
    labels = label_points(compiled, xyz - origin, origin)
    ids = np.array(compiled.element_ids, dtype=object)
    hand = class_iou(cls, np.where(labels >= 0, ids[np.maximum(labels, 0)], ""), CLASSES)
    print("\nsample pavilion IoU, hand-written layers against the draft: " + ", ".join(
        f"{c} {hand[c]['iou']:.3f}/{draft[c]['iou']:.3f}" for c in CLASSES))
    for c in CLASSES:
        assert draft[c]["iou"] >= hand[c]["iou"] - 0.05, (c, hand[c]["iou"], draft[c]["iou"])


def test_the_pavilion_walls_seen_from_one_side_have_no_opening():
    """The hall's north and east walls are seen from outside only and have no opening: the
    shadows the columns and the annex cast on them are not taken for one."""
    suggestion, _, _ = _pavilion()
    one_faced = [c for c in suggestion.candidates if c.kind == "wall" and c.figures["faces"] == 1]
    assert one_faced and all(c.figures["openings"] == [] for c in one_faced), \
        {c.id: c.figures["openings"] for c in one_faced}


def test_the_pavilion_flights_of_steps():
    """The pavilion's two flights (five steps of 0.18 m each, south 2.4 m wide, east 1.5 m)
    from four stations that see their treads at a grazing angle (340 of their 5,958 thinned
    points face up): both found whole, facing where they descend, and no planter or shrub
    taken for one. Measured: every step counted, widths 2.423 and 1.501 m, IoU 0.957."""
    suggestion, _, ious = _pavilion()
    flights = {c.figures["direction"]: c.figures for c in suggestion.candidates if c.kind == "stairs"}
    assert set(flights) == {"south", "east"}, flights
    for f in flights.values():
        assert f["steps"] == 5
        assert f["rise_m"] == pytest.approx(0.18, abs=0.005)
    assert flights["south"]["width_m"] == pytest.approx(2.4, abs=0.1)
    assert flights["east"]["width_m"] == pytest.approx(1.5, abs=0.1)
    assert ious["stairs"]["iou"] >= MIN_IOU, ious["stairs"]


def test_the_pavilion_walls_seen_inside_are_one_wall_each_with_their_openings():
    """The hall's walls are 0.3 m thick. The south wall's inner face is seen through the west
    window and the west wall's through the door: each wall is its two faces, and the south
    door and the west window are recorded on them where and as large as they are built (to
    about a raster cell, 4-5 cm here). The west wall's foot, hidden from the stations behind
    the annex, is no door: nothing lies in the wall's body there. (The north window is not
    recorded: the north wall is seen from outside only, where an opening is read from its
    outline, and the window's unseen outline runs on over the wall's whole height, into the
    shadows of what stands in front.) Each opening is also an element of its own, in its
    wall: the space of the doorway is the door's, its reveals the wall's."""
    from twin.sample.geometry import SiteSpec

    suggestion, _, _ = _pavilion()
    spec, tol = SiteSpec(), 0.05
    o = np.array(spec.origin_utm)
    walls = {c.id: c for c in suggestion.candidates if c.kind == "wall"}
    print("\nsample pavilion walls: " + "; ".join(
        f"{w.id} {w.figures['faces']} face(s) {w.figures.get('thickness_m', '')} {w.figures.get('openings', '')}"
        for w in walls.values()))
    south, west = walls["wall-south"], walls["wall-west"]
    for wall in south, west:
        assert wall.figures["faces"] == 2
        assert wall.figures["thickness_m"] == pytest.approx(spec.wall_thickness, abs=suggestion.voxel)
    (door,) = south.figures["openings"]
    assert door["kind"] == "door" and door["sill_m"] < tol
    assert door["centre"][0] == pytest.approx(o[0] + spec.door_centre_x, abs=tol)
    assert door["width_m"] == pytest.approx(spec.door_width, abs=tol)
    assert door["height_m"] == pytest.approx(spec.door_height, abs=tol)
    (window,) = west.figures["openings"]
    assert window["kind"] == "window"
    assert window["centre"][1] == pytest.approx(o[1] + sum(spec.window_west_y) / 2, abs=tol)
    assert window["width_m"] == pytest.approx(spec.window_west_y[1] - spec.window_west_y[0], abs=tol)
    assert window["sill_m"] == pytest.approx(spec.window_sill, abs=tol)
    assert window["height_m"] == pytest.approx(spec.window_head - spec.window_sill, abs=tol)
    assert not any(w.figures.get("openings") for w in walls.values() if w not in (south, west))
    # the draft's description tells the archivist the same
    from twin.layers.draft import describe

    text = describe(south)
    assert "both faces seen, 0.3" in text and "door 1.4" in text, text
    openings = {c.id: c for c in suggestion.candidates if c.kind in ("door", "window")}
    assert set(openings) == {"door-south", "window-west"}
    assert openings["door-south"].figures["wall"] == "wall-south"
    assert openings["window-west"].figures["wall"] == "wall-west"
    assert openings["door-south"].element_class == "E22_Human-Made_Object"


@pytest.mark.parametrize("which", ["synthetic", "held-out"])
def test_the_roof_ridge_and_hips_where_they_are_built(which):
    """The hipped roof's ridge (along x at y = 0, none where the roof comes to a point) and
    its four hips, from the eaves' corners up to the ridge's ends: each edge's ends within
    AXIS_TOL of the true ones, the ridge at its true height."""
    from twin.sample.building import HELD_OUT, Layout

    layout = Layout() if which == "synthetic" else HELD_OUT
    _, suggestion, _, _ = _synthetic(which)
    ex = max(abs(x) for x in layout.column_lines_x) + layout.roof_overhang
    ey = max(abs(y) for y in layout.column_rows_y) + layout.roof_overhang
    eave = layout.platform_height + layout.wall_height
    top = eave + ey * math.tan(math.radians(layout.roof_pitch_deg))
    o = np.array(layout.origin)
    ridge = [(np.array([-(ex - ey), 0.0, top]) + o, np.array([ex - ey, 0.0, top]) + o)] if ex > ey else []
    hips = [(np.array([sx * ex, sy * ey, eave]) + o, np.array([sx * (ex - ey), 0.0, top]) + o)
            for sx in (-1, 1) for sy in (-1, 1)]
    (roof,) = [c for c in suggestion.candidates if c.kind == "roof"]
    edges = roof.figures["edges"]
    print(f"\n{which} roof edges: " + "; ".join(
        f"{e['kind']} {'/'.join(e['between'])} {e['length_m']} m to {e['height_m']} m" for e in edges))
    for kind, truth in (("ridge", ridge), ("hip", hips)):
        found = [(np.array(e["start"]), np.array(e["end"])) for e in edges if e["kind"] == kind]
        assert len(found) == len(truth), (kind, edges)
        for a, b in truth:
            error = min(min(max(np.linalg.norm(s - a), np.linalg.norm(t - b)),
                            max(np.linalg.norm(s - b), np.linalg.norm(t - a))) for s, t in found)
            assert error <= AXIS_TOL, (kind, a, b, found)
    for e in edges:
        if e["kind"] == "ridge":
            assert e["height_m"] == pytest.approx(top + o[2], abs=suggestion.voxel)
    from twin.layers.draft import describe

    assert describe(roof).count("; hip between") == 4, describe(roof)


def test_the_pavilion_lower_roof_hips_run_where_they_are_built():
    """From the ground only the lower roof's eaves are seen: its hips are found where the
    slopes' seen parts meet, from the eaves' corners up, along the true hips (the lines in
    plan from the eaves' corners to the corners of the roof's flat top: the slopes all differ
    in pitch, so no hip runs at 45°); no ridge is claimed."""
    from twin.sample.geometry import SiteSpec

    suggestion, _, _ = _pavilion()
    spec = SiteSpec()
    o = np.array(spec.origin_utm)
    hips = [(np.array([spec.roof_lower_eave_x[i], spec.roof_lower_eave_y[j]]),
             np.array([spec.roof_lower_top_x[i], spec.roof_lower_top_y[j]])) for i in (0, 1) for j in (0, 1)]
    edges = [e for c in suggestion.candidates if c.kind == "roof" for e in c.figures.get("edges", [])]
    print("\nsample pavilion roof edges: " + "; ".join(
        f"{e['kind']} {'/'.join(e['between'])} {e['length_m']} m from {e['start']}" for e in edges))
    assert len(edges) >= 3 and all(e["kind"] == "hip" for e in edges)
    for e in edges:
        start, end = (np.array(e[k][:2]) - o[:2] for k in ("start", "end"))
        corner, top = min(hips, key=lambda h: np.linalg.norm(start - h[0]))
        assert np.linalg.norm(start - corner) <= 0.1  # from the eaves' corner
        along = (top - corner) / np.linalg.norm(top - corner)
        for p in start, end:  # on the true hip, in plan
            off = p - corner
            assert abs(along[0] * off[1] - along[1] * off[0]) <= AXIS_TOL, (e, corner, top)


def test_a_wrong_radius_or_axis_fails_the_check():
    """The measure can fail: the same suggestion against a truth 2 cm wider, or 3 cm off."""
    building, suggestion, _, _ = _synthetic("synthetic")
    wider = [(c.bottom, c.top, c.radius + 0.02) for c in building.columns]
    assert columns_ok(column_errors(suggestion.candidates, wider))[0] == 0.0
    moved = [(c.bottom + [0.03, 0, 0], c.top + [0.03, 0, 0], c.radius) for c in building.columns]
    assert columns_ok(column_errors(suggestion.candidates, moved))[0] == 0.0


def test_the_draft_completed_with_a_phase_and_a_material_is_a_valid_layer_file():
    import yaml

    from twin.layers import parse_layers
    from twin.layers.draft import draft_layers

    _, suggestion, _, _ = _synthetic("held-out")
    data = draft_layers(suggestion.candidates, title="draft", sources=["laser scan, 2025"], crs="EPSG:32648")
    parse_layers(yaml.safe_dump(data, sort_keys=False))  # valid as it stands
    data["phases"] = [{"id": "construction-1805", "type": "construction", "date": "1805"}]
    data["materials"] = [{"id": "ironwood", "label": "ironwood", "aat": "http://vocab.getty.edu/aat/300011914"}]
    for element in data["elements"]:
        element["phases"] = ["construction-1805"]
        element["materials"] = ["ironwood"]
    layers = parse_layers(yaml.safe_dump(data, sort_keys=False))
    ids = [e.id for e in layers.elements]
    assert len(ids) == len(set(ids)) and "floor-1" in ids and "column-01" in ids
    column = next(e for e in layers.elements if e.id == "column-01")
    assert "radius" in column.description and "lean" in column.description


def test_merge_into_keeps_what_is_there_and_proposes_the_rest():
    from twin.layers.draft import draft_layers
    from twin.ops.suggest.evaluate import COVERED, covered_shares
    from twin.models.layers import LayerFile

    _, suggestion, _, _ = _synthetic("synthetic")
    walls = [c for c in suggestion.candidates if c.kind == "wall"]
    existing = LayerFile.model_validate(draft_layers(walls, title="hand-drawn walls", sources=["drawing"]))
    shares = covered_shares(existing, suggestion.candidates, suggestion.thinned.xyz, suggestion.thinned.origin)
    left = [c for c, s in zip(suggestion.candidates, shares, strict=True) if s < COVERED]
    assert not any(c.kind == "wall" for c in left)
    assert any(c.kind == "column" for c in left) and any(c.kind == "floor" for c in left)


def test_too_few_points_is_refused_in_one_line():
    from twin.errors import UsageError
    from twin.ops.suggest import suggest_elements
    from twin.models.pointcloud import PointCloud

    with pytest.raises(UsageError, match="needs at least"):
        suggest_elements(PointCloud(np.random.default_rng(0).random((200, 3))))
    flat_noise = np.random.default_rng(0).random((5000, 3)) * [0.1, 0.1, 0.1]
    with pytest.raises(UsageError, match="nothing to suggest"):
        suggest_elements(PointCloud(flat_noise))


def test_circle_fit_recovers_a_known_circle():
    from twin.ops.suggest.columns import arc_coverage_deg, fit_circle

    rng = np.random.default_rng(3)
    a = rng.random(400) * math.pi  # half the circle only
    xy = np.column_stack([2.0 + 0.25 * np.cos(a), -1.0 + 0.25 * np.sin(a)]) + rng.normal(0, 0.001, (400, 2))
    centre, radius, rms = fit_circle(xy)
    assert np.allclose(centre, [2.0, -1.0], atol=0.002) and radius == pytest.approx(0.25, abs=0.002)
    assert rms < 0.002 and 170 < arc_coverage_deg(xy, centre) < 181
