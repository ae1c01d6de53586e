"""What a report shows, gathered from the workspace: the structure and its layers, its
surveys, scans and models with their provenance, and a comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import NotFoundError, UsageError


@dataclass
class SurveyInfo:
    record: object  # twin.models.catalog.SurveyRecord
    scans: list  # ScanRecord
    model: object | None  # twin.catalog.models.ModelFiles


@dataclass
class ReportData:
    structure_id: str
    structure_name: str | None
    workspace: str
    organisation: str | None
    layers: object | None  # twin.models.layers.LayerRevision
    surveys: list[SurveyInfo]
    survey: SurveyInfo  # the survey the pictures show
    comparison: dict | None = None  # comparison.json of the comparison shown
    comparison_folder: Path | None = None
    notes: list[str] = field(default_factory=list)


def gather(ws, structure_id: str, survey_id: str | None = None, compare_with: str | None = None) -> ReportData:
    """Everything the report needs; raises NotFoundError / UsageError before any work
    when a survey is unknown, has no model, or is compared with itself."""
    from twin.catalog.models import latest_model  # noqa: PLC0415
    from twin.compare.run import current_layers  # noqa: PLC0415

    ws.require_structure(structure_id)
    records = ws.surveys(structure_id)
    if not records:
        raise NotFoundError(f"structure {structure_id!r} has no surveys yet; ingest scans first")
    known = {r.id: r for r in records}
    for sid in (survey_id, compare_with):
        if sid is not None and sid not in known:
            ws.require_survey(structure_id, sid)  # raises with the known surveys listed
    if survey_id is not None and compare_with is not None and survey_id == compare_with:
        raise UsageError(f"--survey and --compare both name {survey_id!r}; compare two different surveys")
    surveys = []
    for r in records:
        try:
            model = latest_model(ws, structure_id, r.id)
        except NotFoundError:
            model = None
        surveys.append(SurveyInfo(record=r, scans=ws.scans(structure_id, r.id), model=model))
    by_id = {s.record.id: s for s in surveys}
    if survey_id is None:
        with_model = [s for s in surveys if s.model is not None and s.record.id != compare_with]
        if not with_model:
            raise NotFoundError(
                f"no survey of {structure_id!r} has a processed model yet; run: twin process {structure_id}"
            )
        chosen = with_model[-1]
    else:
        chosen = by_id[survey_id]
        if chosen.model is None:
            latest_model(ws, structure_id, survey_id)  # raises: no model, with the command to make one
    if compare_with is not None and by_id[compare_with].model is None:
        latest_model(ws, structure_id, compare_with)
    structure = next(s for s in ws.structures() if s.id == structure_id)
    return ReportData(
        structure_id=structure_id,
        structure_name=structure.name,
        workspace=str(ws.root),
        organisation=getattr(ws.settings, "organisation", None),
        layers=current_layers(ws, structure_id),
        surveys=surveys,
        survey=chosen,
    )


def comparison_pair(data: ReportData, other: str) -> tuple[str, str]:
    """(from, to): the earlier and the later of the report's survey and ``other``, in the
    catalog's survey order (by date, then id)."""
    order = [s.record.id for s in data.surveys]
    a, b = data.survey.record.id, other
    return (a, b) if order.index(a) < order.index(b) else (b, a)


def load_comparison(ws, data: ReportData, other: str) -> None:
    """The latest recorded M3C2 comparison of the pair whose folder still exists, or a new
    one with the default settings (recorded in the catalog like any other)."""
    from twin.catalog.comparisons import comparisons  # noqa: PLC0415
    from twin.compare.output import SUMMARY_FILE  # noqa: PLC0415

    first, second = comparison_pair(data, other)
    for record in comparisons(ws, data.structure_id, first, second, method="m3c2"):
        folder = record.folder(ws.root)
        if (folder / SUMMARY_FILE).is_file() and (folder / "core_points.laz").is_file():
            import json  # noqa: PLC0415

            data.comparison = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
            data.comparison_folder = folder
            data.notes.append(f"comparison {first} → {second} recorded {record.created_at} (id {record.id})")
            return
    from twin.compare.options import make_options  # noqa: PLC0415
    from twin.compare.run import compare_surveys  # noqa: PLC0415

    data.comparison = compare_surveys(ws, data.structure_id, first, second, make_options())
    data.comparison_folder = Path(data.comparison["out"])
    data.notes.append(f"comparison {first} → {second} run for this report with the default settings")
