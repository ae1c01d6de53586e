"""Wall time and peak memory of a command run to completion, whole process tree included."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time

SAMPLE_SECONDS = 0.2  # how often the tree's resident memory is summed


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants now (0 once it is gone)."""
    import psutil  # noqa: PLC0415

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_child(cmd: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of a command run to completion; exits on an
    exit status not in ``ok_codes`` (``twin process --json`` exits 6 with its report).

    The peak is the larger of the kernel's maximum resident set of the child and of every
    descendant it waited for (``wait4``: the largest single process, exact) and the
    largest sum over the child and its live descendants, sampled every
    ``SAMPLE_SECONDS`` (what Dask workers beside their parent hold together)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err)
        tree_peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(SAMPLE_SECONDS):
                tree_peak[0] = max(tree_peak[0], _tree_rss(child.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if child.returncode not in ok_codes:
            said = err.read().decode() or out.read().decode()
            raise SystemExit(f"{' '.join(map(str, cmd))} failed ({child.returncode}):\n{said[-2000:]}")
        return seconds, max(usage.ru_maxrss / 1024.0, tree_peak[0] / 2**20), out.read().decode()
