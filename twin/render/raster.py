"""Vectorised z-buffers: which point (or triangle) is nearest the viewer at each pixel.

**Points.** Each point's pixel and depth are computed at once; depth is quantised to 23
bits over the frame's depth range and packed above the point's index (40 bits) into one
uint64 key, so that ``np.minimum.at(buffer, pixel, key)`` leaves at each pixel the key of
the nearest point, index included (ties go to the lower index). No sort, no Python loop
over points: 10M points take about a second. Points wider than one pixel are splatted
in image space afterwards: each pixel takes the smallest key within the splat radius
(a disc), which is exactly a z-buffered disc per point at the cost of the pixels, not of
the points.

**Triangles.** Each triangle is expanded to the pixel centres of its bounding box (one
flat array for a batch of triangles, ``np.repeat`` and a running index), tested with its
barycentric coordinates, and its depth interpolated; the fragments go through the same
packed-key minimum. A triangle smaller than a pixel still marks the pixel of its
centroid, so a fine mesh leaves no holes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError

DEPTH_BITS = 23
INDEX_BITS = 40
EMPTY = np.iinfo(np.uint64).max
_INDEX_MASK = np.uint64((1 << INDEX_BITS) - 1)
MAX_PIXELS_PER_SIDE = 20_000
SPANS_PER_BATCH = 1_000_000


@dataclass(frozen=True)
class Frame:
    """The drawing area: screen-space bounds (metres) mapped to pixels at ``ppm``.

    Pixel (col, row) covers u in [u0 + col/ppm, u0 + (col+1)/ppm) and, rows running down
    the image, v in (v1 - (row+1)/ppm, v1 - row/ppm].
    """

    u0: float
    v1: float
    ppm: float
    width: int
    height: int
    depth_lo: float
    depth_hi: float

    @classmethod
    def fit(cls, uvd_min: np.ndarray, uvd_max: np.ndarray, ppm: float, margin_m: float = 0.0) -> Frame:
        if not (math.isfinite(ppm) and ppm > 0):
            raise UsageError(f"the scale must be a positive number of pixels per metre, got {ppm}")
        lo = np.asarray(uvd_min, dtype=np.float64)
        hi = np.asarray(uvd_max, dtype=np.float64)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise UsageError("nothing to draw: the view holds no points")
        width = int(math.ceil((hi[0] - lo[0] + 2 * margin_m) * ppm)) + 1
        height = int(math.ceil((hi[1] - lo[1] + 2 * margin_m) * ppm)) + 1
        if max(width, height) > MAX_PIXELS_PER_SIDE:
            raise UsageError(
                f"at {ppm:g} pixels per metre the image would be {width} x {height} pixels "
                f"(at most {MAX_PIXELS_PER_SIDE} a side); lower the scale"
            )
        return cls(float(lo[0] - margin_m), float(hi[1] + margin_m), float(ppm), width, height,
                   float(lo[2]), float(max(hi[2], lo[2] + 1e-9)))

    def pixels(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(col, row) as float pixel coordinates (pixel centres at +0.5)."""
        return (u - self.u0) * self.ppm, (self.v1 - v) * self.ppm

    def metres(self, col: float, row: float) -> tuple[float, float]:
        return self.u0 + col / self.ppm, self.v1 - row / self.ppm

    def quantise_depth(self, depth: np.ndarray) -> np.ndarray:
        top = (1 << DEPTH_BITS) - 1
        scale = top / (self.depth_hi - self.depth_lo)
        q = depth - self.depth_lo
        q *= scale
        np.clip(q, 0, top, out=q)
        return q.astype(np.int64).view(np.uint64)  # via int64: float -> uint64 is slow in numpy


@dataclass
class ZBuffer:
    """The winner at each pixel: ``index`` (int64, -1 where empty) and its packed key
    (its quantised depth above the index)."""

    index: np.ndarray  # (height, width) int64
    key: np.ndarray  # (height, width) uint64 packed keys, EMPTY where nothing

    @property
    def covered(self) -> np.ndarray:
        return self.index >= 0

    @property
    def depth(self) -> np.ndarray:
        """Depth of the winner at each pixel, 0 (nearest of the frame) to 1; NaN where empty."""
        out = (self.key >> np.uint64(INDEX_BITS)).astype(np.float64) / ((1 << DEPTH_BITS) - 1)
        out[self.index < 0] = np.nan
        return out


def _pack(depth_q: np.ndarray, index: np.ndarray) -> np.ndarray:
    key = depth_q << np.uint64(INDEX_BITS)
    key |= np.asarray(index).astype(np.int64, copy=False).view(np.uint64)
    return key


def _unpack(keys: np.ndarray) -> ZBuffer:
    index = (keys & _INDEX_MASK).astype(np.int64)
    index[keys == EMPTY] = -1
    return ZBuffer(index=index, key=keys)


def splat_disc(keys: np.ndarray, radius: int) -> np.ndarray:
    """Each pixel takes the smallest key within ``radius`` pixels (a disc): z-buffered
    splats of that radius around every drawn point."""
    if radius <= 0:
        return keys
    out = keys.copy()
    h, w = keys.shape
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if (dy, dx) == (0, 0) or dx * dx + dy * dy > radius * radius + radius:
                continue
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
            np.minimum(out[yd, xd], keys[ys, xs], out=out[yd, xd])
    return out


def zbuffer_points(uvd: np.ndarray, frame: Frame, radius: int = 0, index: np.ndarray | None = None) -> ZBuffer:
    """The nearest point at each pixel. ``uvd``: (n, 3) screen coordinates; ``index``: the
    number to report for each point (default 0..n-1); ``radius``: splat radius in pixels."""
    uvd = np.asarray(uvd, dtype=np.float64)
    keys = np.full(frame.width * frame.height, EMPTY, dtype=np.uint64)
    if len(uvd):
        col = uvd[:, 0] - frame.u0
        col *= frame.ppm
        row = frame.v1 - uvd[:, 1]
        row *= frame.ppm
        depth = uvd[:, 2]
        if index is None:
            ids = np.arange(len(uvd), dtype=np.uint64)
        else:
            ids = np.asarray(index).astype(np.int64).view(np.uint64)
        inside = (col >= 0) & (col < frame.width) & (row >= 0) & (row < frame.height)
        if not inside.all():
            col, row, ids, depth = col[inside], row[inside], ids[inside], depth[inside]
        pixel = row.astype(np.int64)
        pixel *= frame.width
        pixel += col.astype(np.int64)  # non-negative: truncation is floor
        key = frame.quantise_depth(depth)
        key <<= np.uint64(INDEX_BITS)
        key |= ids
        np.minimum.at(keys, pixel, key)
    grid = splat_disc(keys.reshape(frame.height, frame.width), radius)
    return _unpack(grid)


def zbuffer_triangles(uvd: np.ndarray, faces: np.ndarray, frame: Frame) -> ZBuffer:
    """The nearest triangle at each pixel. ``uvd``: (n, 3) screen coordinates of the
    vertices; ``faces``: (m, 3) vertex indices. The index reported is the face's.

    Scanline order: each triangle is cut into the pixel rows it covers, each row into the
    span of pixel centres inside it, and depth follows the triangle's plane; so the work
    is the pixels covered, not the triangles' bounding boxes.
    """
    uvd = np.asarray(uvd, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    keys = np.full(frame.width * frame.height, EMPTY, dtype=np.uint64)
    if len(faces):
        px, py = frame.pixels(uvd[:, 0], uvd[:, 1])
        pd = frame.quantise_depth(uvd[:, 2]).astype(np.float64)
        p = np.stack([px, py, pd], axis=1)
        a, b, c = p[faces[:, 0]], p[faces[:, 1]], p[faces[:, 2]]
        # every triangle marks its centroid's pixel (sub-pixel triangles leave no holes)
        centroid = (a + b + c) / 3.0
        _fragments(keys, frame, centroid[:, 0], centroid[:, 1], centroid[:, 2], np.arange(len(faces)))
        area2 = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
        lo_y = np.ceil(np.minimum(np.minimum(a[:, 1], b[:, 1]), c[:, 1]) - 0.5)
        hi_y = np.floor(np.maximum(np.maximum(a[:, 1], b[:, 1]), c[:, 1]) - 0.5)
        lo_y, hi_y = np.maximum(lo_y, 0), np.minimum(hi_y, frame.height - 1)
        rows = np.where(np.abs(area2) > 1e-12, np.maximum(hi_y - lo_y + 1, 0), 0).astype(np.int64)
        todo = np.flatnonzero(rows)
        # the depth plane of each triangle: d = gx * x + gy * y + d0 (pixel coordinates)
        with np.errstate(invalid="ignore", divide="ignore"):
            inv = 1.0 / area2
            gx = ((b[:, 2] - a[:, 2]) * (c[:, 1] - a[:, 1]) - (c[:, 2] - a[:, 2]) * (b[:, 1] - a[:, 1])) * inv
            gy = ((c[:, 2] - a[:, 2]) * (b[:, 0] - a[:, 0]) - (b[:, 2] - a[:, 2]) * (c[:, 0] - a[:, 0])) * inv
            d0 = a[:, 2] - gx * a[:, 0] - gy * a[:, 1]
        bounds = np.cumsum(rows[todo])
        start = 0
        while start < len(todo):
            base = bounds[start - 1] if start else 0
            stop = max(int(np.searchsorted(bounds, base + SPANS_PER_BATCH, side="right")), start + 1)
            part = todo[start:stop]
            _spans(keys, frame, part, rows[part], lo_y[part], a[part], b[part], c[part], gx[part], gy[part], d0[part])
            start = stop
    return _unpack(keys.reshape(frame.height, frame.width))


def _fragments(keys, frame: Frame, x, y, depth_q, ids) -> None:
    col = np.floor(x).astype(np.int64)
    row = np.floor(y).astype(np.int64)
    ok = (col >= 0) & (col < frame.width) & (row >= 0) & (row < frame.height)
    dq = np.clip(depth_q[ok], 0, (1 << DEPTH_BITS) - 1).astype(np.int64).view(np.uint64)
    np.minimum.at(keys, row[ok] * frame.width + col[ok], _pack(dq, np.asarray(ids)[ok]))


def _spans(keys, frame: Frame, tri, rows, lo_y, a, b, c, gx, gy, d0) -> None:
    """Rasterise a batch of triangles row by row (all arrays are the batch's)."""
    k = len(tri)
    owner = np.repeat(np.arange(k), rows)
    y = lo_y[owner] + (np.arange(int(rows.sum())) - np.repeat(np.cumsum(rows) - rows, rows)) + 0.5
    xl = np.full(len(y), np.inf)
    xr = np.full(len(y), -np.inf)
    for p, q in ((a, b), (b, c), (c, a)):
        y0, y1 = p[owner, 1], q[owner, 1]
        x0, x1 = p[owner, 0], q[owner, 0]
        hit = (np.minimum(y0, y1) <= y) & (y <= np.maximum(y0, y1)) & (y0 != y1)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        np.minimum(xl, np.where(hit, x, np.inf), out=xl)
        np.maximum(xr, np.where(hit, x, -np.inf), out=xr)
    first = np.maximum(np.ceil(xl - 0.5 - 1e-9), 0)
    last = np.minimum(np.floor(xr - 0.5 + 1e-9), frame.width - 1)
    ok = np.isfinite(first) & np.isfinite(last) & (last >= first)
    first, last, y, owner = first[ok], last[ok], y[ok], owner[ok]
    span = (last - first + 1).astype(np.int64)
    if not len(span):
        return
    fo = np.repeat(np.arange(len(span)), span)
    x = first[fo] + (np.arange(int(span.sum())) - np.repeat(np.cumsum(span) - span, span)) + 0.5
    yy = y[fo]
    t = owner[fo]
    depth = gx[t] * x + gy[t] * yy + d0[t]
    np.clip(depth, 0, (1 << DEPTH_BITS) - 1, out=depth)
    pixel = (yy - 0.5).astype(np.int64) * frame.width + (x - 0.5).astype(np.int64)
    np.minimum.at(keys, pixel, _pack(depth.astype(np.int64).view(np.uint64), tri[t]))
