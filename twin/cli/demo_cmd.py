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
    as_json: JsonOpt = False,
) -> None:
    """Run the main job on the bundled sample: workspace, ingest, catalog.

    Running it again reuses the workspace and redoes nothing that is already done.

    Example: twin demo --workspace /tmp/pavilion-demo
    """
    from twin.pipeline.demo import run_demo  # noqa: PLC0415

    report = run_demo(workspace, samples, on_step=lambda m: err.print(m, markup=False))
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
