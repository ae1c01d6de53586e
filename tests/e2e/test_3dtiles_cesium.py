"""The exported 3D Tiles in CesiumJS, as a web globe shows them: headless Chromium, offline.

The tileset of the processed test pavilion (tests/cli/test_cli_export.py: a stone platform
and a stele, georeferenced in UTM 48N) is served from 127.0.0.1 together with CesiumJS from
tools/node_modules (``npm ci --prefix tools``). A page makes a Viewer with no imagery, no
terrain, no geocoder and no Cesium ion, loads the tileset, frames it, waits until every tile
is loaded and picks at the screen positions of points whose survey coordinates pyproj carries
to ECEF (independently of the exporter): the stele's south face, the platform's top, and an
empty point above them. Each picked feature's element and phase are read back through
Cesium's metadata API (``feature.getProperty``). Every request the browser makes is recorded
(and anything not for 127.0.0.1 refused), every console message kept (Chromium as
tests/e2e/browser.py launches it: a fresh profile, SwiftShader, background services off).

Needs node, ``npm ci --prefix tools`` (cesium, playwright-core) and Chromium (Debian:
``apt-get install -y chromium``); skipped where one is missing, a failure under ``CI=true``.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_cli_export import PLATFORM, STELE, processed  # noqa: F401  (processed: a fixture)
from tests.e2e.browser import NODE_MODULES, needed, run_driver
from tests.e2e.browser import browser_tools as find_browser_tools

CESIUM_BUILD = NODE_MODULES / "cesium" / "Build" / "Cesium"
TIMEOUT_S = 240  # SwiftShader on two busy cores is slow
FINEST_TILE_FACES = 5_000  # faces a tile of the finest level holds here (8 tiles of its 8,590)

# CRS coordinates of the points to pick, with the element each lies on (the ground truth)
STELE_SOUTH_FACE = [(STELE[0][0] + STELE[1][0]) / 2, STELE[0][1], 6.0]  # centre of the face towards the camera
PLATFORM_TOP = [(PLATFORM[0][0] + PLATFORM[1][0]) / 2, (PLATFORM[0][1] + PLATFORM[1][1]) / 2, PLATFORM[1][2]]
ABOVE_STELE = [(STELE[0][0] + STELE[1][0]) / 2, (STELE[0][1] + STELE[1][1]) / 2, STELE[1][2] + 0.6]  # nothing there

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>twin 3D Tiles</title>
<script>window.CESIUM_BASE_URL = "/cesium/";</script>
<script src="/cesium/Cesium.js"></script>
<link href="/cesium/Widgets/widgets.css" rel="stylesheet">
<style>html, body, #globe { margin: 0; width: 100%; height: 100%; overflow: hidden; }</style>
</head><body><div id="globe"></div>
<script>
"use strict";
const TARGETS = __TARGETS__;
async function main() {
  Cesium.Ion.defaultAccessToken = "";  // never Cesium's default token: nothing here may ask ion
  const viewer = new Cesium.Viewer("globe", {
    baseLayer: false, terrainProvider: new Cesium.EllipsoidTerrainProvider(), geocoder: false,
    baseLayerPicker: false, homeButton: false, sceneModePicker: false, navigationHelpButton: false,
    animation: false, timeline: false, fullscreenButton: false, infoBox: false, selectionIndicator: false,
    skyBox: false, skyAtmosphere: false, useBrowserRecommendedResolution: false,
  });
  viewer.resolutionScale = 1.0;
  const started = performance.now();
  const tileset = await Cesium.Cesium3DTileset.fromUrl("/tiles/tileset.json");
  viewer.scene.primitives.add(tileset);
  await viewer.zoomTo(tileset, new Cesium.HeadingPitchRange(0.0, -0.5, 0.0));
  let frames = 0;
  viewer.scene.postRender.addEventListener(() => { frames += 1; });
  async function settle() {  // loaded: tilesLoaded for 10 frames in a row (a request may follow a frame late)
    let settled = 0;
    while (settled < 10) {
      if (performance.now() - started > __WAIT_MS__) throw new Error(`tiles not loaded after ${__WAIT_MS__} ms`);
      const before = frames;
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (frames === before) viewer.scene.render();
      settled = tileset.tilesLoaded ? settled + 1 : 0;
    }
  }
  const toWindow = Cesium.SceneTransforms.worldToWindowCoordinates || Cesium.SceneTransforms.wgs84ToWindowCoordinates;
  function pickAll(targets) {
    const picks = {};
    for (const [name, xyz] of Object.entries(targets)) {
      const position = xyz.length === 2 ? new Cesium.Cartesian2(xyz[0], xyz[1])  // a window position
        : toWindow(viewer.scene, new Cesium.Cartesian3(xyz[0], xyz[1], xyz[2]));
      const feature = position ? viewer.scene.pick(position) : undefined;
      const pick = { window: position ? [position.x, position.y] : null, feature: false };
      if (feature instanceof Cesium.Cesium3DTileFeature) {
        pick.feature = true;
        pick.fromThisTileset = feature.tileset === tileset;
        pick.content = feature.content.url.split("/").pop();
        pick.featureId = feature.featureId;
        pick.propertyIds = feature.getPropertyIds();
        for (const id of ["id", "name", "primaryPhase", "phases", "phaseDates", "primaryMaterial", "crmClass"]) {
          const value = feature.getProperty(id);
          pick[id] = value === undefined ? null : Array.isArray(value) ? Array.from(value) : value;
        }
      }
      picks[name] = pick;
    }
    return picks;
  }
  await settle();
  const picks = pickAll(TARGETS);
  // close to the stele the finest mesh level must have replaced the coarse one
  const face = new Cesium.Cartesian3(...TARGETS.stele);
  viewer.camera.lookAt(face, new Cesium.HeadingPitchRange(0.0, -0.3, 3.0));
  await settle();
  picks.close = pickAll({ stele: TARGETS.stele }).stele;
  viewer.camera.lookAtTransform(Cesium.Matrix4.IDENTITY);
  return {
    picks, frames, seconds: (performance.now() - started) / 1000,
    tilesLoaded: tileset.tilesLoaded, canvas: [viewer.canvas.clientWidth, viewer.canvas.clientHeight],
    cesium: Cesium.VERSION, webgl2: viewer.scene.context.webgl2,
  };
}
main().then((r) => { window.twinResult = r; }, (e) => { window.twinFailure = String((e && e.stack) || e); });
</script></body></html>
"""

# Runs under node (tests/e2e/browser.py's prelude: openBrowser): loads the page and returns what it saw.
BODY = r"""
async function main() {
  const { page, requests, messages, errors, close } = await openBrowser({ width: 1024, height: 768 });
  await page.goto(process.env.TWIN_ORIGIN + "/index.html");
  await page.waitForFunction(() => window.twinResult || window.twinFailure, null,
                             { timeout: TIMEOUT_MS, polling: 250 });
  const result = await page.evaluate(() => window.twinResult || null);
  const failure = await page.evaluate(() => window.twinFailure || null);
  await close();
  return { result, failure, requests, messages, errors };
}
"""


@pytest.fixture(scope="module")
def browser_tools() -> dict[str, str]:
    """node, Chromium, playwright-core and CesiumJS: skipped where one is missing, a failure under CI."""
    tools = find_browser_tools("the CesiumJS test")
    if not (CESIUM_BUILD / "Cesium.js").is_file():
        needed("run `npm ci --prefix tools` to install cesium", "the CesiumJS test")
    return tools


@pytest.fixture(scope="module")
def tileset(processed, tmp_path_factory) -> Path:  # noqa: F811  (the fixture imported above)
    """pavilion/2024 exported as 3D Tiles through the CLI."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    out = tmp_path_factory.mktemp("tiles") / "out"
    # the finest level split in space, as a survey's is (MAX_TILE_FACES): a quarter of its faces a tile
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("twin.export.tiles3d.MAX_TILE_FACES", FINEST_TILE_FACES)
        result = CliRunner().invoke(app, ["export", "pavilion", "--survey", "2024", "-f", "3dtiles", "--out",
                                          str(out), "-w", str(processed)])
    assert result.exit_code == 0, result.stderr + result.stdout
    return out / "pavilion-2024-3dtiles"


def _ecef(points: list[list[float]]) -> list[list[float]]:
    """Survey (UTM 48N) coordinates to ECEF by pyproj: the ground truth of where they are."""
    from pyproj import Transformer

    x, y, z = np.asarray(points, dtype=np.float64).T
    return np.column_stack(Transformer.from_crs("EPSG:32648", "EPSG:4978", always_xy=True).transform(x, y, z)).tolist()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


def view_in_cesium(tools: dict[str, str], tiles: Path, targets: dict[str, list[float]], site: Path) -> dict:
    """Serve ``tiles`` and CesiumJS on 127.0.0.1, open the page in headless Chromium, return what it saw."""
    site.mkdir(parents=True)
    (site / "cesium").symlink_to(CESIUM_BUILD, target_is_directory=True)
    (site / "tiles").symlink_to(tiles, target_is_directory=True)
    page = PAGE.replace("__TARGETS__", json.dumps(targets)).replace("__WAIT_MS__", str((TIMEOUT_S - 30) * 1000))
    (site / "index.html").write_text(page, encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        seen = run_driver(tools, BODY, site.parent / "driver", allowed=[origin + "/"], timeout_s=TIMEOUT_S,
                          env={"TWIN_ORIGIN": origin})
    finally:
        server.shutdown()
        server.server_close()
    seen["origin"] = origin
    return seen


@pytest.fixture(scope="module")
def seen(browser_tools, tileset, tmp_path_factory) -> dict:
    names = ("stele", "platform", "above")
    targets = dict(zip(names, _ecef([STELE_SOUTH_FACE, PLATFORM_TOP, ABOVE_STELE]), strict=True))
    targets["corner"] = [5.0, 5.0]  # the window's top-left corner: space above the horizon
    return view_in_cesium(browser_tools, tileset, targets, tmp_path_factory.mktemp("site") / "site")


def test_the_page_loads_every_tile_without_errors(seen):
    assert seen["failure"] is None, seen["failure"]
    result = seen["result"]
    assert result["tilesLoaded"] is True and result["frames"] > 0
    errors = [m for m in seen["messages"] if m["type"] == "error"]
    assert errors == [] and seen["errors"] == [], (errors, seen["errors"])


def test_no_request_leaves_the_machine(seen):
    network = [u for u in seen["requests"] if not u.startswith(("data:", "blob:"))]
    assert network, "the page made no request at all"
    assert all(u.startswith(seen["origin"] + "/") for u in network), [u for u in network
                                                                      if not u.startswith(seen["origin"])]
    assert any(u.endswith("/tiles/tileset.json") for u in network)
    assert any(u.endswith(".glb") for u in network)


def test_picking_reads_the_element_and_its_phase_through_the_metadata_api(seen):
    picks = seen["result"]["picks"]
    stele, platform = picks["stele"], picks["platform"]
    assert stele["feature"] and stele["fromThisTileset"], stele
    assert (stele["id"], stele["name"], stele["primaryPhase"]) == ("stele", "Stele", "built"), stele
    assert stele["phases"] == ["built"] and stele["phaseDates"] == ["1805"] and stele["primaryMaterial"] == "limestone"
    assert platform["feature"] and platform["fromThisTileset"], platform
    assert (platform["id"], platform["name"], platform["primaryPhase"]) == ("platform", "Stone platform", "built")
    assert platform["primaryMaterial"] == "stone" and platform["crmClass"] == "B3_Filled_Morphological_Building_Section"
    close = picks["close"]  # 3 m from the stele: the finest level's tiles have replaced the coarse one
    assert close["feature"] and close["id"] == "stele" and close["content"].startswith("mesh-full-"), close
    for empty in ("above", "corner"):  # nothing there: a pick is not simply always a hit
        assert picks[empty]["window"] is not None and picks[empty]["feature"] is False, picks[empty]


def test_the_exported_contents_pass_the_validator_and_the_tileset_the_schema(tileset):
    """The same checks as tests/unit/test_export_3dtiles.py, on the contents of a processed model."""
    from tests.unit.test_export_3dtiles import run_validator, tileset_validator

    doc = json.loads((tileset / "tileset.json").read_text(encoding="utf-8"))
    assert [e.message for e in tileset_validator().iter_errors(doc)] == []
    glbs = sorted(tileset.glob("*.glb"))
    names = [p.name for p in glbs]
    assert names[0] == "cloud-root.glb" and names[-1] == "mesh-small.glb"
    assert len(names) >= 6 and all(n.startswith("mesh-full-") for n in names[1:-1])  # the finest level in parts
    for path in glbs:
        report = run_validator(path)
        assert report["issues"]["numErrors"] == 0, (path.name, report["issues"]["messages"])
