"""`twin registration`: a quick look at how well a survey's stations were registered."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, out, print_json


def registration(
    structure: Annotated[str, typer.Argument(help="Structure id.")],
    survey: Annotated[
        str | None,
        typer.Option("--survey", help="Survey id (default: the latest survey with a processed model).",
                     show_default=False),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show how well a survey's stations were registered: links, stations, loops, warnings.

    For the latest model of the survey: per link the overlap both ways, the cloud-to-cloud
    error (RMS and mean), the share within tolerance, the strength along X, Y and Z, and
    whether it is on the spanning tree or closes a loop; per station its fit, its links and
    the runner-up alignment; the bundle error and the worst loop closure; and every warning
    with what to do about it. Warnings do not change the exit code. --json prints the
    recorded quality report (null for a single station; a figure that could not be
    measured is null).

    Example: twin registration thai-hoa-palace --survey 2025-03
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.report.registration import registration_view  # noqa: PLC0415

    view = registration_view(Workspace.open(workspace), structure, survey)
    if as_json:
        print_json(view.quality_json())
        return
    _show(view)


def _show(view) -> None:
    key = (view.model_key or "")[:12]
    out.print(f"{view.structure_id}/{view.survey_id}: model {key} (pipeline {view.pipeline}, {view.created_at}), "
              f"{view.station_count} station{'s' if view.station_count != 1 else ''}, reference "
              f"{view.reference or '–'}", markup=False)
    for note in view.notes:
        out.print(note, markup=False)
    if view.quality is None:
        if view.stations:
            _table("stations", ["station", "fitness", "RMSE mm"],
                   [[s.name, _num(s.fitness, 3), _num(s.rmse_mm, 1)] for s in view.stations], (1, 2))
        return
    if view.links:
        flagged = view.flagged_links()
        tol = _num(view.tolerance_mm, 1)
        _table(f"links: overlap source/target, cloud-to-cloud RMS and mean, share within {tol} mm, strength",
               ["link", "overlap %", "RMS mm", "mean mm", "within", "strength X Y Z", "", ""],
               [[k.name, f"{_pc(k.overlap_source)}/{_pc(k.overlap_target)}", _num(k.rms_mm, 1),
                 _num(k.mean_mm, 1), f"{_pc(k.within)}%",
                 " ".join(_num(k.strength.get(a), 2) for a in "XYZ"), "tree" if k.in_tree else "loop",
                 "!" if k.name in flagged else ""] for k in view.links],
               (1, 2, 3, 4))
    _table("stations: fit against all the others, links, runner-up (partner, how far, its support/the chosen's)",
           ["station", "fitness", "RMSE mm", "links to", "runner-up", ""],
           [[f"{s.name} (ref)" if s.name == view.reference else s.name, _num(s.fitness, 3), _num(s.rmse_mm, 1),
             ", ".join(_partner(link, s.name) for link in s.links) or "none", _runner(s.runner_up),
             "!" if s.flags else ""] for s in view.stations],
           (1, 2))
    out.print(f"survey: {view.survey_line()}", markup=False)
    for f in view.flags:
        out.print(f"warning: {f.line()}", markup=False)
    n = view.warnings
    out.print(f"{n} warning{'s' if n != 1 else ''}" if n else "no warnings", markup=False)


def _num(value, digits: int) -> str:
    import math  # noqa: PLC0415

    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _pc(share) -> str:
    return _num(None if share is None else 100 * share, 0)


def _partner(link: str, name: str) -> str:
    """``"S1 - S2"`` seen from S1: ``"S2"``."""
    a, _, b = link.partition(" - ")
    return b if a == name else a


def _runner(r) -> str:
    if r is None:
        return "none"
    return f"{r.partner} {r.rotation_deg:.1f}° {r.shift_m:.2f} m {r.support:.2f}/{r.chosen_support:.2f}"


def _table(title: str, headers: list[str], rows: list[list[str]], numeric) -> None:
    from rich import box  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, name in enumerate(headers):
        table.add_column(name, justify="right" if i in numeric else "left")
    for r in rows:
        table.add_row(*(Text(str(v)) for v in r))  # names are data, never markup
    out.print(table)
