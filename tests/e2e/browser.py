"""Headless Chromium for the browser tests, driven by playwright-core from tools/node_modules.

``browser_tools()`` finds node, Chromium and playwright-core (skipped where one is missing, a
failure under ``CI=true``). ``run_driver(tools, body, ...)`` runs a node script made of
:data:`PRELUDE` and ``body``: ``body`` defines ``async function main()`` and returns what the
test reads (printed as one JSON line). The prelude's ``openBrowser()`` launches Chromium with
a fresh profile (``--user-data-dir`` in a new temporary folder), software WebGL (SwiftShader)
and every background service off, refuses any request that is not for an allowed prefix
(``TWIN_ALLOWED``, a JSON list), and records every request, console message and page error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.e2e.consumers import needed

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "tools" / "node_modules"
PLAYWRIGHT = NODE_MODULES / "playwright-core"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--ignore-gpu-blocklist", "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
                 "--disable-quic")

PRELUDE = r"""
"use strict";
const fs = require("fs"), os = require("os"), path = require("path");
const { chromium } = require(process.env.TWIN_PLAYWRIGHT);
const ALLOWED = JSON.parse(process.env.TWIN_ALLOWED || "[]");
const TIMEOUT_MS = Number(process.env.TWIN_TIMEOUT_MS || 60000);
async function openBrowser(viewport) {
  const profile = fs.mkdtempSync(path.join(process.env.TWIN_PROFILE_ROOT || os.tmpdir(), "profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.TWIN_CHROMIUM, headless: true, args: JSON.parse(process.env.TWIN_CHROMIUM_ARGS),
    viewport: viewport || { width: 1024, height: 768 }, serviceWorkers: "block",
  });
  const requests = [], messages = [], errors = [];
  context.on("request", (r) => requests.push(r.url()));
  await context.route("**/*", (route) => {  // nothing leaves the machine
    const url = route.request().url();
    return ALLOWED.some((prefix) => url.startsWith(prefix)) ? route.continue() : route.abort();
  });
  const page = context.pages()[0] || await context.newPage();
  page.on("console", (m) => messages.push({ type: m.type(), text: m.text() }));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("worker", (w) => w.on("console", (m) => messages.push({ type: m.type(), text: m.text(), worker: true })));
  return { context, page, requests, messages, errors, profile, close: () => context.close() };
}
"""

EPILOGUE = r"""
main().then((out) => { process.stdout.write(JSON.stringify(out) + "\n"); },
            (e) => { process.stderr.write(String((e && e.stack) || e) + "\n"); process.exit(1); });
"""


def find_chromium() -> str | None:
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def browser_tools(what: str = "the browser test") -> dict[str, str]:
    """node, Chromium and playwright-core: skipped where one is missing, a failure under CI."""
    node = shutil.which("node")
    if node is None:
        needed("node is not installed", what)
    if not (PLAYWRIGHT / "package.json").is_file():
        needed("run `npm ci --prefix tools` to install playwright-core", what)
    chromium = find_chromium()
    if chromium is None:
        needed("chromium is not installed (apt-get install -y chromium)", what)
    return {"node": node, "chromium": chromium}


def run_driver(tools: dict[str, str], body: str, folder: Path, *, allowed: list[str], timeout_s: float,
               env: dict[str, str] | None = None) -> dict:
    """Run ``PRELUDE + body`` under node in ``folder``; the JSON ``main()`` returned, with
    ``wall_seconds``. Chromium's profile is made fresh under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    driver = folder / "driver.cjs"
    driver.write_text(PRELUDE + body + EPILOGUE, encoding="utf-8")
    profiles = folder / "profiles"
    profiles.mkdir(exist_ok=True)
    full_env = {**os.environ, "TWIN_PLAYWRIGHT": str(PLAYWRIGHT), "TWIN_CHROMIUM": tools["chromium"],
                "TWIN_CHROMIUM_ARGS": json.dumps(list(CHROMIUM_ARGS)), "TWIN_ALLOWED": json.dumps(allowed),
                "TWIN_PROFILE_ROOT": str(profiles), "TWIN_TIMEOUT_MS": str(int((timeout_s - 20) * 1000)),
                **(env or {})}
    started = time.perf_counter()
    done = subprocess.run([tools["node"], str(driver)], capture_output=True, text=True, env=full_env,
                          timeout=timeout_s, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    seen["wall_seconds"] = round(time.perf_counter() - started, 1)
    return seen
