"""``twin inventory status --html FILE``: the status of the inventory as one offline HTML page.

One file, nothing fetched (inline CSS and SVG, no script): the figures of the priority list,
a plan of the whole inventory and one per complex (twin.report.inventory_plan: structures
coloured by priority, complexes outlined, a legend), the priority list, every structure's
status in one table (each plan's structure links to its row), the coverage of each
footprint by its latest model (twin.report.coverage_plan: holes and suggested stations on
the structure's plan, with their figures), and the complexes' figures. Everything comes
from twin.inventory.table, so the page and the GIS export say the same.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from twin.errors import UsageError
from twin.io.atomic import atomic_write_bytes
from twin.models.inventory import StatusReport
from twin.report.coverage_plan import HOLE, STATION, coverage_plan_svg
from twin.report.html import esc, num, page, table
from twin.report.inventory_plan import (
    OUTLINE,
    PRIORITY_COLOURS,
    PRIORITY_LABELS,
    bounds_of,
    descendants,
    outlines,
    plan_svg,
    priority_of,
)

CSS = """
.plan{width:100%;height:auto;display:block;border:1px solid #ddd;font:12px system-ui,sans-serif}
.plan.coverage{max-width:640px}
.plan .complex-label{fill:#374151;font-weight:600;paint-order:stroke;stroke:#fbfbf8;stroke-width:3px}
.plan .north,.plan .scale text{fill:#111}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;margin:6px 0 18px;font-size:.9em}
.legend .chip{display:inline-flex;align-items:center;gap:6px}
.legend i{display:inline-block;width:14px;height:14px;border-radius:50%;border:1px solid #0003}
.legend i.outline{border-radius:0;border:2px dashed #374151;background:none}
.plans{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr));gap:8px 18px}
td .dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:5px;vertical-align:middle}
"""


def write_status_page(ws, out: Path, *, stale_years: float = 10.0, change_share: float = 0.05,
                      as_of: dt.date | None = None, coverage: bool = True, min_coverage: float = 0.8) -> StatusReport:
    """Write the page to ``out`` (atomically); the status it shows."""
    from twin.inventory.table import inventory_table  # noqa: PLC0415

    out = Path(out)
    if out.is_dir():
        raise UsageError(f"--html {out}: is a folder; give a file name, e.g. {out / 'inventory-status.html'}")
    data = inventory_table(ws, stale_years=stale_years, change_share=change_share, as_of=as_of,
                           records_only=False, coverage=coverage, min_coverage=min_coverage)
    try:
        atomic_write_bytes(out, status_html(data, title=f"Inventory status: {ws.settings.name or ws.root.name}")
                           .encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"--html {out}: cannot write there ({exc.strerror or exc}); choose another file") from None
    return data.status


def status_html(data, title: str = "Inventory status") -> str:
    report = data.status
    rows = data.rows
    counts = {key: sum(1 for r in rows if priority_of(r) == key) for key in PRIORITY_COLOURS}
    legend = _legend(counts)
    outlined = outlines(data)
    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="sub">as of {esc(report.as_of)} · {len(report.structures)} structures · stale: last survey '
            f"over {report.stale_years:g} years before · significant change: at least {report.change_share:.0%} of "
            f"core points beyond their level of detection · plans in {esc(data.crs_name or 'no CRS')}"
            + (f" (EPSG:{data.epsg})" if data.epsg else "") + "</p>",
            f"<p>priority: <b>{len(report.priorities)}</b> of {len(report.structures)} structures: "
            + ", ".join(f"{counts[k]} {PRIORITY_LABELS[k]}" for k in PRIORITY_COLOURS) + "</p>"]
    frame = bounds_of(r.geometry for r in rows)
    body.append('<h2 id="plan">Plan</h2>')
    if frame is None:
        body.append('<p class="sub">No structure has a location or footprint yet.</p>')
    else:
        margin = 0.03 * max(frame.x1 - frame.x0, frame.y1 - frame.y0, 50.0)
        body.append(legend + plan_svg(data, frame.grown(margin), outlined, svg_id="plan-all",
                                      label="plan of every structure, coloured by priority"))
        body.append(_complex_plans(data, outlined, legend))
    body.append('<h2 id="priorities">Priority list</h2>')
    body.append(table(["#", "number", "structure", "name", "reasons", "last survey", "age (y)"],
                      [[i, p.inventory_number or "", p.id, p.name or "", ", ".join(p.reasons), p.last_survey or "",
                        num(p.age_years, 1)] for i, p in enumerate(report.priorities, start=1)], numeric=[0, 6]))
    body.append('<h2 id="structures">Every structure</h2>')
    body.append(_structures(data))
    body.append(_coverage(data))
    body.append('<h2 id="complexes">Complexes</h2><p class="sub">Counted over everything inside, at any depth.</p>')
    body.append(table(["complex", "name", "structures", "surveyed", "never surveyed", "stale", "with layers",
                       "changed", "low coverage", "oldest last survey"],
                      [[c.inventory_number or c.id, c.name or "", c.structures, c.surveyed, c.never_surveyed, c.stale,
                        c.with_layers, c.significant_change, c.low_coverage, c.oldest_last_survey or ""]
                       for c in report.complexes],
                      numeric=[2, 3, 4, 5, 6, 7, 8]))
    body.append("<footer>Derived from the workspace's catalog by twin inventory status: nothing here is typed in. "
                "Footprints are drawn where they are at least a few pixels across, else a dot.</footer>")
    return page(title, "".join(body), css=CSS)


def _coverage(data) -> str:
    """A plan and the figures of each structure whose footprint the latest model was measured against."""
    measured = [r for r in data.rows if r.status.coverage is not None]
    notes = [r for r in data.rows if r.status.coverage is None and r.status.coverage_note]
    out = ['<h2 id="coverage">Coverage and occlusion</h2>',
           '<p class="sub">The share of each footprint\'s walls (from the ground in front of each face to its top) '
           "and of its area seen from above that the latest model's points sample; holes are regions no point "
           "sampled (openings seen through are not holes); suggested stations are where a scanner on the ground "
           "would see them, the fewest that see most of their area.</p>"]
    if not measured:
        out.append('<p class="sub">No structure has both a footprint and a processed model in a coordinate '
                   "system yet.</p>")
    out.append(f'<div class="legend"><span class="chip"><i style="background:{HOLE};border-radius:0"></i>hole'
               f'</span><span class="chip"><i style="background:{STATION}"></i>suggested station</span></div>'
               if measured else "")
    for r in measured:
        c = r.status.coverage
        name = f"{r.properties.get('inventory_number') or r.id} {r.properties.get('name') or ''}".strip()
        svg = coverage_plan_svg(c, svg_id=f"coverage-{r.id}", label=f"coverage plan of {name}")
        crs = f"EPSG:{c.crs_epsg}" if c.crs_epsg else "the model's frame"
        holes = table(["hole", "surface", "faces", "area (m²)", "centroid x, y, z", "above ground (m)",
                       "seen by the stations"],
                      [[h.id, h.surface + (f" {h.direction}" if h.direction else ""),
                        ", ".join(map(str, h.faces)), num(h.area_m2, 2),
                        ", ".join(f"{v:.2f}" for v in h.centroid),
                        f"{h.above_ground[0]:.1f} to {h.above_ground[1]:.1f}",
                        "" if h.seen_by_suggested is None else f"{h.seen_by_suggested:.0%}"] for h in c.holes],
                      numeric=[0, 3])
        stations = table(["station", "x", "y", "ground z", "standoff (m)", "sees"],
                         [[s.id, f"{s.x:.2f}", f"{s.y:.2f}", f"{s.ground_z:.2f}", num(s.standoff_m, 1),
                           ", ".join(f"hole {v.hole} ({v.share:.0%})" for v in s.sees)] for s in c.stations],
                         numeric=[0, 1, 2, 3, 4])
        unseen = (f"<p>Not seen from the ground: hole(s) {', '.join(map(str, c.unseen_holes))} (an elevated "
                  "scanner or a drone).</p>" if c.unseen_holes else "")
        out.append(f'<figure id="coverage-of-{esc(r.id)}">{svg}<figcaption>{esc(name)}: walls '
                   f"{_share(c.walls)}, roof {_share(c.roof)} sampled by the model of survey {esc(c.survey_id)}; "
                   f"{len(c.holes)} hole(s), {c.hole_area_m2:.1f} m²; {len(c.stations)} suggested station(s); "
                   f"coordinates in {esc(crs)}; cells of {c.settings.cell_m:g} m</figcaption></figure>"
                   f"<h3>Holes of {esc(name)}</h3>{holes}<h3>Suggested stations for {esc(name)}</h3>{stations}"
                   f"{unseen}")
    for r in notes:
        out.append(f'<p class="sub">{esc(r.properties.get("inventory_number") or r.id)}: coverage not measured: '
                   f"{esc(r.status.coverage_note)}</p>")
    return "".join(out)


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _legend(counts: dict) -> str:
    chips = [f'<span class="chip"><i style="background:{colour}"></i>{esc(PRIORITY_LABELS[key])} ({counts[key]})'
             f"</span>" for key, colour in PRIORITY_COLOURS.items()]
    chips.append(f'<span class="chip"><i class="outline" style="border-color:{OUTLINE}"></i>complex</span>')
    return f'<div class="legend">{"".join(chips)}</div>'


def _complex_plans(data, outlined: dict, legend: str) -> str:
    by_id = data.by_id()
    figures = []
    for cid, outline in outlined.items():
        head = by_id[cid]
        inside = descendants(by_id, cid)
        frame = bounds_of([outline])
        name = f"{head.properties.get('inventory_number') or cid} {head.properties.get('name') or ''}".strip()
        nested = {c: o for c, o in outlined.items() if c == cid or c in {r.id for r in inside}}
        svg = plan_svg(data, frame.grown(0.06 * max(frame.x1 - frame.x0, frame.y1 - frame.y0)), nested,
                       width_px=620, svg_id=f"plan-{cid}", label=f"plan of {name}")
        flagged = sum(1 for r in inside if r.status.priority)
        figures.append(f'<figure id="complex-{esc(cid)}">{svg}<figcaption>{esc(name)}: {len(inside)} structures '
                       f"inside, {flagged} on the priority list</figcaption></figure>")
    if not figures:
        return ""
    return f'<h3>Complexes</h3>{legend}<div class="plans">{"".join(figures)}</div>'


def _structures(data) -> str:
    rows, ids = [], []
    for r in data.rows:
        p = r.properties
        colour = PRIORITY_COLOURS[priority_of(r)]
        layers = "/".join(str(p.get(k) or 0) for k in ("elements", "phases", "materials")) if p["layers_rev"] else ""
        comparison = ""
        if p["comparison_from"]:
            share = p["significant_share"]
            comparison = f"{p['comparison_from']} → {p['comparison_to']}" + (
                f" ({share:.1%} significant)" if share is not None else "")
        rows.append([esc(p["inventory_number"] or ""), esc(r.id), esc(p["name"] or ""), esc(p["type"] or ""),
                     esc(p["designation"] or ""), esc(p["parent_number"] or p["parent_id"] or ""),
                     p["surveys"], esc(p["last_survey"] or ""), num(p["age_years"], 1), layers,
                     f"{p['labelled_share']:.0%}" if p["labelled_share"] is not None else "",
                     num(p["model_height_m"], 2) if p["model_height_m"] is not None else "", esc(comparison),
                     _share(p["coverage_walls"]), _share(p["coverage_roof"]),
                     f'<a href="#coverage-of-{esc(r.id)}">{p["holes"]}</a>' if p["holes"] is not None else "",
                     f'<span class="dot" style="background:{colour}"></span>'
                     + esc(p["priority_reasons"] or "up to date")])
        ids.append(f"s-{r.id}")
    return table(["number", "structure", "name", "type", "designation", "complex", "surveys", "last survey",
                  "age (y)", "layers E/P/M", "labelled", "model height (m)", "last comparison", "walls sampled",
                  "roof sampled", "holes", "priority"],
                 rows, numeric=[6, 8, 11, 13, 14, 15], raw=True, row_ids=ids, table_id="structure-table")
