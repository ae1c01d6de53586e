"""Running a comparison end to end: two scan files, or two surveys of a structure.

:func:`compare_files` (no workspace): read two scan files (any format the readers know),
put both in one local frame (the first file's origin), take core points (a file, or the
reference subsampled), run the method and write the results (see
:mod:`twin.compare.output`).

:func:`compare_surveys`: the latest model of each survey; the later aligned onto the
earlier on its stable parts (robust ICP, :func:`twin.compare.align.align_epochs`; elements
the layers mark ``stable: false`` take no part), whose residual is the registration error
of the level of detection unless one is given; the method; core points labelled with
the structure's current layers; per-element statistics; the output folder (by default
``comparisons/<structure>/<from>__<to>/`` in the workspace, ``__<method>`` appended for
c2c and c2m); and a row in the catalog's ``comparisons`` table.

Everything that can be checked is checked before any file is read or written; a failure
on the way leaves no output folder and no catalog row.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from twin._versions import software_versions
from twin.compare import inputs, output
from twin.compare.element_stats import element_rows
from twin.compare.methods import CoreResult, run_c2c, run_c2m, run_m3c2
from twin.compare.options import CompareOptions, m3c2_params
from twin.errors import NotFoundError, UsageError

COMPARISONS_DIR = "comparisons"


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _run_method(options: CompareOptions, reference: np.ndarray, compared: np.ndarray, core: np.ndarray,
                registration_error: float, stations: list | None, mesh: tuple[np.ndarray, np.ndarray] | None
                ) -> tuple[CoreResult, dict]:
    params = m3c2_params(options, registration_error=registration_error, stations=stations)
    if options.method == "m3c2":
        return run_m3c2(reference, compared, core, params), params.model_dump(mode="json")
    if options.method == "c2c":
        return run_c2c(reference, core, options, params, registration_error), {}
    assert mesh is not None
    return run_c2m(mesh[0], mesh[1], core, options, registration_error), {}


# ----------------------------------------------------------------------------- files


def compare_files(file_a: Path, file_b: Path, out: Path, options: CompareOptions) -> dict:
    """Compare scan ``file_a`` (earlier; for c2m a mesh) with ``file_b`` (later); results in ``out``."""
    from twin.catalog.store import file_digest  # noqa: PLC0415

    started = time.perf_counter()
    a, b = Path(file_a), Path(file_b)
    for path in (a, b):
        if not path.exists():
            from twin.errors import ScanReadError  # noqa: PLC0415

            raise ScanReadError(f"{path}: no such file")
    if a.resolve() == b.resolve():
        raise UsageError(f"--files names {a} twice; compare two different files")
    if options.orientation.strip().lower() == "stations":
        m3c2_params(options, registration_error=0.0, stations=None)  # raises: no stations without a workspace
    out = output.check_out_folder(out)

    mesh = None
    if options.method == "c2m":
        reference_mesh = inputs.read_mesh(a)
        later = inputs.read_cloud(b)
        origin = later.origin
        mesh = (inputs.mesh_in(reference_mesh, origin), reference_mesh.faces)
        reference_xyz = mesh[0]
        source, source_name = later.xyz, b.name
        a_points = len(reference_mesh.vertices)
    else:
        earlier = inputs.read_cloud(a)
        later = inputs.read_cloud(b).with_origin(earlier.origin)
        origin = earlier.origin
        reference_xyz = earlier.xyz
        source, source_name = (earlier.xyz, a.name) if options.method == "m3c2" else (later.xyz, b.name)
        a_points = len(earlier)
    core, core_what = inputs.core_points(options, source, origin, source_name)
    reg = options.registration_error or 0.0
    result, m3c2_used = _run_method(options, reference_xyz, later.xyz, core, reg, None, mesh)
    world_core = core + origin
    rows = element_rows(result, world_core)
    summary = {
        "kind": "files",
        "method": options.method,
        "params": {k: v for k, v in options.params_dict().items() if not k.startswith("align")},
        "m3c2": m3c2_used or None,
        "inputs": {
            "a": {"path": str(a), "sha256": file_digest(a), "points": a_points,
                  "role": "reference mesh" if options.method == "c2m" else "epoch 1 (reference)"},
            "b": {"path": str(b), "sha256": file_digest(b), "points": len(later), "role": "epoch 2 (compared)"},
        },
        "origin": [float(v) for v in origin],
        "registration_error": reg,
        "alignment": None,
        "core_points": {"count": len(core), "source": core_what},
        "reason_codes": _reason_codes(result),
        "figures": result.summary(),
        "elements": rows,
    }
    return _write(out, result, origin, None, rows, summary, started)


def _reason_codes(result: CoreResult) -> dict[str, str] | None:
    """The legend of the core points' ``reason`` extra bytes (M3C2 only)."""
    if result.reason is None:
        return None
    from twin.compare.m3c2 import REASON_NAMES  # noqa: PLC0415

    return {str(code): name for code, name in REASON_NAMES.items()}


def _write(out: Path, result: CoreResult, origin: np.ndarray, labels, rows: list[dict], summary: dict,
           started: float) -> dict:
    with output.staged_folder(out) as stage:
        output.write_core_points(stage, result, origin, labels)
        output.write_element_stats(stage, rows)
        summary["outputs"] = output.output_records(stage)
        summary["software"] = software_versions()
        summary["created_at"] = _utc_now()
        summary["seconds"] = round(time.perf_counter() - started, 3)
        summary["out"] = str(Path(out).absolute())
        output.write_summary(stage, summary)
    return output.clean_json(summary)


# --------------------------------------------------------------------------- surveys


def default_out(ws, structure_id: str, from_survey: str, to_survey: str, method: str) -> Path:
    name = f"{from_survey}__{to_survey}" + ("" if method == "m3c2" else f"__{method}")
    return ws.root / COMPARISONS_DIR / structure_id / name


def current_layers(ws, structure_id: str):
    """The latest layers revision of a structure, or None when it has none."""
    from twin.catalog.layers import get_layers  # noqa: PLC0415

    try:
        return get_layers(ws, structure_id)
    except NotFoundError:
        return None


def compare_surveys(ws, structure_id: str, from_survey: str, to_survey: str, options: CompareOptions,
                    out: Path | None = None) -> dict:
    """Compare survey ``to_survey`` with ``from_survey`` of a structure (see the module notes)."""
    from twin.catalog.comparisons import record_comparison  # noqa: PLC0415
    from twin.catalog.models import latest_model  # noqa: PLC0415

    started = time.perf_counter()
    if from_survey == to_survey:
        raise UsageError(f"--from and --to both name survey {from_survey!r}; compare two different surveys")
    model_a = latest_model(ws, structure_id, from_survey)
    model_b = latest_model(ws, structure_id, to_survey)
    cloud_a, cloud_b = model_a.require_cloud(), model_b.require_cloud()
    mesh_path = None
    if options.method == "c2m":
        mesh_path = model_a.finest_mesh()
        if mesh_path is None:
            raise NotFoundError(
                f"model {model_a.key[:12]} of {structure_id}/{from_survey} has no mesh for c2m; "
                "use a pipeline with a mesh stage, or --method m3c2"
            )
    if options.orientation.strip().lower() == "stations" and not model_a.scanner_positions():
        m3c2_params(options, registration_error=0.0, stations=None)  # raises with the reason
    out = output.check_out_folder(Path(out) if out is not None else default_out(
        ws, structure_id, from_survey, to_survey, options.method))
    revision = current_layers(ws, structure_id)
    layers = revision.layers if revision is not None else None

    earlier = inputs.read_cloud(cloud_a)
    later = inputs.read_cloud(cloud_b).with_origin(earlier.origin)
    origin = earlier.origin

    alignment = None
    moved = later.xyz
    registration_error = options.registration_error or 0.0
    if options.align:
        from twin.compare.align import align_epochs  # noqa: PLC0415

        stable, unstable = inputs.stable_mask(layers, later.xyz, origin)
        r = align_epochs(earlier.xyz, later.xyz, max_distance=options.align_max_distance, voxel=options.align_voxel,
                         stable=stable)
        moved = r.apply(later.xyz)
        displacement = np.linalg.norm(moved - later.xyz, axis=1)  # what the alignment did at the structure
        if options.registration_error is None:
            registration_error = r.residual
        shift = np.eye(4)
        shift[:3, 3] = origin
        world = shift @ r.transform @ np.linalg.inv(shift)
        alignment = {
            "transform": world.tolist(), "transform_local": r.transform.tolist(), "residual": r.residual,
            "sigma": r.sigma, "kernel": r.kernel, "fitness": r.fitness, "stable_share": r.stable_share,
            "correspondences": r.correspondences, "translation_m": r.translation, "rotation_deg": r.rotation_deg,
            "mean_displacement_m": float(displacement.mean()) if len(displacement) else None,
            "max_displacement_m": float(displacement.max()) if len(displacement) else None,
            "excluded_elements": unstable, "max_distance": options.align_max_distance, "voxel": options.align_voxel,
        }

    mesh = None
    if mesh_path is not None:
        reference_mesh = inputs.read_mesh(mesh_path)
        mesh = (inputs.mesh_in(reference_mesh, origin), reference_mesh.faces)
    if options.method == "m3c2":
        source, source_name = earlier.xyz, f"survey {from_survey}"
    else:
        source, source_name = moved, f"survey {to_survey} (aligned)"
    core, core_what = inputs.core_points(options, source, origin, source_name)
    stations = [list(np.asarray(p) - origin) for p in model_a.scanner_positions()] or None
    reference = mesh[0] if mesh is not None else earlier.xyz
    result, m3c2_used = _run_method(options, reference, moved, core, registration_error, stations, mesh)

    world_core = core + origin
    labels = None
    element_index, element_ids = None, ()
    if layers is not None:
        from twin.ops.labelling import compile_layers, label_points  # noqa: PLC0415

        compiled = compile_layers(layers)
        element_index = label_points(compiled, core, origin)
        element_ids = compiled.element_ids
        labels = {
            "element": (element_index, list(compiled.element_ids)),
            "phase": (compiled.phase_of(element_index), list(compiled.phase_ids)),
            "material": (compiled.material_of(element_index), list(compiled.material_ids)),
        }
    rows = element_rows(result, world_core, layers, element_index, element_ids)
    figures = []
    if layers is not None:
        from twin.compare.element_figures import element_figures  # noqa: PLC0415

        figures = element_figures(compiled, layers, earlier.xyz, moved, origin)
    summary = {
        "kind": "surveys",
        "structure": structure_id,
        "method": options.method,
        "params": options.params_dict(),
        "m3c2": m3c2_used or None,
        "inputs": {
            "from": _model_record(model_a, cloud_a, mesh_path),
            "to": _model_record(model_b, cloud_b, None),
        },
        "origin": [float(v) for v in origin],
        "registration_error": registration_error,
        "alignment": alignment,
        "layers": None if revision is None else {"rev": revision.rev, "sha256": revision.sha256},
        "labels": None if labels is None else {k: v[1] for k, v in labels.items()},
        "core_points": {"count": len(core), "source": core_what},
        "reason_codes": _reason_codes(result),
        "figures": result.summary(),
        "elements": rows,
        "element_figures": figures,
    }
    summary = _write(out, result, origin, labels, rows, summary, started)
    try:
        summary["comparison_id"] = record_comparison(
            ws, structure_id=structure_id, from_survey=from_survey, to_survey=to_survey, method=options.method,
            params=options.params_dict(), folder=out, from_model=model_a.key, to_model=model_b.key,
            layers_rev=None if revision is None else revision.rev,
            summary={k: v for k, v in summary.items() if k != "elements"},
        )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return summary


def _model_record(model, cloud: Path, mesh: Path | None) -> dict:
    outputs = {o.get("path"): o.get("sha256") for o in model.provenance.get("outputs", [])}
    record = {
        "survey": model.survey_id, "model": model.key, "pipeline": model.pipeline, "folder": str(model.folder),
        "cloud": cloud.name, "cloud_sha256": outputs.get(cloud.name), "points": model.point_count,
        "created_at": model.created_at,
    }
    if mesh is not None:
        record.update(mesh=mesh.name, mesh_sha256=outputs.get(mesh.name))
    return record
