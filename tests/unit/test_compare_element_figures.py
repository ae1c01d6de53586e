"""Per-element figures between two surveys (issue 17.2): a column that leans 0.5° more and a
wall that bulges 20 mm in one place, against the truth of how they were made; elements that
did not move read no change; elements that are neither column nor wall get no figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.compare.element_figures import CELL_M, element_figures
from twin.models.layers import LayerFile
from twin.ops.labelling import compile_layers

LEAN_DEG = 0.5
BULGE_M = 0.02
NOISE_M = 0.001


def _layers() -> LayerFile:
    def element(eid, name, lo, hi):
        return {"id": eid, "name": name, "class": "B5_Stratigraphic_Building_Unit", "knowledge": {"status": "measured"},
                "region": {"box": {"min": lo, "max": hi}}}

    return LayerFile.model_validate({"metadata": {"title": "figures"}, "elements": [
        element("column-a", "Column A", [4.5, 4.5, 0.0], [5.5, 5.5, 3.2]),
        element("wall-north", "North wall", [-0.5, 9.8, 0.0], [8.5, 10.3, 4.2]),
        element("stele", "Stele", [1.0, 1.0, 0.0], [2.0, 2.0, 2.0]),
    ]})


def _survey(rng, lean_deg: float = 0.0, bulge: float = 0.0) -> np.ndarray:
    """A column (radius 0.15 m, 3 m) at (5, 5), a wall in the plane y = 10 facing north, a
    stele; the column's top moved east by the lean, the wall pushed north by a bump."""
    theta = rng.uniform(0, 2 * math.pi, 30_000)
    z = rng.uniform(0.0, 3.0, 30_000)
    column = np.column_stack([5 + 0.15 * np.cos(theta) + math.tan(math.radians(lean_deg)) * z,
                              5 + 0.15 * np.sin(theta), z])
    x, h = rng.uniform(0.0, 8.0, 40_000), rng.uniform(0.0, 4.0, 40_000)
    bump = bulge * np.exp(-((x - 4.0) ** 2 + (h - 2.0) ** 2) / (2 * 0.4**2))
    wall = np.column_stack([x, 10.0 + bump, h])
    stele = np.column_stack([rng.uniform(1.2, 1.8, 3000), rng.uniform(1.2, 1.8, 3000), rng.uniform(0, 1.5, 3000)])
    points = np.vstack([column, wall, stele])
    return points + rng.normal(scale=NOISE_M, size=points.shape)


@pytest.fixture(scope="module")
def figures():
    layers = _layers()
    compiled = compile_layers(layers)
    rng = np.random.default_rng(4)
    earlier = _survey(rng)
    moved = element_figures(compiled, layers, earlier, _survey(rng, LEAN_DEG, BULGE_M), np.zeros(3))
    still = element_figures(compiled, layers, earlier, _survey(rng), np.zeros(3))
    return {r["element"]: r for r in moved}, {r["element"]: r for r in still}


def test_only_columns_and_walls_get_figures(figures):
    moved, _ = figures
    assert set(moved) == {"column-a", "wall-north"}
    assert moved["column-a"]["kind"] == "column" and moved["wall-north"]["kind"] == "wall"


def test_the_column_leans_by_what_it_was_turned(figures):
    column = figures[0]["column-a"]["figures"]
    assert column["lean_from_deg"] < 0.05
    assert column["lean_change_deg"] == pytest.approx(LEAN_DEG, abs=0.05)
    expected_mm = 1000 * math.tan(math.radians(LEAN_DEG)) * 3.0  # the top, 3 m up, moved east
    assert column["top_shift_mm"] == pytest.approx(expected_mm, abs=3.0)
    assert abs(column["top_shift_azimuth_deg"] - 90.0) < 5.0 and abs(column["lean_azimuth_to_deg"] - 90.0) < 5.0
    assert column["radius_from_m"] == pytest.approx(0.15, abs=0.002)
    slices = column["diameter_by_slice"]
    assert len(slices) >= 5 and all(abs(s["change_mm"]) < 2.0 for s in slices)  # turned, not swollen


def test_the_wall_bulges_where_and_as_much_as_it_was_pushed(figures):
    wall = figures[0]["wall-north"]["figures"]
    # the largest mean over a cell (0.25 m) of a bump of 20 mm and sigma 0.4 m: between the
    # cell centred on the peak and four cells meeting there; outward (north)
    sigma, half = 0.4 * math.sqrt(2), CELL_M / 2
    centred = 1000 * BULGE_M * (sigma * math.sqrt(math.pi) * math.erf(half / sigma) / (2 * half)) ** 2
    cornered = 1000 * BULGE_M * (sigma * math.sqrt(math.pi) / 2 * math.erf(2 * half / sigma) / (2 * half)) ** 2
    assert cornered - 1.0 <= wall["largest_change_mm"] <= centred + 1.0, (cornered, centred)
    assert np.linalg.norm(np.array(wall["largest_change_at"])[[0, 2]] - [4.0, 2.0]) < 0.5
    assert wall["normal"][1] > 0.99  # outward from the structure: north


def test_what_did_not_move_reads_no_change(figures):
    _, still = figures
    column = still["column-a"]["figures"]
    assert abs(column["lean_change_deg"]) < 0.03 and column["top_shift_mm"] < 2.0
    assert abs(still["wall-north"]["figures"]["largest_change_mm"]) < 2.0


def test_too_few_points_give_a_reason_not_figures():
    layers = _layers()
    compiled = compile_layers(layers)
    few = np.array([[5.0, 5.15, 1.0], [10.0, 10.0, 1.0]])
    rows = {r["element"]: r for r in element_figures(compiled, layers, few, few, np.zeros(3))}
    assert rows["column-a"]["figures"] is None and "points" in rows["column-a"]["reason"]
    assert rows["wall-north"]["figures"] is None and "points" in rows["wall-north"]["reason"]
