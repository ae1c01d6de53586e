"""Tiles over a real Dask cluster: `dask scheduler` and two `dask worker` processes
started from distributed's own command line on localhost; one worker is killed while the
tiles run, and the result equals a run in this process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_tiles import _layout, _site
from twin.tiles import TileStore
from twin.tiles.tasks import flag_statistical_outliers_tiled

DASK = Path(sys.executable).parent / "dask"
WATCHDOG_S = 600  # seconds a test may hold the cluster


@pytest.fixture
def cluster(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115
    common = {"env": env, "stdout": log, "stderr": subprocess.STDOUT, "cwd": tmp_path}
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--scheduler-file", str(scheduler_file), "--port", "0",
                                  "--no-dashboard"], **common)
    procs = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert scheduler.poll() is None and time.monotonic() < deadline, (tmp_path / "dask.log").read_text()
            time.sleep(0.2)
        workers = [subprocess.Popen([str(DASK), "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                                     "--no-nanny", "--no-dashboard", "--name", f"w{i}"], **common) for i in range(2)]
        procs += workers
        from distributed import Client

        client = Client(scheduler_file=str(scheduler_file), timeout=60)
        client.wait_for_workers(2, timeout=60)
        # A hung cluster fails the test instead of holding CI to its time limit: closing the
        # client cancels what it waits on (a worker once deadlocked here; twin.ops.threads).
        watchdog = threading.Timer(WATCHDOG_S, client.close)
        watchdog.start()
        yield client, workers
        watchdog.cancel()
        client.close()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def test_a_worker_killed_midway_changes_nothing(cluster, tmp_path):
    client, workers = cluster
    cloud = _site(120_000)
    layout = _layout(cloud, size=6.0)  # 5 x 4 tiles
    local = TileStore.bucket(tmp_path / "local", layout, [cloud])
    remote = TileStore.bucket(tmp_path / "remote", layout, [cloud])
    expected = flag_statistical_outliers_tiled(local.folder, k=20)

    done = []

    def on_tile(key, _):
        done.append(key)
        if len(done) == 3:  # a few tiles in: one worker dies with its tiles unfinished
            workers[1].send_signal(signal.SIGKILL)

    got = flag_statistical_outliers_tiled(remote.folder, k=20, client=client, on_tile=on_tile)
    assert workers[1].wait(timeout=30) == -signal.SIGKILL
    assert len(client.scheduler_info()["workers"]) == 1  # the run finished on the survivor
    assert got == expected
    a, b = TileStore.open(local.folder), TileStore.open(remote.folder)
    assert {k: r.sha256 for k, r in a.records.items()} == {k: r.sha256 for k, r in b.records.items()}
    assert np.array_equal(a.merged().attrs["flags"], b.merged().attrs["flags"])
