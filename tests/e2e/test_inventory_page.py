"""The inventory status page (issue 16.2) in headless Chromium, opened from the file, offline.

The page of the 850 generated monuments (tests/unit/inventory_workspace.py: one up to date,
one stale, one changed, one more up to date in parts, the rest never surveyed) is written by
``twin inventory status --html`` and opened through ``file://`` as tests/e2e/browser.py
launches Chromium (fresh profile, every request but the page's own refused and recorded). The
test takes screenshots of the plan of everything and of the Imperial City's plan and finds
each priority colour drawn there, reads the legend, and checks that the table lists every
structure by its number, each linked from the plan; and a screenshot of the palace's
coverage plan shows its hole and the station suggested to see it.

Needs node, ``npm ci --prefix tools`` (playwright-core) and Chromium; skipped where one is
missing, a failure under ``CI=true``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.e2e.browser import browser_tools, run_driver
from tests.unit import inventory_workspace
from twin.report.inventory_plan import PRIORITY_COLOURS

TIMEOUT_S = 180

BODY = r"""
async function main() {
  const { page, requests, messages, errors, close } = await openBrowser({ width: 1400, height: 1000 });
  await page.goto(process.env.TWIN_PAGE);
  const out = { requests, messages, errors, shots: {} };
  for (const id of JSON.parse(process.env.TWIN_PLANS)) {
    const plan = page.locator(`#${id}`);
    await plan.scrollIntoViewIfNeeded();
    const file = path.join(process.cwd(), `${id}.png`);
    await plan.screenshot({ path: file });
    out.shots[id] = { file, box: await plan.boundingBox(),
                      drawn: await plan.evaluate((svg) => svg.querySelectorAll("a[data-priority]").length) };
  }
  out.legend = await page.locator(".legend").first().innerText();
  out.numbers = await page.$$eval("#structure-table tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));
  out.rowIds = await page.$$eval("#structure-table tbody tr", (rows) => rows.map((r) => r.id));
  out.links = await page.$$eval("#plan-all a[data-priority]", (links) => links.map((a) => a.getAttribute("href")));
  await close();
  return out;
}
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    from typer.testing import CliRunner

    from twin.cli.app import app

    tools = browser_tools("the inventory page test")
    root = tmp_path_factory.mktemp("inventory-page")
    made = inventory_workspace.make(root)
    html = root / "status.html"
    result = CliRunner().invoke(app, ["inventory", "status", "-w", str(made.ws.root), "--as-of", "2025-06-01",
                                      "--html", str(html)])
    assert result.exit_code == 0, result.stderr
    url = html.resolve().as_uri()
    found = run_driver(tools, BODY, root / "browser", allowed=[url], timeout_s=TIMEOUT_S,
                       env={"TWIN_PAGE": url, "TWIN_PLANS": json.dumps(["plan-all", "plan-hue-0002",
                                                                        f"coverage-{made.palace}"])})
    return made, url, found


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)


def _pixels(path: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def _count(image: np.ndarray, hex_colour: str) -> int:
    return int((np.abs(image - _rgb(hex_colour)).sum(axis=2) <= 24).sum())


def test_the_page_opens_offline_without_errors(seen):
    _, url, found = seen
    assert [u for u in found["requests"] if u != url and not u.startswith("data:")] == []
    assert found["errors"] == [] and [m for m in found["messages"] if m["type"] == "error"] == []


def test_the_plan_shows_every_structure_coloured_by_priority(seen):
    found = seen[2]
    shot = found["shots"]["plan-all"]
    assert shot["drawn"] == 850 and shot["box"]["width"] > 1000 and shot["box"]["height"] > 600
    image = _pixels(shot["file"])
    counts = {reason: _count(image, colour) for reason, colour in PRIORITY_COLOURS.items()}
    # 846 never surveyed, one stale, one changed, two up to date (the palace among the Imperial City's dots)
    assert counts["never surveyed"] > 846 * 10, counts
    assert counts["stale"] >= 8 and counts["significant change"] >= 8 and counts[None] >= 8, counts
    drawn = np.abs(image - _rgb("#fbfbf8")).sum(axis=2) > 24
    assert 0.01 < drawn.mean() < 0.5, drawn.mean()  # a map drawn, not a blank or a blot
    assert "never surveyed (846)" in found["legend"] and "stale (1)" in found["legend"]
    assert "significant change (1)" in found["legend"] and "up to date (2)" in found["legend"]


def test_the_complex_plan_shows_the_palace_footprint_and_the_outline(seen):
    found = seen[2]
    image = _pixels(found["shots"]["plan-hue-0002"]["file"])
    assert _count(image, PRIORITY_COLOURS[None]) > 150  # the palace's footprint, tens of pixels across
    assert _count(image, PRIORITY_COLOURS["never surveyed"]) > 2000
    outline = (np.abs(image - _rgb("#374151")).sum(axis=2) <= 30).sum()
    assert outline > 300, outline  # the Imperial City's dashed outline and its name


def test_the_coverage_plan_shows_the_hole_and_the_suggested_station(seen):
    from twin.report.coverage_plan import HOLE, STATION

    made, _, found = seen
    shot = found["shots"][f"coverage-{made.palace}"]
    assert shot["box"]["width"] > 300
    image = _pixels(shot["file"])
    assert _count(image, HOLE) > 40 and _count(image, STATION) > 40  # the hole's band and the station's disc


def test_the_table_lists_every_structure_linked_from_the_plan(seen):
    made, _, found = seen
    numbers = [m["inventory_number"] for m in made.monuments]
    assert sorted(found["numbers"]) == sorted(numbers)
    assert sorted(found["links"]) == sorted(f"#{row_id}" for row_id in found["rowIds"])
