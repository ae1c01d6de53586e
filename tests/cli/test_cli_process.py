"""`twin process` from the command line: summaries, exit codes, bad pipelines refused up front."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import workspace_state, write_las
from tests.unit.test_runner import CLEAN


def _setup(cli, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    cli("init", ws)
    for i in range(2):
        write_las(tmp_path / f"S{i + 1}.laz", n=2000, seed=i)
    cli("ingest", tmp_path / "S1.laz", tmp_path / "S2.laz", "--structure", "pavilion", "--survey", "2024", "-w", ws)
    return ws


def test_process_json_summary_and_rerun(cli, tmp_path: Path):
    ws = _setup(cli, tmp_path)
    pipeline = tmp_path / "clean.yaml"
    pipeline.write_text(CLEAN.format(voxel=0.5))
    result = cli("process", "pavilion", "-p", pipeline, "-w", ws, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == [] and report["succeeded"][0]["status"] == "built"
    again = cli("process", "pavilion", "-p", pipeline, "-w", ws)
    assert again.exit_code == 0 and "up to date, nothing to do" in again.stdout


def test_bad_pipeline_refused_before_any_work(cli, tmp_path: Path):
    ws = _setup(cli, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(CLEAN.format(voxel=-1))
    before = workspace_state(ws)
    result = cli("process", "pavilion", "-p", bad, "-w", ws)
    assert result.exit_code == 2
    assert f"{bad}: stages[2] (voxel_downsample) voxel_size: Input should be greater than 0" in result.stderr
    assert workspace_state(ws) == before and not (ws / "models").exists()


def test_unknown_stage_and_pipeline_name(cli, tmp_path: Path):
    ws = _setup(cli, tmp_path)
    bad = tmp_path / "typo.yaml"
    bad.write_text("name: t\nstages:\n  - stage: denoise\n  - stage: write\n")
    assert "unknown stage 'denoise'" in cli("process", "pavilion", "-p", bad, "-w", ws).stderr
    result = cli("process", "pavilion", "-p", "fastest", "-w", ws)
    assert result.exit_code == 2 and "unknown pipeline 'fastest'" in result.stderr


def test_nothing_named(cli, tmp_path: Path):
    ws = _setup(cli, tmp_path)
    result = cli("process", "-w", ws)
    assert result.exit_code == 2 and "name the structures to process, or use --all" in result.stderr
    missing = cli("process", "pavilion", "--survey", "1999", "-w", ws)
    assert missing.exit_code == 4 and "no survey '1999'" in missing.stderr


def test_memory_limit(cli, tmp_path: Path):
    """A size the command cannot read, or too small for any survey, is one line before any
    work (the workspace as it was); an ample limit processes as usual."""
    ws = _setup(cli, tmp_path)
    pipeline = tmp_path / "clean.yaml"
    pipeline.write_text(CLEAN.format(voxel="auto"))
    before = workspace_state(ws)
    bad = cli("process", "pavilion", "-p", pipeline, "-w", ws, "--memory-limit", "lots")
    assert bad.exit_code == 2 and "--memory-limit 'lots' is not a size" in bad.stderr
    small = cli("process", "pavilion", "-p", pipeline, "-w", ws, "--memory-limit", "1G")
    assert small.exit_code == 2 and "--memory-limit 1.0 GB is too little" in small.stderr
    assert len(small.stderr.strip().splitlines()) == 1
    assert workspace_state(ws) == before and not (ws / "models").exists()
    ok = cli("process", "pavilion", "-p", pipeline, "-w", ws, "--memory-limit", "4G", "--json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["succeeded"][0]["status"] == "built"
