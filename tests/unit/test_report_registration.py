"""The registration record as a surveyor reads it: the view of a model's record, the
station graph (plan view, links coloured by error) and the report's section, on
hand-made records of the schema the ``register`` stage writes."""

from __future__ import annotations

import copy
import io
import math

import numpy as np
import pytest

from twin.render.graph import FLAG_COLOUR, NO_FIGURE_COLOUR, GraphLink, error_classes, link_colour, station_graph
from twin.report.registration import graph_figure, section, view_from_record

E0, N0 = 749_000.0, 1_821_000.0  # UTM 48N, near Hue: large coordinates on purpose
POSITIONS = {"S1": [E0, N0, 11.5], "S2": [E0 + 24.0, N0, 11.6], "S3": [E0 + 24.0, N0 + 18.0, 11.4],
             "S4": [E0, N0 + 18.0, 14.5]}
TOLERANCE = 6.0
# (source, target, rms_mm, in_tree, flags): one link in each colour class, a flagged loop
LINKS = (("S1", "S2", 1.2, True, []), ("S2", "S3", 3.1, True, []), ("S3", "S4", 5.4, True, []),
         ("S1", "S4", 9.0, False, ["only 41% of the overlap lies within 6.0 mm: check for movement between the "
                                   "scans (vegetation, people, vehicles) or a poor alignment"]),
         ("S1", "S3", 2.5, False, []))


def _link(source, target, rms, in_tree, flags) -> dict:
    return {"source": source, "target": target, "overlap_source": 0.62, "overlap_target": 0.48, "rms_mm": rms,
            "mean_mm": rms * 0.8, "within": 0.97 if rms < TOLERANCE else 0.41, "tolerance_mm": TOLERANCE,
            "strength": {"X": 0.52, "Y": 0.47, "Z": 0.81}, "points": 12_345, "in_tree": in_tree, "flags": flags}


def record() -> dict:
    """A registration record of four stations: provenance["registration"]."""
    names = list(POSITIONS)
    links = [_link(*k) for k in LINKS]
    stations = []
    for n in names:
        mine = [f"{k['source']} - {k['target']}" for k in links if n in (k["source"], k["target"])]
        stations.append({"name": n, "fitness": 0.71, "rmse_mm": 2.4, "links": mine, "runner_up": None, "flags": []})
    stations[2]["runner_up"] = {"partner": "S2", "rotation_deg": 180.0, "shift_m": 0.21, "support": 0.55,
                                "chosen_support": 0.58}
    stations[2]["flags"] = ["near tie with an alternative 180.0 deg / 0.21 m away (support 0.55 against 0.58): the "
                            "building's symmetry or repetition; check the station in the report's plan"]
    loops = [{"link": "S1 - S4", "stations": ["S4", "S3", "S2", "S1"], "rotation_deg": 0.02, "shift_mm": 14.2},
             {"link": "S1 - S3", "stations": ["S3", "S2", "S1"], "rotation_deg": 0.004, "shift_mm": 1.3}]
    quality = {"bundle_rms_mm": 2.9, "max_loop_mm": 14.2,
               "flags": ["loop S4 -> S3 -> S2 -> S1 does not close: 14.2 mm (0.020 deg) by link S1 - S4"],
               "loops": loops, "links": links, "stations": stations,
               "lengths": {"unit": 0.02, "tolerance": 0.006}}
    return {"reference": "S1", "station_index": {n: i + 1 for i, n in enumerate(names)},
            "stations": {n: {"transform": np.eye(4).tolist(), "fitness": 0.71, "inlier_rmse": 0.0024,
                             "correspondences": 5000} for n in names},
            "scanner_positions": copy.deepcopy(POSITIONS), "edges": [], "lengths": {"unit": 0.02, "spacing": 0.005, "extent": 40.0},
            "quality": quality}


def _image(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def test_view_reads_every_figure_and_collects_the_flags():
    view = view_from_record(record(), "pavilion", "2024")
    assert [k.name for k in view.links] == ["S1 - S2", "S2 - S3", "S3 - S4", "S1 - S4", "S1 - S3"]
    assert view.reference == "S1" and view.station_count == 4 and view.tolerance_mm == TOLERANCE
    assert view.bundle_rms_mm == 2.9 and view.max_loop_mm == 14.2
    assert [f.subject for f in view.flags] == ["survey", "link S1 - S4", "station S3"]
    assert view.warnings == 3
    assert view.flagged_links() == {"S1 - S4"} and view.flagged_stations() == {"S3"}
    line = view.survey_line()
    assert "bundle RMS 2.9 mm over 5 links" in line and "worst loop closure 14.2 mm (2 loops" in line
    assert "link S1 - S4" in line
    assert view.stations[2].runner_up.partner == "S2" and view.stations[2].runner_up.support == 0.55


def test_single_station_and_old_records_say_why_there_is_no_report():
    one = {"reference": "S1", "stations": {"S1": {"fitness": 1.0, "inlier_rmse": 0.0}}, "quality": None}
    view = view_from_record(one, "p", "s")
    assert view.quality is None and view.flags == [] and "one station" in view.notes[0]
    old = copy.deepcopy(record())
    del old["quality"]
    view = view_from_record(old, "p", "s")
    assert view.quality is None and "process the survey again" in view.notes[0]
    assert [s.rmse_mm for s in view.stations] == pytest.approx([2.4] * 4)
    assert "one station" in section(view_from_record(one, "p", "s"))


def test_error_classes_state_the_scale():
    classes = error_classes(6.0)
    assert [lim for lim, _, _ in classes] == [2.0, 4.0, 6.0, math.inf]
    assert [lab for _, _, lab in classes] == ["up to 2.0 mm", "2.0 to 4.0 mm", "4.0 to 6.0 mm (tolerance)",
                                             "over 6.0 mm"]
    assert link_colour(1.2, 6.0) == classes[0][1] and link_colour(9.0, 6.0) == classes[3][1]
    assert link_colour(float("inf"), 6.0) == NO_FIGURE_COLOUR and link_colour(None, 6.0) == NO_FIGURE_COLOUR


def _runs(pixels: np.ndarray, a, b, colour, samples: int = 400) -> int:
    """How many separate runs of ``colour`` lie along the segment a -> b (a dashed line has several)."""
    t = np.linspace(0.15, 0.85, samples)
    cols = np.round(a[0] + (b[0] - a[0]) * t).astype(int)
    rows = np.round(a[1] + (b[1] - a[1]) * t).astype(int)
    on = np.all(pixels[rows, cols] == colour, axis=1)
    return int(on[0]) + int(np.count_nonzero(on[1:] & ~on[:-1]))


def test_station_graph_has_one_line_per_link_in_its_error_colour():
    view = view_from_record(record(), "pavilion", "2024")
    figure = graph_figure(record())
    assert figure is not None and "6 mm tolerance" in figure.caption and "dashed" in figure.caption
    links = [GraphLink(k.source, k.target, k.rms_mm, loop=not k.in_tree, flagged=k.name in view.flagged_links())
             for k in view.links]
    picture = station_graph(POSITIONS, links, TOLERANCE, reference="S1", flagged_stations=["S3"])
    assert np.array_equal(np.asarray(_image(figure.png)), np.asarray(picture.image))  # the figure is this picture
    pixels = np.asarray(picture.image)
    classes = [c for _, c, _ in error_classes(TOLERANCE)]
    for (source, target, rms, in_tree, flags), colour in zip(LINKS, (classes[0], classes[1], classes[2], classes[3],
                                                                     classes[1]), strict=True):
        a, b = picture.pixel(POSITIONS[source]), picture.pixel(POSITIONS[target])
        mid = ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2)
        assert tuple(pixels[mid[1], mid[0]]) == colour, (source, target)
        dashes = _runs(pixels, a, b, colour)
        assert (dashes == 1) if in_tree else (dashes >= 3), (source, target, dashes)
        if flags:  # cased in the flag colour on both sides of the line
            direction = np.array([b[0] - a[0], b[1] - a[1]], dtype=float)
            side = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
            for s in (-1, 1):
                col, row = np.round(np.array(mid) + s * 4.5 * side).astype(int)
                assert tuple(pixels[row, col]) == FLAG_COLOUR
    # as many lines as links: each colour of the scale appears on exactly the links of its class
    for colour, expected in zip(classes, (1, 2, 1, 1), strict=True):
        assert sum(_runs(pixels, picture.pixel(POSITIONS[s]), picture.pixel(POSITIONS[t]), colour) > 0
                   for s, t, *_ in LINKS) == expected
    # the flagged station is ringed
    x, y = picture.pixel(POSITIONS["S3"])
    ring = pixels[y - 14:y + 15, x - 14:x + 15].reshape(-1, 3)
    assert (ring == FLAG_COLOUR).all(axis=1).sum() > 20


def test_station_graph_with_a_backdrop_and_without_positions():
    rng = np.random.default_rng(1)
    backdrop = rng.random((5000, 3)) * [40, 30, 5] + [E0 - 8, N0 - 6, 10]
    figure = graph_figure(record(), background=backdrop)
    assert figure is not None
    img = np.asarray(_image(figure.png))
    assert (img == (222, 222, 222)).all(axis=2).sum() > 1000
    lonely = record()
    lonely["scanner_positions"] = {"S1": POSITIONS["S1"]}
    assert graph_figure(lonely) is None  # nothing to draw a graph of
    partial = record()
    del partial["scanner_positions"]["S4"]
    figure = graph_figure(partial)
    assert figure is not None and "no scanner position for S4" in figure.caption


def test_report_section_tables_survey_line_and_flags():
    from twin.report import html as h

    view = view_from_record(record(), "pavilion", "2024")
    text = section(view, graph_figure(record()))
    assert text.count("<img ") == 1 and 'src="data:image/png;base64,' in text
    assert "http" not in text  # self-contained
    for heading in ("Links", "Stations", "Loop closures"):
        assert f"<h4>{heading}</h4>" in text
    assert "62 % / 48 %" in text and "0.52 / 0.47 / 0.81" in text and "97 % ≤ 6.0 mm" in text
    assert "with S2: 180.0° / 0.21 m away, support 0.55 vs 0.58" in text
    assert h.esc(view.survey_line()) in text and "3 warnings" in text
    for f in view.flags:
        assert h.esc(f.message) in text
    assert text.count('class="sig"') == 2  # the flagged link and the flagged station
    clean = record()
    q = clean["quality"]
    q["flags"], q["stations"][2]["flags"], q["links"][3]["flags"] = [], [], []
    assert "No warnings" in section(view_from_record(clean, "pavilion", "2024"))


def test_the_view_reads_what_registration_writes():
    """The quality report as twin.ops.registration.quality builds it (to_dict, then JSON,
    as provenance stores it) reads into the view without losing a figure."""
    import json

    from twin.ops.registration.quality import LinkQuality, LoopError, RunnerUp, StationQuality, SurveyQuality

    links = [LinkQuality("S1", "S2", 0.6, 0.5, 1.5, 1.1, 0.98, 6.0, {"X": 0.4, "Y": 0.5, "Z": 0.9}, 900, True),
             LinkQuality("S1", "S3", 0.2, 0.3, 7.5, 6.1, 0.40, 6.0, {"X": 0.1, "Y": 0.5, "Z": 0.9}, 400, False,
                         ["low overlap (20%): the link rests on little common surface; a station between the two "
                          "would strengthen it"])]
    stations = [StationQuality("S1", 0.7, 1.4, ["S1 - S2", "S1 - S3"]),
                StationQuality("S2", 0.6, 1.6, ["S1 - S2"], RunnerUp("S1", 179.9, 0.3, 0.5, 0.52), ["near tie"])]
    quality = SurveyQuality(2.0, [LoopError("S1 - S3", ["S3", "S2", "S1"], 0.01, 3.0)], links, stations,
                            {"unit": 0.02, "tolerance": 0.006}, [])
    rec = record()
    rec["quality"] = json.loads(json.dumps(quality.to_dict()))
    view = view_from_record(rec, "p", "s")
    assert [k.name for k in view.links] == ["S1 - S2", "S1 - S3"] and view.links[1].in_tree is False
    assert view.links[0].strength == {"X": 0.4, "Y": 0.5, "Z": 0.9} and view.links[1].overlap_target == 0.3
    assert view.stations[1].runner_up.rotation_deg == 179.9 and view.stations[1].runner_up.chosen_support == 0.52
    assert view.max_loop_mm == 3.0 and view.loops[0].stations == ["S3", "S2", "S1"] and view.tolerance_mm == 6.0
    assert [f.subject for f in view.flags] == ["link S1 - S3", "station S2"]
    rec["quality"]["links"][1]["rms_mm"] = float("inf")  # no distance measured
    strict = view_from_record(rec, "p", "s").quality_json()
    assert strict["links"][1]["rms_mm"] is None and json.loads(json.dumps(strict, allow_nan=False)) == strict
