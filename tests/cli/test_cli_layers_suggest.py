"""`twin layers suggest` as a user runs it: a processed synthetic building in, a draft layer
file out that `twin layers set` accepts once phases and materials are added; --merge-into;
--json; and one-line refusals."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import write_las

PIPELINE = """name: suggest-test
stages:
  - stage: register
  - stage: write
    cloud_format: laz
"""


def _cli(*args, ok: bool = True):
    from twin.cli.app import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


@functools.cache
def _built() -> Path:
    """A workspace with the synthetic building processed (survey 2025) and a survey not processed."""
    from twin.sample.building import Layout, build

    root = Path(tempfile.mkdtemp(prefix="twin-suggest-ws-"))
    ws = root / "ws"
    _cli("init", ws)
    building = build(Layout(density=150.0), seed=2)
    for survey, process in (("2025", True), ("2026", False)):
        folder = root / "scans" / survey
        folder.mkdir(parents=True)
        shift = 0.0 if process else 0.002  # another file: the same one twice is ingested once
        write_las(folder / "S1.laz", xyz=building.xyz + shift, seed=1)
        _cli("ingest", folder, "--structure", "hall", "--survey", survey, "-w", ws)
    (root / "p.yaml").write_text(PIPELINE)
    _cli("process", "hall", "--survey", "2025", "-p", root / "p.yaml", "-w", ws)
    return root


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    shutil.copytree(_built(), tmp_path / "built")
    return tmp_path / "built" / "ws"


def test_help_has_an_example():
    result = _cli("layers", "suggest", "--help")
    assert "Example: twin layers suggest" in result.stdout


def test_suggest_then_complete_then_set(ws: Path, tmp_path: Path):
    draft = tmp_path / "draft.yaml"
    result = _cli("layers", "suggest", "hall", "--survey", "2025", "--out", draft, "-w", ws)
    assert "elements suggested" in result.stdout and "column-01" in result.stdout
    data = yaml.safe_load(draft.read_text(encoding="utf-8"))
    ids = [e["id"] for e in data["elements"]]
    assert {"floor-1", "platform-1", "wall-north", "wall-south", "column-01", "roof-1"} <= set(ids)
    assert sum(i.startswith("column-") for i in ids) == 16
    assert all(e["phases"] == [] and e["materials"] == [] for e in data["elements"])
    figures = json.loads(draft.with_suffix(".figures.json").read_text(encoding="utf-8"))
    assert figures["column-01"]["radius_m"] == pytest.approx(0.15, abs=0.005)
    assert figures["column-01"]["points"] > 100 and figures["wall-north"]["deviation_rms_mm"] < 5
    # the draft as written is a layer file; completed, `twin layers set` records it
    data["phases"] = [{"id": "construction-1805", "type": "construction", "date": "1805"}]
    data["materials"] = [{"id": "plaster", "label": "lime plaster", "aat": "http://vocab.getty.edu/aat/300014922"}]
    for e in data["elements"]:
        e["phases"], e["materials"] = ["construction-1805"], ["plaster"]
    completed = tmp_path / "completed.yaml"
    completed.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    recorded = _cli("layers", "set", "hall", completed, "-w", ws, "--json")
    assert json.loads(recorded.stdout)["elements"] == len(ids)
    # merged into the completed file: everything is covered, nothing new is proposed
    merged = tmp_path / "merged.yaml"
    out = _cli("layers", "suggest", "hall", "--out", merged, "--merge-into", completed, "-w", ws, "--json")
    report = json.loads(out.stdout)
    assert report["survey_id"] == "2025" and report["elements"] == [] and len(report["kept"]) == len(ids)
    kept = yaml.safe_load(merged.read_text(encoding="utf-8"))
    assert [e["id"] for e in kept["elements"]] == ids and kept["phases"] == data["phases"]


def test_merge_into_a_file_with_walls_only_adds_the_rest(ws: Path, tmp_path: Path):
    draft = tmp_path / "draft.yaml"
    _cli("layers", "suggest", "hall", "--out", draft, "-w", ws)
    data = yaml.safe_load(draft.read_text(encoding="utf-8"))
    data["elements"] = [e for e in data["elements"] if e["id"].startswith("wall-")]
    walls = tmp_path / "walls.yaml"
    walls.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out = json.loads(_cli("layers", "suggest", "hall", "--out", tmp_path / "m.yaml", "--merge-into", walls,
                          "-w", ws, "--json").stdout)
    kinds = {e["kind"] for e in out["elements"]}
    assert "wall" not in kinds and {"column", "floor", "roof"} <= kinds
    # the walls, and the door in the south wall: it holds no point (an open doorway) and
    # its middle lies inside the wall's region
    assert {e["kind"] for e in out["not_proposed"]} == {"wall", "door"}


def test_a_survey_without_a_model_is_refused_in_one_line(ws: Path, tmp_path: Path):
    result = _cli("layers", "suggest", "hall", "--survey", "2026", "--out", tmp_path / "d.yaml", "-w", ws, ok=False)
    assert result.exit_code == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no processed model" in lines[0] and "twin process" in lines[0]
    assert not (tmp_path / "d.yaml").exists()


def test_an_unknown_structure_is_refused(ws: Path, tmp_path: Path):
    result = _cli("layers", "suggest", "nowhere", "--out", tmp_path / "d.yaml", "-w", ws, ok=False)
    assert result.exit_code == 4 and len(result.stderr.strip().splitlines()) == 1


def test_too_few_points_is_refused_in_one_line(tmp_path: Path):
    ws = tmp_path / "ws"
    _cli("init", ws)
    folder = tmp_path / "scans"
    folder.mkdir()
    write_las(folder / "S1.laz", xyz=np.random.default_rng(0).random((400, 3)) + [749010.0, 1821020.0, 5.0])
    _cli("ingest", folder, "--structure", "tiny", "--survey", "2025", "-w", ws)
    (tmp_path / "p.yaml").write_text(PIPELINE)
    _cli("process", "tiny", "-p", tmp_path / "p.yaml", "-w", ws)
    result = _cli("layers", "suggest", "tiny", "--out", tmp_path / "d.yaml", "-w", ws, ok=False)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs at least" in lines[0]
