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
        bool, typer.Option("--process/--no-process", help="Also run the pipeline on each survey (minutes).")
    ] = False,
    pipeline: Annotated[str, typer.Option("--pipeline", "-p", help="Pipeline name or YAML path.")] = "default",
    workers: Annotated[int, typer.Option(help="Dask worker processes.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Run the main job on the bundled sample: workspace, ingest, catalog (and with --process, the pipeline).

    Running it again reuses the workspace and redoes nothing that is already done.

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
