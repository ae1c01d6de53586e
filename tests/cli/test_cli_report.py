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
    for heading in ("Structure", "3D view of survey 2025", "Surveys, scans and models", "Registration quality",
                    "Layers", "Elevations of survey 2025", "By phase", "By material", "Changes from 2024 to 2025",
                    "Per element, significant changes first", "Glossary"):
        assert f">{heading}</h" in text, heading
    assert "dcterms:title" in text and "Test pavilion for comparisons" in text and "HUE-CMP-001" in text
    assert "restoration-1925" in text and "1920/1925" in text and "300011914" in text  # phases, AAT
    assert "comparison 2024 → 2025 run for this report with the default settings" in text
    assert "Survey-to-survey alignment" in text
    # pictures embedded, nothing fetched
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 17  # 2 x (5 views + a section), 5 maps
    assert "horizontal section at z = " in text
    assert not re.search(r'(src|href)="(?!data:|https?://|#)', text)
    assert not re.search(r"<(link|iframe|object|embed)\b", text) and not re.search(r'src="https?:', text)
    # the only scripts: the 3D view's, inline (its data, three.js as gzip in base64, its code)
    scripts = re.findall(r"<script\b([^>]*)>", text)
    assert scripts == [' type="application/json" id="twin-viewer-data"'] + [
        f' type="application/octet-stream" id="{i}"' for i in
        ("twin-viewer-mesh", "twin-three-core", "twin-three-module", "twin-three-orbit")] + [""], scripts
    assert not re.search(r"\b(fetch|XMLHttpRequest|WebSocket|importScripts)\b", _viewer_code(text))
    # per element, significant changes first, changed elements highlighted
    table = text[text.index(">Per element, significant changes first</h3>"):]
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


def _viewer_code(text: str) -> str:
    return re.findall(r"<script>(.*?)</script>", text, re.S)[-1]


def test_report_contents_and_glossary(report):
    """A table of contents links every section; the glossary explains the tables' terms."""
    _, out, _ = report
    text = out.read_text(encoding="utf-8")
    nav = re.search(r'<nav class="toc"[^>]*>(.*?)</nav>', text, re.S)
    assert nav and text.index("<nav") < text.index("<h2")
    links = re.findall(r'<a href="#([^"]+)">', nav.group(1))
    ids = re.findall(r'<h[23] id="([^"]+)"', text)
    assert links == ids and len(ids) == len(set(ids)) and len(re.findall(r"<h[23][ >]", text)) == len(ids)
    assert {"structure", "view-3d", "registration-quality", "layers", "glossary"} <= set(ids)
    glossary = text[text.index('<h2 id="glossary">'):]
    terms = re.findall(r'<dt id="term-[^"]+">([^<]+)</dt>', glossary)
    for term in ("M3C2", "Level of detection (LoD)", "Fitness", "RMS, RMSE", "Overlap", "Strength", "Bundle error",
                 "Loop closure", "Core point", "Significant change", "Peak change", "EDTF", "Getty AAT"):
        assert term in terms, term
    assert terms == sorted(terms, key=str.lower)
    assert text.count('href="#glossary"') >= 2  # the registration and change sections point to it


def test_report_embeds_a_compact_model(report):
    """The 3D view's mesh is binary (gzip, base64), not JSON of floats, and decodes to the model's mesh."""
    import base64
    import gzip

    from twin.catalog.models import latest_model
    from twin.catalog.workspace import Workspace
    from twin.io.ply_write import read_mesh_ply

    ws, out, info = report
    text = out.read_text(encoding="utf-8")
    viewer = info["viewer"]
    assert viewer["shown"] and viewer["level"] == "full" and viewer["three"] == "0.185.1"
    meta = json.loads(re.search(r'<script type="application/json" id="twin-viewer-data">(.*?)</script>', text,
                                re.S).group(1))
    blob = re.search(r'<script type="application/octet-stream" id="twin-viewer-mesh">(.*?)</script>', text,
                     re.S).group(1)
    data = gzip.decompress(base64.b64decode(blob))
    types = {"u8": "<u1", "u16": "<u2", "i16": "<i2", "u32": "<u4"}

    def array(name):
        a = meta["arrays"][name]
        return np.frombuffer(data, dtype=types[a["type"]], count=a["count"], offset=a["offset"])

    mesh = read_mesh_ply(latest_model(Workspace.open(ws), "pavilion", "2025").meshes["full"])
    frame = meta["frame"]
    assert frame["faces"] == mesh.n_faces == viewer["faces"] and frame["vertices"] == mesh.n_vertices
    xyz = array("position").reshape(-1, 3) * np.array(frame["step"]) + frame["min"] + frame["centre"]
    assert np.abs(xyz - (mesh.vertices + mesh.origin)).max() <= max(frame["step"])  # 16 bits over the box
    assert (array("index").reshape(-1, 3) == mesh.faces).all()
    element = array("element")
    names = [e["id"] for e in meta["elements"]]
    assert {names[i] for i in np.unique(element) if i != 65535} == {"floor", "wall-south", "wall-north", "wall-west",
                                                                     "wall-east", "column"}
    assert meta["change"]["from"] == "2024" and meta["change"]["to"] == "2025" and meta["change"]["limit"] > 0
    significant = array("significant").astype(bool)
    assert 0 < significant.mean() < 0.5 and (array("change")[significant] != -32768).all()
    per_face = len(blob) / mesh.n_faces
    assert per_face < 16, per_face  # bytes of base64 per face, all arrays together
    assert viewer["embedded_bytes"] < 1_000_000 and info["size_bytes"] < 2_500_000


def test_report_without_three_says_why(cli, report, tmp_path: Path, monkeypatch):
    """No three.js (no npm): the report is still written, with one line saying the view is missing and why."""
    ws, _, _ = report
    monkeypatch.setenv("TWIN_THREE", str(tmp_path / "no-three"))
    out = tmp_path / "plain.html"
    result = cli("report", "pavilion", "--out", out, "-w", ws, "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["viewer"]["shown"] is False and "three.js is not installed" in info["viewer"]["missing"]
    assert "warning: the report has no 3D view: three.js is not installed" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert "The 3D view is missing: three.js is not installed" in text and "<script" not in text
    assert info["images"] == 12  # everything else is there


def test_viewer_level_choice(tmp_path: Path):
    """The smallest level of at least MIN_FACES faces; else the largest; no mesh, no level."""
    from types import SimpleNamespace

    from twin.report.viewer import MIN_FACES, choose_level

    def model(**levels):
        meshes = {}
        for name, faces in levels.items():
            path = tmp_path / f"mesh-{name}.ply"
            path.write_bytes(f"ply\nformat binary_little_endian 1.0\nelement vertex 3\nelement face {faces}\n"
                             "end_header\n".encode())
            meshes[name] = path
        return SimpleNamespace(meshes=meshes)

    assert choose_level(model(full=3_600_000, **{"1M": 1_000_000, "200k": 200_000, "50k": 50_000}))[:3:2] == (
        "50k", 50_000)
    assert choose_level(model(full=40_000, small=500))[0] == "full"
    assert choose_level(model(full=MIN_FACES - 1, small=500))[0] == "full"
    assert choose_level(SimpleNamespace(meshes={})) is None


def test_viewer_decimates_a_level_too_big_to_embed(report, monkeypatch):
    """A model whose smallest level is over MAX_FACES is decimated for the view and labelled again."""
    from twin.catalog.models import latest_model
    from twin.catalog.workspace import Workspace
    from twin.compare.run import current_layers
    from twin.report import viewer

    ws, _, _ = report
    workspace = Workspace.open(ws)
    model = latest_model(workspace, "pavilion", "2025")
    monkeypatch.setattr(viewer, "MAX_FACES", 10_000)
    monkeypatch.setattr(viewer, "DECIMATE_TO", 5_000)
    mesh = viewer.viewer_mesh(model, current_layers(workspace, "pavilion"))
    assert mesh.level == "full" and mesh.file_faces > 10_000 and 4_000 < len(mesh.faces) <= 5_250
    assert "decimated to 5,000 faces" in mesh.notes[0] and "labelled for this report" in mesh.labels_from
    assert (mesh.element >= 0).mean() > 0.9 and len(mesh.element) == len(mesh.faces)


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
