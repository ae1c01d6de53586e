"""The footprint's walls unrolled into one raster: a column per slice of a face (each ring's
faces side by side, so a region can run round a corner), a row per height step.

- A cell is **occupied** when a point lies within ``tolerance`` in front of its face's plane
  or up to ``recess`` behind it (a door leaf or window set back in its opening is the wall
  there) and inside the cell; **covered** after closing the occupied cells (gaps between
  scan lines bridged, real holes kept at their size).
- A face stands from its **ground** (the lowest points on it or just in front of it) to its
  **top**: the highest row reached from the ground without ``gap`` metres of rows that
  hardly any column occupies (an eave, a ceiling or a roof caps a wall; the air under an
  overhang or a roof crossing the face's plane higher up is not wall). A face nobody saw
  takes the other faces' top.
- With scanner positions, a cell crossed by the ray to a point lying farther behind the
  face than ``recess`` was **seen through**: an opening (door, window), not wall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.ops.coverage.footprint import Face
from twin.ops.coverage.raster import close

MIN_POINTS = 1
DENSE_SHARE = 0.35  # a row is wall where at least this share of the face's best row's columns is occupied
SEEN_SHARE = 0.05  # a face whose best row holds fewer occupied columns than this was not seen


@dataclass
class WallRaster:
    faces: list[Face]
    cell: float
    z0: float  # bottom of row 0
    col_face: np.ndarray  # (C,) face of each column
    col_u: np.ndarray  # (C,) centre of each column along its face
    col_width: np.ndarray  # (C,)
    ring_cols: list[tuple[int, int]]  # [start, stop) of each ring's columns
    occupied: np.ndarray  # (R, C) bool
    covered: np.ndarray
    opening: np.ndarray
    wall: np.ndarray  # cells between their face's ground and top
    ground: np.ndarray  # (F,)
    top: np.ndarray  # (F,)
    top_seen: np.ndarray  # (F,) bool: the top from the face's own points
    seen_through: np.ndarray  # (n,) bool per point: its ray crossed a wall where there is none (an opening)

    @property
    def hole(self) -> np.ndarray:
        return self.wall & ~self.covered & ~self.opening

    def cell_area(self) -> np.ndarray:
        """(C,) area of a cell in each column."""
        return self.col_width * self.cell

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) centres of cells and (n, 3) outward normals."""
        a = np.array([f.a for f in self.faces])[self.col_face[cols]]
        t = np.array([f.tangent for f in self.faces])[self.col_face[cols]]
        n = np.array([f.normal for f in self.faces])[self.col_face[cols]]
        xy = a + t * self.col_u[cols, None]
        z = self.z0 + (rows + 0.5) * self.cell
        return np.column_stack([xy, z]), np.column_stack([n, np.zeros(len(n))])


def wall_raster(xyz: np.ndarray, faces: list[Face], *, cell: float, tolerance: float, recess: float, probe: float,
                closing: int, gap: float, scanners: np.ndarray | None = None,
                scanner_of: np.ndarray | None = None) -> WallRaster:
    """The raster of every face; ``scanners`` (k, 3) and ``scanner_of`` (n,) index into it
    (-1: unknown) let openings be told from holes."""
    counts = np.array([max(1, int(round(f.length / cell))) for f in faces])
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    widths = np.array([f.length for f in faces]) / counts
    col_face = np.repeat(np.arange(len(faces)), counts)
    col_u = np.concatenate([(np.arange(c) + 0.5) * w for c, w in zip(counts, widths, strict=True)])
    ring_cols = []
    for r in sorted({f.ring for f in faces}):
        idx = [f.index for f in faces if f.ring == r]
        ring_cols.append((int(start[idx[0]]), int(start[idx[-1]] + counts[idx[-1]])))

    def column(f: Face, u: np.ndarray) -> np.ndarray:
        return start[f.index] + np.minimum((u / widths[f.index]).astype(np.int64), counts[f.index] - 1)

    band, crossings, ground = [], [], np.full(len(faces), np.nan)
    for f in faces:
        u, d = f.along_across(xyz[:, :2])
        on = (u >= 0) & (u < f.length)
        near = np.flatnonzero(on & (d <= tolerance) & (d >= -recess))
        band.append((column(f, u[near]), near))
        ground[f.index] = _ground(xyz[near, 2], xyz[on & (d > tolerance) & (d <= probe), 2])
        if scanners is not None and scanner_of is not None:
            c, z, idx = _crossings(f, xyz, u, d, recess, tolerance, scanners, scanner_of)
            crossings.append((np.full(len(idx), f.index), column(f, c), z, idx))
    if np.isnan(ground).all():
        ground[:] = float(np.min(xyz[:, 2])) if len(xyz) else 0.0
    ground = np.where(np.isnan(ground), np.nanmedian(ground), ground)
    cols, idx = (np.concatenate(a) for a in zip(*band, strict=True))
    z0 = float(ground.min()) - cell
    z_hi = float(xyz[idx, 2].max()) if len(idx) else float(ground.max()) + cell
    shape = (int(np.ceil((z_hi - z0) / cell)) + 1, len(col_face))
    occupied = _mark(shape, cols, xyz[idx, 2], z0, cell, MIN_POINTS)
    top, seen = _tops(occupied, ground, start, counts, z0, cell, gap)
    top = np.where(seen, top, np.median(top[seen]) if seen.any() else z_hi)
    rows = np.arange(shape[0])[:, None]
    wall = ((rows >= np.floor((ground - z0) / cell + 1e-9).astype(int)[col_face][None, :])
            & (rows < np.ceil((top - z0) / cell - 1e-9).astype(int)[col_face][None, :]))

    through = np.zeros(shape, dtype=bool)
    seen_through = np.zeros(len(xyz), dtype=bool)
    if crossings:
        face, col, z, who = (np.concatenate(a) for a in zip(*crossings, strict=True))
        within = (z >= ground[face]) & (z < top[face])
        through = _mark(shape, col[within], z[within], z0, cell)
        seen_through[who[within]] = True
        # a point seen through an opening (the inner face of another wall) samples no outer wall
        mine = ~seen_through[idx]
        occupied = _mark(shape, cols[mine], xyz[idx[mine], 2], z0, cell, MIN_POINTS)
    covered, opening = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    for s, e in ring_cols:
        covered[:, s:e] = close(occupied[:, s:e] | ~wall[:, s:e], closing, wrap=True) & wall[:, s:e]
        opening[:, s:e] = close(through[:, s:e], 2 * closing, wrap=True) & wall[:, s:e] & ~covered[:, s:e]
    return WallRaster(faces, cell, z0, col_face, col_u, widths[col_face], ring_cols, occupied, covered, opening,
                      wall, ground, top, seen, seen_through)


def _ground(on_face: np.ndarray, in_front: np.ndarray) -> float:
    """The lowest of the face's own points and of the ground just in front of it (nan: neither)."""
    lows = []
    if len(on_face) >= 10:
        lows.append(np.quantile(on_face, 0.005))
    if len(in_front) >= 10:
        lows.append(np.quantile(in_front, 0.02))
    return min(lows) if lows else np.nan


def _mark(shape: tuple[int, int], cols: np.ndarray, zs: np.ndarray, z0: float, cell: float,
          least: int = 1) -> np.ndarray:
    """Cells holding at least ``least`` of the points (column, z)."""
    count = np.zeros(shape[0] * shape[1], dtype=np.int64)
    rows = np.floor((zs - z0) / cell).astype(np.int64)
    ok = (rows >= 0) & (rows < shape[0])
    np.add.at(count, rows[ok] * shape[1] + cols[ok], 1)
    return (count >= least).reshape(shape)


def _tops(occupied: np.ndarray, ground: np.ndarray, start: np.ndarray, counts: np.ndarray, z0: float, cell: float,
          gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Each face's top (see the module's text) and whether its own points gave it."""
    gap_rows = max(1, int(round(gap / cell)))
    top = np.zeros(len(ground))
    seen = np.zeros(len(ground), dtype=bool)
    for i, (s, c) in enumerate(zip(start, counts, strict=True)):
        share = occupied[:, s:s + c].mean(axis=1)
        r0 = max(0, int(np.floor((ground[i] - z0) / cell)))
        share = share[r0:]
        if not len(share) or share.max() < SEEN_SHARE:
            continue
        dense = share >= DENSE_SHARE * share.max()
        last, run = None, 0
        for r, ok in enumerate(dense):  # rows of one face, not points
            if ok:
                last, run = r, 0
            elif last is not None:
                run += 1
                if run >= gap_rows:
                    break
        top[i] = z0 + (r0 + last + 1) * cell
        seen[i] = True
    return top, seen


def _crossings(f: Face, xyz: np.ndarray, u: np.ndarray, d: np.ndarray, recess: float, tolerance: float,
               scanners: np.ndarray, scanner_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, z, point index) where rays from the scanners in front of the face to points lying
    deeper than ``recess`` behind it cross the face's plane within its length."""
    su, sd = f.along_across(scanners[:, :2])
    idx = np.flatnonzero((d < -recess) & (scanner_of >= 0))
    k = scanner_of[idx]
    front = sd[k] > tolerance
    idx, k = idx[front], k[front]
    lam = sd[k] / (sd[k] - d[idx])
    cu = su[k] + lam * (u[idx] - su[k])
    cz = scanners[k, 2] + lam * (xyz[idx, 2] - scanners[k, 2])
    keep = (cu >= 0) & (cu < f.length)
    return cu[keep], cz[keep], idx[keep]
