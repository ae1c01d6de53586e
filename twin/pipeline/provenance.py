"""Provenance: what a run did, with what, to what, how long it took and how much memory."""

from __future__ import annotations

import os
import platform
import threading
import time
from contextlib import contextmanager

from pydantic import BaseModel, Field

from twin._versions import software_versions  # noqa: F401  (re-exported: provenance records use it)


class StageRecord(BaseModel):
    index: int
    stage: str
    params: dict
    key: str
    cached: bool
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    points_in: int = 0
    points_out: int = 0
    faces_out: int = 0
    # the values the stage's ``auto`` parameters took, as measured on its input (see
    # twin.ops.scale); ``params`` keeps "auto", so the record says both what was asked and what was used
    resolved: dict | None = None


class InputRecord(BaseModel):
    station: str
    sha256: str
    store_path: str
    original_name: str
    point_count: int
    crs_epsg: int | None = None


class OutputRecord(BaseModel):
    role: str  # cloud, mesh:<level>, legend
    path: str  # relative to the model folder
    sha256: str
    size_bytes: int


class RunProvenance(BaseModel):
    structure_id: str
    survey_id: str
    pipeline: dict
    pipeline_source: str
    model_key: str
    started_at: str
    finished_at: str | None = None
    seconds: float = 0.0
    software: dict[str, str] = Field(default_factory=software_versions)
    host: str = Field(default_factory=platform.node)
    inputs: list[InputRecord]
    stages: list[StageRecord] = Field(default_factory=list)
    outputs: list[OutputRecord] = Field(default_factory=list)
    registration: dict | None = None
    mesh_support: dict | None = None  # twin.ops.meshing.MeshSupport: how much of the mesh the points support
    crs: dict | None = None
    origin: tuple[float, float, float] | None = None
    labels: dict | None = None  # the label stage: layers revision and SHA-256, points per element
    warnings: list[str] = Field(default_factory=list)
    # every auto length of the run, cached stages included: stage, index, the spacing and
    # extent measured on its input, the values, the rule that gave each (twin.ops.scale)
    lengths: list[dict] = Field(default_factory=list)


def resolved_at(metrics: dict, index: int) -> dict | None:
    """The values the auto parameters of stage ``index`` took (None where it had none):
    from the ``lengths`` records in a state's metrics."""
    merged = {name: value for record in metrics.get("lengths") or [] if record.get("index") == index
              for name, value in record["resolved"].items()}
    return merged or None


def describe_lengths(record: dict) -> str:
    """One line for a ``lengths`` record, e.g. ``voxel_downsample: voxel_size auto = 0.009 m
    (half the median point spacing 0.018 m) [measured: spacing 0.018 m, extent 25.8 m, ...]``."""
    def show(value) -> str:
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(show(v) for v in value) + "]"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value)
        return f"{value:g}"

    parts = []
    rules = record.get("rules") or {}
    for name, value in record["resolved"].items():
        unit = "" if isinstance(value, (str, bool)) or name == "depth" or isinstance(value, int) else " m"
        rule = f" ({rules[name]})" if name in rules else ""
        parts.append(f"{name} auto = {show(value)}{unit}{rule}")
    m = record.get("measured") or {}
    facts = [f"{key} {show(m[key])} m" for key in ("spacing", "extent") if key in m]
    if "points" in m:
        facts.append(f"{m['points']:,} points")
    return f"{record['stage']}: " + "; ".join(parts) + (f" [measured: {', '.join(facts)}]" if facts else "")


class PeakMemory:
    """Samples this process's resident memory in a thread; ``peak_mb`` after the block."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak_mb = 0.0

    @contextmanager
    def measure(self):
        import psutil  # noqa: PLC0415

        proc = psutil.Process(os.getpid())
        stop = threading.Event()
        self.peak_mb = proc.memory_info().rss / 2**20

        def sample():
            while not stop.wait(self.interval):
                self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 2**20)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 2**20)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
