"""The pipeline runner: caching by parameters and inputs, resumption, atomic models, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_las
from twin.catalog.ingest import ingest
from twin.pipeline.batch import process, select_jobs
from twin.pipeline.runner import run_model
from twin.pipeline.spec import load_pipeline

CLEAN = """name: clean-only
stages:
  - stage: flag_outliers
    neighbours: 8
    std_ratio: 2.0
  - stage: drop_flagged
  - stage: voxel_downsample
    voxel_size: {voxel}
  - stage: write
    cloud_format: laz
"""


def _spec(tmp_path: Path, voxel: float | str = 0.5):
    path = tmp_path / f"clean-{voxel}.yaml"
    path.write_text(CLEAN.format(voxel=voxel))
    return load_pipeline(str(path))


def test_run_writes_model_and_provenance(surveyed, tmp_path):
    spec, source = _spec(tmp_path)
    result = run_model(surveyed, "pavilion", "2024", spec, source)
    assert result.status == "built" and result.stages_run == 4 and result.stages_cached == 0
    folder = Path(result.path)
    prov = json.loads((folder / "provenance.json").read_text())
    assert [s["stage"] for s in prov["stages"]] == ["flag_outliers", "drop_flagged", "voxel_downsample", "write"]
    assert all(s["seconds"] >= 0 and s["peak_rss_mb"] > 0 for s in prov["stages"])
    assert {i["station"] for i in prov["inputs"]} == {"S1", "S2"}
    assert all(len(i["sha256"]) == 64 for i in prov["inputs"])
    assert prov["outputs"][0]["path"] == "cloud.laz" and len(prov["outputs"][0]["sha256"]) == 64
    for name in ("numpy", "laspy", "twin", "python"):
        assert name in prov["software"]
    assert prov["stages"][0]["params"] == {"stage": "flag_outliers", "method": "statistical", "neighbours": 8,
                                           "std_ratio": 2.0, "radius": "auto", "min_points": 4}


def test_unchanged_rerun_does_nothing(surveyed, tmp_path):
    spec, source = _spec(tmp_path)
    first = run_model(surveyed, "pavilion", "2024", spec, source)
    again = run_model(surveyed, "pavilion", "2024", spec, source)
    assert again.status == "up-to-date" and again.stages_run == 0 and again.model_key == first.model_key


def test_changed_parameter_reruns_only_what_follows(surveyed, tmp_path):
    spec, source = _spec(tmp_path, voxel=0.5)
    run_model(surveyed, "pavilion", "2024", spec, source)
    events = []
    spec2, source2 = _spec(tmp_path, voxel=0.25)
    result = run_model(surveyed, "pavilion", "2024", spec2, source2, on_event=events.append)
    assert result.status == "built" and result.stages_cached == 2 and result.stages_run == 2
    ran = [e["stage"] for e in events if e["type"] == "stage" and not e["cached"]]
    assert ran == ["voxel_downsample", "write"]


def test_cache_keeps_one_chain_per_survey_and_pipeline(surveyed, tmp_path):
    """A rerun with a changed parameter drops the entries only the previous run used."""
    from twin.pipeline.runner import stage_keys

    def entries() -> set[str]:
        return {p.stem for p in (surveyed.root / "cache").glob("??/*.npz")}

    spec, source = _spec(tmp_path, voxel=0.5)
    first = run_model(surveyed, "pavilion", "2024", spec, source)
    inputs = json.loads((Path(first.path) / "provenance.json").read_text())["inputs"]
    from twin.pipeline.provenance import InputRecord

    keys = stage_keys(spec, [InputRecord.model_validate(i) for i in inputs])
    assert entries() == set(keys[:-1])  # every stage but write
    spec2, source2 = _spec(tmp_path, voxel=0.25)
    run_model(surveyed, "pavilion", "2024", spec2, source2)
    keys2 = stage_keys(spec2, [InputRecord.model_validate(i) for i in inputs])
    assert keys2[:2] == keys[:2] and entries() == set(keys2[:-1])  # the old voxel stage's entry is gone
    assert Path(first.path).is_dir()  # models are never pruned


def test_interrupted_run_leaves_no_model_and_resumes(surveyed, tmp_path, monkeypatch):
    from twin.pipeline import stages

    spec, source = _spec(tmp_path)

    def crash(state, stage, ctx):
        raise KeyboardInterrupt

    monkeypatch.setitem(stages.STAGES, "voxel_downsample", crash)
    with pytest.raises(KeyboardInterrupt):
        run_model(surveyed, "pavilion", "2024", spec, source)
    models = surveyed.root / "models"
    assert not any(p.is_file() for p in models.rglob("*")) if models.exists() else True
    monkeypatch.undo()
    result = run_model(surveyed, "pavilion", "2024", spec, source)
    assert result.status == "built" and result.stages_cached == 2  # flag + drop came from the cache


def test_auto_lengths_are_printed_recorded_and_keyed(surveyed, tmp_path):
    """An auto voxel is measured on the stage's input, announced, kept in provenance with
    the rule and the measures (also when the stage came from the cache), and the same
    number written in its place gives the same cloud under another key."""
    spec, source = _spec(tmp_path, voxel="auto")
    events = []
    result = run_model(surveyed, "pavilion", "2024", spec, source, on_event=events.append)
    prov = json.loads((Path(result.path) / "provenance.json").read_text())
    (record,) = prov["lengths"]
    voxel = record["resolved"]["voxel_size"]
    assert record["stage"] == "voxel_downsample" and record["index"] == 2 and voxel > 0
    assert record["measured"]["spacing"] > 0 and "spacing" in record["rules"]["voxel_size"]
    assert prov["stages"][2]["params"]["voxel_size"] == "auto"
    assert prov["stages"][2]["resolved"] == {"voxel_size": voxel} and prov["stages"][0]["resolved"] is None
    assert result.lengths == prov["lengths"]
    (line,) = [e["message"] for e in events if e["type"] == "lengths"]
    assert line.startswith(f"voxel_downsample: voxel_size auto = {voxel:g} m")

    write_spec, write_source = _spec(tmp_path, voxel="auto")
    write_spec.stages[-1] = write_spec.stages[-1].model_copy(update={"cloud_format": "ply"})
    again = run_model(surveyed, "pavilion", "2024", write_spec, write_source)
    assert again.stages_cached == 3  # the voxel stage from the cache: its resolved value still recorded
    cached = json.loads((Path(again.path) / "provenance.json").read_text())
    assert cached["stages"][2]["cached"] and cached["stages"][2]["resolved"] == {"voxel_size": voxel}
    assert cached["lengths"] == prov["lengths"]

    explicit_spec, explicit_source = _spec(tmp_path, voxel=voxel)
    explicit = run_model(surveyed, "pavilion", "2024", explicit_spec, explicit_source)
    assert explicit.model_key != result.model_key and explicit.lengths == []
    import laspy

    def points(model):
        las = laspy.read(Path(model.path) / "cloud.laz")
        return np.column_stack([las.x, las.y, las.z])

    assert np.array_equal(points(explicit), points(result))


def test_batch_reports_failures_without_stopping(surveyed, tmp_path):
    write_las(tmp_path / "x.las", n=50, seed=7)
    ingest(surveyed, [tmp_path / "x.las"], "gate", "2024")  # too few points to survive? still processes
    spec_path = tmp_path / "bad-after-ingest.yaml"
    spec_path.write_text(CLEAN.format(voxel=0.5))
    jobs = select_jobs(surveyed, [], None, True)
    assert sorted(jobs) == [("gate", "2024"), ("pavilion", "2024")]
    report = process(surveyed, jobs + [("ghost", "2024")], str(spec_path), workers=1)
    assert {(r.structure_id, r.status) for r in report.succeeded} == {("gate", "built"), ("pavilion", "built")}
    assert [(f.structure_id, f.kind) for f in report.failed] == [("ghost", "NotFoundError")]


def test_local_workers_share_the_cores_and_keep_the_default_malloc_trim():
    """Dask's own worker environment trims freed memory at 64 kB, which made registration
    1.75 times as slow; local workers get their share of the cores for native threads."""
    import os

    from distributed import Client

    from twin.pipeline.batch import local_cluster, worker_environment

    assert worker_environment(2, cores=16)["OMP_NUM_THREADS"] == "8"
    assert worker_environment(4, cores=2)["OPENBLAS_NUM_THREADS"] == "1"
    before = dict(os.environ)
    cluster = local_cluster(2)
    assert dict(os.environ) == before  # the workers' variables do not leak into this process
    try:
        with Client(cluster) as client:
            seen = client.run(lambda: (os.environ.get("OMP_NUM_THREADS"), os.environ.get("MALLOC_TRIM_THRESHOLD_")))
    finally:
        cluster.close()
    share = str(max(1, (os.cpu_count() or 1) // 2))
    assert sorted(seen.values()) == [(share, None), (share, None)]
