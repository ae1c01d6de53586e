"""Workspace commands: init, ingest, structures, surveys, scans, verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, byte_progress, err, out, print_json


def init(
    folder: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Workspace name (default: the folder's name).")] = None,
    organisation: Annotated[
        str | None, typer.Option(help="Source organisation, written into archive packages.")
    ] = None,
    organisation_address: Annotated[
        str | None, typer.Option(help="Its postal address (bag-info.txt).")
    ] = None,
    contact_name: Annotated[str | None, typer.Option(help="Who answers for the packages (bag-info.txt).")] = None,
    contact_email: Annotated[str | None, typer.Option(help="Their e-mail address (bag-info.txt).")] = None,
    base_uri: Annotated[
        str | None, typer.Option(help="Namespace of the JSON-LD IRIs (default urn:twin:), e.g. "
                                      "https://monuments.example.org/twin/.")
    ] = None,
    catalog: Annotated[
        str | None, typer.Option(help="A team catalog in an empty PostgreSQL database, "
                                      "postgresql://USER@HOST:PORT/DATABASE, instead of SQLite in the workspace; "
                                      "the password comes from PGPASSWORD or ~/.pgpass, never from the URL.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a workspace: settings, catalog (SQLite inside it, or a team's PostgreSQL) and content-addressed store.

    Example: twin init hue-campaign-2025 --organisation "Hue Monuments Conservation Centre"
    --contact-name "Tran Van A" --contact-email archive@example.org
    (a team: twin init /shared/hue-2025 --catalog postgresql://an@db.hue.example:5432/hue)
    """
    from twin.catalog.workspace import SETTINGS_FILE, STORE_DIR, init_workspace  # noqa: PLC0415

    ws = init_workspace(folder, name=name, organisation=organisation, organisation_address=organisation_address,
                        contact_name=contact_name, contact_email=contact_email, base_uri=base_uri, catalog=catalog)
    if as_json:
        print_json({"root": str(ws.root), "settings": str(ws.root / SETTINGS_FILE), "store": str(ws.root / STORE_DIR),
                    **ws.settings.model_dump(mode="json"), "catalog": ws.catalog.shown})
        return
    where = f" (catalog {ws.catalog.shown})" if ws.settings.catalog else ""
    out.print(f"created workspace {ws.settings.name!r} in {ws.root}{where}", markup=False)


def ingest(
    files: Annotated[list[Path], typer.Argument(help="Scan files, or folders of scan files.")],
    structure: Annotated[str, typer.Option("--structure", "-s", help="Structure id, e.g. thai-hoa-palace.")],
    survey: Annotated[str, typer.Option("--survey", help="Survey (campaign) id, e.g. 2025-03.")],
    station: Annotated[
        str | None, typer.Option(help="Station name for a single file (default: each file's name).")
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="Coordinate system to record instead of the header's, e.g. EPSG:32648.")
    ] = None,
    survey_date: Annotated[
        str | None, typer.Option(help="Capture date of a new survey (default: the scans' header dates).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy scans into the store (read-only, under their SHA-256) and register them.

    Every point of every file is read first; if any file is bad, nothing is ingested.
    Ingesting a file that is already in the catalog does nothing and says so.

    Example: twin ingest scans/2025/ --structure ngo-mon-gate --survey 2025-03 --crs EPSG:32648
    """
    from twin.catalog.ingest import IngestProgress, ingest as run_ingest  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    ws = Workspace.open(workspace)
    with byte_progress() as bar:
        task = None

        def start(phase: str, total: int) -> None:
            nonlocal task
            if task is not None:
                bar.remove_task(task)
            task = bar.add_task(phase, total=total)

        report = run_ingest(
            ws,
            files,
            structure,
            survey,
            station=station,
            crs=crs,
            survey_date=survey_date,
            progress=IngestProgress(start=start, advance=lambda n: bar.advance(task, n)),
        )
    if as_json:
        print_json(report)
        return
    for rec in report.added:
        crs_text = f"EPSG:{rec.crs_epsg}" if rec.crs_epsg else (rec.crs_name or "no CRS")
        out.print(
            f"ingested {rec.original_name} → {rec.structure_id}/{rec.survey_id}/{rec.station}: "
            f"{rec.point_count:,} points, {rec.format.upper()}, {crs_text}"
            + (" (override)" if rec.crs_override else ""),
            markup=False,
        )
    for skip in report.skipped:
        out.print(f"skipped {skip.path}: {skip.reason}", markup=False)
    if not report.added and report.skipped:
        out.print("nothing to do: every file was already ingested")


def structures(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List the structures in the catalog.

    Example: twin structures --json
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    rows = Workspace.open(workspace).structures()
    if as_json:
        print_json(rows)
        return
    _table(["structure", "name", "surveys", "scans", "created"],
           [[r.id, r.name or "", r.surveys, r.scans, r.created_at] for r in rows])


def surveys(
    structure: Annotated[str, typer.Argument(help="Structure id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the surveys of a structure.

    Example: twin surveys pavilion
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    rows = Workspace.open(workspace).surveys(structure)
    if as_json:
        print_json(rows)
        return
    _table(["survey", "date", "scans", "points"], [[r.id, r.date or "", r.scans, f"{r.points:,}"] for r in rows])


def scans(
    structure: Annotated[str, typer.Argument(help="Structure id.")],
    survey: Annotated[str | None, typer.Option(help="Only this survey.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the raw scans of a structure.

    Example: twin scans pavilion --survey survey-2024
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    rows = Workspace.open(workspace).scans(structure, survey)
    if as_json:
        print_json(rows)
        return
    _table(
        ["survey", "station", "file", "format", "points", "CRS", "date", "sha256"],
        [
            [r.survey_id, r.station, r.original_name, r.format.upper(), f"{r.point_count:,}",
             f"EPSG:{r.crs_epsg}" if r.crs_epsg else (r.crs_name or "-"), r.capture_date or "", r.sha256[:12]]
            for r in rows
        ],
    )


def verify(
    target: Annotated[
        Path | None, typer.Argument(help="A BagIt bag (e.g. from twin export) to validate instead of the workspace.")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash every stored raw scan, or validate a BagIt bag; exit 5 if anything changed or vanished.

    Given a bag folder (one holding bagit.txt), every file is checked against the bag's
    manifests with bagit-python and every changed, missing or extra file is named.

    Example: twin verify exports/pavilion-2024
    """
    from twin.errors import IntegrityError  # noqa: PLC0415

    if target is not None and (target / "bagit.txt").is_file():
        _verify_bag(target, as_json)
        return
    if target is not None:
        from twin.catalog.settings import is_workspace  # noqa: PLC0415
        from twin.errors import UsageError  # noqa: PLC0415

        if not target.exists():
            raise UsageError(f"{target}: no such bag or workspace")
        if not is_workspace(target):
            raise UsageError(f"{target} is neither a BagIt bag (no bagit.txt) nor a twin workspace")
        workspace = target
    from twin.catalog.fixity import verify_workspace  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    ws = Workspace.open(workspace)
    total = sum(s.size_bytes for s in ws.scans())
    with byte_progress() as bar:
        task = bar.add_task("verifying", total=total)
        report = verify_workspace(ws, advance=lambda n: bar.advance(task, n))
    if as_json:
        print_json(report)
    else:
        for p in report.problems:
            detail = "is missing" if p.problem == "missing" else f"changed (sha256 now {p.actual_sha256[:12]}…)"
            err.print(f"error: {p.store_path} {detail}; expected sha256 {p.expected_sha256[:12]}…", markup=False)
        status = "all intact" if report.ok else f"{len(report.problems)} problem(s)"
        out.print(f"verified {report.checked} raw scan(s) in {report.workspace}: {status}")
    if not report.ok:
        raise typer.Exit(IntegrityError.exit_code)


def _verify_bag(bag: Path, as_json: bool) -> None:
    from twin.errors import IntegrityError  # noqa: PLC0415
    from twin.export.bagit_package import verify_bag  # noqa: PLC0415

    report = verify_bag(bag)
    if as_json:
        print_json(report)
    else:
        for what, paths in (("changed", report.changed), ("is missing", report.missing),
                            ("is not in the manifest", report.extra)):
            for rel in paths:
                err.print(f"error: {bag / rel} {what}", markup=False)
        for problem in report.errors:
            err.print(f"error: {bag}: {problem}", markup=False)
        if report.valid:
            out.print(f"{bag}: valid BagIt bag, every file matches its SHA-512 checksum", markup=False)
        else:
            n = len(report.changed) + len(report.missing) + len(report.extra) + len(report.errors)
            out.print(f"{bag}: NOT valid, {n} problem(s)", markup=False)
    if not report.valid:
        raise typer.Exit(IntegrityError.exit_code)


def _table(columns: list[str], rows: list[list]) -> None:
    from rich.table import Table  # noqa: PLC0415

    t = Table(*columns)
    for r in rows:
        t.add_row(*(str(v) for v in r))
    out.print(t)
