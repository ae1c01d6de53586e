"""The report's 3D view in headless Chromium, opened from the file as a user opens it, offline.

The report of the test pavilion (tests/cli/test_cli_report.py: a floor, a walled hall and a
column, survey 2025 compared with 2024) is opened through ``file://`` in Chromium as
tests/e2e/browser.py launches it (a fresh profile, SwiftShader WebGL, background services
off, any request other than the report itself refused and recorded). The test waits for
the view (three.js unpacked from the page), colours it by element, phase, material and
change through the page's own selector and takes a screenshot of the canvas each time, then
clicks where the page projects the centres of two known elements (the south wall's region,
the column's) and reads what the info panel says; and clicks an empty corner.

Needs node, ``npm ci --prefix tools`` (three, playwright-core) and Chromium; skipped where one
is missing, a failure under ``CI=true``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli.compare_workspace import ORIGIN
from tests.cli.test_cli_report import report  # noqa: F401  (a fixture)
from tests.e2e.browser import NODE_MODULES, browser_tools, needed, run_driver

TIMEOUT_S = 240
MODES = ("element", "phase", "material", "change")
# centres of element regions (tests/cli/compare_workspace.py, site frame + ORIGIN), with what a click there must name
TARGETS = {
    "wall-south": (ORIGIN + [4.25, 1.5, 1.55]).tolist(),  # the middle of the hall's south wall, facing the camera
    "column": (ORIGIN + [0.75, 2.95, 1.3]).tolist(),  # the column west of the hall
    "corner": [6, 6],  # the canvas's top-left corner: the background
}

BODY = r"""
async function main() {
  const { page, requests, messages, errors, close } = await openBrowser({ width: 1400, height: 1000 });
  await page.goto(process.env.TWIN_REPORT);
  await page.waitForFunction(() => window.twinViewer && (window.twinViewer.ready || window.twinViewer.error), null,
                             { timeout: TIMEOUT_MS, polling: 250 });
  const state = await page.evaluate(() => ({ ready: twinViewer.ready, error: twinViewer.error, faces: twinViewer.faces,
                                             three: twinViewer.three,
                                             status: document.getElementById("twin-viewer-status").textContent }));
  const out = { state, shots: {}, picks: {}, requests, messages, errors };
  if (state.ready) {
    const canvas = page.locator("#twin-viewer-canvas");
    await canvas.scrollIntoViewIfNeeded();
    for (const mode of JSON.parse(process.env.TWIN_MODES)) {
      await page.selectOption("#twin-viewer-colour", mode);  // as a user does
      const file = path.join(process.cwd(), `canvas-${mode}.png`);
      await canvas.screenshot({ path: file });
      out.shots[mode] = { file, legend: await page.locator("#twin-viewer-legend").innerText(),
                          mode: await page.evaluate(() => twinViewer.mode) };
    }
    await page.selectOption("#twin-viewer-colour", "element");
    for (const [name, target] of Object.entries(JSON.parse(process.env.TWIN_TARGETS))) {
      const at = target.length === 2  // a position in the canvas, or a world point the page projects
        ? await canvas.evaluate((c, d) => {
          const r = c.getBoundingClientRect();
          return { x: r.left + d[0], y: r.top + d[1], inside: true };
        }, target)
        : await page.evaluate((p) => twinViewer.screenOf(p), target);
      await page.mouse.click(at.x, at.y);
      out.picks[name] = { at, info: await page.locator("#twin-viewer-info").innerText(),
                          picked: await page.evaluate(() => twinViewer.picked) };
    }
  }
  await close();
  return out;
}
"""


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    found = browser_tools("the report viewer test")
    if not (NODE_MODULES / "three" / "package.json").is_file():
        needed("run `npm ci --prefix tools` to install three", "the report viewer test")
    return found


@pytest.fixture(scope="module")
def seen(tools, report, tmp_path_factory) -> dict:  # noqa: F811  (the fixture imported above)
    _, html, info = report
    assert info["viewer"]["shown"], info["viewer"]
    url = html.resolve().as_uri()
    return run_driver(tools, BODY, tmp_path_factory.mktemp("viewer"), allowed=[url], timeout_s=TIMEOUT_S,
                      env={"TWIN_REPORT": url, "TWIN_MODES": json.dumps(MODES), "TWIN_TARGETS": json.dumps(TARGETS)})


def test_the_view_starts_without_errors(seen, report):
    state = seen["state"]
    assert state["ready"] and state["error"] is None, state
    assert state["faces"] == report[2]["viewer"]["faces"] > 1000
    assert state["three"] == "185" and "faces; drag to turn" in state["status"]
    errors = [m for m in seen["messages"] if m["type"] == "error"]
    assert errors == [] and seen["errors"] == [], (errors, seen["errors"])


def test_no_request_leaves_the_file(seen, report):
    url = report[1].resolve().as_uri()
    outside = [u for u in seen["requests"] if not u.startswith(("data:", "blob:")) and u != url]
    assert outside == [] and url in seen["requests"]


def _pixels(path: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_the_canvas_shows_the_model_in_each_colouring(seen):
    shots = seen["shots"]
    assert list(shots) == list(MODES) and all(shots[m]["mode"] == m for m in MODES)
    background = np.array([0xF3, 0xF4, 0xF6])
    pictures = {}
    for mode in MODES:
        image = _pixels(shots[mode]["file"])
        assert image.shape[0] > 300 and image.shape[1] > 500, image.shape
        drawn = np.abs(image - background).sum(axis=2) > 24
        colours = len(np.unique(image[drawn].reshape(-1, 3), axis=0))
        assert 0.08 < drawn.mean() < 0.9 and colours >= 20, (mode, drawn.mean(), colours)  # a model, shaded
        pictures[mode] = image
    # one colour per category: six elements in view, two phases, three materials (each a cluster of pixels)
    clusters = {mode: _clusters(pictures[mode], background) for mode in ("element", "phase", "material")}
    assert clusters["element"] >= 5 and clusters["phase"] >= 2 and clusters["material"] >= 3, clusters
    assert np.abs(pictures["element"] - pictures["phase"]).sum(axis=2).mean() > 3  # recoloured, not the same
    assert "South wall (wall-south)" in shots["element"]["legend"] and "Column (column)" in shots["element"]["legend"]
    assert "construction-1805 (1805)" in shots["phase"]["legend"] and "brick" in shots["material"]["legend"]
    assert "M3C2 distance 2024 → 2025" in shots["change"]["legend"]
    # change: the bulge of the north wall in warm colours (moved outward, positive), most of the rest grey
    change = pictures["change"]
    warm = (change[..., 0] > 150) & (change[..., 0] - change[..., 2] > 60)
    assert warm.sum() > 500, warm.sum()


def _clusters(image: np.ndarray, background: np.ndarray) -> int:
    """Colour clusters (RGB in 4 levels a channel) holding at least 1 % of the drawn pixels."""
    drawn = image[np.abs(image - background).sum(axis=2) > 24]
    q = drawn // 64
    share = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64) / max(1, len(q))
    return int((share > 0.01).sum())


def test_a_click_on_a_part_shows_its_element_phase_material_and_change(seen):
    picks = seen["picks"]
    wall = picks["wall-south"]
    assert wall["at"]["inside"] and wall["picked"]["element"] == "wall-south", wall
    assert wall["info"].startswith("South wall") and "Hall walls" in wall["info"]  # the group it belongs to
    assert wall["picked"]["phase"] == "construction-1805" and wall["picked"]["material"] == "brick"
    assert "change 2024 → 2025 here" in wall["info"] and "the element's core points" in wall["info"]
    assert abs(wall["picked"]["point"][1] - (ORIGIN[1] + 1.5)) < 0.1  # on the wall's face
    column = picks["column"]
    assert column["picked"]["element"] == "column" and column["info"].startswith("Column"), column
    assert column["picked"]["phase"] == "reconstruction-1833" and "ironwood (lim)" in column["info"]
    assert "peak" in column["info"] and "changed" in column["info"]  # the element's change figures
    corner = picks["corner"]
    assert corner["picked"] is None and "Nothing there" in corner["info"]
