"""`twin report`: a self-contained HTML report of a structure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, err, out, print_json


def report(
    structure: Annotated[str, typer.Argument(help="Structure id.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")],
    survey: Annotated[
        str | None,
        typer.Option("--survey", help="The survey to show (default: the latest with a model).", show_default=False),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option("--compare", help="Another survey: add the change maps and per-element changes.",
                     show_default=False),
    ] = None,
    ppm: Annotated[
        float | None,
        typer.Option("--ppm", help="Scale of the pictures, pixels per metre (default: about 900 px a side).",
                     show_default=False),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one HTML page a conservator can open offline: a table of contents, metadata, a 3D
    view of the model (coloured by element, phase, material or change; click a part for its
    figures), surveys and scans with provenance, registration quality, layers, elevations by
    phase and material, with --compare the change maps and the per-element table, significant
    changes first, and a glossary.

    The 3D view embeds three.js from tools/node_modules/three (npm ci --prefix tools) or
    $TWIN_THREE; without it the report is written with a line saying the view is missing.

    With --compare, the latest recorded M3C2 comparison of the two surveys is used, or one
    is run with the default settings (and recorded).

    Example: twin report thai-hoa-palace --survey 2025-03 --compare 2024-03 --out report.html
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.report.build import build_report  # noqa: PLC0415

    info = build_report(Workspace.open(workspace), structure, out_file, survey, compare, ppm)
    if info.viewer.missing:
        err.print(f"warning: the report has no 3D view: {info.viewer.missing}", markup=False)
    if as_json:
        print_json(info)
        return
    extra = f", compared with {info.compared_with}" if info.compared_with else ""
    view = (f", a 3D view of mesh level {info.viewer.level} ({info.viewer.faces:,} faces)" if info.viewer.shown
            else ", no 3D view")
    out.print(f"{structure}: report of survey {info.survey_id}{extra} in {info.path} "
              f"({info.images} pictures{view}, {info.size_bytes / 1e6:.1f} MB, {info.seconds:.1f} s)", markup=False)
