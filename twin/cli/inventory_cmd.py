"""Inventory commands: `twin inventory import|list|history|status|export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, err, new_app, out, print_json

app = new_app(
    "The inventory: every monument's record (number, names, type, protection, location, footprint, "
    "complex, Dublin Core), imported from CSV, GeoJSON or GeoPackage, and its status derived from the catalog.\n\n"
    "Example: twin inventory import hue-monuments.csv --mapping mapping.yaml"
)


@app.callback()
def _inventory(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option(
        "--json", help="JSON for scripts from the inventory command that follows (the same as its own --json).")
    ] = False,
) -> None:
    if as_json:
        ctx.ensure_object(dict)["json"] = True


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Inventory file: .csv (UTF-8), .geojson or .gpkg.")],
    mapping: Annotated[Path | None, typer.Option(
        "--mapping", "-m", help="YAML mapping source columns to twin fields (default: columns named as the fields).")
    ] = None,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Import the valid rows and list the refused ones (default: refuse the whole file).")
    ] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import or update inventory records, matched by inventory number.

    Every row is checked first (required fields, CRS, valid geometry, known parent, no
    duplicate numbers, no cycle of complexes); if any is refused nothing is imported and
    each problem is listed with its row number (the first data row is row 1). A re-import
    updates records in place and keeps every previous value in the history.

    Example: twin inventory import hue-monuments.gpkg --mapping mapping.yaml --skip-invalid
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.inventory.importer import InventoryRefused, import_inventory  # noqa: PLC0415

    ws = Workspace.open(workspace)
    try:
        report = import_inventory(ws, file, mapping_path=mapping, skip_invalid=skip_invalid)
    except InventoryRefused as exc:
        if as_json:
            print_json(exc.report)
        raise
    if as_json:
        print_json(report)
        return
    unit = "feature" if report.format != "csv" else "row"
    for problem in report.skipped:
        err.print(f"skipped {problem.text(unit)}", markup=False)
    skipped_rows = len({p.row for p in report.skipped})
    out.print(
        f"{file}: {len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
        + (f", {skipped_rows} {unit}(s) skipped" if skipped_rows else "")
        + f" ({report.rows} {unit}s, {report.seconds:.2f} s)",
        markup=False,
    )


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Also the structures with no inventory record.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the inventory records.

    Example: twin inventory list --json
    """
    from twin.catalog.inventory import list_inventory  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    rows = list_inventory(Workspace.open(workspace), include_all=all_)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table("number", "structure", "name", "type", "designation", "complex", "location", "footprint", "surveys")
    for r in rows:
        where = ""
        if r.location:
            x, y = r.location["coordinates"][:2]
            where = f"{x:.1f}, {y:.1f} (EPSG:{r.crs_epsg})" if r.crs_epsg != 4326 else f"{x:.6f}, {y:.6f}"
        table.add_row(r.inventory_number or "-", r.id, r.name_vi or r.name_en or r.name or "", r.type or "",
                      r.designation or "", r.parent_id or "", where, "yes" if r.footprint else "",
                      str(r.surveys))
    out.print(table)
    out.print(f"{sum(1 for r in rows if r.inventory_number)} inventory record(s)", markup=False)


@app.command("footprint")
def footprint(
    structure: Annotated[str, typer.Argument(help="Structure id.")],
    file: Annotated[Path, typer.Argument(help="The GeoJSON (or GeoPackage) of `twin export STRUCTURE -f geojson`.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a record's footprint by the structure's outline from a processed survey's export
    (carried into the record's CRS; kept in the record's history like an import).

    Example: twin inventory footprint ngo-mon-gate packages/ngo-mon-gate-2025/ngo-mon-gate-2025-03-crs.geojson
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.inventory.footprint import update_footprint  # noqa: PLC0415

    report = update_footprint(Workspace.open(workspace), structure, file)
    if as_json:
        print_json(report)
        return
    if not report.changed:
        out.print(f"{report.structure_id} ({report.inventory_number}): the footprint is already this one; "
                  "nothing changed", markup=False)
        return
    area = f"{report.area_m2:,.1f} m²" if report.area_m2 is not None else "(geographic CRS: no area)"
    before = f" (was {report.previous_area_m2:,.1f} m²)" if report.previous_area_m2 is not None else ""
    out.print(f"{report.structure_id} ({report.inventory_number}): footprint {area}{before} in {report.crs} from "
              f"{Path(report.source).name}; kept in its history (twin inventory history {report.structure_id})",
              markup=False)


@app.command("history")
def history(
    structure: Annotated[str | None, typer.Argument(help="Structure id or inventory number (default: all).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What each import changed: previous and new values, when, from which file (SHA-256).

    Example: twin inventory history HUE-0042
    """
    from twin.catalog.inventory import history as run  # noqa: PLC0415
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    ws = Workspace.open(workspace)
    rows = run(ws, structure)
    if structure is not None and not rows:
        from twin.errors import NotFoundError  # noqa: PLC0415

        raise NotFoundError(f"no inventory history for {structure!r} (give a structure id or inventory number)")
    if as_json:
        print_json(rows)
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table("when", "number", "structure", "action", "changed", "file", "sha256")
    for r in rows:
        changed = ", ".join(f"{k}: {_short(r.previous.get(k))} → {_short(v)}" if r.action == "updated" else k
                            for k, v in r.new.items())
        table.add_row(r.changed_at, r.inventory_number, r.structure_id, r.action, changed, r.source_name,
                      r.source_sha256[:12])
    out.print(table)


def _short(value) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


StaleYearsOpt = Annotated[float, typer.Option(
    "--stale-years", min=0, help="A survey older than this many years makes a structure stale.")]
ChangeShareOpt = Annotated[float, typer.Option(
    "--change-share", min=0, max=1,
    help="Share of core points with a significant change that puts a structure on the priority list.")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="The day ages are counted to, YYYY-MM-DD (default: today).")]
MinCoverageOpt = Annotated[float, typer.Option(
    "--min-coverage", min=0, max=1,
    help="Share of the footprint's walls the latest model must sample; below it a structure has low coverage.")]
CoverageOpt = Annotated[bool, typer.Option(
    "--coverage/--no-coverage",
    help="Measure the coverage of each footprint by its latest model (once per model and footprint, then "
         "read back), or leave it out.")]


def _day(as_of: str | None):
    import datetime as dt  # noqa: PLC0415

    from twin.errors import UsageError  # noqa: PLC0415

    try:
        return dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise UsageError(f"--as-of {as_of!r}: give a date as YYYY-MM-DD") from None


@app.command()
def status(
    stale_years: StaleYearsOpt = 10.0,
    change_share: ChangeShareOpt = 0.05,
    min_coverage: MinCoverageOpt = 0.8,
    coverage: CoverageOpt = True,
    as_of: AsOfOpt = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Also write the status as one offline HTML page: plans coloured by priority, every "
                       "structure's row.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per structure and per complex: surveys and their dates, age of the last survey, layers,
    share of points labelled, last comparison, coverage of the footprint by the latest model
    (walls and roof sampled, occlusion holes, where more scanner stations would see them);
    then the priority list (never surveyed, stale beyond --stale-years, significant change,
    low coverage).

    Example: twin inventory status --stale-years 5 --html status.html
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415

    ws = Workspace.open(workspace)
    options = {"stale_years": stale_years, "change_share": change_share, "as_of": _day(as_of), "coverage": coverage,
               "min_coverage": min_coverage}
    if html is not None:
        from twin.report.inventory_page import write_status_page  # noqa: PLC0415

        report = write_status_page(ws, html, **options)
    else:
        from twin.inventory.status import inventory_status  # noqa: PLC0415

        report = inventory_status(ws, **options)
    if as_json:
        print_json(report)
        return
    from rich.table import Table  # noqa: PLC0415

    if html is None:
        _print_structures(report)
    else:  # the page has every structure's row; a city's thousand rows on the terminal take seconds to draw
        out.print(f"status of {len(report.structures)} structure(s) as of {report.as_of}: every row is in the page",
                  markup=False)
    _print_coverage(report)
    if report.complexes:
        complexes = Table("complex", "name", "structures", "surveyed", "never", "stale", "with layers", "changed",
                          "low coverage", "oldest last survey", title="complexes (everything inside, at any depth)")
        for c in report.complexes:
            complexes.add_row(c.inventory_number or c.id, c.name or "", str(c.structures), str(c.surveyed),
                              str(c.never_surveyed), str(c.stale), str(c.with_layers), str(c.significant_change),
                              str(c.low_coverage), c.oldest_last_survey or "")
        out.print(complexes)
    counts = {r: sum(1 for p in report.priorities if r in p.reasons) for r in ("never surveyed", "stale",
                                                                                 "significant change", "low coverage")}
    out.print(f"priority: {len(report.priorities)} of {len(report.structures)} structure(s): "
              + ", ".join(f"{n} {r}" for r, n in counts.items())
              + f" (stale: last survey over {report.stale_years:g} years before {report.as_of}"
              + (f"; low coverage: walls under {report.min_coverage:.0%} sampled" if report.min_coverage is not None
                 else "") + ")", markup=False)
    for p in report.priorities[:20]:
        out.print(f"  {p.inventory_number or p.id}  {p.name or ''}: {', '.join(p.reasons)}"
                  + (f" (last survey {p.last_survey})" if p.last_survey else ""), markup=False)
    if len(report.priorities) > 20:
        out.print(f"  ... and {len(report.priorities) - 20} more (--json lists them all)", markup=False)
    if html is not None:
        out.print(f"status page: {html}", markup=False)


def _print_structures(report) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table("number", "structure", "name", "surveys", "last survey", "age (y)", "layers", "labelled",
                  "last comparison", "walls", "roof", "holes", "priority", title=f"status as of {report.as_of}")
    for s in report.structures:
        layers = "/".join(f"{s.layers.get(k, 0)}" for k in ("elements", "phases", "materials")) if s.layers else ""
        cmp_text = ""
        if s.last_comparison:
            c = s.last_comparison
            share = c.get("significant_share")
            cmp_text = f"{c['from_survey']}→{c['to_survey']}" + (f" {share:.1%} significant" if share is not None
                                                                  else "")
        c = s.coverage
        table.add_row(s.inventory_number or "-", s.id, s.name or "", str(len(s.surveys)), s.last_survey or "",
                      f"{s.age_years:.1f}" if s.age_years is not None else "", layers,
                      f"{s.labelled_share:.1%}" if s.labelled_share is not None else "", cmp_text,
                      _share(c.walls) if c else "", _share(c.roof) if c else "",
                      f"{len(c.holes)} ({c.hole_area_m2:.1f} m²)" if c else "", ", ".join(s.priority))
    out.print(table)


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _print_coverage(report) -> None:
    """Each structure's holes and suggested stations, under the table."""
    for s in report.structures:
        c = s.coverage
        if c is None:
            if s.coverage_note:
                err.print(f"coverage of {s.inventory_number or s.id}: not measured: {s.coverage_note}", markup=False)
            continue
        if not c.holes:
            continue
        crs = f"EPSG:{c.crs_epsg}" if c.crs_epsg else "the model's frame"
        out.print(f"{s.inventory_number or s.id} {s.name or ''}: {len(c.holes)} hole(s), {c.hole_area_m2:.1f} m² "
                  f"(survey {c.survey_id}); suggested stations in {crs}:", markup=False)
        for st in c.stations:
            sees = ", ".join(f"hole {h.hole} ({h.share:.0%})" for h in st.sees)
            out.print(f"  {st.id}. {st.x:.2f}, {st.y:.2f}, ground {st.ground_z:.2f}, {st.standoff_m:g} m out: "
                      f"sees {sees}", markup=False)
        if c.unseen_holes:
            out.print(f"  not seen from the ground: hole(s) {', '.join(map(str, c.unseen_holes))} "
                      f"(an elevated scanner or a drone)", markup=False)


@app.command()
def export(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into (made if missing).")],
    formats: Annotated[list[str] | None, typer.Option(
        "--format", "-f", help="gpkg, geojson, cityjson or 3dtiles; repeat or comma-separate (default: gpkg, "
                               "geojson and cityjson).")] = None,
    stale_years: StaleYearsOpt = 10.0,
    change_share: ChangeShareOpt = 0.05,
    min_coverage: MinCoverageOpt = 0.8,
    coverage: CoverageOpt = True,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the inventory with its status for GIS: inventory.gpkg (the inventory's projected
    CRS), inventory.geojson (WGS 84, RFC 7946) and inventory.city.json (CityJSON 2.0: buildings,
    complexes as groups, LoD1 where a model gives the height, LoD2 from its mesh). One feature
    per structure with a record: its footprint, else its point; flat typed properties. With
    -f 3dtiles also city-3dtiles/: every placed model as one 3D Tiles tileset for a web globe.

    Example: twin inventory export --format gpkg --format cityjson --out gis/
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.export.inventory import export_inventory  # noqa: PLC0415

    report = export_inventory(Workspace.open(workspace), out_dir, formats, stale_years=stale_years,
                              change_share=change_share, as_of=_day(as_of), coverage=coverage,
                              min_coverage=min_coverage)
    if as_json:
        print_json(report)
        return
    for f in report.files:
        out.print(f"{Path(report.out) / f.path}  {f.size_bytes / 1e6:.2f} MB", markup=False)
    out.print(f"{report.structures} structures ({report.footprints} footprints, {report.extruded} extruded to their "
              f"model's height, {report.complexes} complexes) as of {report.as_of} in {report.crs or 'no CRS'} "
              f"(GeoJSON: WGS 84), {report.seconds:.2f} s", markup=False)
    if "3dtiles" in report.formats:
        out.print(f"city-3dtiles: the latest models of {len(report.tiles)} structure(s)", markup=False)
        for sid, why in report.tiles_left_out.items():
            err.print(f"warning: {sid} is not in city-3dtiles: {why}", markup=False)
    if report.left_out:
        err.print(f"{len(report.left_out)} structure(s) without an inventory record not exported: "
                  f"{', '.join(report.left_out[:10])}" + (" ..." if len(report.left_out) > 10 else ""), markup=False)
