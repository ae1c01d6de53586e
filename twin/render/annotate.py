"""The finished picture: the drawing framed with a title, a scale bar, a north arrow and a
legend (Pillow's ImageDraw; its bundled font).

The north arrow points to grid north (+y). In the plan and horizontal sections north lies
in the image plane and the arrow shows it there. In elevations and vertical sections it is
drawn as a small plan key with the viewing direction up the page, so it says which way
the viewer looks (front: north up; back: north down; left: north to the left).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from twin.render.colours import CategoryLegend, ScaleLegend, diverging
from twin.render.raster import Frame
from twin.render.views import View, compass_word

MARGIN = 16
TITLE_SIZE = 18
TEXT_SIZE = 13
LEGEND_WIDTH = 230
BOTTOM_BAND = 78
MAX_LEGEND_ENTRIES = 24
INK = (30, 30, 30)


@functools.cache
def font(size: int):
    from PIL import ImageFont  # noqa: PLC0415

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # an old Pillow, or one without FreeType
        return ImageFont.load_default()


def text_width(draw, text: str, size: int) -> float:
    return draw.textlength(text, font=font(size))


def nice_length(max_metres: float) -> float:
    """The longest of 1, 2, 5 x 10^k metres not above ``max_metres``."""
    if max_metres <= 0:
        return 0.0
    k = math.floor(math.log10(max_metres))
    best = 10.0**k
    for m in (1.0, 2.0, 5.0):
        if m * 10**k <= max_metres:
            best = m * 10**k
    return best


def format_metres(value: float) -> str:
    if value >= 1:
        return f"{value:g} m"
    return f"{value * 100:g} cm" if value >= 0.01 else f"{value * 1000:g} mm"


def drawing_offset(subtitle: str | None = None) -> tuple[int, int]:
    """Where :func:`compose` puts the drawing's top-left pixel: (column, row)."""
    return MARGIN, MARGIN + _title_height(subtitle)


def _title_height(subtitle: str | None) -> int:
    return TITLE_SIZE + 10 + (TEXT_SIZE + 6 if subtitle else 0)


def compose(drawing: np.ndarray, frame: Frame, view: View, legend, title: str, subtitle: str | None = None):
    """The drawing (h, w, 3 uint8) as a PIL image with its title, scale bar, north arrow and legend."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    h, w = drawing.shape[:2]
    legend_w = LEGEND_WIDTH if legend is not None else 0
    title_h = _title_height(subtitle)
    width = max(MARGIN * 2 + w + legend_w, 380 + legend_w)
    height = MARGIN + title_h + h + BOTTOM_BAND
    legend_h = _legend_height(legend)
    height = max(height, MARGIN + title_h + legend_h + BOTTOM_BAND)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    top = MARGIN + title_h
    image.paste(Image.fromarray(np.ascontiguousarray(drawing)), (MARGIN, top))
    draw = ImageDraw.Draw(image)
    draw.rectangle([MARGIN - 1, top - 1, MARGIN + w, top + h], outline=(200, 200, 200))
    draw.text((MARGIN, MARGIN - 4), title, fill=INK, font=font(TITLE_SIZE))
    if subtitle:
        draw.text((MARGIN, MARGIN + TITLE_SIZE + 4), subtitle, fill=(90, 90, 90), font=font(TEXT_SIZE))
    band = top + h + 14
    bar_end = _scale_bar(draw, MARGIN, band + 12, frame.ppm, max(w * 0.3, 120))
    _north_arrow(draw, max(bar_end + 60, MARGIN + 200), band + 28, view)
    if legend is not None:
        _legend(draw, width - legend_w + 4, top, legend)
    return image


def _scale_bar(draw, x: int, y: int, ppm: float, max_px: float) -> int:
    length = nice_length(max_px / ppm)
    px = length * ppm
    segments = 4 if px >= 80 else 2
    for i in range(segments):
        x0 = x + px * i / segments
        x1 = x + px * (i + 1) / segments
        draw.rectangle([x0, y, x1, y + 7], fill=INK if i % 2 == 0 else (255, 255, 255), outline=INK)
    draw.text((x - 3, y + 11), "0", fill=INK, font=font(TEXT_SIZE))
    label = format_metres(length)
    draw.text((x + px - text_width(draw, label, TEXT_SIZE) / 2, y + 11), label, fill=INK, font=font(TEXT_SIZE))
    caption = f"{ppm:g} px/m"
    draw.text((x, y - 17), caption, fill=(90, 90, 90), font=font(TEXT_SIZE - 2))
    return int(x + px + text_width(draw, label, TEXT_SIZE) / 2)


def north_direction(view: View) -> tuple[float, float]:
    """Grid north on the page as (right, up) components (unit length)."""
    north = np.array([0.0, 1.0, 0.0])
    right = np.asarray(view.right)
    if view.is_plan_like:
        up = np.asarray(view.up)
    else:
        up = np.asarray(view.forward, dtype=np.float64).copy()
        up[2] = 0.0
        up /= max(np.linalg.norm(up), 1e-12)
    d = np.array([north @ right, north @ up])
    return tuple(d / max(np.linalg.norm(d), 1e-12))


def _north_arrow(draw, cx: int, cy: int, view: View, r: int = 20) -> None:
    dx, dy = north_direction(view)
    dy = -dy  # rows run down
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(120, 120, 120))
    tip = (cx + dx * r, cy + dy * r)
    tail = (cx - dx * r * 0.6, cy - dy * r * 0.6)
    side = (-dy, dx)
    left = (tail[0] + side[0] * 6, tail[1] + side[1] * 6)
    right = (tail[0] - side[0] * 6, tail[1] - side[1] * 6)
    draw.polygon([tip, left, (cx, cy), right], fill=INK)
    label_at = (cx + dx * (r + 9) - 4, cy + dy * (r + 9) - 7)
    draw.text(label_at, "N", fill=INK, font=font(TEXT_SIZE))
    if not view.is_plan_like:
        draw.text((cx + r + 26, cy - 7), f"looking {compass_word(view.forward)}", fill=(90, 90, 90),
                  font=font(TEXT_SIZE - 1))


def _legend_height(legend) -> int:
    if legend is None:
        return 0
    if isinstance(legend, CategoryLegend):
        return 30 + 18 * min(len(legend.entries), MAX_LEGEND_ENTRIES + 1)
    return 30 + 200 + 18 * len(legend.notes) + 10


def _legend(draw, x: int, y: int, legend) -> None:
    draw.text((x, y), legend.title, fill=INK, font=font(TEXT_SIZE + 1))
    y += 24
    if isinstance(legend, CategoryLegend):
        entries = legend.entries
        shown = entries[:MAX_LEGEND_ENTRIES]
        for name, colour in shown:
            draw.rectangle([x, y + 2, x + 12, y + 14], fill=colour, outline=(90, 90, 90))
            draw.text((x + 18, y), _shorten(name, 28), fill=INK, font=font(TEXT_SIZE))
            y += 18
        if len(entries) > len(shown):
            draw.text((x + 18, y), f"... and {len(entries) - len(shown)} more", fill=(90, 90, 90),
                      font=font(TEXT_SIZE))
        return
    assert isinstance(legend, ScaleLegend)
    bar_h = 180
    t = np.linspace(1.0, -1.0, bar_h)
    colours = diverging(t)
    for i, c in enumerate(colours):
        draw.line([x, y + i, x + 18, y + i], fill=tuple(int(v) for v in c))
    draw.rectangle([x, y, x + 18, y + bar_h], outline=(90, 90, 90))
    for frac, value in ((0.0, legend.limit), (0.25, legend.limit / 2), (0.5, 0.0), (0.75, -legend.limit / 2),
                        (1.0, -legend.limit)):
        yy = y + frac * bar_h
        draw.line([x + 18, yy, x + 23, yy], fill=INK)
        sign = "+" if value > 0 else ""
        draw.text((x + 27, yy - 7), f"{sign}{value:g} {legend.unit}", fill=INK, font=font(TEXT_SIZE))
    y += bar_h + 12
    for label, colour in legend.notes:
        draw.rectangle([x, y + 2, x + 12, y + 14], fill=colour, outline=(90, 90, 90))
        draw.text((x + 18, y), label, fill=INK, font=font(TEXT_SIZE))
        y += 18


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
