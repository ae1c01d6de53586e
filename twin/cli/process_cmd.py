"""`twin process`: clean, register and mesh the scans of structures, in batches."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, err, out, print_json


def process(
    structures: Annotated[list[str] | None, typer.Argument(help="Structure ids (or use --all).")] = None,
    survey: Annotated[str | None, typer.Option(help="Only this survey (default: every survey).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every structure in the catalog.")] = False,
    pipeline: Annotated[
        str, typer.Option("--pipeline", "-p", help="Pipeline name (default, preview, high-detail) or YAML path.")
    ] = "default",
    workers: Annotated[int, typer.Option(help="Dask worker processes on this machine.")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(help="Memory one survey's processing may take, e.g. 8G or 50% (default: 60% of the machine's, "
                          "split between local workers); lowers the points the voxel stage keeps."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a pipeline on each structure's scans: a registered, cleaned cloud and a mesh.

    Unchanged inputs and parameters are not recomputed; one failing structure does not
    stop the others, and the exit code says whether all succeeded.

    Example: twin process --all --pipeline preview --workers 2
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.pipeline.batch import process as run_batch, select_jobs  # noqa: PLC0415

    from twin.pipeline.memory import parse_memory  # noqa: PLC0415

    limit = parse_memory(memory_limit) if memory_limit is not None else None
    ws = Workspace.open(workspace)
    jobs = select_jobs(ws, structures or [], survey, all_)
    with BatchDisplay(len(jobs), quiet=as_json) as display:
        report = run_batch(ws, jobs, pipeline, workers=workers, scheduler=scheduler, on_event=display.event,
                           memory_limit=limit)
    if as_json:
        print_json(report)
    else:
        print_batch_summary(report)
    if not report.ok:
        raise typer.Exit(6)


class BatchDisplay:
    """A rich progress display fed by pipeline events."""

    def __init__(self, total: int, quiet: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=err, disable=quiet or not err.is_terminal,
                                 redirect_stdout=False, redirect_stderr=False)  # libraries' prints: to the log
        self.overall = self.progress.add_task("models", total=total)
        self.tasks: dict[tuple[str, str], int] = {}
        self.quiet = quiet

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def event(self, event: dict) -> None:
        job = (event.get("structure"), event.get("survey"))
        label = f"{job[0]}/{job[1]}"
        if job not in self.tasks and event["type"] == "stage":
            self.tasks[job] = self.progress.add_task(label, total=event["of"])
        if event["type"] == "stage":
            points = f", {event['points']:,} points" if event.get("points") else ""
            cached = " (cached)" if event.get("cached") else ""
            self.progress.update(self.tasks[job], completed=event["index"],
                                 description=f"{label}: {event['stage']}{cached}{points}")
            if not err.is_terminal and not self.quiet:
                err.print(f"{label}: stage {event['index'] + 1}/{event['of']} {event['stage']}{cached}{points}",
                          markup=False)
        elif event["type"] in {"done", "failed", "up-to-date"}:
            if job in self.tasks:
                self.progress.update(self.tasks[job], completed=self.progress.tasks[self.tasks[job]].total)
            if event["type"] != "up-to-date":
                self.progress.advance(self.overall)


def print_batch_summary(report) -> None:
    from rich.table import Table  # noqa: PLC0415

    from twin.pipeline.provenance import describe_lengths  # noqa: PLC0415

    table = Table("structure", "survey", "status", "stages run", "points", "faces", "seconds", title=f"pipeline {report.pipeline}")
    for r in report.succeeded:
        table.add_row(r.structure_id, r.survey_id, r.status, f"{r.stages_run} (+{r.stages_cached} cached)",
                      f"{r.point_count:,}", f"{r.face_count:,}", f"{r.seconds:.1f}")
    out.print(table)
    for r in report.succeeded:
        if r.status == "up-to-date":
            out.print(f"{r.structure_id}/{r.survey_id}: up to date, nothing to do ({r.path})", markup=False)
        else:
            out.print(f"{r.structure_id}/{r.survey_id}: model in {r.path}", markup=False)
        for name, st in ((r.registration or {}).get("stations") or {}).items():
            out.print(f"  station {name}: fitness {st.get('fitness', 0):.3f}, inlier RMSE "
                      f"{1000 * st.get('inlier_rmse', 0):.1f} mm", markup=False)
        for record in r.lengths:
            out.print(f"  {describe_lengths(record)}", markup=False)
        for warning in r.warnings:
            err.print(f"warning: {r.structure_id}/{r.survey_id}: {warning}", markup=False)
    for f in report.failed:
        err.print(f"error: {f.structure_id}/{f.survey_id} failed: {f.error}", markup=False)
    out.print(f"{len(report.succeeded)} succeeded, {len(report.failed)} failed in {report.seconds:.1f} s")
