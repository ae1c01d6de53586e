"""Lengths from the data: the ``auto`` values of a pipeline's lengths.

A twin may be a 20 cm statue scanned at 0.3 mm or a 200 m site scanned at 2 cm, so no
fixed voxel, radius or octree depth suits both. Each rule here derives one length from
two measures of the cloud a stage receives (``measure_scale``): the median distance from
a point to its nearest neighbour (the point spacing) and the largest side of its
bounding box (the extent). Lengths are rounded to two significant digits so that the
number printed and recorded is exactly the number used: writing it into the pipeline in
place of ``auto`` gives the same result.

On the sample pavilion (the four stations merged: 1.8 cm spacing, 25.8 m extent) the
rules give a 1 cm voxel, a 5 cm normal radius and Poisson depth 11: the numbers the default
pipeline had by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError

RULES_VERSION = "auto-lengths-2"  # bump when a rule changes: cached results keyed on "auto" then differ

VOXEL_SPACINGS = 1 / math.sqrt(3)  # voxel_size: the diagonal one spacing: no two points that far apart share a voxel,
# so only points denser than typical (near a scanner, in overlaps) are thinned
NORMAL_SPACINGS = 2.75  # normals radius: about 24 points of an evenly sampled surface in the disc (*)
OUTLIER_SPACINGS = 1.5  # radius outliers: about 7 neighbours expected on a surface
BALL_SPACINGS = 1.5  # ball pivoting: 1, 2 and 4 times this many spacings
DEPTH_RANGE = (6, 13)  # auto Poisson depths: coarser is no surface, finer outgrows memory
# (*) On the sample pavilion the mesh bridges the door opening or the gaps between the columns
# with normal radii of 2.5 and 3 spacings (4.5 and 5.4 cm: 2 and 1 faces) and not with 2.67 to
# 2.78 (4.8 and 5 cm); its mean error is 2.2, 2.1 and 1.9 mm from 4.8, 5 and 5.4 cm.


@dataclass(frozen=True)
class CloudScale:
    """How fine and how large a cloud (or a set of station clouds) is, in metres."""

    spacing: float  # median nearest-neighbour distance (median over the clouds)
    extent: float  # largest side of the bounding box (largest over the clouds)
    points: int

    def as_dict(self) -> dict:
        return {"spacing": round_length(self.spacing, 3), "extent": round_length(self.extent, 3), "points": self.points}


@dataclass(frozen=True)
class Resolved:
    """One auto value: what it is, how it was derived (in words, with the numbers), and a
    note where a rule had to be clamped."""

    value: float | int | tuple[float, ...] | str
    rule: str
    note: str | None = None


def measure_scale(clouds: Sequence[np.ndarray], sample: int = 50_000) -> CloudScale:
    """The spacing and extent of ``clouds`` (the stations before registration, each in its
    own frame, or the one merged cloud): the median of their spacings, the largest of
    their extents."""
    from twin.ops.spacing import point_spacing  # noqa: PLC0415

    clouds = [np.asarray(c, dtype=np.float64) for c in clouds if len(c)]
    if not clouds or max(len(c) for c in clouds) < 2:
        raise UsageError("an auto length needs a cloud of at least two points to measure the point spacing")
    spacings = [point_spacing(c, sample=sample) for c in clouds if len(c) >= 2]
    extent = max(float((c.max(axis=0) - c.min(axis=0)).max()) for c in clouds)
    spacing = float(np.median(spacings))
    if not spacing > 0:
        raise UsageError("an auto length needs distinct points: the median point spacing is 0 "
                         "(every point is stored more than once?)")
    return CloudScale(spacing=spacing, extent=extent, points=int(sum(len(c) for c in clouds)))


def round_length(value: float, digits: int = 2) -> float:
    """``value`` to ``digits`` significant digits."""
    return float(f"{value:.{digits}g}")


def round_up_length(value: float, digits: int = 2) -> float:
    """``value`` rounded up to ``digits`` significant digits (a budget stays kept)."""
    rounded = round_length(value, digits)
    if rounded >= value:
        return rounded
    step = 10 ** (math.floor(math.log10(value)) - digits + 1)
    return round_length(rounded + step, digits)


def _m(value: float) -> str:
    return f"{value:g} m"


def voxel_size(scale: CloudScale, max_voxels_across: int, max_points: int | None = None,
               budget: Callable[[float, int], float] | None = None) -> Resolved:
    """The spacing over sqrt(3) (a voxel whose diagonal is one spacing), but at least the
    extent over ``max_voxels_across``, and at least the voxel that keeps ``max_points``:
    ``budget(voxel, max_points)`` is the smallest voxel from ``voxel`` up that leaves at
    most ``max_points`` occupied in the cloud (twin.ops.voxel.voxel_for_budget). The point
    budget bounds what every later stage holds (the cloud, its neighbour trees and normals)
    whatever the survey's size; Poisson's octree answers to its own budget (poisson_depth)."""
    fine = VOXEL_SPACINGS * scale.spacing
    cap = scale.extent / max_voxels_across
    if cap > fine:
        value = round_length(cap)
        rule = (f"the extent {_m(round_length(scale.extent, 3))} over {max_voxels_across} voxels "
                f"(spacing / sqrt(3), {_m(round_length(fine))}, is finer)")
    else:
        value = round_length(fine)
        rule = f"the median point spacing {_m(round_length(scale.spacing, 3))} / sqrt(3)"
    if max_points is None or budget is None or scale.points <= max_points:
        return Resolved(value, rule)
    fitted = budget(value, max_points)
    if fitted <= value:
        return Resolved(value, rule)
    thinned = round_up_length(fitted)
    return Resolved(thinned, f"the voxel that keeps at most {max_points:,} points ({rule}: {_m(value)}, keeps more)",
                    note=f"voxel {_m(thinned)} instead of {_m(value)} to keep at most {max_points:,} points "
                         f"(max_points): the cloud is coarser than the scans; raise max_points where memory allows, "
                         f"or tile the survey")


def normal_radius(scale: CloudScale) -> Resolved:
    return Resolved(round_length(NORMAL_SPACINGS * scale.spacing),
                    f"{NORMAL_SPACINGS:g} x the median point spacing {_m(round_length(scale.spacing, 3))}")


def outlier_radius(scale: CloudScale) -> Resolved:
    return Resolved(round_length(OUTLIER_SPACINGS * scale.spacing),
                    f"{OUTLIER_SPACINGS:g} x the median point spacing {_m(round_length(scale.spacing, 3))}")


def ball_radii(scale: CloudScale) -> Resolved:
    base = BALL_SPACINGS * scale.spacing
    return Resolved(tuple(round_length(f * base) for f in (1, 2, 4)),
                    f"1, 2 and 4 x {BALL_SPACINGS:g} x the median point spacing {_m(round_length(scale.spacing, 3))}")


def poisson_depth(scale: CloudScale, box_scale: float, cell_spacings: float, max_cells: int | None = None,
                  area: float | None = None) -> Resolved:
    """The shallowest octree whose finest cell (the Poisson cube, ``box_scale`` times the
    extent, over 2**depth) is at most ``cell_spacings`` point spacings, within DEPTH_RANGE,
    and no deeper than puts the surface (``area``, square units) in more than ``max_cells``
    finest cells: Poisson's octree, its memory and the faces it makes grow with the area
    over the cell's square (the sample pavilion's 750 m2 at depth 12, 6.9 mm cells: 16M
    cells and a 5 GB peak; at depth 13 beyond 23 GB)."""
    cube = scale.extent * box_scale
    cell = cell_spacings * scale.spacing
    wanted = math.ceil(math.log2(cube / cell) - 1e-9) if cube > cell else 0
    lo, hi = DEPTH_RANGE
    depth = min(max(wanted, lo), hi)
    rule = (f"finest cell {_m(round_length(cube / 2 ** depth))} over a {_m(round_length(cube, 3))} cube, "
            f"at most {cell_spacings:g} x the median point spacing {_m(round_length(scale.spacing, 3))}")
    note = None
    if depth != wanted:
        note = (f"Poisson depth {wanted} would give cells of {cell_spacings:g} point spacing(s); clamped to {depth} "
                f"(cells of {_m(round_length(cube / 2 ** depth))}"
                + ("; the mesh is coarser than the points: set depth, or crop or tile the survey)" if depth < wanted
                   else ")"))
    if max_cells and area and depth > lo:
        cells = lambda d: area / (cube / 2 ** d) ** 2  # noqa: E731
        capped = depth
        while capped > lo and cells(capped) > max_cells:
            capped -= 1
        if capped < depth:
            rule += (f", and at most {max_cells:,} cells on the surface's {round_length(area, 3):g} square units "
                     f"({cells(capped):,.0f})")
            note = (f"Poisson depth {depth} would put the surface in {cells(depth):,.0f} cells (more than max_cells, "
                    f"{max_cells:,}); depth {capped} instead (cells of {_m(round_length(cube / 2 ** capped))}): "
                    f"raise max_cells where memory allows (about 0.3 GB per million), or tile the survey")
            depth = capped
    return Resolved(depth, rule, note)


def auto_lengths(scale: CloudScale, *, max_voxels_across: int = 10_000, box_scale: float = 1.1,
                 cell_spacings: float = 1.0) -> dict[str, Resolved]:
    """Every rule at once (for a quick look or a test): voxel, normal radius, outlier
    radius, Poisson depth and ball-pivoting radii for a cloud of this scale."""
    return {
        "voxel_size": voxel_size(scale, max_voxels_across),
        "normal_radius": normal_radius(scale),
        "outlier_radius": outlier_radius(scale),
        "poisson_depth": poisson_depth(scale, box_scale, cell_spacings),
        "ball_radii": ball_radii(scale),
    }
