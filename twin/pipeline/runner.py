"""Run one pipeline on the scans of one structure in one survey, with a cache per stage.

A stage's cache key is the hash of its canonical parameters and the key before it; the
first key hashes the input scans (station and SHA-256). So an unchanged pipeline finds
its final model and does nothing; a changed Poisson depth finds the registered cloud in
the cache and reruns meshing and what follows; an interrupted run resumes after the last
stage that finished. The label stage's key also hashes the structure's current layers
(their revision's SHA-256): a changed layer file reruns labelling and writing, nothing
before them. The model folder is assembled under a temporary name, renamed into
place, and registered in the catalog in one transaction.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select

from twin.catalog import db
from twin.catalog.store import atomic_write_bytes, file_digest
from twin.catalog.workspace import Workspace
from twin.errors import NotFoundError
from twin.models.pipeline import PipelineSpec
from twin.pipeline.provenance import (
    InputRecord, OutputRecord, PeakMemory, RunProvenance, StageRecord, resolved_at, utc_now,
)
from twin.pipeline.spec import canonical_params, digest
from twin.pipeline.state import load_state, save_state

CACHE_FORMAT = "twin-stage-cache-1"
Event = dict
OnEvent = Callable[[Event], None]


class ModelResult(BaseModel):
    structure_id: str
    survey_id: str
    pipeline: str
    model_key: str
    status: str  # built, up-to-date
    path: str
    stages_run: int
    stages_cached: int
    point_count: int
    face_count: int
    seconds: float
    registration: dict | None = None
    warnings: list[str] = []
    lengths: list[dict] = []  # the auto lengths: what each stage measured and chose (twin.ops.scale)


NO_LAYERS = "no-layers"


def stage_keys(spec: PipelineSpec, inputs: list[InputRecord], layers_sha256: str | None = None) -> list[str]:
    """``layers_sha256``: the content hash of the layers the label stage projects (None: none set)."""
    from twin.ops.scale import RULES_VERSION  # noqa: PLC0415  (how auto lengths are derived)

    key = digest(CACHE_FORMAT, RULES_VERSION,
                 *(f"{i.station}:{i.sha256}" for i in sorted(inputs, key=lambda i: i.station)))
    keys = []
    for stage in spec.stages:
        if stage.stage == "label":
            key = digest(key, stage.stage, canonical_params(stage), f"layers:{layers_sha256 or NO_LAYERS}")
        else:
            key = digest(key, stage.stage, canonical_params(stage))
        keys.append(key)
    return keys


def current_layers(ws: Workspace, structure_id: str):
    """The structure's latest layer revision, or None when it has none."""
    from twin.catalog.layers import get_layers  # noqa: PLC0415

    try:
        return get_layers(ws, structure_id)
    except NotFoundError:
        return None


def cache_path(ws: Workspace, key: str) -> Path:
    return ws.root / "cache" / key[:2] / f"{key}.npz"


def chain_record(ws: Workspace, structure_id: str, survey_id: str, pipeline: str) -> Path:
    """Which cache entries the latest successful run of this pipeline on this survey used."""
    return ws.root / "cache" / "chains" / structure_id / survey_id / f"{pipeline}.json"


def prune_cache(ws: Workspace, structure_id: str, survey_id: str, pipeline: str, keys: list[str]) -> int:
    """Record ``keys`` as this pipeline's chain for the survey and delete the entries its
    previous chain held that neither this chain nor any other survey's or pipeline's
    chain uses. The cache then holds one chain per (structure, survey, pipeline): enough
    to rerun from any stage after a change, without growing by a whole model's worth of
    arrays (gigabytes at tens of millions of points) at every run. Returns the bytes freed."""
    record = chain_record(ws, structure_id, survey_id, pipeline)
    previous = set(json.loads(record.read_text())) if record.is_file() else set()
    atomic_write_bytes(record, json.dumps(keys).encode())
    used = set()
    for other in (ws.root / "cache" / "chains").rglob("*.json"):
        used.update(json.loads(other.read_text()))
    freed = 0
    for key in previous - used:
        path = cache_path(ws, key)
        if path.is_file():
            freed += path.stat().st_size
            path.unlink()
    return freed


def model_dir(ws: Workspace, structure_id: str, survey_id: str, key: str) -> Path:
    return ws.root / "models" / structure_id / survey_id / key[:16]


def run_model(
    ws: Workspace,
    structure_id: str,
    survey_id: str,
    spec: PipelineSpec,
    source: Path,
    on_event: OnEvent = lambda event: None,
) -> ModelResult:
    from twin.pipeline.stages import STAGES, StageContext, load_inputs  # noqa: PLC0415  (heavy)

    started = time.perf_counter()
    scans = ws.scans(structure_id, survey_id)
    if not scans:
        raise NotFoundError(f"survey {structure_id}/{survey_id} holds no scans; ingest some first")
    inputs = [
        InputRecord(station=s.station, sha256=s.sha256, store_path=s.store_path, original_name=s.original_name,
                    point_count=s.point_count, crs_epsg=s.crs_epsg)
        for s in scans
    ]
    layers = current_layers(ws, structure_id) if any(s.stage == "label" for s in spec.stages) else None
    keys = stage_keys(spec, inputs, layers.sha256 if layers is not None else None)
    model_key = keys[-1]
    folder = model_dir(ws, structure_id, survey_id, model_key)
    existing = _existing_model(ws, model_key)
    if existing is not None and folder.is_dir():
        on_event({"type": "up-to-date", "structure": structure_id, "survey": survey_id})
        return ModelResult(
            structure_id=structure_id, survey_id=survey_id, pipeline=spec.name, model_key=model_key,
            status="up-to-date", path=str(folder), stages_run=0, stages_cached=len(keys),
            point_count=existing.point_count, face_count=existing.face_count, seconds=time.perf_counter() - started,
            registration=json.loads(existing.provenance_json).get("registration"),
            warnings=json.loads(existing.provenance_json).get("warnings") or [],
            lengths=json.loads(existing.provenance_json).get("lengths") or [],
        )

    prov = RunProvenance(
        structure_id=structure_id, survey_id=survey_id, pipeline=spec.model_dump(mode="json"),
        pipeline_source=str(source), model_key=model_key, started_at=utc_now(), inputs=inputs,
    )
    # Resume after the last stage whose output is cached (the write stage is never cached).
    start, state = 0, None
    for i in range(len(keys) - 2, -1, -1):
        if cache_path(ws, keys[i]).is_file():
            state = load_state(cache_path(ws, keys[i]))
            start = i + 1
            break
    for i, stage in enumerate(spec.stages[:start]):
        prov.stages.append(StageRecord(index=i, stage=stage.stage, params=json.loads(canonical_params(stage)),
                                       key=keys[i], cached=True, resolved=resolved_at(state.metrics, i)))
        on_event({"type": "stage", "structure": structure_id, "survey": survey_id, "stage": stage.stage,
                  "index": i, "of": len(keys), "cached": True})
    context = StageContext(ws=ws, scans=scans, on_event=on_event, extra={"layers": layers})
    if state is None:
        state = load_inputs(ws, scans)
    context.observe(state)

    work = folder.with_name(f".{folder.name}.building")
    shutil.rmtree(work, ignore_errors=True)
    context.output_dir = work
    try:
        for i in range(start, len(keys)):
            stage = spec.stages[i]
            on_event({"type": "stage", "structure": structure_id, "survey": survey_id, "stage": stage.stage,
                      "index": i, "of": len(keys), "cached": False, "points": state.point_count()})
            points_in = state.point_count()
            memory = PeakMemory()
            t0 = time.perf_counter()
            context.stage_index = i
            with memory.measure():
                state = STAGES[stage.stage](state, stage, context)
            record = StageRecord(
                index=i, stage=stage.stage, params=json.loads(canonical_params(stage)), key=keys[i], cached=False,
                seconds=round(time.perf_counter() - t0, 3), peak_rss_mb=round(memory.peak_mb, 1),
                points_in=points_in, points_out=state.point_count(),
                faces_out=state.mesh.n_faces if state.mesh is not None else 0,
                resolved=resolved_at(state.metrics, i),
            )
            prov.stages.append(record)
            if i < len(keys) - 1:
                save_state(state, cache_path(ws, keys[i]))
        prov.registration = state.metrics.get("registration")
        prov.mesh_support = state.metrics.get("mesh_support")
        prov.warnings = list(state.metrics.get("warnings") or [])
        prov.lengths = list(state.metrics.get("lengths") or [])
        labels = state.metrics.get("labels")
        if labels:
            prov.labels = {k: v for k, v in labels.items() if k != "legend"}
        prov.crs = context.crs_dict()
        if state.cloud is not None:
            prov.origin = tuple(float(v) for v in state.cloud.origin)
        prov.outputs = _outputs(work)
        prov.finished_at = utc_now()
        prov.seconds = round(time.perf_counter() - started, 3)
        atomic_write_bytes(work / "provenance.json", prov.model_dump_json(indent=2).encode("utf-8"))
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        _record_failure(ws, structure_id, survey_id, spec.name, model_key, exc)
        raise
    point_count = len(state.cloud) if state.cloud is not None else state.point_count()
    face_count = state.mesh.n_faces if state.mesh is not None else 0
    with db.transaction(ws.engine, immediate=True) as conn:  # a peer recording the same key waits, then is replaced
        conn.execute(db.models.delete().where(db.models.c.key == model_key))
        conn.execute(db.models.insert().values(
            key=model_key, structure_id=structure_id, survey_id=survey_id, pipeline=spec.name,
            path=str(folder.relative_to(ws.root)), point_count=point_count, face_count=face_count,
            crs_epsg=(prov.crs or {}).get("epsg"), provenance_json=prov.model_dump_json(), created_at=db.now(),
        ))
        conn.execute(db.runs.insert().values(
            structure_id=structure_id, survey_id=survey_id, pipeline=spec.name, model_key=model_key,
            status="succeeded", started_at=db.now(), finished_at=db.now(), provenance_json=prov.model_dump_json(),
        ))
    prune_cache(ws, structure_id, survey_id, spec.name, keys[:-1])
    return ModelResult(
        structure_id=structure_id, survey_id=survey_id, pipeline=spec.name, model_key=model_key, status="built",
        path=str(folder), stages_run=len(keys) - start, stages_cached=start, point_count=point_count,
        face_count=face_count, seconds=round(time.perf_counter() - started, 3), registration=prov.registration,
        warnings=prov.warnings, lengths=prov.lengths,
    )


def _existing_model(ws: Workspace, key: str):
    with ws.engine.connect() as conn:
        return conn.execute(select(db.models).where(db.models.c.key == key)).first()


def _outputs(folder: Path) -> list[OutputRecord]:
    records = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        role = ("cloud" if rel.startswith("cloud") else f"mesh:{path.stem.split('-', 1)[-1]}" if rel.startswith("mesh")
                else "legend" if rel.startswith("legend") else "file")
        records.append(OutputRecord(role=role, path=rel, sha256=file_digest(path), size_bytes=path.stat().st_size))
    return records


def _record_failure(ws, structure_id, survey_id, pipeline, key, exc) -> None:
    try:
        with db.transaction(ws.engine) as conn:
            conn.execute(db.runs.insert().values(
                structure_id=structure_id, survey_id=survey_id, pipeline=pipeline, model_key=key, status="failed",
                message=str(exc)[:2000] or type(exc).__name__, started_at=db.now(), finished_at=db.now(),
            ))
    except Exception:  # the failure itself is what matters; never mask it
        pass
