"""`twin compare`: two scan files, two surveys of a structure, or a survey's parts by class."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, out, print_json

_M3C2 = "M3C2 (and c2c, c2m)"


def compare(
    structure: Annotated[str | None, typer.Argument(help="Structure id (workspace mode).", show_default=False)] = None,
    files: Annotated[
        tuple[Path, Path] | None,
        typer.Option("--files", help="Compare two scan files, earlier then later (no workspace needed).",
                     show_default=False),
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="The earlier survey.", show_default=False)] = None,
    to: Annotated[str | None, typer.Option("--to", help="The later survey.", show_default=False)] = None,
    survey: Annotated[
        str | None, typer.Option("--survey", help="With --by: the survey whose parts to compare.", show_default=False)
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Compare a survey's parts by phase, material or element.",
                                 show_default=False)
    ] = None,
    layers_rev: Annotated[
        list[int] | None,
        typer.Option("--layers-rev", help="With --by: a layers revision; twice to compare two revisions.",
                     show_default=False),
    ] = None,
    method: Annotated[str, typer.Option("--method", help="m3c2, c2c or c2m.", rich_help_panel=_M3C2)] = "m3c2",
    core: Annotated[
        Path | None,
        typer.Option("--core", help="Core points: a file of X,Y,Z rows (header optional).", rich_help_panel=_M3C2,
                     show_default=False),
    ] = None,
    core_spacing: Annotated[
        float | None,
        typer.Option("--core-spacing", help="Core points by subsampling at this spacing, metres (default: 0.1).",
                     rich_help_panel=_M3C2, show_default=False),
    ] = None,
    normal_radius: Annotated[
        float | None, typer.Option(help="Radius of the normal's PCA, metres (default: 0.25).", rich_help_panel=_M3C2,
                                   show_default=False)
    ] = None,
    cylinder_radius: Annotated[
        float | None, typer.Option(help="Projection cylinder radius, metres (default: 0.1).", rich_help_panel=_M3C2,
                                   show_default=False)
    ] = None,
    cylinder_half_length: Annotated[
        float | None,
        typer.Option(help="Cylinder half length (max depth), metres (default: 0.15).", rich_help_panel=_M3C2,
                     show_default=False),
    ] = None,
    registration_error: Annotated[
        float | None,
        typer.Option(help="Added to the level of detection, metres (default: the alignment residual in a "
                          "workspace, else 0).", rich_help_panel=_M3C2, show_default=False),
    ] = None,
    median: Annotated[
        bool | None,
        typer.Option("--median/--mean", help="Each cloud's position in the cylinder: median and IQR (default; "
                                              "robust to mixed pixels at edges) or mean and std (Lague et al.).",
                     rich_help_panel=_M3C2, show_default=False),
    ] = None,
    orientation: Annotated[
        str | None,
        typer.Option(help="Normal orientation: outward (default; CloudCompare's 'from barycenter'), inward, up "
                          "(+Z: CloudCompare's and PDAL's default), down, none (PDAL), +x..-z, from-origin, "
                          "toward-origin, stations (CloudCompare's 'use origin points'), or X,Y,Z.",
                     rich_help_panel=_M3C2, show_default=False),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(help="M3C2 rules to follow: twin (default), cloudcompare (qM3C2: mean, +Z, progressive "
                          "depth search, zero-normal ball) or pdal (filters.m3c2: mean, up, min_points 1); "
                          "options given with it override it.", rich_help_panel=_M3C2, show_default=False),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="c2c/c2m: a distance beyond this is a change, metres (default: 1.96 x registration "
                          "error).", rich_help_panel=_M3C2, show_default=False),
    ] = None,
    align: Annotated[
        bool, typer.Option("--align/--no-align", help="Align the later survey on the stable parts first.")
    ] = True,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: comparisons/STRUCTURE/FROM__TO/ in the workspace).",
                     show_default=False),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find what changed between two surveys or two scan files, per element, with its level
    of detection; or compare a survey's parts by phase, material or element.

    Three forms:

      twin compare --files A.laz B.laz --out DIR [M3C2 options]

      twin compare STRUCTURE --from SURVEY --to SURVEY [--method m3c2|c2c|c2m] [--out DIR]

      twin compare STRUCTURE --survey ID --by phase|material|element [--layers-rev A --layers-rev B]

    Results: core_points.laz and .csv (per core point: distance, lod, significant, normal,
    n1, n2, sigma1, sigma2), elements.csv and .json (significant changes first), and
    comparison.json (settings, inputs, alignment, outputs with SHA-256).

    Twin's M3C2 defaults are its own: median and IQR, outward normals, LoD from 5 points a
    side, single-pass cylinder, NaN (with a reason) for a core point without a normal.
    PDAL's filters.m3c2: --mean --orientation up (PDAL's min_points 1 also drops a core
    point with an empty side, as twin does). CloudCompare's qM3C2: --mean --orientation up
    with --normal-radius and --cylinder-radius set to HALF of its normal and projection
    scales (those are diameters); its progressive depth search, multi-scale normals and
    zero-normal rule come with --preset cloudcompare (or --preset pdal for PDAL's rules).

    Example: twin compare thai-hoa-palace --from 2024-03 --to 2025-03
    """
    from twin.errors import UsageError  # noqa: PLC0415

    m3c2_given = {
        "method": method if method != "m3c2" else None, "core_file": core, "core_spacing": core_spacing,
        "normal_radius": normal_radius, "cylinder_radius": cylinder_radius,
        "cylinder_half_length": cylinder_half_length, "registration_error": registration_error,
        "median": median, "orientation": orientation, "threshold": threshold, "preset": preset,
        "align": None if align else False,
    }
    if files:
        if structure or from_ or to or survey or by:
            raise UsageError(
                "--files compares two files on their own: give no structure, --from, --to, --survey or --by"
            )
        if out_dir is None:
            raise UsageError("--files needs --out DIR for the results")
        from twin.compare.options import make_options  # noqa: PLC0415
        from twin.compare.run import compare_files  # noqa: PLC0415

        m3c2_given["align"] = None
        summary = compare_files(files[0], files[1], out_dir, make_options(**m3c2_given))
        _print_summary(summary, as_json)
        return
    if not structure:
        raise UsageError("name a structure (twin compare STRUCTURE --from A --to B), or give --files A B")
    if by is not None or survey is not None:
        if from_ or to:
            raise UsageError("--by compares one survey's parts: give --survey, not --from/--to")
        if survey is None or by is None:
            raise UsageError("a comparison by class needs both --survey ID and --by phase|material|element")
        given = [k for k, v in m3c2_given.items() if v is not None] + (["--out"] if out_dir else [])
        if given:
            raise UsageError(f"--by takes no comparison options (got {', '.join(given)})")
        from twin.catalog.workspace import Workspace  # noqa: PLC0415
        from twin.compare.layer_classes import compare_layer_classes  # noqa: PLC0415

        result = compare_layer_classes(Workspace.open(workspace), structure, survey, by, layers_rev)
        if as_json:
            print_json(result)
        else:
            _print_classes(result)
        return
    if layers_rev:
        raise UsageError("--layers-rev goes with --survey and --by")
    if not from_ or not to:
        raise UsageError("give both --from SURVEY and --to SURVEY (or --survey ID --by CLASS)")
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.compare.options import make_options  # noqa: PLC0415
    from twin.compare.run import compare_surveys  # noqa: PLC0415

    options = make_options(**m3c2_given)
    summary = compare_surveys(Workspace.open(workspace), structure, from_, to, options, out_dir)
    _print_summary(summary, as_json)


def _mm(value) -> str:
    return "-" if value is None else f"{1000 * value:+.1f}"


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        print_json(summary)
        return
    from rich.table import Column, Table  # noqa: PLC0415

    f = summary["figures"]
    if summary["kind"] == "files":
        what = f"{summary['inputs']['a']['path']} -> {summary['inputs']['b']['path']}"
    else:
        what = f"{summary['structure']}: {summary['inputs']['from']['survey']} -> {summary['inputs']['to']['survey']}"
    out.print(f"{what} ({summary['method']}, {f['core_points']:,} core points, "
              f"{summary['core_points']['source']})", markup=False)
    a = summary.get("alignment")
    if a:
        out.print(f"aligned on stable parts: {1000 * a['translation_m']:.1f} mm, {a['rotation_deg']:.4f} deg, "
                  f"residual {1000 * a['residual']:.1f} mm (fitness {a['fitness']:.2f})", markup=False)
    share = f["significant_share"]
    out.print(
        f"{f['with_distance']:,} with a distance, {f['significant']:,} significant"
        + (f" ({100 * share:.1f} %)" if share is not None else "")
        + (f"; median LoD {1000 * f['median_lod']:.1f} mm" if f.get("median_lod") is not None else ""),
        markup=False,
    )
    rows = summary.get("elements") or []
    table = Table(Column("element", no_wrap=True), "core pts", "significant", "changed", "mean mm", "median mm",
                  "peak mm", "mean LoD mm", title="per element (supported changes first; peak: a neighbourhood of "
                  "significant core points that agree, never one point)")
    for r in rows[:20]:
        sig = r.get("significant_share")
        changed = r.get("changed_share")
        table.add_row(
            r["element"] + (" (group)" if r.get("group") else ""), f"{r['core_points']:,}",
            f"{r['significant']:,}" + (f" ({100 * sig:.0f} %)" if sig is not None else ""),
            "-" if changed is None or changed != changed else f"{100 * changed:.0f} %",
            _mm(r.get("mean_distance")), _mm(r.get("median_distance")), _mm(r.get("max_change")),
            "-" if r.get("mean_lod") is None else f"{1000 * r['mean_lod']:.1f}",
        )
    out.print(table)
    if len(rows) > 20:
        out.print(f"... {len(rows) - 20} more in elements.csv", markup=False)
    _print_element_figures(summary.get("element_figures") or [])
    out.print(f"results in {summary['out']}", markup=False)


def _print_element_figures(rows: list[dict]) -> None:
    """Columns' lean and diameter, walls' out-of-plane change (twin.compare.element_figures)."""
    if not rows:
        return
    table = Table(Column("element", no_wrap=True), "kind", "change", title="columns and walls, earlier -> later")
    for r in rows:
        f = r["figures"]
        if f is None:
            text = r["reason"]
        elif r["kind"] == "column":
            worst = max(f["diameter_by_slice"], key=lambda s: abs(s["change_mm"]), default=None)
            text = (f"lean {f['lean_from_deg']:.2f}° -> {f['lean_to_deg']:.2f}° toward {f['lean_azimuth_to_deg']:.0f}°; "
                    f"top moved {f['top_shift_mm']:.1f} mm toward {f['top_shift_azimuth_deg']:.0f}°"
                    + (f"; diameter {worst['change_mm']:+.1f} mm at z {worst['z']:.2f}" if worst else ""))
        else:
            text = (f"out of plane: largest {f['largest_change_mm']:+.1f} mm (outward +) at "
                    f"{', '.join(f'{v:.2f}' for v in f['largest_change_at'])}; RMS {f['rms_change_mm']:.1f} mm")
        table.add_row(r["element"], r["kind"], text)
    out.print(table)


def _span(earliest: str | None, latest: str | None) -> str:
    """A date range, in years where it spans whole years (1805-01-01 .. 1925-12-31 -> 1805-1925)."""
    if not (earliest or latest):
        return ""
    a = earliest[:4] if earliest and earliest.endswith("-01-01") else earliest or ".."
    b = latest[:4] if latest and latest.endswith("-12-31") else latest or ".."
    return a if a == b else f"{a}–{b}"


def _print_classes(result) -> None:
    from rich.table import Column, Table  # noqa: PLC0415

    def area(v) -> str:
        return "-" if v is None else f"{v:,.2f}"

    title = f"{result.structure_id}/{result.survey_id} by {result.by} (layers revision {result.rev})"
    columns = [Column(result.by, no_wrap=True), "label", "area m²", "points", "volume m³", "dates"]
    if result.by != "element":
        columns.append("elements")
    table = Table(*columns, title=title)
    before = {r.id: r for r in result.other_classes or []}
    for r in result.classes:
        a = area(r.area_m2)
        if r.id in before and before[r.id].area_m2 != r.area_m2:
            a = f"{area(before[r.id].area_m2)} → {a}"
        volume = area(r.volume_m3)
        if r.measured_share is not None:  # an element: how much of the turn round its axis its faces cover
            volume = f"{volume} ({r.measured_share:.0%} measured)"
        cells = [r.id, r.label or "", a, f"{r.points:,}", volume, r.date or _span(r.earliest, r.latest)]
        if result.by != "element":
            cells.append(", ".join(r.elements[:6]) + (" …" if len(r.elements) > 6 else ""))
        table.add_row(*cells)
    out.print(table)
    u = result.unlabelled
    out.print(f"outside every element: {area(u['area_m2'])} m², {u['points']:,} points; "
              f"total {area(result.total_area_m2)} m², {result.total_points:,} points", markup=False)
    if result.other_rev is not None:
        out.print(f"from layers revision {result.other_rev} to {result.rev}:", markup=False)
        if not (result.changes or result.elements_added or result.elements_removed):
            out.print("  no element changed phase or material", markup=False)
        for c in result.changes:
            parts = []
            for word, added, removed in (("phases", c.phases_added, c.phases_removed),
                                         ("materials", c.materials_added, c.materials_removed)):
                if added or removed:
                    parts.append(f"{word} " + " ".join([*(f"+{x}" for x in added), *(f"-{x}" for x in removed)]))
            out.print(f"  {c.element}: {'; '.join(parts)} ({area(c.area_m2)} m²)", markup=False)
        for e in result.elements_added:
            out.print(f"  {e}: added", markup=False)
        for e in result.elements_removed:
            out.print(f"  {e}: removed", markup=False)
