"""``twin process --memory-limit``: the memory one model's processing may take, turned into
the pipeline's point budget before any work starts.

What a model's processing holds grows with the points the voxel stage keeps (the cloud, its
neighbour trees, normals, the Poisson samples and the trims); the Poisson octree has its
own budget (the mesh stage's ``max_cells``). Measured with ``./run bench scale --sizes 10M``
(the whole process tree's peak, the default pipeline): 2M points kept, 4.9-5.0 GB; 4M,
8.6 GB; 9.85M, 15.1 GB. A straight line through the first two, which lies above the third,
is the model here: 1.5 GB plus 1.8 GB per million points kept.

A limit lowers each auto voxel stage's ``max_points`` to what it allows, only where the
survey holds more raw points than that (so a survey the limit cannot touch keeps its cache
key). A pipeline that cannot keep within the limit (no voxel stage, or ``max_points:
null``) is refused in one line; a fixed ``voxel_size`` is not bounded, and is said so.
Registration still reads every raw station whole (issue 14's streaming is not done): the
limit bounds what comes after it.
"""

from __future__ import annotations

import re

from twin.errors import UsageError
from twin.models.pipeline import PipelineSpec, VoxelDownsampleStage, is_auto

GB = 1024**3
BASE_BYTES = 1.5 * GB
BYTES_PER_POINT = 1.8 * GB / 1_000_000
DEFAULT_SHARE = 0.6  # of the machine's memory, shared by the local workers
MIN_POINTS = 100_000  # a budget smaller than this meshes nothing worth keeping

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": GB, "t": 1024**4}


def machine_memory() -> int:
    """This machine's memory in bytes, or its control group's limit where that is lower."""
    import psutil  # noqa: PLC0415

    total = int(psutil.virtual_memory().total)
    try:
        text = open("/sys/fs/cgroup/memory.max", encoding="ascii").read().strip()  # noqa: SIM115
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return total


def parse_memory(text: str, total: int | None = None) -> int:
    """``8G``, ``8GB``, ``8GiB``, ``512M``, ``60%`` (of ``total``, this machine's memory by
    default) or a number of bytes."""
    match = _SIZE.match(str(text))
    if not match:
        raise UsageError(f"--memory-limit {text!r} is not a size: give e.g. 8G, 512M or 60%")
    value, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit == "%":
        if not 0 < value <= 100:
            raise UsageError(f"--memory-limit {text!r}: a share of the memory must lie in (0, 100] %")
        return int((total or machine_memory()) * value / 100)
    size = int(value * _UNITS[unit[:1]])
    if size <= 0:
        raise UsageError(f"--memory-limit {text!r} must be more than nothing")
    return size


def default_limit(workers: int = 1) -> int:
    """DEFAULT_SHARE of this machine's memory, split between its ``workers``."""
    return int(machine_memory() * DEFAULT_SHARE / max(1, workers))


def points_within(limit: int) -> int:
    """How many points the voxel stage may keep under ``limit`` bytes (the model above)."""
    return max(0, int((limit - BASE_BYTES) / BYTES_PER_POINT))


def describe(size: float) -> str:
    return f"{size / GB:.1f} GB"


def limit_pipeline(spec: PipelineSpec, limit: int, raw_points: int) -> tuple[PipelineSpec, list[str]]:
    """``spec`` with its voxel stages' ``max_points`` lowered to what ``limit`` allows, and
    notes for the user; refuses (UsageError, one line) a pipeline that cannot keep within
    it. Unchanged where the survey's ``raw_points`` are within the budget."""
    allowed = points_within(limit)
    if allowed < MIN_POINTS:
        need = BASE_BYTES + MIN_POINTS * BYTES_PER_POINT
        raise UsageError(f"--memory-limit {describe(limit)} is too little: processing needs at least "
                         f"{describe(need)} (room for {MIN_POINTS:,} points after the voxel stage)")
    if raw_points <= allowed:
        return spec, []
    voxels = [(i, s) for i, s in enumerate(spec.stages) if isinstance(s, VoxelDownsampleStage)]
    needed = describe(BASE_BYTES + raw_points * BYTES_PER_POINT)
    if not voxels:
        raise UsageError(f"pipeline {spec.name!r} has no voxel_downsample stage: the survey's {raw_points:,} points "
                         f"need about {needed}, more than --memory-limit {describe(limit)}; add one, or raise the limit")
    stages, notes = list(spec.stages), []
    for i, stage in voxels:
        where = f"stages[{i}] (voxel_downsample)"
        if not is_auto(stage.voxel_size):
            notes.append(f"{where}: voxel_size {stage.voxel_size:g} m is fixed, so --memory-limit "
                         f"{describe(limit)} ({allowed:,} points) cannot bound it; set voxel_size: auto to keep within it")
        elif stage.max_points is None:
            raise UsageError(f"{where}: max_points is null, so the survey's {raw_points:,} points may all stay (about "
                             f"{needed}), more than --memory-limit {describe(limit)}; give max_points or raise the limit")
        elif stage.max_points > allowed:
            stages[i] = stage.model_copy(update={"max_points": allowed})
            notes.append(f"{where}: max_points {stage.max_points:,} -> {allowed:,} to stay within --memory-limit "
                         f"{describe(limit)}")
    return spec.model_copy(update={"stages": stages}), notes
