"""Find, read and validate pipeline files; canonical parameters for cache keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from twin.errors import SpecError
from twin.models.pipeline import PipelineSpec


def bundled_pipelines() -> Path:
    return Path(__file__).resolve().parents[2] / "pipelines"


def resolve_pipeline(name_or_path: str) -> Path:
    """A path as given, or the name of a bundled pipeline (default, preview, high-detail)."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        if not candidate.is_file():
            raise SpecError(f"{candidate}: no such pipeline file")
        return candidate
    bundled = bundled_pipelines() / f"{name_or_path}.yaml"
    if bundled.is_file():
        return bundled
    names = ", ".join(sorted(p.stem for p in bundled_pipelines().glob("*.yaml")))
    raise SpecError(f"unknown pipeline {name_or_path!r}: give a YAML path or one of {names}")


def load_pipeline(name_or_path: str) -> tuple[PipelineSpec, Path]:
    path = resolve_pipeline(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{path}: {where}not valid YAML ({problem})") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a pipeline is a mapping with name and stages, not {type(data).__name__}")
    try:
        return PipelineSpec.model_validate(data), path
    except ValidationError as exc:
        raise SpecError(f"{path}: " + "; ".join(_describe(e, data) for e in exc.errors())) from exc


def _describe(error: dict, data: dict) -> str:
    loc = list(error["loc"])
    parts = []
    if loc[:1] == ["stages"] and len(loc) > 1 and isinstance(loc[1], int):
        index = loc[1]
        stages = data.get("stages") or []
        stage_name = stages[index].get("stage", "?") if index < len(stages) and isinstance(stages[index], dict) else "?"
        parts.append(f"stages[{index}] ({stage_name})")
        loc = loc[3:] if len(loc) > 2 and loc[2] == stage_name else loc[2:]
    key = ".".join(map(str, loc))
    kind = error["type"]
    if kind == "extra_forbidden":
        message = f"unknown parameter {key!r}"
    elif kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        expected = error.get("ctx", {}).get("expected_tags")
        message = f"unknown stage {tag!r} (known: {expected})"
    elif kind == "union_tag_not_found":
        message = "each stage needs a 'stage:' name"
    else:
        message = (f"{key}: " if key else "") + error["msg"]
    return " ".join(parts + [message]) if parts else message


def canonical_params(stage) -> str:
    """The stage's parameters as canonical JSON: defaults filled in, keys sorted."""
    return json.dumps(stage.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()
