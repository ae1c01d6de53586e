"""`twin layers set|show|history|diff` and `twin query` as a user runs them: exit codes,
one-line errors, JSON, and an unchanged catalog after every refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import workspace_state

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "layers" / "example.yaml"
TEXT = EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture
def run():
    """The real `twin` app, as the console script runs it: `layers` and `query` must be registered on it."""
    from twin.cli.app import app

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def ws(workspace):
    from twin.catalog import db
    from twin.catalog.layers import ensure_tables

    with db.transaction(workspace.engine) as conn:
        for sid in ("pavilion", "gate"):
            conn.execute(db.structures.insert().values(id=sid, name=sid, created_at=db.now()))
    ensure_tables(workspace.engine)
    return workspace.root


def _edited(tmp_path: Path, old: str, new: str, name: str = "v2.yaml") -> Path:
    assert old in TEXT
    path = tmp_path / name
    path.write_text(TEXT.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize("args", [("layers",), ("layers", "set"), ("layers", "show"), ("layers", "history"), ("layers", "diff"),
                                  ("query",)])
def test_every_command_has_help_with_an_example(run, args):
    result = run(*args, "--help")
    assert result.exit_code == 0 and "Example: twin " in result.stdout


def test_set_show_history_diff(run, ws, tmp_path: Path):
    first = run("layers", "set", "pavilion", EXAMPLE, "--author", "N. Lan", "-m", "first", "-w", ws)
    assert first.exit_code == 0, first.stderr
    assert "pavilion: recorded layers revision 1 by N. Lan (6 elements, 4 phases, 3 materials" in first.stdout

    again = run("layers", "set", "pavilion", EXAMPLE, "-w", ws)
    assert again.exit_code == 0 and "same content as revision 1; nothing recorded" in again.stdout

    v2 = _edited(tmp_path, "phases: [reconstruction-1833]", "phases: [reconstruction-1833, damage-1968]")
    second = run("layers", "set", "pavilion", v2, "--author", "B", "-w", ws, "--json")
    assert second.exit_code == 0
    assert json.loads(second.stdout)["rev"] == 2 and json.loads(second.stdout)["created"] is True

    history = json.loads(run("layers", "history", "pavilion", "-w", ws, "--json").stdout)
    assert [(h["rev"], h["author"], h["message"]) for h in history] == [(1, "N. Lan", "first"), (2, "B", None)]
    assert "N. Lan" in run("layers", "history", "pavilion", "-w", ws).stdout

    shown = run("layers", "show", "pavilion", "-w", ws)
    assert shown.exit_code == 0 and "layers revision 2" in shown.stdout and "column-ne" in shown.stdout
    data = json.loads(run("layers", "show", "pavilion", "--rev", "1", "-w", ws, "--json").stdout)
    assert data["rev"] == 1 and data["layers"]["elements"][0]["class"] == "B3_Filled_Morphological_Building_Section"
    assert run("layers", "show", "pavilion", "-r", "1", "--yaml", "-w", ws).stdout == TEXT

    diff = run("layers", "diff", "pavilion", "1", "2", "-w", ws)
    assert diff.exit_code == 0
    assert "element column-ne phases: +damage-1968" in diff.stdout
    assert "~ element column-ne: phases:" in diff.stdout
    as_json = json.loads(run("layers", "diff", "pavilion", "1", "2", "-w", ws, "--json").stdout)
    assert as_json["element_phases"] == [{"element": "column-ne", "added": ["damage-1968"], "removed": []}]
    same = run("layers", "diff", "pavilion", "2", "2", "-w", ws)
    assert "have the same content" in same.stdout


def test_history_of_a_structure_without_layers(run, ws):
    result = run("layers", "history", "gate", "-w", ws)
    assert result.exit_code == 0 and "gate has no layers yet" in result.stdout
    assert json.loads(run("layers", "history", "gate", "-w", ws, "--json").stdout) == []


def test_query(run, ws):
    run("layers", "set", "pavilion", EXAMPLE, "-w", ws)
    run("layers", "set", "gate", EXAMPLE, "-w", ws)
    hits = json.loads(run("query", "--material", "tile", "--from", "1960", "--to", "1970", "-w", ws, "--json").stdout)
    assert [(h["structure_id"], h["element_id"], h["matched_phases"]) for h in hits] == [
        ("gate", "roof", ["damage-1968"]), ("pavilion", "roof", ["damage-1968"])]
    table = run("query", "--status", "hypothetical", "-s", "pavilion", "-w", ws)
    assert table.exit_code == 0 and "altar" in table.stdout and "roof" not in table.stdout
    none = run("query", "--phase", "restoration", "--from", "2000", "-w", ws)
    assert none.exit_code == 0 and "no elements match" in none.stdout
    assert json.loads(run("query", "--phase", "nothing", "-w", ws, "--json").stdout) == []


def _bad_layers(tmp_path: Path) -> Path:
    return _edited(tmp_path, "phases: [reconstruction-1833]", "phases: [restoration-1999]", name="bad.yaml")


@pytest.mark.parametrize(
    ("make_args", "code", "message"),
    [
        # set
        (lambda t: ["layers", "set", "pavilion", _bad_layers(t)], 2,
         "elements[1].phases[0] (line 32): unknown phase 'restoration-1999'"),
        (lambda t: ["layers", "set", "pavilion", t / "missing.yaml"], 2, "missing.yaml: no such layer file"),
        (lambda t: ["layers", "set", "nowhere", EXAMPLE], 4, "no structure 'nowhere'"),
        (lambda t: ["layers", "set", "pavilion", _edited(t, "date: 1920/1925", "date: 1925/1920", "iv.yaml")], 2,
         "phases[2].date (line 84): '1925/1920': the interval starts (1925-01-01) after it ends (1920-12-31)"),
        (lambda t: ["layers", "set", "pavilion", _edited(t, "    stable: false", "    stabel: false", "k.yaml")], 2,
         "elements[4].stabel (line 58): unknown key 'stabel'"),
        (lambda t: ["layers", "set", "pavilion", _edited(t, "date: 1833~", "date: 1833~~", "e.yaml")], 2,
         "phases[1].date (line 80): '1833~~'"),
        # show
        (lambda t: ["layers", "show", "nowhere"], 4, "no structure 'nowhere'"),
        (lambda t: ["layers", "show", "pavilion", "--rev", "7"], 4, "no revision 7 of the layers of 'pavilion'"),
        (lambda t: ["layers", "show", "gate"], 4, "structure 'gate' has no layers yet"),
        # history
        (lambda t: ["layers", "history", "nowhere"], 4, "no structure 'nowhere'"),
        # diff
        (lambda t: ["layers", "diff", "pavilion", "1", "3"], 4, "no revision 3 of the layers of 'pavilion'"),
        (lambda t: ["layers", "diff", "nowhere", "1", "2"], 4, "no structure 'nowhere'"),
        # query
        (lambda t: ["query", "--status", "guessed"], 2, "unknown knowledge status 'guessed'"),
        (lambda t: ["query", "--from", "circa 1900"], 2, "--from: 'circa 1900' is not an EDTF date"),
        (lambda t: ["query", "--from", "1950", "--to", "1900"], 2, "--from 1950 is after --to 1900"),
        (lambda t: ["query", "--structure", "nowhere"], 4, "no structure 'nowhere'"),
    ],
)
def test_bad_input_one_line_nonzero_unchanged(run, ws, tmp_path: Path, make_args, code, message):
    assert run("layers", "set", "pavilion", EXAMPLE, "-w", ws).exit_code == 0
    before = workspace_state(ws)
    result = run(*make_args(tmp_path), "-w", ws)
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]
    assert workspace_state(ws) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layers", "show", "pavilion", "--rev", "0"], "Invalid value for '--rev'"),
        (["layers", "diff", "pavilion", "one", "2"], "Invalid value for 'rev1'"),
        (["layers", "set", "pavilion"], "Missing argument 'file'"),
        (["query", "--colour", "red"], "No such option: --colour"),
    ],
)
def test_malformed_arguments_are_usage_errors(run, ws, args, message):
    before = workspace_state(ws)
    result = run(*args, "-w", ws)
    assert result.exit_code == 2
    assert message in result.stderr  # the command's own usage error, not "No such command" (also exit 2)
    assert workspace_state(ws) == before


def test_outside_a_workspace(run, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("TWIN_WORKSPACE", raising=False)
    result = run("layers", "history", "pavilion", "-w", tmp_path)
    assert result.exit_code == 4 and "is not inside a twin workspace" in result.stderr


def test_importing_the_commands_loads_no_heavy_library():
    code = (
        "import sys; import twin.cli.layers_cmd; "
        "heavy = [m for m in ('open3d', 'laspy', 'sqlalchemy', 'pyproj', 'scipy', 'trimesh', 'dask', 'numpy') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
