"""The station graph of a registration in plan view: scanner positions on the horizontal
plane, links as lines coloured by their cloud-to-cloud error, at a stated scale.

- a link's colour is its RMS error's class on a scale stated in the legend (classes are
  fractions of the tolerance: the registration's own yardstick, 6 mm on a building);
- a link of the spanning tree is drawn solid; a link that closes a loop is dashed (a dash
  always centred on the link's midpoint, so the midpoint shows the colour);
- a flagged link is cased in :data:`FLAG_COLOUR`, a flagged station ringed in it;
- the reference station is a square, every other station a disc, each with its name;
- an optional background (points of the model, world coordinates) is drawn pale grey.

The drawing is finished like every other picture (title, scale bar, north arrow, legend).
Pure: arrays and names in, a :class:`StationGraph` (a :class:`~twin.render.draw.Picture`
that also says where a world position lands in the image) out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError
from twin.render.annotate import compose, drawing_offset, font
from twin.render.colours import BACKGROUND, CategoryLegend
from twin.render.draw import Picture, frame_for
from twin.render.views import elevation

FLAG_COLOUR = (214, 0, 214)  # magenta: outside the error scale's hues
BACKDROP_COLOUR = (222, 222, 222)
STATION_COLOUR = (40, 40, 40)
NO_FIGURE_COLOUR = (150, 150, 150)
# ColorBrewer RdYlGn (4 classes), green for a small error
CLASS_COLOURS = ((26, 150, 65), (166, 217, 106), (253, 174, 97), (215, 25, 28))
CLASS_FRACTIONS = (1 / 3, 2 / 3, 1.0)  # of the tolerance: the upper limits of the first three classes
LINE_WIDTH = 7
CASING_WIDTH = 11  # 2 px of flag colour either side of the line
DASH_PX, GAP_PX = 14, 9
STATION_RADIUS = 7
TARGET_PIXELS = 800  # the longest side of the stations' extent, about
MIN_EXTENT_M = 1e-3


@dataclass(frozen=True)
class GraphLink:
    source: str
    target: str
    rms_mm: float | None  # None or not finite: no figure (drawn grey)
    loop: bool = False  # closes a loop (dashed) rather than on the spanning tree (solid)
    flagged: bool = False


@dataclass
class StationGraph(Picture):
    offset: tuple[int, int] = (0, 0)  # where the drawing's top-left pixel lies in the image

    def pixel(self, world_xy) -> tuple[int, int]:
        """(column, row) in the finished image of a world position (x, y[, z])."""
        col, row = self.frame.pixels(np.asarray([float(world_xy[0])]), np.asarray([float(world_xy[1])]))
        return int(math.floor(col[0])) + self.offset[0], int(math.floor(row[0])) + self.offset[1]


def error_classes(tolerance_mm: float) -> list[tuple[float, tuple[int, int, int], str]]:
    """The colour scale: (upper limit in mm, colour, label) per class, the last unbounded."""
    if not (math.isfinite(tolerance_mm) and tolerance_mm > 0):
        raise UsageError(f"station graph: the tolerance must be a positive number of mm, got {tolerance_mm}")
    limits = [f * tolerance_mm for f in CLASS_FRACTIONS]
    # plain ASCII: the bundled font has no "≤" or en dash
    labels = [f"up to {_mm(limits[0])} mm", f"{_mm(limits[0])} to {_mm(limits[1])} mm",
              f"{_mm(limits[1])} to {_mm(limits[2])} mm (tolerance)", f"over {_mm(limits[2])} mm"]
    return [(lim, c, lab) for lim, c, lab in zip([*limits, math.inf], CLASS_COLOURS, labels, strict=True)]


def link_colour(rms_mm: float | None, tolerance_mm: float) -> tuple[int, int, int]:
    """The colour a link of this RMS error is drawn in."""
    if rms_mm is None or not math.isfinite(rms_mm):
        return NO_FIGURE_COLOUR
    return next(c for lim, c, _ in error_classes(tolerance_mm) if rms_mm <= lim)


def _mm(v: float) -> str:
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"


def auto_scale(extent_m: float, target: int = TARGET_PIXELS) -> float:
    """A round scale (1, 2, 2.5, 5 x 10^k px/m) drawing ``extent_m`` in about ``target`` px or fewer."""
    extent_m = max(float(extent_m), MIN_EXTENT_M)
    raw = target / extent_m
    k = math.floor(math.log10(raw))
    best = 10.0**k
    for m in (1.0, 2.0, 2.5, 5.0):
        if m * 10**k <= raw:
            best = m * 10**k
    return best


def station_graph(
    positions: dict[str, Sequence[float]],
    links: Sequence[GraphLink],
    tolerance_mm: float,
    *,
    reference: str | None = None,
    flagged_stations: Sequence[str] = (),
    background: np.ndarray | None = None,
    ppm: float | None = None,
    title: str = "station graph, plan",
) -> StationGraph:
    """The plan of the stations (world x, y of ``positions``) and their links; links whose
    stations have no position are left out (say so in the caption)."""
    if not positions:
        raise UsageError("station graph: no scanner positions to draw")
    names = list(positions)
    xyz = np.array([[float(v) for v in positions[n]][:3] + [0.0] * (3 - len(positions[n])) for n in names])
    if not np.isfinite(xyz).all():
        raise UsageError("station graph: scanner positions must be finite")
    view = elevation("plan")
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    if background is not None and len(background):
        background = np.asarray(background, dtype=np.float64)
        finite = background[np.isfinite(background[:, :2]).all(axis=1)]
        if len(finite):
            lo[:2] = np.minimum(lo[:2], [finite[:, 0].min(), finite[:, 1].min()])
            hi[:2] = np.maximum(hi[:2], [finite[:, 0].max(), finite[:, 1].max()])
    extent = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    pad = max(0.12 * extent, 1.0 if extent > 5 else 0.25 * max(extent, MIN_EXTENT_M) + 0.05)
    ppm = ppm or auto_scale(extent + 2 * pad)
    bounds = np.array([lo - [pad, pad, 0.0], hi + [pad, pad, 0.0]])
    frame = frame_for(view, ppm, bounds=bounds, margin_m=0.0)

    from PIL import Image, ImageDraw  # noqa: PLC0415

    pixels = np.empty((frame.height, frame.width, 3), dtype=np.uint8)
    pixels[:] = BACKGROUND
    if background is not None and len(background):
        _backdrop(pixels, frame, background)
    canvas = Image.fromarray(pixels)
    draw = ImageDraw.Draw(canvas)

    def px(p) -> tuple[float, float]:
        c, r = frame.pixels(np.asarray([p[0]]), np.asarray([p[1]]))
        return float(c[0]), float(r[0])

    at = {n: px(p) for n, p in zip(names, xyz, strict=True)}
    drawn = [k for k in links if k.source in at and k.target in at]
    for k in drawn:  # casings first, so that no casing covers another link's colour
        if k.flagged:
            _line(draw, at[k.source], at[k.target], FLAG_COLOUR, CASING_WIDTH, k.loop)
    for k in drawn:
        _line(draw, at[k.source], at[k.target], link_colour(k.rms_mm, tolerance_mm), LINE_WIDTH, k.loop)
    flagged = set(flagged_stations)
    for n in names:
        _station(draw, at[n], n, reference == n, n in flagged)
    entries = [(label, colour) for _, colour, label in error_classes(tolerance_mm)]
    if any(k.rms_mm is None or not math.isfinite(k.rms_mm) for k in drawn):
        entries.append(("no figure", NO_FIGURE_COLOUR))
    entries.append(("flagged (see the list)", FLAG_COLOUR))
    legend = CategoryLegend("link RMS error (mm)", entries)
    missing = len(links) - len(drawn)
    subtitle = (f"plan; solid: spanning tree, dashed: closes a loop; {len(names)} stations, {len(drawn)} links"
                + (f" ({missing} without a scanner position)" if missing else ""))
    drawing = np.asarray(canvas)
    image = compose(drawing, frame, view, legend, title, subtitle)
    return StationGraph(image=image, frame=frame, view=view, coverage=1.0, offset=drawing_offset(subtitle))


def _backdrop(pixels: np.ndarray, frame, world: np.ndarray) -> None:
    """The model's points (world x, y), pale grey, one pixel each (vectorised)."""
    col, row = frame.pixels(world[:, 0], world[:, 1])
    c, r = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
    inside = (c >= 0) & (c < frame.width) & (r >= 0) & (r < frame.height)
    pixels[r[inside], c[inside]] = BACKDROP_COLOUR


def _line(draw, a, b, colour, width: int, dashed: bool) -> None:
    if not dashed:
        draw.line([a, b], fill=colour, width=width)
        return
    ax, ay = a
    bx, by = b
    length = math.hypot(bx - ax, by - ay)
    if length < 1:
        return
    ux, uy = (bx - ax) / length, (by - ay) / length
    period = DASH_PX + GAP_PX
    # dashes centred on the midpoint, then every period both ways
    mid = length / 2
    k0 = -math.floor(mid / period) - 1
    k1 = math.floor(mid / period) + 1
    for k in range(k0, k1 + 1):
        s0 = max(mid + k * period - DASH_PX / 2, 0.0)
        s1 = min(mid + k * period + DASH_PX / 2, length)
        if s1 > s0:
            draw.line([(ax + ux * s0, ay + uy * s0), (ax + ux * s1, ay + uy * s1)], fill=colour, width=width)


def _station(draw, at, name: str, reference: bool, flagged: bool) -> None:
    x, y = at
    r = STATION_RADIUS
    if flagged:
        draw.ellipse([x - r - 5, y - r - 5, x + r + 5, y + r + 5], outline=FLAG_COLOUR, width=3)
    if reference:
        draw.rectangle([x - r, y - r, x + r, y + r], fill=STATION_COLOUR)
    else:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=STATION_COLOUR, outline=(255, 255, 255))
    label = f"{name} (reference)" if reference else name
    # a white halo keeps the name readable where a link passes under it
    draw.text((x + r + 6, y - r - 16), label, fill=STATION_COLOUR, font=font(14), stroke_width=3,
              stroke_fill=BACKGROUND)
