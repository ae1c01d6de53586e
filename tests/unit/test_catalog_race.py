"""Two `twin ingest` processes racing on one workspace end as the sequential case does.

Both processes import twin first, then wait for a barrier file, so that their ingests
really overlap; the loser must answer exactly as a sequential rerun does ("skipped ...:
already ingested as <structure>/<survey>/<station>"), never with an IntegrityError, and
the store must hold exactly the blobs the catalog refers to.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, write_las

ROUNDS = 4

_RUNNER = """
import os, sys, time
from pathlib import Path
from twin.cli.app import app
barrier = Path(sys.argv[1])
deadline = time.time() + 60
while not barrier.exists() and time.time() < deadline:
    time.sleep(0.001)
app(sys.argv[2:], prog_name="twin")
"""


def _start(barrier: Path, *args: object) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.Popen(
        [sys.executable, "-c", _RUNNER, str(barrier), *map(str, args)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _ingest_cmd(files: list[Path], structure: str, ws: Path) -> list[object]:
    return ["ingest", *files, "--structure", structure, "--survey", "s1", "-w", ws]


def _store_matches_catalog(ws: Path) -> None:
    con = sqlite3.connect(ws / "catalog.sqlite")
    referenced = {row[0] for row in con.execute("select store_path from scans")}
    con.close()
    stored = {str(p.relative_to(ws)) for p in (ws / "store").rglob("*") if p.is_file()}
    assert stored == referenced


def test_concurrent_ingests_of_the_same_files(tmp_path: Path, cli):
    scans = tmp_path / "scans"
    scans.mkdir()
    files = [write_las(scans / f"S{i}.laz", n=4000, seed=i) for i in (1, 2)]
    for round_ in range(ROUNDS):
        ws = tmp_path / f"ws{round_}"
        assert cli("init", ws).exit_code == 0
        barrier = tmp_path / f"go{round_}"
        procs = {s: _start(barrier, *_ingest_cmd(files, s, ws)) for s in ("pa", "pb")}
        time.sleep(2.5)  # both have imported twin and wait at the barrier
        barrier.touch()
        results = {s: (*p.communicate(timeout=180), p.returncode) for s, p in procs.items()}
        for s, (stdout, stderr, code) in results.items():
            assert code == 0, (s, stdout, stderr)
            assert "Traceback" not in stderr and "internal error" not in stderr, stderr
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
        con = sqlite3.connect(ws / "catalog.sqlite")
        assert sorted(con.execute("select structure_id, station from scans")) == [(winner, "S1"), (winner, "S2")]
        assert [r[0] for r in con.execute("select id from structures")] == [winner]
        con.close()
        _store_matches_catalog(ws)
