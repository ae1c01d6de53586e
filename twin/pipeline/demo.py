"""The main job on the bundled sample: the README's first command runs this."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from twin.catalog.ingest import IngestProgress, ingest
from twin.catalog.settings import is_workspace
from twin.catalog.workspace import Workspace, init_workspace
from twin.errors import ScanReadError
from twin.models.catalog import IngestReport
from twin.export.bagit_package import BagReport
from twin.export.package import ExportReport
from twin.pipeline.batch import BatchReport, process
from twin.report.build import ReportInfo


def bundled_samples() -> Path:
    """sample_scans/ of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "sample_scans"


class DemoReport(BaseModel):
    workspace: str
    created: bool
    ingests: list[IngestReport]
    processing: BatchReport | None = None
    exports: list[ExportReport] = []
    bags: list[BagReport] = []
    reports: list[ReportInfo] = []


def survey_folders(samples: Path) -> list[tuple[str, str, Path]]:
    """(structure, survey, folder) for each ``<samples>/<structure>/<survey>/`` holding scans."""
    if not samples.is_dir():
        raise ScanReadError(f"{samples}: no sample folder; generate one with `twin sample --out {samples}`")
    found = []
    for structure in sorted(p for p in samples.iterdir() if p.is_dir()):
        for survey in sorted(p for p in structure.iterdir() if p.is_dir() and p.name != "truth"):
            if any(survey.glob("*.la[sz]")):
                found.append((structure.name, survey.name, survey))
    if not found:
        raise ScanReadError(f"{samples}: no <structure>/<survey>/ folders with scans inside")
    return found


def run_demo(
    workspace: Path,
    samples: Path | None = None,
    on_step: Callable[[str], None] = lambda message: None,
    progress: IngestProgress | None = None,
    pipeline: str | None = "default",
    workers: int = 1,
    on_event: Callable[[dict], None] = lambda event: None,
) -> DemoReport:
    """Create (or reuse) a workspace, ingest every sample survey, and unless ``pipeline``
    is None process each with it (work already done is found in the cache)."""
    samples = samples or bundled_samples()
    folders = survey_folders(samples)
    workspace = Path(workspace)
    created = not is_workspace(workspace)
    ws = init_workspace(workspace, name="twin-demo", organisation="twin sample") if created else Workspace.open(workspace)
    reports = []
    for structure, survey, folder in folders:
        on_step(f"ingesting {structure}/{survey} from {folder}")
        reports.append(ingest(ws, [folder], structure, survey, progress=progress))
    for structure in sorted({s for s, _, _ in folders}):
        layer_file = samples / structure / "layers.yaml"  # the sample's elements, phases, materials
        if layer_file.is_file():
            from twin.catalog.layers import set_layers  # noqa: PLC0415

            info = set_layers(ws, structure, layer_file, author="twin demo")
            on_step(f"layers of {structure}: revision {info.rev}" + ("" if info.created else " (unchanged)"))
    if pipeline is None:
        return DemoReport(workspace=str(ws.root), created=created, ingests=reports)
    jobs = [(structure, survey) for structure, survey, _ in folders]
    on_step(f"processing {len(jobs)} survey(s) with the {pipeline} pipeline")
    batch = process(ws, jobs, pipeline, workers=workers, on_event=on_event)
    report = DemoReport(workspace=str(ws.root), created=created, ingests=reports, processing=batch)
    if batch.ok:
        for structure in sorted({s for s, _ in jobs}):
            surveys = sorted(v for s, v in jobs if s == structure)
            _package(ws, structure, surveys[-1], report, on_step)
            _report(ws, structure, surveys, report, on_step)
    return report


def _package(ws: Workspace, structure: str, survey: str, report: DemoReport, on_step: Callable[[str], None]) -> None:
    """Export the structure's latest survey as a bag (once), then validate the bag."""
    from twin.export.bagit_package import verify_bag  # noqa: PLC0415
    from twin.export.package import export_package  # noqa: PLC0415

    bag = ws.root / "exports" / f"{structure}-{survey}"
    if not bag.exists():
        on_step(f"exporting {structure}/{survey} to {bag}")
        report.exports.append(export_package(ws, structure, survey, bag, on_step=on_step))
    on_step(f"validating the bag {bag}")
    report.bags.append(verify_bag(bag))


def _report(ws: Workspace, structure: str, surveys: list[str], report: DemoReport,
            on_step: Callable[[str], None]) -> None:
    """The HTML report of the latest survey, compared with the first when there are two or more."""
    from twin.report.build import build_report  # noqa: PLC0415

    out = ws.root / "reports" / f"{structure}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    earlier = surveys[0] if len(surveys) > 1 else None
    on_step(f"writing the report {out}" + (f" ({surveys[-1]} compared with {earlier})" if earlier else ""))
    report.reports.append(build_report(ws, structure, out, surveys[-1], earlier))
