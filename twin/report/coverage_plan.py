"""The plan of one structure's coverage as inline SVG: its footprint, the occlusion holes of
its latest model (a wall hole as a red band along the stretch of outline it spans, a roof
hole as its outline in plan) and the suggested scanner stations (numbered, each with dashed
sight lines to the holes it sees). Drawn in the survey CRS (grid north up, one scale both
ways) from the coverage figures alone (twin.models.coverage.Coverage)."""

from __future__ import annotations

from twin.models.coverage import Coverage
from twin.report.html import esc
from twin.report.inventory_plan import Bounds, furniture

HOLE = "#d62728"
STATION = "#1f77b4"
OUTLINE = "#1f2937"


def coverage_plan_svg(coverage: Coverage, *, svg_id: str, label: str, width_px: int = 560) -> str:
    xs = [p[0] for f in coverage.faces for p in (f.start, f.end)] + [s.x for s in coverage.stations]
    ys = [p[1] for f in coverage.faces for p in (f.start, f.end)] + [s.y for s in coverage.stations]
    for h in coverage.holes:
        xs += [p[0] for part in h.plan for p in part]
        ys += [p[1] for part in h.plan for p in part]
    frame = Bounds(min(xs), min(ys), max(xs), max(ys))
    frame = frame.grown(0.08 * max(frame.x1 - frame.x0, frame.y1 - frame.y0, 5.0))
    scale = width_px / (frame.x1 - frame.x0)
    if (frame.y1 - frame.y0) * scale > width_px:  # a tall frame: fit its height in a square
        scale = width_px / (frame.y1 - frame.y0)
    height_px = max(160, int(round((frame.y1 - frame.y0) * scale)))

    def xy(x: float, y: float) -> tuple[float, float]:
        return (x - frame.x0) * scale, (frame.y1 - y) * scale

    def pts(points) -> str:
        return " ".join("{:.1f},{:.1f}".format(*xy(*p)) for p in points)

    parts = [f'<svg id="{esc(svg_id)}" class="plan coverage" viewBox="0 0 {width_px} {height_px}" role="img" '
             f'aria-label="{esc(label)}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect width="{width_px}" height="{height_px}" fill="#fbfbf8"/>']
    rings: dict[int, list] = {}
    for f in coverage.faces:
        rings.setdefault(f.ring, []).append(f.start)
    d = " ".join("M" + " L".join("{:.1f},{:.1f}".format(*xy(*p)) for p in ring) + " Z" for ring in rings.values())
    parts.append(f'<path d="{d}" fill="#e5e7eb" stroke="{OUTLINE}" stroke-width="1.5" fill-rule="evenodd"/>')
    centre = {}
    for h in coverage.holes:
        tip = (f"hole {h.id}: {h.surface}{' ' + h.direction if h.direction else ''}, {h.area_m2:.2f} m², "
               f"{h.above_ground[0]:.1f}-{h.above_ground[1]:.1f} m above the ground")
        if h.surface == "wall":
            shape = "".join(f'<polyline points="{pts(seg)}" fill="none" stroke="{HOLE}" stroke-width="6"/>'
                            for seg in h.plan)
        else:
            shape = "".join(f'<polygon points="{pts(ring)}" fill="{HOLE}" fill-opacity="0.3" stroke="{HOLE}" '
                            f'stroke-width="1.2"/>' for ring in h.plan)
        cx, cy = xy(*h.centroid[:2])
        centre[h.id] = (cx, cy)
        parts.append(f'<g class="hole" data-hole="{h.id}"><title>{esc(tip)}</title>{shape}'
                     f'<text x="{cx + 6:.1f}" y="{cy - 6:.1f}" fill="{HOLE}" font-weight="600">{h.id}</text></g>')
    for s in coverage.stations:
        sx, sy = xy(s.x, s.y)
        lines = "".join(f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{centre[v.hole][0]:.1f}" y2="{centre[v.hole][1]:.1f}" '
                        f'stroke="{STATION}" stroke-width="1" stroke-dasharray="4 3"/>' for v in s.sees
                        if v.hole in centre)
        tip = (f"station {s.id}: {s.x:.2f}, {s.y:.2f}, ground {s.ground_z:.2f} m; sees "
               + ", ".join(f"hole {v.hole} ({v.share:.0%})" for v in s.sees))
        parts.append(f'<g class="station" data-station="{s.id}"><title>{esc(tip)}</title>{lines}'
                     f'<circle cx="{sx:.1f}" cy="{sy:.1f}" r="8" fill="{STATION}" stroke="#fff" stroke-width="1.2"/>'
                     f'<text x="{sx:.1f}" y="{sy + 4:.1f}" text-anchor="middle" fill="#fff" font-size="11">{s.id}'
                     f"</text></g>")
    parts.append(furniture(scale, width_px, height_px) + "</svg>")
    return "".join(parts)
