"""``twin layers suggest``: the latest model of a survey in, a draft layer file out.

The workspace's side of suggested elements: which model, its cloud and scanner heights,
the existing layer file to merge into, the points each element holds at full resolution.
The geometry is :mod:`twin.ops.suggest`, the layer file :mod:`twin.layers.draft`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.errors import NotFoundError

TITLE = "{structure}: elements suggested from {survey} (draft for review)"


@dataclass
class SuggestReport:
    structure_id: str
    survey_id: str
    model_key: str
    out: str
    figures: str | None
    input_points: int
    thinned_points: int
    voxel_m: float
    seconds: dict
    elements: list[dict] = field(default_factory=list)  # id, kind, points, fit_rms_mm, confidence
    kept: list[str] = field(default_factory=list)  # elements of --merge-into, kept as they were
    not_proposed: list[dict] = field(default_factory=list)  # candidates the kept regions already cover


def suggest_for_survey(ws, structure_id: str, survey_id: str | None, out: Path, *, merge_into: Path | None = None,
                       max_points: int | None = None) -> SuggestReport:
    from twin.catalog.models import all_models, latest_model, model_crs  # noqa: PLC0415
    from twin.io.registry import read_scan  # noqa: PLC0415
    from twin.layers import load_layers  # noqa: PLC0415
    from twin.layers.draft import describe, draft_layers, figures, fit_rms, write_draft  # noqa: PLC0415
    from twin.models.layers import LayerFile  # noqa: PLC0415
    from twin.ops.labelling import compile_layers, label_points  # noqa: PLC0415
    from twin.ops.suggest import MAX_POINTS, suggest_elements  # noqa: PLC0415
    from twin.ops.suggest.evaluate import COVERED, covered_shares  # noqa: PLC0415

    existing = load_layers(merge_into) if merge_into is not None else None
    if survey_id is None:
        ws.require_structure(structure_id)
        models = all_models(ws, structure_id)
        if not models:
            raise NotFoundError(f"structure {structure_id} has no processed model yet; run: twin process {structure_id}")
        model = models[-1]
    else:
        model = latest_model(ws, structure_id, survey_id)
    cloud = read_scan(model.require_cloud())
    positions = np.asarray(model.scanner_positions(), dtype=np.float64).reshape(-1, 3)
    scanner_z = float(np.median(positions[:, 2]) - cloud.origin[2]) if len(positions) else None
    found = suggest_elements(cloud, max_points=max_points or MAX_POINTS, scanner_z=scanner_z)
    candidates = found.candidates
    not_proposed = []
    if existing is not None:
        shares = covered_shares(existing, candidates, found.thinned.xyz, found.thinned.origin)
        not_proposed = [{"id": c.id, "kind": c.kind, "covered": round(s, 3)}
                        for c, s in zip(candidates, shares, strict=True) if s >= COVERED]
        candidates = [c for c, s in zip(candidates, shares, strict=True) if s < COVERED]
    crs = model_crs(ws, model)
    crs_text = f"EPSG:{crs.epsg}" if crs is not None and crs.epsg else None
    sources = [f"laser scan, {model.survey_id}", f"twin model {model.key[:12]}"]
    title = TITLE.format(structure=structure_id, survey=model.survey_id)
    data = draft_layers(candidates, title=title, sources=sources, crs=crs_text, existing=existing)
    # points at full resolution: the draft's own regions, applied to the whole cloud
    compiled = compile_layers(LayerFile.model_validate(data))
    labels = label_points(compiled, cloud.xyz, cloud.origin)
    counts = np.bincount(labels[labels >= 0], minlength=len(compiled.element_ids))
    points = {eid: int(counts[i]) for i, eid in enumerate(compiled.element_ids)}
    by_id = {c.id: c for c in candidates}
    for element in data["elements"]:
        if element["id"] in by_id:
            element["description"] = describe(by_id[element["id"]], points[element["id"]])
    side = write_draft(data, Path(out), figures(candidates, points))
    return SuggestReport(
        structure_id=structure_id, survey_id=model.survey_id, model_key=model.key, out=str(out),
        figures=str(side) if side else None, input_points=found.input_points, thinned_points=len(found.thinned),
        voxel_m=round(found.voxel, 4), seconds={k: round(v, 2) for k, v in found.seconds.items()},
        elements=[{"id": c.id, "kind": c.kind, "points": points.get(c.id, 0), "fit_rms_mm": fit_rms(c.rms_mm, 1),
                   "confidence": c.confidence} for c in candidates],
        kept=[e.id for e in existing.elements] if existing is not None else [], not_proposed=not_proposed)
