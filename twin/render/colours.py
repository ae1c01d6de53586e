"""How items (points or mesh faces) are coloured, and the legend that says what colours mean.

- :class:`Uniform`: one colour;
- :class:`RGB`: the scanner's colour (uint8 per item);
- :class:`Categories`: a label per item (element, phase, material: an index into
  ``names``, -1 for none) with a categorical palette; unlabelled items are light grey;
- :class:`Scalar`: a value per item (a change, in metres) on a diverging colour map
  symmetric about zero (blue negative, red positive: ColorBrewer's RdYlBu reversed),
  with items outside ``mask`` (not significant) or without a value drawn grey.

Colours are looked up only for the items that won a pixel, never for every point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from twin.errors import UsageError

NONE_COLOUR = (208, 208, 208)  # unlabelled
MUTED_COLOUR = (150, 150, 150)  # no value, or not significant
BACKGROUND = (255, 255, 255)

# Categorical: Tableau 10, then its light companions, then a few more (no greys).
PALETTE = (
    (78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178), (89, 161, 79),
    (237, 201, 72), (176, 122, 161), (255, 157, 167), (156, 117, 95), (31, 119, 180),
    (160, 203, 232), (255, 190, 125), (140, 209, 125), (182, 153, 45), (134, 188, 182),
    (211, 114, 149), (250, 191, 210), (212, 166, 200), (214, 39, 40), (148, 103, 189),
    (23, 190, 207), (188, 189, 34), (0, 107, 164), (200, 82, 0),
)  # fmt: skip

# ColorBrewer RdYlBu (11 classes), reversed: blue (negative) .. pale yellow (0) .. red (positive)
DIVERGING = np.array(
    [(49, 54, 149), (69, 117, 180), (116, 173, 209), (171, 217, 233), (224, 243, 248), (255, 255, 191),
     (254, 224, 144), (253, 174, 97), (244, 109, 67), (215, 48, 39), (165, 0, 38)],
    dtype=np.float64,
)  # fmt: skip


def palette_colour(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


def diverging(t: np.ndarray) -> np.ndarray:
    """Colours (k, 3) uint8 for ``t`` in [-1, 1] (clipped) on the diverging map."""
    t = np.clip(np.asarray(t, dtype=np.float64), -1.0, 1.0)
    x = (t + 1.0) / 2.0 * (len(DIVERGING) - 1)
    i = np.clip(np.floor(x).astype(np.int64), 0, len(DIVERGING) - 2)
    f = (x - i)[:, None]
    rgb = DIVERGING[i] * (1.0 - f) + DIVERGING[i + 1] * f
    return np.round(rgb).astype(np.uint8)


@dataclass
class CategoryLegend:
    title: str
    entries: list[tuple[str, tuple[int, int, int]]]


@dataclass
class ScaleLegend:
    title: str
    limit: float  # the colour map spans [-limit, limit] (in the values' unit)
    unit: str  # label of the displayed unit, e.g. "mm"
    factor: float  # displayed = value * factor
    notes: list[tuple[str, tuple[int, int, int]]] = field(default_factory=list)


class Colouring:
    """Base: colours for the items at given indices, and a legend for those items."""

    def colours(self, index: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def legend(self, index: np.ndarray):
        return None

    def check(self, n: int, what: str) -> None:
        """Raise UsageError unless the per-item arrays hold ``n`` values."""


@dataclass
class Uniform(Colouring):
    colour: tuple[int, int, int] = (120, 120, 120)

    def colours(self, index: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.colour, dtype=np.uint8), (len(index), 3)).copy()


@dataclass
class RGB(Colouring):
    rgb: np.ndarray  # (n, 3) uint8

    def colours(self, index: np.ndarray) -> np.ndarray:
        return np.asarray(self.rgb)[index].astype(np.uint8)

    def check(self, n: int, what: str) -> None:
        if np.shape(self.rgb) != (n, 3):
            raise UsageError(f"colour by rgb: need ({n}, 3) colours for the {what}, got {np.shape(self.rgb)}")


@dataclass
class Categories(Colouring):
    labels: np.ndarray  # (n,) int, index into names, -1 = none
    names: list[str]
    title: str = "category"
    none_label: str = "none"
    colour_of: dict[str, tuple[int, int, int]] | None = None  # fixed colours by name (shared across images)

    def _table(self) -> np.ndarray:
        table = np.empty((len(self.names) + 1, 3), dtype=np.uint8)
        for i, name in enumerate(self.names):
            table[i] = (self.colour_of or {}).get(name, palette_colour(i))
        table[-1] = NONE_COLOUR
        return table

    def colours(self, index: np.ndarray) -> np.ndarray:
        labels = np.asarray(self.labels)[index]
        return self._table()[np.where(labels < 0, len(self.names), labels)]

    def legend(self, index: np.ndarray) -> CategoryLegend:
        labels = np.asarray(self.labels)[index]
        present = np.unique(labels)
        table = self._table()
        entries = [(self.names[i], tuple(int(c) for c in table[i])) for i in present if i >= 0]
        if (present < 0).any():
            entries.append((self.none_label, NONE_COLOUR))
        return CategoryLegend(self.title, entries)

    def check(self, n: int, what: str) -> None:
        if np.shape(self.labels) != (n,):
            raise UsageError(f"colour by {self.title}: need {n} labels for the {what}, got {np.shape(self.labels)}")
        labels = np.asarray(self.labels)
        if len(labels) and (labels.max() >= len(self.names) or labels.min() < -1):
            raise UsageError(f"colour by {self.title}: labels must index the {len(self.names)} names (or be -1)")


@dataclass
class Scalar(Colouring):
    values: np.ndarray  # (n,) float, NaN = no value
    limit: float | None = None  # symmetric range; default: the 98th percentile of |value|
    mask: np.ndarray | None = None  # (n,) bool: coloured where True, grey elsewhere
    title: str = "change"
    unit: str = "mm"
    factor: float = 1000.0  # displayed value = value * factor
    masked_label: str = "not significant"

    def resolved_limit(self) -> float:
        cached = self.__dict__.get("_resolved")
        if cached is None:
            cached = self.__dict__["_resolved"] = self._limit()
        return cached

    def _limit(self) -> float:
        if self.limit is not None:
            if not (math.isfinite(self.limit) and self.limit > 0):
                raise UsageError(f"the colour scale limit must be a positive number, got {self.limit}")
            return float(self.limit)
        v = np.abs(np.asarray(self.values, dtype=np.float64))
        if self.mask is not None:
            v = v[np.asarray(self.mask, dtype=bool)]
        v = v[np.isfinite(v)]
        if not len(v):
            return 1.0 / self.factor
        return nice_ceiling(float(np.percentile(v, 98)) or 1.0 / self.factor)

    def colours(self, index: np.ndarray) -> np.ndarray:
        v = np.asarray(self.values, dtype=np.float64)[index]
        out = diverging(np.nan_to_num(v) / self.resolved_limit())
        muted = ~np.isfinite(v)
        if self.mask is not None:
            muted |= ~np.asarray(self.mask, dtype=bool)[index]
        out[muted] = MUTED_COLOUR
        return out

    def legend(self, index: np.ndarray) -> ScaleLegend:
        notes = []
        v = np.asarray(self.values, dtype=np.float64)[index]
        if self.mask is not None and (~np.asarray(self.mask, dtype=bool)[index] & np.isfinite(v)).any():
            notes.append((self.masked_label, MUTED_COLOUR))
        if (~np.isfinite(v)).any():
            notes.append(("no value", MUTED_COLOUR))
        return ScaleLegend(self.title, self.resolved_limit() * self.factor, self.unit, self.factor, notes)

    def check(self, n: int, what: str) -> None:
        if np.shape(self.values) != (n,):
            raise UsageError(f"colour by {self.title}: need {n} values for the {what}, got {np.shape(self.values)}")
        if self.mask is not None and np.shape(self.mask) != (n,):
            raise UsageError(f"colour by {self.title}: the mask must hold {n} flags")


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``x`` (x > 0)."""
    if not (math.isfinite(x) and x > 0):
        return 1.0
    k = math.floor(math.log10(x))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * 10**k >= x * (1 - 1e-12):
            return m * 10**k
    return 10.0 ** (k + 1)
