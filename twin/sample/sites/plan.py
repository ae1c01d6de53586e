"""Where the buildings of a generated site stand: each one's size, proportions and
orientation, and the plots that share the site out between them.

Building 1 is the sample pavilion as ``SiteSpec`` has it. Every other one is the pavilion
stretched along its own x, y and z by factors drawn from ``SCALE_X``/``SCALE_Y``/
``SCALE_Z`` (positions and spans stretch; what has a human or a material size, a column's
radius, a wall's thickness, a door, a step's tread, stays) and turned by a random number
of quarter turns, so that its element regions stay axis-aligned boxes in UTM as the
pavilion's are.

Plots are the buildings' courtyards, side by side in rows of ``ceil(sqrt(N))``: a row is
as deep as its deepest plot and every plot in it takes that depth, so the plots tile each
row without gaps or overlaps and the site grows with N (the paved surface, the buildings
and so the points at a given density all grow with it). The site frame is building 1's:
metres, x east, y north, origin at courtyard level at its platform's centre.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from twin.sample.geometry import SiteSpec

SCALE_X = (0.85, 1.35)  # along the building's own x (its length)
SCALE_Y = (0.85, 1.35)  # along its own y (its depth)
SCALE_Z = (0.9, 1.25)  # heights
X_FIELDS = (
    "platform_x", "steps_centre_x", "steps_width", "column_lines_x", "hall_x", "door_centre_x", "window_north_x",
    "roof_lower_eave_x", "roof_lower_top_x", "roof_upper_drum_x", "roof_upper_eave_x", "roof_upper_ridge_x", "annex_x",
)  # fmt: skip
Y_FIELDS = (
    "platform_y", "side_steps_centre_y", "side_steps_width", "column_rows_y", "hall_y", "window_west_y",
    "roof_lower_eave_y", "roof_lower_top_y", "roof_upper_drum_y", "roof_upper_eave_y", "annex_y",
)  # fmt: skip
Z_FIELDS = (
    "platform_height", "roof_lower_soffit_z", "roof_lower_eave_z", "roof_lower_fascia", "roof_lower_top_z",
    "roof_upper_soffit_z", "roof_upper_eave_z", "roof_upper_ridge_z", "annex_wall_top", "annex_roof_high",
    "annex_roof_low",
)  # fmt: skip
PLAN_FIELDS = ("courtyard_half", "stele_centre", "urn_centre", "planters")  # (x, y[, size kept])
KEPT_FIELDS = (
    "origin_utm", "epsg", "ground_fall", "ground_fall_azimuth_deg", "foundation_depth", "steps_count", "step_tread",
    "side_step_tread", "column_radius", "column_segments", "wall_thickness", "wall_cell", "door_width", "door_height",
    "door_trim", "door_trim_depth", "window_sill", "window_head", "roof_lower_frieze_at", "annex_overhang",
    "planter_seed",
)  # fmt: skip


def _scaled(value, factor: float):
    if isinstance(value, tuple):
        return tuple(float(v) * factor for v in value)
    return float(value) * factor


def stretched(spec: SiteSpec, sx: float, sy: float, sz: float) -> SiteSpec:
    """The pavilion of ``spec`` stretched by sx, sy, sz along its own axes."""
    changes = {name: _scaled(getattr(spec, name), sx) for name in X_FIELDS}
    changes |= {name: _scaled(getattr(spec, name), sy) for name in Y_FIELDS}
    changes |= {name: _scaled(getattr(spec, name), sz) for name in Z_FIELDS}
    changes["courtyard_half"] = (spec.courtyard_half[0] * sx, spec.courtyard_half[1] * sy)
    changes["stele_centre"] = (spec.stele_centre[0] * sx, spec.stele_centre[1] * sy)
    changes["urn_centre"] = (spec.urn_centre[0] * sx, spec.urn_centre[1] * sy)
    changes["planters"] = tuple((x * sx, y * sy, r) for x, y, r in spec.planters)
    return dataclasses.replace(spec, **changes)


def quarter_turn(turns: int) -> np.ndarray:
    """3x3 rotation by ``turns`` quarter turns counter-clockwise about z (exact)."""
    c, s = ((1, 0), (0, 1), (-1, 0), (0, -1))[turns % 4]
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


@dataclass(frozen=True)
class BuildingPlan:
    """One building of the site: its pavilion (own frame, courtyard = its plot) and where
    that frame stands in the site frame."""

    id: str  # b01, b02, ...
    spec: SiteSpec  # in the building's own frame; origin_utm is the site's
    scale: tuple[float, float, float]  # sx, sy, sz against the sample pavilion
    turns: int  # quarter turns counter-clockwise, own frame -> site frame
    centre: tuple[float, float]  # site-frame position of its own frame's origin
    plot: tuple[tuple[float, float], tuple[float, float]]  # (x0, x1), (y0, y1) in the site frame

    @property
    def frame(self) -> np.ndarray:
        """4x4: the building's own frame -> the site frame."""
        m = np.eye(4)
        m[:3, :3] = quarter_turn(self.turns)
        m[:2, 3] = self.centre
        return m

    @property
    def origin_utm(self) -> np.ndarray:
        """UTM of its own frame's origin (its truth's local frame is UTM minus this)."""
        return np.asarray(self.spec.origin_utm, dtype=np.float64) + [self.centre[0], self.centre[1], 0.0]


def _plot_size(spec: SiteSpec, turns: int) -> tuple[float, float]:
    """East-west and north-south size of a building's courtyard once turned."""
    w, h = 2 * spec.courtyard_half[0], 2 * spec.courtyard_half[1]
    return (h, w) if turns % 2 else (w, h)


def plan_site(buildings: int, seed: int, base: SiteSpec | None = None) -> list[BuildingPlan]:
    """``buildings`` buildings on plots that tile rows of ``ceil(sqrt(buildings))``."""
    if buildings < 1:
        raise ValueError(f"a site has at least one building, not {buildings}")
    base = base or SiteSpec()
    rng = np.random.default_rng([seed, 7000])
    drawn = [((1.0, 1.0, 1.0), 0)]
    for _ in range(1, buildings):
        scale = (float(rng.uniform(*SCALE_X)), float(rng.uniform(*SCALE_Y)), float(rng.uniform(*SCALE_Z)))
        drawn.append((tuple(round(f, 4) for f in scale), int(rng.integers(4))))
    specs = [stretched(base, *scale) if i else base for i, (scale, _) in enumerate(drawn)]
    sizes = [_plot_size(spec, turns) for spec, (_, turns) in zip(specs, drawn, strict=True)]
    per_row = math.ceil(math.sqrt(buildings))
    plans, y0 = [], 0.0
    for r0 in range(0, buildings, per_row):
        row = range(r0, min(buildings, r0 + per_row))
        depth = max(sizes[i][1] for i in row)
        x0 = 0.0
        for i in row:
            (scale, turns), width = drawn[i], sizes[i][0]
            half = (width / 2, depth / 2) if turns % 2 == 0 else (depth / 2, width / 2)  # in its own frame
            spec = dataclasses.replace(specs[i], courtyard_half=half)
            plot = ((x0, x0 + width), (y0, y0 + depth))
            plans.append((f"b{i + 1:0{max(2, len(str(buildings)))}d}", spec, scale, turns, plot))
            x0 += width
        y0 += depth
    # the site frame is building 1's: its plot's centre at the origin
    (ax0, ax1), (ay0, ay1) = plans[0][4]
    cx, cy = (ax0 + ax1) / 2, (ay0 + ay1) / 2
    out = []
    for bid, spec, scale, turns, ((x0, x1), (y0, y1)) in plans:
        plot = ((x0 - cx, x1 - cx), (y0 - cy, y1 - cy))
        centre = ((plot[0][0] + plot[0][1]) / 2, (plot[1][0] + plot[1][1]) / 2)
        out.append(BuildingPlan(bid, spec, scale, turns, centre, plot))
    return out
