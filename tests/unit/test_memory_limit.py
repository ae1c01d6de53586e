"""`twin process --memory-limit`: sizes parsed, the limit turned into the voxel stages' point
budget only where the survey is bigger than it, and pipelines that cannot keep within it
refused in one line."""

from __future__ import annotations

import pytest

from twin.errors import UsageError
from twin.pipeline import memory
from twin.pipeline.spec import load_pipeline

GB = memory.GB


@pytest.mark.parametrize(("text", "size"), [("8G", 8 * GB), ("8GB", 8 * GB), ("8gib", 8 * GB), ("512M", 512 * 1024**2),
                                            ("1.5G", int(1.5 * GB)), ("1000", 1000), ("50%", 5 * GB)])
def test_sizes(text, size):
    assert memory.parse_memory(text, total=10 * GB) == size


@pytest.mark.parametrize("text", ["banana", "8 parsecs", "-1G", "0", "150%", "0%"])
def test_bad_sizes_are_one_clear_line(text):
    with pytest.raises(UsageError, match="--memory-limit"):
        memory.parse_memory(text, total=10 * GB)


def test_the_machine_default_is_a_share_split_between_workers():
    total = memory.machine_memory()
    assert total > GB
    assert memory.default_limit(1) == int(total * 0.6)
    assert memory.default_limit(4) == int(total * 0.6 / 4)


def _voxel(spec):
    (stage,) = [s for s in spec.stages if s.stage == "voxel_downsample"]
    return stage


def test_a_limit_lowers_the_point_budget_of_a_big_survey_only():
    spec, _ = load_pipeline("default")
    limit = 6 * GB
    allowed = memory.points_within(limit)
    assert allowed == int((6 - 1.5) / 1.8 * 1_000_000)  # the model: 1.5 GB + 1.8 GB per million points
    assert allowed < _voxel(spec).max_points  # the default pipeline keeps 4M
    small, notes = memory.limit_pipeline(spec, limit, raw_points=allowed)  # cannot bind: untouched
    assert small == spec and notes == []
    big, notes = memory.limit_pipeline(spec, limit, raw_points=30_000_000)
    assert _voxel(big).max_points == allowed and _voxel(spec).max_points == 4_000_000
    assert notes == [f"stages[3] (voxel_downsample): max_points 4,000,000 -> {allowed:,} to stay within "
                     "--memory-limit 6.0 GB"]
    roomy, notes = memory.limit_pipeline(spec, 64 * GB, raw_points=30_000_000)  # allows more than 4M: kept
    assert _voxel(roomy).max_points == 4_000_000 and notes == []


def test_pipelines_that_cannot_keep_within_a_limit_are_refused(tmp_path):
    spec, _ = load_pipeline("default")
    with pytest.raises(UsageError, match=r"--memory-limit 1.0 GB is too little: processing needs at least 1.7 GB"):
        memory.limit_pipeline(spec, GB, raw_points=0)
    unbounded = spec.model_copy(update={"stages": [s.model_copy(update={"max_points": None})
                                                   if s.stage == "voxel_downsample" else s for s in spec.stages]})
    with pytest.raises(UsageError, match=r"max_points is null, so the survey's 30,000,000 points may all stay"):
        memory.limit_pipeline(unbounded, 6 * GB, raw_points=30_000_000)
    path = tmp_path / "no-voxel.yaml"
    path.write_text("name: nv\nstages:\n  - stage: flag_outliers\n  - stage: write\n    cloud_format: laz\n")
    none, _ = load_pipeline(str(path))
    with pytest.raises(UsageError, match=r"has no voxel_downsample stage: the survey's 30,000,000 points need about"):
        memory.limit_pipeline(none, 6 * GB, raw_points=30_000_000)
    fixed = spec.model_copy(update={"stages": [s.model_copy(update={"voxel_size": 0.01})
                                               if s.stage == "voxel_downsample" else s for s in spec.stages]})
    kept, notes = memory.limit_pipeline(fixed, 6 * GB, raw_points=30_000_000)
    assert kept == fixed and "voxel_size 0.01 m is fixed" in notes[0]
