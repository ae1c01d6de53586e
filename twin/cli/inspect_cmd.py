"""`twin inspect`: what a scan file holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, out, print_json


def inspect(
    files: Annotated[list[Path], typer.Argument(help="Scan files: LAS/LAZ/COPC, E57, PLY, PCD, XYZ/PTS/TXT.")],
    stats: Annotated[
        bool, typer.Option("--stats", help="Stream every point: real bounds, class histogram, source ids.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a scan's format, point count, bounds, coordinate system and attributes.

    Reads only the header unless --stats is given; --stats reads the whole file in
    chunks, so even 50-million-point files stay within a few hundred MB.

    Example: twin inspect station1.laz --stats
    """
    from twin.errors import TwinError  # noqa: PLC0415
    from twin.io.registry import inspect_scan  # noqa: PLC0415

    infos, failures = [], []
    for f in files:
        try:
            infos.append(inspect_scan(f, stats=stats))
        except TwinError as exc:
            if len(files) == 1:
                raise
            failures.append(exc)
    if as_json:
        print_json(infos if len(files) > 1 else infos[0])
    else:
        for info in infos:
            _render(info)
    if failures:
        from twin.cli.common import err  # noqa: PLC0415

        for exc in failures:
            err.print(f"error: {exc}", markup=False)
        raise typer.Exit(max(getattr(e, "exit_code", 1) for e in failures))


def _render(info) -> None:
    from rich.table import Table  # noqa: PLC0415

    t = Table(title=info.path, show_header=False, title_justify="left", box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    fmt = info.format.upper() + (f" {info.version}" if info.version else "")
    if info.point_format is not None:
        fmt += f", point format {info.point_format}"
    if info.encoding:
        fmt += f", {info.encoding}"
    t.add_row("format", fmt)
    t.add_row("points", f"{info.point_count:,}")
    bounds = info.stats.bounds if info.stats and info.stats.bounds else info.bounds
    if bounds:
        t.add_row("bounds min", "  ".join(f"{v:,.3f}" for v in bounds.min))
        t.add_row("bounds max", "  ".join(f"{v:,.3f}" for v in bounds.max))
    if info.scales:
        t.add_row("scales", "  ".join(f"{v:g}" for v in info.scales))
        t.add_row("offsets", "  ".join(f"{v:,.3f}" for v in info.offsets))
    crs = info.crs
    t.add_row("crs", f"{crs.name} (EPSG:{crs.epsg}, from {crs.source})" if crs.name else "none")
    attrs = [name for name, present in (("RGB", info.has_rgb), ("intensity", info.has_intensity),
                                         ("normals", info.has_normals)) if present]
    t.add_row("attributes", ", ".join(attrs) or "-")
    t.add_row("dimensions", ", ".join(info.dimensions) or "-")
    if info.extra_dimensions:
        t.add_row("extra dims", ", ".join(info.extra_dimensions))
    for scan in info.scans:
        pose = scan.pose
        t.add_row(
            f"scan {scan.index}",
            f"{scan.name or '-'}: {scan.point_count:,} pts, pose t={tuple(round(v, 4) for v in pose.translation)} "
            f"q(wxyz)={tuple(round(v, 6) for v in pose.rotation_wxyz)}",
        )
    if info.capture_date:
        t.add_row("date", info.capture_date)
    if info.software:
        t.add_row("software", info.software)
    if info.stats:
        s = info.stats
        t.add_row("points read", f"{s.points_read:,} in {s.seconds:.2f} s")
        if s.classification_histogram:
            t.add_row("classes", ", ".join(f"{c}: {n:,}" for c, n in s.classification_histogram.items()))
        if s.point_source_ids:
            ids = s.point_source_ids
            t.add_row("source ids", ", ".join(map(str, ids[:20])) + (" …" if len(ids) > 20 else ""))
    out.print(t)
    for w in info.warnings + [w for w in info.crs.warnings if w not in info.warnings]:
        out.print(f"[yellow]warning:[/] {w}", highlight=False)
    out.print()
