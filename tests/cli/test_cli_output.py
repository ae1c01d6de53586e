"""What every command shares (issue 15, point 5): --json everywhere, the libraries' warnings
in the log file rather than on the terminal, and tables that are not cut when piped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tests.cli.compare_workspace import layers_yaml
from tests.conftest import REPO, write_las


def _commands(command, path: tuple[str, ...] = ()):
    """Every command and group under ``command`` (typer's own click), with its path."""
    yield path, command
    if getattr(command, "commands", None):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_command_takes_json():
    from twin.cli.app import app

    root = typer.main.get_command(app)
    missing = [" ".join(("twin", *path)) for path, command in _commands(root)
               if not any("--json" in p.opts for p in command.params)]
    assert missing == []
    names = {" ".join(path) for path, _ in _commands(root)}
    assert {"init", "sample", "layers", "layers set", "layers show", "layers history", "layers diff"} <= names


def test_init_json(cli, tmp_path: Path):
    result = cli("init", tmp_path / "hue", "--organisation", "Hue Monuments Conservation Centre", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["root"] == str((tmp_path / "hue").resolve()) and info["name"] == "hue"
    assert info["organisation"] == "Hue Monuments Conservation Centre"
    assert Path(info["catalog"]).is_file() and Path(info["settings"]).is_file() and Path(info["store"]).is_dir()
    again = cli("--json", "init", tmp_path / "other")  # the global flag: the same as the command's
    assert again.exit_code == 0 and json.loads(again.stdout)["name"] == "other"


def test_sample_json(cli, tmp_path: Path):
    result = cli("sample", "--out", tmp_path / "s", "--points-per-station", 1000, "--stations", 2, "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)  # the progress lines went to stderr
    assert info["scene"] == "pavilion" and [s["id"] for s in info["surveys"]] == ["survey-2024", "survey-2025"]
    stations = [st for s in info["surveys"] for st in s["stations"]]
    assert len(stations) == 4 and all(Path(st["file"]).is_file() for st in stations)
    assert info["points"] == sum(st["points"] for st in stations) > 0
    scene = cli("sample", "--scene", "gate", "--points-per-station", 500, "--stations", 2, "--out", tmp_path / "g",
                "--json")
    assert scene.exit_code == 0, scene.stderr
    made = json.loads(scene.stdout)
    assert made["scene"] == "gate" and len(made["stations"]) == 2 and Path(made["truth"]).is_file()


def test_layers_json(cli, surveyed, tmp_path: Path):
    ws = surveyed.root
    first, second = tmp_path / "l1.yaml", tmp_path / "l2.yaml"
    first.write_text(layers_yaml(), encoding="utf-8")
    second.write_text(layers_yaml(column_material="teak"), encoding="utf-8")
    for i, path in enumerate((first, second), start=1):
        result = cli("layers", "set", "pavilion", path, "--author", "N. Lan", "-w", ws, "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["rev"] == i
    shown = json.loads(cli("layers", "show", "pavilion", "-w", ws, "--json").stdout)
    assert shown["rev"] == 2 and len(shown["layers"]["elements"]) == 7
    for args in (("layers", "history", "pavilion", "-w", ws, "--json"),
                 ("layers", "--json", "history", "pavilion", "-w", ws),  # on the group
                 ("--json", "layers", "history", "pavilion", "-w", ws)):  # before everything
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert [r["rev"] for r in json.loads(result.stdout)] == [1, 2], args
    diff = json.loads(cli("layers", "diff", "pavilion", "1", "2", "-w", ws, "--json").stdout)
    assert [c["element"] for c in diff["element_materials"]] == ["column"]


NOISY = r"""
import os, sys, warnings
import numpy as np
import typer
from twin.cli.app import app
from twin.cli.common import JsonOpt, err, out, print_json

@app.command()
def noisy(as_json: JsonOpt = False) -> None:
    import open3d as o3d
    warnings.warn("a library's own warning", UserWarning)
    np.log(np.array([-1.0]))  # numpy: RuntimeWarning, invalid value
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Warning)
    missing = o3d.io.read_point_cloud(os.environ["ABSENT"])  # Open3D prints a warning (stdout), RPly an error (stderr)
    os.write(2, b"[WARNING] PoissonRecon-like line on fd 2\n")
    if as_json:
        print_json({"points": len(missing.points)})
    else:
        out.print("twin's own line")
        err.print("twin's own message")

app(prog_name="twin")
"""


def _noisy(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "twin.log"
    env = {**os.environ, "TWIN_LOG": str(log), "PYTHONWARNINGS": "default", "ABSENT": str(tmp_path / "absent.ply")}
    done = subprocess.run([sys.executable, "-c", NOISY, *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)
    return done, log.read_text(encoding="utf-8") if log.is_file() else ""


def test_library_warnings_go_to_the_log_not_the_terminal(tmp_path: Path):
    done, log = _noisy(tmp_path, "noisy")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "twin's own line\n"
    assert done.stderr == "twin's own message\n"
    for line in ("UserWarning: a library's own warning", "RuntimeWarning: invalid value encountered in log",
                 "[Open3D WARNING] Read PLY failed", "RPly: Unable to open file",
                 "[WARNING] PoissonRecon-like line on fd 2"):
        assert line in log, (line, log)
    done, _ = _noisy(tmp_path, "noisy", "--json")  # native output does not corrupt JSON on stdout
    assert done.returncode == 0 and json.loads(done.stdout) == {"points": 0} and done.stderr == ""
    debug, _ = _noisy(tmp_path, "--debug", "noisy")  # --debug lets everything through
    assert "a library's own warning" in debug.stderr and "Read PLY failed" in debug.stdout


@pytest.mark.parametrize("columns", [None, "200"])
def test_tables_are_not_cut_when_piped(workspace, tmp_path: Path, columns):
    """A 130-character file name in `twin scans`, through a pipe, stays whole on one line
    (unless $COLUMNS asks for a width)."""
    from twin.catalog.ingest import ingest

    name = ("station-north-east-corner-of-the-upper-terrace-beside-the-ceremonial-gate-scanned-at-dawn-"
            "with-the-long-range-instrument.laz")
    write_las(tmp_path / name, n=300)
    ingest(workspace, [tmp_path / name], "pavilion", "2024", station="S1")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    twin = Path(sys.executable).parent / "twin"
    done = subprocess.run([str(twin), "scans", "pavilion", "-w", str(workspace.root)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "S1" in line]
    if columns:  # a width asked for explicitly is kept
        assert max(len(line) for line in done.stdout.splitlines()) <= int(columns)
    else:
        assert len(rows) == 1 and name in rows[0] and "…" not in done.stdout, done.stdout


def test_tables_fit_a_terminal(tmp_path: Path):
    """On a terminal (a pseudo-terminal 90 columns wide), the table fits it."""
    import fcntl
    import pty
    import struct
    import termios

    from twin.cli.common import TwinConsole

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
    with os.fdopen(follower, "w", closefd=True) as stream:
        console = TwinConsole(file=stream, force_terminal=True, _environ={})
        assert console.is_terminal and console.width == 90
    os.close(leader)
    piped = TwinConsole(file=open(os.devnull, "w"), _environ={})  # noqa: SIM115
    assert not piped.is_terminal and piped.width >= 10_000


@pytest.mark.parametrize("args", [["process", "--help"], ["layers"], ["inventory", "-h"], ["layers", "suggest", "--help"],
                                  ["--json", "export", "-h"]])
def test_help_of_every_command_reaches_the_terminal(tmp_path: Path, args):
    """Help for a command or a command group (asked for, or a group named alone) is printed
    where the user sees it, not into the log file that takes the libraries' output."""
    env = {**os.environ, "TWIN_LOG": str(tmp_path / "twin.log")}
    twin = Path(sys.executable).parent / "twin"
    done = subprocess.run([str(twin), *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    command = " ".join(a for a in args if not a.startswith("-"))
    assert f"Usage: twin {command}" in done.stdout + done.stderr, (done.returncode, done.stdout, done.stderr)
    log = tmp_path / "twin.log"
    assert not log.exists() or "Usage:" not in log.read_text(), log.read_text()
