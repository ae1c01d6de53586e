"""Two `twin` processes on one catalog at once, on SQLite and on PostgreSQL: nothing corrupt,
nothing lost, nothing registered twice.

Each process imports twin first, then waits for a barrier file, so that their work really
overlaps. Two races:

- the same files ingested by both: the loser must answer exactly as a sequential rerun does
  ("skipped ...: already ingested as <structure>/<survey>/<station>"), never with an
  IntegrityError, and the store must hold exactly the blobs the catalog refers to;
- two technicians, each ingesting a survey of their own (one file given to both) and then
  processing it: every file registered exactly once, both models and runs recorded, and
  `twin verify` finds every raw scan in the store intact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from tests.conftest import BACKENDS, REPO, catalog_option, write_las
from tests.unit.test_runner import CLEAN
from twin.catalog import db
from twin.catalog.store import file_digest
from twin.catalog.workspace import Workspace

CATALOG_BACKENDS = BACKENDS
ROUNDS = 3

_RUNNER = """
import json, sys, time
from pathlib import Path
from twin.cli.app import app
barrier = Path(sys.argv[1])
deadline = time.time() + 60
while not barrier.exists() and time.time() < deadline:
    time.sleep(0.001)
for args in json.loads(sys.argv[2]):  # one command after the other, as a technician types them
    try:
        app(args, prog_name="twin")
    except SystemExit as done:
        if done.code:
            raise
"""


def _start(barrier: Path, *commands: list[object]) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    script = json.dumps([[str(a) for a in args] for args in commands])
    return subprocess.Popen([sys.executable, "-c", _RUNNER, str(barrier), script],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _race(tmp_path: Path, name: str, commands: dict[str, list[list[object]]]) -> dict[str, tuple[str, str, int]]:
    """Start one process per entry, let them go together; (stdout, stderr, exit code) of each."""
    barrier = tmp_path / f"go-{name}"
    procs = {who: _start(barrier, *cmds) for who, cmds in commands.items()}
    time.sleep(2.5)  # both have imported twin and wait at the barrier
    barrier.touch()
    results = {who: (*p.communicate(timeout=300), p.returncode) for who, p in procs.items()}
    for who, (stdout, stderr, code) in results.items():
        assert code == 0, (who, stdout, stderr)
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return results


def _ingest_cmd(files: list[Path], structure: str, ws: Path, survey: str = "s1") -> list[object]:
    return ["ingest", *files, "--structure", structure, "--survey", survey, "-w", ws]


def _catalog(ws: Path, table) -> list[dict]:
    workspace = Workspace.open(ws)
    with workspace.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table)).mappings()]
    workspace.engine.dispose()
    return rows


def _store_matches_catalog(ws: Path) -> None:
    referenced = {row["store_path"] for row in _catalog(ws, db.scans)}
    stored = {str(p.relative_to(ws)) for p in (ws / "store").rglob("*") if p.is_file()}
    assert stored == referenced


def test_concurrent_ingests_of_the_same_files(tmp_path: Path, cli, catalog_url, request):
    scans = tmp_path / "scans"
    scans.mkdir()
    files = [write_las(scans / f"S{i}.laz", n=4000, seed=i) for i in (1, 2)]
    for round_ in range(ROUNDS):
        ws = tmp_path / f"ws{round_}"
        url = catalog_url if round_ == 0 else request.getfixturevalue("pg_cluster").create_database() \
            if catalog_url else None
        assert cli("init", ws, *catalog_option(url)).exit_code == 0
        results = _race(tmp_path, str(round_), {s: [_ingest_cmd(files, s, ws)] for s in ("pa", "pb")})
        winners = [s for s, (stdout, _e, _c) in results.items() if "ingested S1.laz" in stdout]
        assert len(winners) == 1, results
        winner = winners[0]
        loser = "pb" if winner == "pa" else "pa"
        # the loser's answer is the sequential rerun's answer, word for word
        rerun = cli(*_ingest_cmd(files, "pc", ws))
        assert rerun.exit_code == 0
        assert results[loser][0] == rerun.stdout
        assert rerun.stdout.splitlines() == [
            f"skipped {files[0]}: already ingested as {winner}/s1/S1",
            f"skipped {files[1]}: already ingested as {winner}/s1/S2",
            "nothing to do: every file was already ingested",
        ]
        assert sorted((r["structure_id"], r["station"]) for r in _catalog(ws, db.scans)) == [
            (winner, "S1"), (winner, "S2")]
        assert [r["id"] for r in _catalog(ws, db.structures)] == [winner]
        _store_matches_catalog(ws)


def test_two_technicians_ingest_and_process_at_once(tmp_path: Path, cli, catalog_url):
    ws = tmp_path / "ws"
    assert cli("init", ws, *catalog_option(catalog_url)).exit_code == 0
    shared = write_las(tmp_path / "shared.laz", n=3000, seed=99)  # both were handed this file
    files = {}
    for who, seed in (("gate", 10), ("hall", 20)):
        folder = tmp_path / who
        folder.mkdir()
        files[who] = [write_las(folder / f"{who}-{i}.laz", n=3000, seed=seed + i) for i in range(3)]
    pipeline = tmp_path / "clean.yaml"
    pipeline.write_text(CLEAN.format(voxel=0.5))
    results = _race(tmp_path, "tech", {
        who: [_ingest_cmd([*files[who], shared], who, ws, survey="2025"),
              ["process", who, "--survey", "2025", "-p", pipeline, "-w", ws, "--json"]]
        for who in files
    })

    every = [*files["gate"], *files["hall"], shared]
    rows = _catalog(ws, db.scans)
    assert sorted(r["sha256"] for r in rows) == sorted(file_digest(f) for f in every)  # each exactly once
    by_name = {r["original_name"]: r for r in rows}
    for who in files:
        assert {by_name[f.name]["structure_id"] for f in files[who]} == {who}
    assert by_name["shared.laz"]["structure_id"] in files  # one of them has it, the other skipped it
    skipped = [who for who, (stdout, _e, _c) in results.items() if "skipped" in stdout and "shared.laz" in stdout]
    assert len(skipped) == 1 and skipped[0] != by_name["shared.laz"]["structure_id"]
    assert sorted(r["structure_id"] for r in _catalog(ws, db.models)) == ["gate", "hall"]
    assert sorted((r["structure_id"], r["status"]) for r in _catalog(ws, db.runs)) == [
        ("gate", "succeeded"), ("hall", "succeeded")]
    _store_matches_catalog(ws)
    verify = cli("verify", "-w", ws, "--json")
    assert verify.exit_code == 0, verify.stderr
    report = json.loads(verify.stdout)
    assert report["checked"] == len(every) and report["problems"] == []
