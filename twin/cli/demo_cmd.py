"""`twin demo`: the whole job on the bundled sample pavilion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, err, out, print_json


def demo(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Workspace to create or reuse.")] = Path(
        "twin-demo"
    ),
    samples: Annotated[
        Path | None, typer.Option(help="Sample folder (default: the bundled sample_scans/).")
    ] = None,
    process: Annotated[
        bool,
        typer.Option("--process/--no-process",
                     help="Process each survey, export a validated package and write the report (minutes); "
                          "--no-process only ingests."),
    ] = True,
    pipeline: Annotated[str, typer.Option("--pipeline", "-p", help="Pipeline name or YAML path.")] = "default",
    workers: Annotated[int, typer.Option(min=1, help="Dask worker processes (one survey each).")] = 2,
    as_json: JsonOpt = False,
) -> None:
    """Run the main job on the bundled sample: ingest, process, export, compare, report.

    Creates (or reuses) a workspace, ingests every station of both sample surveys with
    the pavilion's layers, runs the pipeline on each survey, exports the latest survey as
    a BagIt package (GLB, PLY, LAZ, JSON-LD, GeoJSON, raw scans, provenance) and validates
    it, then writes an HTML report comparing the two surveys. Running it again reuses the
    workspace and redoes nothing that is already done.

    Example: twin demo --workspace /tmp/pavilion-demo
    """
    from twin.pipeline.demo import run_demo  # noqa: PLC0415

    from twin.cli.process_cmd import BatchDisplay, print_batch_summary  # noqa: PLC0415

    with BatchDisplay(2, quiet=as_json) as display:
        report = run_demo(workspace, samples, on_step=lambda m: err.print(m, markup=False), pipeline=pipeline if process else None,
                          workers=workers, on_event=display.event)
    if as_json:
        print_json(report)
        return
    from twin.cli.workspace_cmd import scans, structures  # noqa: PLC0415

    out.print(f"workspace: {report.workspace}" + (" (new)" if report.created else " (reused)"))
    added = sum(len(r.added) for r in report.ingests)
    skipped = sum(len(r.skipped) for r in report.ingests)
    out.print(f"ingested {added} scan(s), {skipped} already present")
    structures(workspace=Path(report.workspace))
    for structure in sorted({r.structure_id for r in report.ingests}):
        scans(structure, workspace=Path(report.workspace))
    if report.processing is not None:
        print_batch_summary(report.processing)
        if not report.processing.ok:
            raise typer.Exit(6)
    for exported in report.exports:
        out.print(f"exported {exported.structure_id}/{exported.survey_id}: {len(exported.files)} files "
                  f"({', '.join(exported.formats)}) in {exported.out}", markup=False)
    for bag in report.bags:
        out.print(f"bag {bag.path}: " + ("valid" if bag.valid else "INVALID " + "; ".join(
            bag.changed + bag.missing + bag.extra + bag.errors)), markup=False)
    for page in report.reports:
        against = f", compared with {page.compared_with}" if page.compared_with else ""
        out.print(f"report of {page.structure_id}/{page.survey_id}{against}: {page.path}", markup=False)
    if not all(bag.valid for bag in report.bags):
        raise typer.Exit(5)
