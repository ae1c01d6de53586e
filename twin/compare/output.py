"""Writing a comparison's results into its folder, all at once or not at all.

``core_points.laz``
    the core points (LAS 1.4, offsets at the comparison's origin, 0.1 mm scale) with extra
    bytes ``distance``, ``lod``, ``significant`` (0/1), ``normal_x/y/z`` and, for M3C2,
    ``n1``, ``n2``, ``sigma1``, ``sigma2`` and ``reason`` (uint8, named in
    ``comparison.json``'s ``reasons``: 0 ok; a core point with another reason is never
    significant, see :mod:`twin.compare.m3c2`); with layers, ``element``, ``phase`` and
    ``material`` (int32 indices, -1 = none, named in ``comparison.json``'s ``labels``).
``core_points.csv``
    the same, one row per core point, georeferenced ``x,y,z``, labels and the reason by name.
``elements.csv``, ``elements.json``
    per-element statistics, significant changes first.
``comparison.json``
    settings, inputs with their hashes, alignment, figures, outputs with their hashes.

The folder is assembled under a temporary name beside the target and renamed into place;
a failure leaves nothing behind, and a rerun replaces the previous results.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from twin.compare.methods import CoreResult
from twin.errors import UsageError

SUMMARY_FILE = "comparison.json"
CORE_LAZ = "core_points.laz"
CORE_CSV = "core_points.csv"
ELEMENTS_CSV = "elements.csv"
ELEMENTS_JSON = "elements.json"


def check_out_folder(out: Path) -> Path:
    """Refuse an output path that is a file, or a non-empty folder that does not hold an
    earlier comparison (which a rerun replaces)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / SUMMARY_FILE).is_file():
        raise UsageError(f"--out {out}: the folder is not empty and holds no earlier comparison; choose another")
    return out


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` that becomes ``out`` when the block succeeds."""
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            out.rename(old)
        stage.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def write_core_points(folder: Path, result: CoreResult, origin: np.ndarray,
                      labels: dict[str, tuple[np.ndarray, list[str]]] | None = None) -> list[Path]:
    """The per-core-point LAZ and CSV. ``labels``: name -> (index per core point, names)."""
    from twin.io.las import write_las  # noqa: PLC0415
    from twin.models.pointcloud import PointCloud  # noqa: PLC0415

    fields = result.fields()
    extra = dict(fields)
    fields.pop("reason", None)  # the CSV names it (a text column below)
    for name, (index, _names) in (labels or {}).items():
        extra[name] = np.asarray(index, dtype=np.int32)
    cloud = PointCloud(result.core, origin, {"normals": result.normal.astype(np.float32)})
    laz = write_las(cloud, folder / CORE_LAZ, extra_dims=extra)

    world = result.core + np.asarray(origin, dtype=np.float64)
    columns = [("x", world[:, 0], "%.4f"), ("y", world[:, 1], "%.4f"), ("z", world[:, 2], "%.4f")]
    for name, values in fields.items():
        columns.append((name, values, "%d" if np.issubdtype(values.dtype, np.integer) else "%.6f"))
    for k, axis in enumerate("xyz"):
        columns.append((f"normal_{axis}", result.normal[:, k], "%.5f"))
    matrix = np.column_stack([c[1].astype(np.float64) for c in columns])
    buf = io.StringIO()
    np.savetxt(buf, matrix, fmt=[c[2] for c in columns], delimiter=",")
    lines = buf.getvalue().splitlines()
    header = ",".join(c[0] for c in columns)
    text_columns = {}
    if result.reason is not None:
        text_columns["reason"] = result.reason_names()
    for name, (index, names) in (labels or {}).items():
        text_columns[name] = np.array([*names, ""], dtype=object)[np.asarray(index)]
    if text_columns:
        header += "," + ",".join(text_columns)
        tables = list(text_columns.values())
        lines = [",".join([line, *(_csv_text(t[i]) for t in tables)]) for i, line in enumerate(lines)]
    csv = folder / CORE_CSV
    csv.write_text(header + "\n" + "\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return [laz, csv]


def _csv_text(value) -> str:
    text = "" if value is None else str(value)
    return f'"{text}"' if ("," in text or '"' in text) else text


STAT_COLUMNS = (
    "element", "name", "group", "stable", "core_points", "with_distance", "significant", "significant_share",
    "mean_distance", "median_distance", "max_change", "max_change_x", "max_change_y", "max_change_z", "mean_lod",
    "max_change_points", "max_change_area", "changed", "changed_share", "changed_area", "trusted", "distance_iqr",
    "distance_p05", "distance_p95", "raw_max_change", "raw_max_change_x", "raw_max_change_y", "raw_max_change_z",
    "left_out", "phases", "materials",
)  # fmt: skip (the first columns as before; ``max_change`` is now the supported peak)
COORDINATE_COLUMNS = {f"{what}_{axis}" for what in ("max_change", "raw_max_change") for axis in "xyz"}


def write_element_stats(folder: Path, rows: list[dict]) -> list[Path]:
    """Per-element statistics as CSV and JSON (in the given order). ``max_change`` is the
    supported peak and ``raw_max_change`` the single largest significant core point (see
    :mod:`twin.compare.stats`); ``left_out`` reads ``reason:count;...``."""
    json_path = folder / ELEMENTS_JSON
    json_path.write_text(json.dumps(clean_json(rows), indent=2, ensure_ascii=False, default=_json_default) + "\n",
                         encoding="utf-8")
    lines = [",".join(STAT_COLUMNS)]
    for row in rows:
        values = {**row, "phases": ";".join(row.get("phases") or []),
                  "materials": ";".join(row.get("materials") or []),
                  "left_out": ";".join(f"{k}:{v}" for k, v in (row.get("left_out") or {}).items())}
        for what in ("max_change", "raw_max_change"):
            xyz = row.get(f"{what}_xyz") or (None, None, None)
            values.update({f"{what}_{axis}": v for axis, v in zip("xyz", xyz, strict=True)})
        lines.append(",".join(_cell(values.get(c), c in COORDINATE_COLUMNS) for c in STAT_COLUMNS))
    csv_path = folder / ELEMENTS_CSV
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [csv_path, json_path]


def _cell(value, coordinate: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:.4f}" if coordinate else f"{value:.6g}"
    return _csv_text(value)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def clean_json(value):
    """NaN and infinities as null, numpy scalars as numbers: strict JSON."""
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_summary(folder: Path, summary: dict) -> Path:
    path = folder / SUMMARY_FILE
    path.write_text(json.dumps(clean_json(summary), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def output_records(folder: Path) -> list[dict]:
    """Name, SHA-256 and size of each file written so far."""
    from twin.catalog.store import file_digest  # noqa: PLC0415

    out = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        out.append({"path": path.name, "sha256": file_digest(path), "size_bytes": path.stat().st_size})
    return out
