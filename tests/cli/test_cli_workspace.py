"""The CLI as a user runs it: exit codes, one-line errors, JSON, an unchanged workspace on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, catalog_option, workspace_state, write_las

# every command of `twin`, in the order `twin --help` lists them (a new command is added here too)
COMMANDS = ["demo", "inspect", "init", "ingest", "structures", "surveys", "scans", "verify", "process", "registration",
            "query", "compare", "report", "export", "tiles", "sample", "layers", "inventory"]  # fmt: skip
CATALOG_BACKENDS = BACKENDS  # the tests that take catalog_url run on SQLite and on PostgreSQL


def _registered_commands() -> dict:
    """The commands registered on the real app, as click sees them: {name: command}."""
    import typer

    from twin.cli.app import app

    return dict(typer.main.get_command(app).commands)


def _help_rows(text: str) -> list[str]:
    """The first column of every row in the help's command panels (rich boxes other than Options), or of
    click's plain "Commands:" section where rich is off."""
    rows, panel = [], None
    for line in text.splitlines():
        if line.startswith("╭─"):
            panel = line.strip("╭─╮ ")
        elif line.startswith("╰"):
            panel = None
        elif line.rstrip() == "Commands:":
            panel = "plain"
        elif panel == "plain":
            if line.startswith("  ") and line[2:3] != " ":
                rows.append(line.split()[0])
            elif line and not line.startswith(" "):
                panel = None
        elif panel not in (None, "Options", "Arguments") and line.startswith("│ ") and line[2:3] != " ":
            rows.append(line[2:].split()[0])
    return rows


def test_help_lists_every_command(cli):
    """Each command registered on the real app has its own row in `twin --help`: not merely its name
    somewhere on the page (most names also occur in other commands' descriptions), no row missing,
    none left over, none hidden; and the app registers exactly the commands above."""
    registered = _registered_commands()
    assert list(registered) == COMMANDS
    assert not [name for name, command in registered.items() if command.hidden]
    result = cli("--help")
    assert result.exit_code == 0
    assert _help_rows(result.stdout) == list(registered), result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0 and "Example: twin " in result.stdout


def test_version(cli):
    from twin import __version__

    result = cli("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from twin.cli.app import app; "
        "heavy = [m for m in ('open3d', 'laspy', 'sqlalchemy', 'pyproj', 'scipy', 'trimesh', 'dask') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_init_ingest_list_verify(cli, tmp_path: Path, catalog_url):
    ws = tmp_path / "ws"
    assert cli("init", ws, *catalog_option(catalog_url)).exit_code == 0
    folder = tmp_path / "scans"
    folder.mkdir()
    write_las(folder / "S1.laz", seed=1)
    write_las(folder / "S2.laz", seed=2, epsg=None)
    result = cli("ingest", folder, "--structure", "pavilion", "--survey", "survey-2024", "-w", ws)
    assert result.exit_code == 0, result.stderr
    assert "ingested S1.laz → pavilion/survey-2024/S1: 1,000 points, LAZ, EPSG:32648" in result.stdout

    again = cli("ingest", folder, "--structure", "pavilion", "--survey", "survey-2024", "-w", ws)
    assert again.exit_code == 0 and "nothing to do" in again.stdout

    structures = json.loads(cli("structures", "-w", ws, "--json").stdout)
    assert [(s["id"], s["surveys"], s["scans"]) for s in structures] == [("pavilion", 1, 2)]
    surveys = json.loads(cli("surveys", "pavilion", "-w", ws, "--json").stdout)
    assert surveys[0]["id"] == "survey-2024" and surveys[0]["points"] == 2000
    scans = json.loads(cli("scans", "pavilion", "-w", ws, "--json").stdout)
    assert [s["station"] for s in scans] == ["S1", "S2"] and scans[1]["crs_epsg"] is None
    assert "S2.laz" in cli("scans", "pavilion", "-w", ws).stdout

    ok = cli("verify", "-w", ws)
    assert ok.exit_code == 0 and "all intact" in ok.stdout
    stored = ws / scans[0]["store_path"]
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b"x")
    bad = cli("verify", "-w", ws)
    assert bad.exit_code == 5 and scans[0]["store_path"] in bad.stderr and "changed" in bad.stderr


def test_inspect_json(cli, tmp_path: Path):
    path = write_las(tmp_path / "a.las", n=500)
    data = json.loads(cli("inspect", path, "--stats", "--json").stdout)
    assert data["point_count"] == 500 and data["stats"]["points_read"] == 500
    assert data["crs"]["epsg"] == 32648
    table = cli("inspect", path)
    assert table.exit_code == 0 and "EPSG:32648" in table.stdout


def _bad_las(tmp_path: Path, name: str) -> Path:
    good = write_las(tmp_path / f"good-{name}")
    bad = tmp_path / name
    bad.write_bytes(good.read_bytes()[:-3001])
    return bad


@pytest.mark.parametrize(
    ("make_args", "code", "message"),
    [
        (lambda t: [t / "missing.las", "--structure", "p", "--survey", "s"], 3, "missing.las: no such file"),
        (lambda t: [_bad_las(t, "cut.las"), "--structure", "p", "--survey", "s"], 3, "cut.las: the header declares"),
        (lambda t: [write_las(t / "a.las"), "--structure", "p/q", "--survey", "s"], 2, "structure id 'p/q'"),
        (lambda t: [write_las(t / "a.las"), "--structure", "p", "--survey", "s", "--crs", "EPSG:0"], 2,
         "unknown coordinate system 'EPSG:0'"),
    ],
)
def test_bad_ingest_one_line_nonzero_unchanged(cli, tmp_path: Path, make_args, code, message, catalog_url):
    ws = tmp_path / "ws"
    cli("init", ws, *catalog_option(catalog_url))
    write_las(tmp_path / "seed.las", seed=9)
    cli("ingest", tmp_path / "seed.las", "--structure", "p", "--survey", "s", "-w", ws)
    before = workspace_state(ws)
    result = cli("ingest", *make_args(tmp_path), "-w", ws)
    assert result.exit_code == code
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert workspace_state(ws) == before


def test_ingest_into_a_folder_that_is_not_a_workspace(cli, tmp_path: Path):
    path = write_las(tmp_path / "a.las")
    result = cli("ingest", path, "--structure", "p", "--survey", "s", "-w", tmp_path)
    assert result.exit_code == 4 and "is not inside a twin workspace" in result.stderr
    assert not (tmp_path / "catalog.sqlite").exists()


def test_unknown_structure(cli, tmp_path: Path):
    cli("init", tmp_path / "ws")
    result = cli("surveys", "nope", "-w", tmp_path / "ws")
    assert result.exit_code == 4 and "no structure 'nope'" in result.stderr


def test_debug_shows_traceback(cli, tmp_path: Path):
    result = cli("--debug", "inspect", tmp_path / "missing.las")
    assert result.exit_code != 0 and result.exception is not None


def test_init_records_the_contact_for_packages_and_refuses_a_bad_one(cli, tmp_path: Path):
    import yaml

    r = cli("init", tmp_path / "ws", "--organisation", "Hue Monuments Conservation Centre",
            "--contact-name", "Trần Văn An", "--contact-email", "archive@example.org",
            "--base-uri", "https://monuments.example.org/twin/", "--json")
    assert r.exit_code == 0, r.stderr
    settings = yaml.safe_load((tmp_path / "ws" / "twin.yaml").read_text(encoding="utf-8"))
    assert settings["contact_name"] == "Trần Văn An" and settings["contact_email"] == "archive@example.org"
    assert settings["base_uri"] == "https://monuments.example.org/twin/"
    bad = cli("init", tmp_path / "ws2", "--contact-email", "not-an-address")
    assert bad.exit_code == 2
    assert bad.stderr.strip().count("\n") == 0 and "contact_email" in bad.stderr
    assert not (tmp_path / "ws2").exists()  # nothing made
