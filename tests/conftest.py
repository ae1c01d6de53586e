"""Shared fixtures: the real scans in ../shared/data/real, fresh workspaces, the CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
SAMPLES = REPO / "sample_scans"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real: skipped on a user's machine without it, a failure under CI."""
    if not REAL_DATA.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REAL_DATA} is missing: CI must have ../shared/data/real beside the checkout")
        pytest.skip(f"{REAL_DATA} not present")
    return REAL_DATA


@pytest.fixture
def workspace(tmp_path: Path):
    from twin.catalog.workspace import init_workspace

    return init_workspace(tmp_path / "ws", name="test-ws")


@pytest.fixture
def cli():
    """Invoke the twin CLI in-process: cli("inspect", "x.las") -> Result with exit_code, stdout, stderr."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke
