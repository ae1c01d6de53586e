"""Run many models (structure × survey) with Dask; one failure never stops the others.

A local cluster by default (processes, one Dask thread each), or a running scheduler
given by address. A single job with one worker runs in this process: starting a cluster
would cost more than it gives.

Local workers share the machine's cores between them for the native libraries' own
threads (OpenMP in open3d and pykdtree, BLAS), so that N workers do not each spin N
threads. Dask's default worker environment also sets ``MALLOC_TRIM_THRESHOLD_=65536``,
which returns every freed array to the system at once: registration's many mid-sized
temporaries are then page-faulted in again each time, and it took 1.75 times as long
(two sample surveys side by side on 2 cores: 177 s against 101 s). Local workers keep
glibc's default.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from twin.catalog.workspace import Workspace
from twin.errors import NotFoundError, TwinError, UsageError
from twin.pipeline.runner import ModelResult, run_model
from twin.pipeline.spec import load_pipeline


class JobFailure(BaseModel):
    structure_id: str
    survey_id: str
    error: str
    kind: str  # the error's class name


class BatchReport(BaseModel):
    pipeline: str
    pipeline_source: str
    succeeded: list[ModelResult]
    failed: list[JobFailure]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failed


def select_jobs(ws: Workspace, structures: list[str], survey: str | None, all_: bool) -> list[tuple[str, str]]:
    if all_ and structures:
        raise UsageError("give structures or --all, not both")
    if not all_ and not structures:
        raise UsageError("name the structures to process, or use --all")
    names = [s.id for s in ws.structures()] if all_ else structures
    jobs = []
    for name in names:
        surveys = [s.id for s in ws.surveys(name)]
        if survey is not None:
            if survey not in surveys:
                raise NotFoundError(f"no survey {survey!r} of structure {name!r} (known: {', '.join(surveys) or 'none'})")
            jobs.append((name, survey))
        else:
            jobs.extend((name, s) for s in surveys)
    if not jobs:
        raise NotFoundError("nothing to process: the catalog holds no surveys with scans")
    return jobs


def run_job(workspace: str, structure: str, survey: str, pipeline: str, events: str | None = None,
            memory_limit: int | None = None, workers_here: int = 1) -> dict:
    """One model, as a task: returns a result or a failure, never raises. ``memory_limit``
    (bytes; default: twin.pipeline.memory's share of the machine that runs the task, split
    between ``workers_here``) bounds the points the pipeline keeps."""
    from twin.pipeline.memory import default_limit, limit_pipeline  # noqa: PLC0415

    emit = _event_sink(events)
    try:
        ws = Workspace.open(Path(workspace))
        spec, source = load_pipeline(pipeline)
        raw_points = sum(s.point_count for s in ws.scans(structure, survey))
        spec, notes = limit_pipeline(spec, memory_limit or default_limit(workers_here), raw_points)
        for note in notes:
            emit({"type": "warning", "structure": structure, "survey": survey, "stage": "memory", "message": note})
        result = run_model(ws, structure, survey, spec, source, on_event=emit)
        emit({"type": "done", "structure": structure, "survey": survey, "status": result.status})
        return {"ok": True, "result": result.model_dump()}
    except Exception as exc:  # report every failure; one job must not stop the batch
        message = str(exc) if isinstance(exc, TwinError) else f"internal error: {type(exc).__name__}: {exc}"
        emit({"type": "failed", "structure": structure, "survey": survey, "error": message})
        return {"ok": False, "failure": {"structure_id": structure, "survey_id": survey, "error": message,
                                          "kind": type(exc).__name__}}


def _event_sink(name: str | None) -> Callable[[dict], None]:
    if name is None:
        return lambda event: None
    if name.startswith("local:"):
        return _LOCAL_SINKS[name]
    from distributed import Queue  # noqa: PLC0415

    q = Queue(name)
    return lambda event: q.put(event)


_LOCAL_SINKS: dict[str, Callable[[dict], None]] = {}


def process(
    ws: Workspace,
    jobs: list[tuple[str, str]],
    pipeline: str,
    workers: int = 1,
    scheduler: str | None = None,
    on_event: Callable[[dict], None] = lambda event: None,
    memory_limit: int | None = None,
) -> BatchReport:
    """Run ``jobs`` (structure, survey); ``memory_limit`` in bytes per model (default: a
    share of each machine's memory, see twin.pipeline.memory)."""
    from twin.pipeline.memory import limit_pipeline  # noqa: PLC0415

    spec, source = load_pipeline(pipeline)  # refuse a bad pipeline before any work starts
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, not {workers}")
    if memory_limit is not None:
        limit_pipeline(spec, memory_limit, 0)  # a limit too small for any survey: refused now
    started = time.perf_counter()
    if scheduler is None and workers == 1 and len(jobs) == 1:
        name = f"local:{uuid.uuid4().hex}"
        _LOCAL_SINKS[name] = on_event
        try:
            outcomes = [run_job(str(ws.root), s, v, str(source), name, memory_limit) for s, v in jobs]
        finally:
            _LOCAL_SINKS.pop(name, None)
    else:
        outcomes = _run_on_dask(ws, jobs, str(source), workers, scheduler, on_event, memory_limit)
    succeeded = [ModelResult.model_validate(o["result"]) for o in outcomes if o["ok"]]
    failed = [JobFailure.model_validate(o["failure"]) for o in outcomes if not o["ok"]]
    return BatchReport(pipeline=spec.name, pipeline_source=str(source), succeeded=succeeded, failed=failed,
                       seconds=round(time.perf_counter() - started, 3))


def worker_environment(workers: int, cores: int | None = None) -> dict[str, str]:
    """Environment of each local worker process: its share of the cores for native threads."""
    share = str(max(1, (cores or os.cpu_count() or 1) // max(1, workers)))
    return {"OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share, "OPENBLAS_NUM_THREADS": share}


def local_cluster(workers: int):
    """A Dask cluster of ``workers`` processes on this machine, with :func:`worker_environment`."""
    import dask  # noqa: PLC0415
    from distributed import LocalCluster  # noqa: PLC0415

    environ = {**worker_environment(workers), "MALLOC_TRIM_THRESHOLD_": None}  # None: not set
    before = dict(os.environ)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                dashboard_address=None, silence_logs=50)
    finally:
        # The nanny sets the workers' variables in this process's environment to spawn
        # them; put it back, or this process's next libraries and clusters inherit them.
        for key in set(os.environ) - set(before):
            del os.environ[key]
        os.environ.update(before)


def _run_on_dask(ws, jobs, source, workers, scheduler, on_event, memory_limit=None) -> list[dict]:
    from distributed import Client, Queue  # noqa: PLC0415

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = local_cluster(workers)
            client = Client(cluster)
    except Exception as exc:
        where = f"the scheduler at {scheduler}" if scheduler else "a local Dask cluster"
        raise UsageError(f"cannot start or reach {where}: {exc}") from exc
    name = f"twin-events-{uuid.uuid4().hex}"
    events = Queue(name, client=client)
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            try:
                for event in events.get(timeout=0.3, batch=True) or []:
                    on_event(event)
            except (TimeoutError, queue.Empty):
                continue
            except Exception:
                time.sleep(0.1)

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    try:
        # Local workers share this machine's memory; a remote worker's default is its own machine's share.
        workers_here = 1 if scheduler else workers
        futures = [client.submit(run_job, str(ws.root), s, v, source, name, memory_limit, workers_here, pure=False,
                                 key=f"twin-{s}-{v}-{uuid.uuid4().hex[:6]}")
                   for s, v in jobs]
        return client.gather(futures)
    finally:
        time.sleep(0.4)
        stop.set()
        pumper.join(timeout=2)
        client.close()
        if cluster is not None:
            cluster.close()
