"""How many threads a step may start: ``OMP_NUM_THREADS`` where it is set (a Dask worker
started by twin gets its share of the cores there, and so does one started by hand with
it), else every core.

Spawning more threads than a worker was given oversubscribes the machine; and on
CPython 3.11 a task thread that starts threads (scipy's cKDTree with ``workers > 1``)
while the worker's event loop runs a garbage-collection callback was seen to deadlock a
`dask worker` (every thread waiting on the interpreter's locks, no heartbeat for ten
minutes), which one thread avoids."""

from __future__ import annotations

import os


def thread_budget() -> int:
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 1
