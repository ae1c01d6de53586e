"""What the tests of twin's exports in other people's programs share (CloudCompare, Blender,
QGIS; issue 15, point 3: exports that keep their meaning in the tools people open them with).

- :func:`needed`: a missing program skips the test on a user's machine and fails it under
  ``CI=true``, where ``./run test`` installs it (Debian packages, as root);
- :func:`small_export`: the small processed workspace of ``tests/cli/test_cli_export.py``
  (pavilion/2024: a platform and a stele, coloured, EPSG:32648, two mesh levels, labelled)
  exported once in every format these tests open (seconds, not the demo's minutes);
- :func:`offscreen_env`: Qt's offscreen platform and no display, for programs run headless;
- :func:`json_answer`: run a program whose script prints its findings as one line
  ``TWIN-JSON {...}`` among whatever else it prints, and read that line.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

JSON_MARK = "TWIN-JSON "
FORMATS = ("glb", "ply", "laz", "copc", "geojson", "gpkg")


def needed(why: str, what: str = "the browser test") -> None:
    """Skip (a failure under CI) for a missing tool."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} cannot run under CI: {why}")
    pytest.skip(why)


@dataclass(frozen=True)
class SmallExport:
    folder: Path  # the exported files: pavilion-2024-{small,full}.glb, -cloud.{ply,laz,copc.laz}, pavilion.gpkg, ...
    workspace: Path


def small_export(root: Path) -> SmallExport:
    """Build the small processed workspace under ``root`` and export pavilion/2024 in
    :data:`FORMATS` (plain files, no bag) into ``root/exported``."""
    from tests.cli.test_cli_export import build_processed
    from twin.catalog.workspace import Workspace
    from twin.export.package import export_package

    workspace = build_processed(root)
    out = root / "exported"
    export_package(Workspace.open(workspace), "pavilion", "2024", out, list(FORMATS))
    return SmallExport(out, workspace)


def offscreen_env(tmp: Path) -> dict[str, str]:
    """The environment for a Qt program run headless: no display, Qt's offscreen platform, a
    runtime folder of its own (Qt warns on stderr without one)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    runtime = tmp / "xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime))
    return env


def json_answer(args: list[str], *, what: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 300) -> tuple[dict, str]:
    """Run ``args``; (the object its ``TWIN-JSON`` line holds, its stderr). Fails with the
    end of what it printed when it exits non-zero or prints no such line."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    lines = [line[len(JSON_MARK):] for line in done.stdout.splitlines() if line.startswith(JSON_MARK)]
    if done.returncode != 0 or not lines:
        log = (done.stdout + done.stderr)[-4000:]
        pytest.fail(f"{what} exited with {done.returncode} and {'an' if lines else 'no'} answer:\n{log}")
    return json.loads(lines[-1]), done.stderr
