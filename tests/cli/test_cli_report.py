"""`twin report`: one self-contained HTML page, checked in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.cli.compare_workspace import processed_workspace
from tests.conftest import workspace_state

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path, dict]:
    """The report of the test pavilion, survey 2025 compared with 2024 (the comparison is
    run for the report: none is recorded yet)."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    root = tmp_path_factory.mktemp("report")
    ws = processed_workspace(root)
    out = root / "report.html"
    result = CliRunner().invoke(app, ["report", "pavilion", "--compare", "2024", "--out", str(out), "-w", str(ws),
                                      "--json"])
    assert result.exit_code == 0, result.stderr
    return ws, out, json.loads(result.stdout)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The headless browser: skipped where none is installed, a failure under CI."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is missing: CI must install it (apt-get install -y chromium) for the report test")
    pytest.skip("chromium not installed (apt-get install -y chromium)")


def test_report_sections_and_self_contained(report):
    ws, out, info = report
    text = out.read_text(encoding="utf-8")
    assert info["survey_id"] == "2025" and info["compared_with"] == "2024" and info["images"] == 17
    for heading in ("Structure", "Surveys, scans and models", "Registration quality", "Layers",
                    "Elevations of survey 2025", "By phase", "By material", "Changes from 2024 to 2025",
                    "Per element, significant changes first"):
        assert f">{heading}</h" in text, heading
    assert "dcterms:title" in text and "Test pavilion for comparisons" in text and "HUE-CMP-001" in text
    assert "restoration-1925" in text and "1920/1925" in text and "300011914" in text  # phases, AAT
    assert "comparison 2024 → 2025 run for this report with the default settings" in text
    assert "Survey-to-survey alignment" in text
    # pictures embedded, nothing fetched
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 17  # 2 x (5 views + a section), 5 maps
    assert "horizontal section at z = " in text
    assert not re.search(r'(src|href)="(?!data:|https?://)', text)
    assert not re.search(r"<(script|link|iframe)\b", text) and not re.search(r'src="https?:', text)
    # per element, significant changes first, changed elements highlighted
    table = text[text.index("Per element, significant changes first"):]
    rows = re.findall(r"<tr( class=\"sig\")?><td>([^<]+)</td>", table)
    names = [name for _, name in rows]
    assert names.index("wall-north") < names.index("wall-south") and names.index("column") < names.index("floor")
    highlighted = {name for cls, name in rows if cls}
    assert "wall-north" in highlighted and "floor" not in highlighted
    # the comparison the report ran is in the catalog
    from twin.catalog.comparisons import comparisons
    from twin.catalog.workspace import Workspace

    recorded = comparisons(Workspace.open(ws), "pavilion")
    assert len(recorded) == 1 and Path(info["comparison_folder"]) == recorded[0].folder(ws)


def test_report_reuses_a_recorded_comparison(cli, report, tmp_path: Path):
    ws, _, _ = report
    out = tmp_path / "again.html"
    before = workspace_state(ws)
    result = cli("report", "pavilion", "--survey", "2024", "--compare", "2025", "--ppm", "40", "--out", out, "-w", ws)
    assert result.exit_code == 0, result.stderr
    assert "report of survey 2024, compared with 2025" in result.stdout
    text = out.read_text(encoding="utf-8")
    assert "comparison 2024 → 2025 recorded" in text and "40 px/m" in text
    assert workspace_state(ws) == before  # nothing new recorded


def test_report_without_comparison(cli, report, tmp_path: Path):
    ws, _, _ = report
    out = tmp_path / "plain.html"
    result = cli("report", "pavilion", "--out", out, "-w", ws, "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["images"] == 12 and info["compared_with"] is None
    assert "Changes from" not in out.read_text(encoding="utf-8")


def test_elevations_without_layers(report):
    from PIL import Image

    from twin.catalog.models import latest_model
    from twin.catalog.workspace import Workspace
    from twin.report.figures import layer_elevations

    ws, _, _ = report
    model = latest_model(Workspace.open(ws), "pavilion", "2024")
    groups = layer_elevations(model, None, ppm=20)
    assert list(groups) == ["model"] and len(groups["model"]) == 5
    figure = groups["model"][0]
    assert "front elevation" in figure.caption and "mesh-full.ply" in figure.caption
    import io

    assert Image.open(io.BytesIO(figure.png)).size[0] > 8 * 20


def test_report_bad_input_writes_nothing(cli, report, tmp_path: Path):
    ws, _, _ = report
    before = workspace_state(ws)
    out = tmp_path / "r.html"
    cases = [
        (["--survey", "1999"], 4, "no survey '1999'"),
        (["--compare", "1999"], 4, "no survey '1999'"),
        (["--survey", "2024", "--compare", "2024"], 2, "compare two different surveys"),
        (["--ppm", "-5"], 2, "--ppm must be a positive number"),
    ]
    for args, code, message in cases:
        result = cli("report", "pavilion", *args, "--out", out, "-w", ws)
        assert result.exit_code == code, (args, result.stderr)
        assert message in result.stderr and not out.exists(), (args, result.stderr)
    folder = cli("report", "pavilion", "--out", tmp_path, "-w", ws)
    assert folder.exit_code == 2 and "is a folder" in folder.stderr
    unknown = cli("report", "palace", "--out", out, "-w", ws)
    assert unknown.exit_code == 4 and "no structure 'palace'" in unknown.stderr and not out.exists()
    assert workspace_state(ws) == before


def test_report_opens_in_headless_chromium(chromium, report, tmp_path: Path):
    from PIL import Image

    browser = chromium
    _, out, _ = report
    shot = tmp_path / "report.png"
    profile = tmp_path / "profile"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,2000", out.resolve().as_uri()],
        capture_output=True, timeout=180, check=False,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert image.shape[:2] == (2000, 1280)
    ink = (np.abs(image - 255).sum(axis=2) > 60).mean()  # share of pixels that are not (near) white
    colours = len(np.unique(image.reshape(-1, 3)[::7], axis=0))
    assert ink > 0.03 and colours > 50, (ink, colours)  # text, tables and pictures: not a blank page
