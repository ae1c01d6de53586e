"""How much of a structure's footprint a model's points sample, and where they leave holes.

The story, top to bottom (:func:`measure_coverage`):

1. the lengths, from the point spacing near the footprint (:func:`coverage_settings`): the
   spacing of its sparser parts, so that a surface scanned from afar is covered too;
2. the walls: every face of the footprint unrolled into one raster (twin.ops.coverage.walls),
   each face from its ground to its top, cells covered by points near its plane, openings
   (seen through) told from holes where scanner positions are known;
3. the roof: the footprint seen from above (twin.ops.coverage.roof), cells covered by points
   above the walls' top;
4. the holes: connected uncovered regions of at least a minimum area, located and sized
   (twin.ops.coverage.holes).

Where scanners would see the holes is twin.ops.coverage.stations. Everything works in the
cloud's local frame (float64); figures are reported in the survey CRS (``origin`` added).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.models.coverage import Coverage, CoverageSettings, WallFace
from twin.ops.coverage.footprint import Face, compass, distance_to_outline, faces_of, inside, oriented_rings
from twin.ops.coverage.holes import HoleCells, plan_xy, roof_holes, wall_holes
from twin.ops.coverage.roof import RoofRaster, roof_raster
from twin.ops.coverage.walls import WallRaster, wall_raster
from twin.ops.scale import round_length

RULES_VERSION = "coverage-1"  # bump when a rule changes: cached figures then differ
SPACING_QUANTILE = 0.75  # the spacing of the sparser parts (a station near a wall makes most points dense)
CELL_SPACINGS = 3.0  # a cell holds about nine points of an evenly sampled surface
MAX_CELLS_ACROSS = 4000  # ... but a raster is at most this many cells across the footprint or its height
TOLERANCE_CELLS = 2.0  # points this near a face's plane sample it
RECESS_TOLERANCES = 3.0  # ... and this far behind it (a door leaf or window set back in its opening)
CLOSING_CELLS = 2  # gaps between scan lines up to about twice this bridged
MIN_HOLE_CELLS = 8  # a hole is at least this many cells across (as a square)
PROBE_CELLS = 10  # the ground in front of a face, this deep
GAP_CELLS = 6  # rows this tall left empty above a wall end it
MIN_POINTS = 50


@dataclass
class CoverageResult:
    figures: Coverage
    rings: list[np.ndarray]  # local frame
    faces: list[Face]
    walls: WallRaster
    roof: RoofRaster
    holes: list[HoleCells]  # in the order and with the ids of figures.holes
    ground: float  # local z: the lowest face's ground
    top: float  # local z: the highest point over the footprint


def coverage_settings(spacing: float, size: float, *, cell: float | None = None, tolerance: float | None = None,
                      min_hole_area: float | None = None) -> CoverageSettings:
    """The lengths for a footprint ``size`` metres across (or high) sampled at ``spacing``;
    a length given is used as it is."""
    rules = {}
    if cell is None:
        fine, cap = CELL_SPACINGS * spacing, size / MAX_CELLS_ACROSS
        cell = round_length(max(fine, cap))
        rules["cell_m"] = (f"{CELL_SPACINGS:g} x the point spacing {round_length(spacing, 3):g} m (the "
                           f"{SPACING_QUANTILE:.0%} quantile of nearest-neighbour distances)" if fine >= cap
                           else f"the size {round_length(size, 3):g} m over {MAX_CELLS_ACROSS} cells")
    if tolerance is None:
        tolerance = round_length(TOLERANCE_CELLS * cell)
        rules["tolerance_m"] = f"{TOLERANCE_CELLS:g} cells"
    if min_hole_area is None:
        min_hole_area = round_length((MIN_HOLE_CELLS * cell) ** 2)
        rules["min_hole_area_m2"] = f"a square {MIN_HOLE_CELLS} cells across"
    return CoverageSettings(spacing_m=round_length(spacing, 3), cell_m=cell, tolerance_m=tolerance,
                            closing_cells=CLOSING_CELLS, min_hole_area_m2=min_hole_area, rules=rules)


def measure_coverage(xyz: np.ndarray, polygons: list[list[np.ndarray]], *, origin=(0.0, 0.0, 0.0),
                     scanners: np.ndarray | None = None, scanner_of: np.ndarray | None = None,
                     cell: float | None = None, tolerance: float | None = None, min_hole_area: float | None = None,
                     spacing: float | None = None) -> CoverageResult | None:
    """The coverage of the footprint ``polygons`` (each a list of rings, exterior first, as
    (k, 2) arrays in the cloud's local frame) by the points ``xyz`` (local frame).

    ``scanners`` (k, 3, local: where the survey's scanners stood) and ``scanner_of`` (n,:
    index into them, -1 unknown) say which scanner saw each point: then a region seen through (a door, a window) is an opening,
    not a hole. None when fewer than MIN_POINTS points lie near the footprint."""
    from twin.ops.spacing import point_spacing  # noqa: PLC0415

    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    xyz = np.asarray(xyz, dtype=np.float64)
    rough = oriented_rings(polygons, tolerance=0.0)
    lo = np.min([r.min(axis=0) for r in rough], axis=0)
    hi = np.max([r.max(axis=0) for r in rough], axis=0)
    size = float(max(hi - lo))
    margin = 0.1 * size + 1.0
    near = np.all((xyz[:, :2] >= lo - margin) & (xyz[:, :2] <= hi + margin), axis=1)
    if near.sum() < MIN_POINTS:
        return None
    pts = xyz[near]
    if spacing is None:
        spacing = point_spacing(pts, quantile=SPACING_QUANTILE)
    height = float(np.quantile(pts[:, 2], 0.995) - pts[:, 2].min())
    settings = coverage_settings(spacing, max(size, height), cell=cell, tolerance=tolerance,
                                 min_hole_area=min_hole_area)
    cell, tol = settings.cell_m, settings.tolerance_m
    rings = oriented_rings(polygons, tolerance=cell / 2)
    faces = faces_of(rings)
    recess, probe = RECESS_TOLERANCES * tol, PROBE_CELLS * cell
    plan_in = inside(pts[:, :2], rings)
    off = distance_to_outline(pts[:, :2], faces)
    keep = plan_in | (off <= max(recess, probe) + cell)
    if keep.sum() < MIN_POINTS:
        return None
    pts, plan_in, off = pts[keep], plan_in[keep], off[keep]
    own = None
    if scanners is not None and scanner_of is not None:
        own = np.asarray(scanner_of)[np.flatnonzero(near)[keep]]
    walls = wall_raster(pts, faces, cell=cell, tolerance=tol, recess=recess, probe=probe,
                        closing=settings.closing_cells, gap=GAP_CELLS * cell,
                        scanners=None if own is None else np.asarray(scanners, dtype=np.float64), scanner_of=own)
    cap = float(walls.top[walls.top_seen].min() if walls.top_seen.any() else walls.top.min()) - tol
    # the roof from inside the walls' band (the walls' own points are not roof) and not seen through an opening
    roof = roof_raster(pts[plan_in & (off > tol) & ~walls.seen_through], rings, cell=cell, cap_z=cap,
                       closing=settings.closing_cells)
    ground = float(walls.ground.min())
    top = max(float(np.quantile(pts[:, 2], 0.995)), float(walls.top.max()))  # over and round the footprint
    holes = wall_holes(walls, settings.min_hole_area_m2, origin)
    holes += roof_holes(roof, settings.min_hole_area_m2, origin, ground, top)
    holes.sort(key=lambda h: -h.hole.area_m2)
    for i, h in enumerate(holes, start=1):
        h.hole.id = i
    figures = _figures(walls, roof, holes, faces, origin, settings, len(pts), own is not None)
    return CoverageResult(figures, rings, faces, walls, roof, holes, ground, top)


def _figures(walls: WallRaster, roof: RoofRaster, holes: list[HoleCells], faces: list[Face], origin: np.ndarray,
             settings: CoverageSettings, points: int, openings_detected: bool) -> Coverage:
    area = walls.cell_area()[None, :]
    out_faces = []
    for f in faces:
        cols = walls.col_face == f.index
        wall = (walls.wall[:, cols] * area[:, cols]).sum()
        covered = (walls.covered[:, cols] & walls.wall[:, cols]) * area[:, cols]
        opening = (walls.opening[:, cols] * area[:, cols]).sum()
        solid = wall - opening
        out_faces.append(WallFace(
            index=f.index, ring=f.ring, start=plan_xy(f.a, origin), end=plan_xy(f.b, origin),
            length_m=round(f.length, 3), azimuth_deg=round(f.azimuth, 1), direction=compass(f.azimuth),
            ground_z=round(float(walls.ground[f.index] + origin[2]), 3),
            top_z=round(float(walls.top[f.index] + origin[2]), 3),
            top_from="points" if walls.top_seen[f.index] else "other faces", area_m2=round(float(solid), 3),
            covered_m2=round(float(covered.sum()), 3), openings_m2=round(float(opening), 3),
            coverage=round(float(covered.sum() / solid), 4) if solid > 0 else None))
    wall_area = sum(f.area_m2 for f in out_faces)
    wall_covered = sum(f.covered_m2 for f in out_faces)
    cell2 = roof.cell * roof.cell
    roof_area, roof_covered = float(roof.inside.sum()) * cell2, float(roof.covered.sum()) * cell2
    return Coverage(
        points=points, settings=settings, walls=round(wall_covered / wall_area, 4) if wall_area > 0 else None,
        roof=round(roof_covered / roof_area, 4) if roof_area > 0 else None, wall_area_m2=round(wall_area, 2),
        roof_area_m2=round(roof_area, 2), openings_m2=round(sum(f.openings_m2 for f in out_faces), 2),
        openings_detected=openings_detected, faces=out_faces, holes=[h.hole for h in holes],
        hole_area_m2=round(sum(h.hole.area_m2 for h in holes), 2))

