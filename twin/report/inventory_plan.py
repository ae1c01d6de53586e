"""Plans of the inventory as inline SVG: structures coloured by priority, complexes outlined.

A plan is drawn in the inventory's projected CRS (grid north up, one scale both ways) from the
rows of twin.inventory.table: a footprint as its polygon where it is at least
:data:`MIN_FOOTPRINT_PX` across on the plan, else the structure as a dot (at its location, or
its footprint's centre). The most urgent priority is drawn last (on top). Each complex is
outlined by the convex hull of everything inside it (at any depth), with a margin, dashed,
and named. Each structure links to its row of the page's table (``#s-<id>``) and has a tooltip.
A scale bar and a grid-north mark are drawn in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.inventory.status import within
from twin.render.annotate import format_metres, nice_length
from twin.report.html import esc

# the most urgent reason first (twin.inventory.status.REASONS), then structures with none
PRIORITY_COLOURS = {
    "never surveyed": "#d62728",
    "stale": "#ff7f0e",
    "significant change": "#9467bd",
    "low coverage": "#17becf",
    None: "#2ca02c",
}
PRIORITY_LABELS = {"never surveyed": "never surveyed", "stale": "stale", "significant change": "significant change",
                   "low coverage": "low coverage", None: "up to date"}
OUTLINE = "#374151"
MIN_FOOTPRINT_PX = 5.0
DOT_PX = 3.6


@dataclass(frozen=True)
class Bounds:
    x0: float
    y0: float
    x1: float
    y1: float

    def grown(self, margin: float) -> Bounds:
        return Bounds(self.x0 - margin, self.y0 - margin, self.x1 + margin, self.y1 + margin)

    def meets(self, other: tuple[float, float, float, float]) -> bool:
        return not (other[2] < self.x0 or other[0] > self.x1 or other[3] < self.y0 or other[1] > self.y1)


def priority_of(row) -> str | None:
    return row.status.priority[0] if row.status.priority else None


def descendants(rows_by_id: dict, cid: str) -> list:
    """Every row inside the complex ``cid``, at any depth."""
    children = {sid: row.children for sid, row in rows_by_id.items()}
    return [rows_by_id[sid] for sid in within(children, cid)]


def outlines(table) -> dict[str, object]:
    """Complex id -> its outline (a shapely polygon in the table's CRS), for complexes with a geometry inside."""
    import shapely  # noqa: PLC0415

    by_id = table.by_id()
    out = {}
    for row in table.rows:
        if not row.children:
            continue
        inside = [r.geometry for r in [row, *descendants(by_id, row.id)] if r.geometry is not None]
        if not inside:
            continue
        hull = shapely.GeometryCollection(inside).convex_hull
        x0, y0, x1, y1 = hull.bounds
        out[row.id] = hull.buffer(max(15.0, 0.04 * ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5), quad_segs=4)
    return out


def bounds_of(geometries) -> Bounds | None:
    boxes = [g.bounds for g in geometries if g is not None and not g.is_empty]
    if not boxes:
        return None
    return Bounds(min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                  max(b[3] for b in boxes))


def plan_svg(table, frame: Bounds, outlined: dict[str, object], *, width_px: int = 1100, svg_id: str,
             label: str) -> str:
    """One plan of the part of the inventory inside ``frame`` (CRS units)."""
    scale = width_px / max(frame.x1 - frame.x0, 1.0)
    max_height = int(width_px * 1.2)
    if (frame.y1 - frame.y0) * scale > max_height:  # a tall frame: fit its height instead
        scale = max_height / (frame.y1 - frame.y0)
    height_px = max(200, int(round((frame.y1 - frame.y0) * scale)))

    def xy(x: float, y: float) -> str:
        return f"{(x - frame.x0) * scale:.1f},{(frame.y1 - y) * scale:.1f}"

    def path(polygon) -> str:
        rings = [polygon.exterior, *polygon.interiors]
        return " ".join("M" + " L".join(xy(x, y) for x, y, *_ in list(r.coords)[:-1]) + " Z" for r in rings)

    parts = [f'<svg id="{esc(svg_id)}" class="plan" viewBox="0 0 {width_px} {height_px}" '
             f'role="img" aria-label="{esc(label)}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect width="{width_px}" height="{height_px}" fill="#fbfbf8"/>']
    by_id = table.by_id()
    placed: list[tuple[float, float, float, float]] = []  # labels already drawn, in pixels
    for cid, outline in sorted(outlined.items(), key=lambda item: -item[1].area):
        if not frame.meets(outline.bounds):
            continue
        head = by_id[cid]
        name = f"{head.properties.get('inventory_number') or cid} {head.properties.get('name') or ''}".strip()
        d = " ".join(path(p) for p in getattr(outline, "geoms", [outline]))
        x0, _, _, y1 = outline.bounds
        label = _label(name, (x0 - frame.x0) * scale + 4, (frame.y1 - y1) * scale, placed)
        parts.append(f'<g class="complex"><title>{esc(name)}</title><path d="{d}" fill="none" stroke="{OUTLINE}" '
                     f'stroke-width="1.4" stroke-dasharray="6 4"/>{label}</g>')
    order = list(PRIORITY_COLOURS)[::-1]  # up to date first, never surveyed last (on top)
    rows = sorted((r for r in table.rows if r.geometry is not None and frame.meets(r.geometry.bounds)),
                  key=lambda r: order.index(priority_of(r)))
    for row in rows:
        colour = PRIORITY_COLOURS[priority_of(row)]
        props = row.properties
        tip = (f"{props.get('inventory_number') or row.id} {props.get('name') or ''}: "
               f"{props.get('priority_reasons') or 'up to date'}")
        footprint = row.footprint
        if footprint is not None and max(footprint.bounds[2] - footprint.bounds[0],
                                         footprint.bounds[3] - footprint.bounds[1]) * scale >= MIN_FOOTPRINT_PX:
            d = " ".join(path(p) for p in getattr(footprint, "geoms", [footprint]))
            shape = f'<path d="{d}" fill="{colour}" stroke="#1f2937" stroke-width="0.6" fill-rule="evenodd"/>'
        else:
            point = row.location if row.location is not None else footprint.centroid
            cx, cy = xy(point.x, point.y).split(",")
            shape = f'<circle cx="{cx}" cy="{cy}" r="{DOT_PX}" fill="{colour}" stroke="#ffffff" stroke-width="0.8"/>'
        parts.append(f'<a href="#s-{esc(row.id)}" data-priority="{esc(priority_of(row) or "none")}">'
                     f'<title>{esc(tip)}</title>{shape}</a>')
    parts.append(furniture(scale, width_px, height_px) + "</svg>")
    return "".join(parts)


def _label(name: str, x: float, top: float, placed: list) -> str:
    """The complex's name above its outline, else a line or two lower where that is taken; none
    where every place overlaps a label already drawn (its tooltip still names it)."""
    width = 7.0 * len(name)
    for y in (top - 4, top + 14, top + 28, top + 42):
        box = (x, y - 12, x + width, y + 3)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            placed.append(box)
            return f'<text x="{x:.1f}" y="{max(y, 12):.1f}" class="complex-label">{esc(name)}</text>'
    return ""


def furniture(scale: float, width_px: int, height_px: int) -> str:
    """A plan's scale bar (bottom left) and grid-north mark (top right)."""
    return (_scale_bar(scale, width_px, height_px)
            + f'<text x="{width_px - 14}" y="22" text-anchor="end" class="north">↑ N (grid)</text>')


def _scale_bar(scale: float, width_px: int, height_px: int) -> str:
    metres = nice_length(width_px * 0.22 / scale)
    px = metres * scale
    x, y = 16, height_px - 18
    return (f'<g class="scale"><rect x="{x}" y="{y}" width="{px / 2:.1f}" height="6" fill="#111"/>'
            f'<rect x="{x + px / 2:.1f}" y="{y}" width="{px / 2:.1f}" height="6" fill="#fff" stroke="#111"/>'
            f'<text x="{x}" y="{y - 4}">0</text><text x="{x + px:.1f}" y="{y - 4}" text-anchor="end">'
            f'{esc(format_metres(metres))}</text></g>')
