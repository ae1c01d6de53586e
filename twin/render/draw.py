"""Render a cloud or a mesh in a view at a scale, and finish the picture.

``render_points(xyz, view, ppm, colouring, origin=...)`` and ``render_mesh(vertices,
faces, view, ppm, colouring, origin=...)`` return a :class:`Picture` (a PIL image with
its frame) that ``save`` writes as PNG. Coordinates are float64 local about ``origin``
(world = xyz + origin), as in PointCloud and TriMesh; the frame is fitted to the data or
to given world ``bounds`` (so that several pictures share one extent and scale).

Meshes and coloured clouds are shaded by how squarely a surface faces the viewer (mesh:
the face normal; cloud: the ``normals`` given), which brings out relief; change maps
(:class:`~twin.render.colours.Scalar`) are never shaded, so a colour reads as a value.
A mesh section draws the cut (the segments where the plane meets the triangles, in
colour) over the faded geometry beyond it; a cloud section draws the points in the slab.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.errors import UsageError
from twin.render.annotate import compose
from twin.render.colours import BACKGROUND, Colouring, Scalar, Uniform
from twin.render.raster import Frame, ZBuffer, zbuffer_points, zbuffer_triangles
from twin.render.views import View

FADE = 0.65  # how far the geometry beyond a mesh section fades toward white
MAX_AUTO_RADIUS = 6


@dataclass
class Picture:
    image: object  # PIL.Image.Image
    frame: Frame
    view: View
    coverage: float  # share of the drawing's pixels that show something

    def png_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, format="PNG")
        return buf.getvalue()

    def save(self, path: Path | str) -> Path:
        """Write the PNG atomically."""
        from twin.catalog.store import atomic_write_bytes  # noqa: PLC0415

        path = Path(path)
        atomic_write_bytes(path, self.png_bytes())
        return path


def _check_ppm(ppm) -> float:
    if not (isinstance(ppm, (int, float, np.floating, np.integer)) and np.isfinite(ppm) and ppm > 0):
        raise UsageError(f"render: the scale must be a positive number of pixels per metre, got {ppm}")
    return float(ppm)


def _as_xyz(name: str, xyz) -> np.ndarray:
    arr = np.asarray(xyz, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise UsageError(f"render: {name} must be an (n, 3) array, got shape {arr.shape}")
    return arr


def frame_for(view: View, ppm: float, *, uvd: np.ndarray | None = None, bounds=None, origin=None,
              margin_m: float | None = None) -> Frame:
    """The frame of a view: fitted to screen coordinates ``uvd``, or to world ``bounds``
    ((2, 3): min and max corners), with a margin (default: 2 % of the larger side)."""
    if bounds is not None:
        b = np.asarray(bounds, dtype=np.float64).reshape(2, 3)
        corners = np.array([[b[i, 0], b[j, 1], b[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
        pts = view.project(corners)
    elif uvd is not None and len(uvd):
        pts = uvd
    else:
        raise UsageError("nothing to draw: the view holds no points")
    lo = np.array([pts[:, k].min() for k in range(3)])  # per column: far faster than axis=0 on (n, 3)
    hi = np.array([pts[:, k].max() for k in range(3)])
    if margin_m is None:
        margin_m = 0.02 * float(max(hi[0] - lo[0], hi[1] - lo[1], 1.0 / ppm))
    return Frame.fit(lo, hi, ppm, margin_m)


def auto_point_radius(xyz: np.ndarray, ppm: float, sample: int = 300_000) -> int:
    """A splat radius (pixels) that closes the gaps between neighbouring points.

    Point spacing is estimated from how many points share a cube of 8 pixels a side on a
    surface (about its area over the spacing squared), on a random sample for big clouds.
    """
    n = len(xyz)
    if n < 3:
        return 1
    take = xyz if n <= sample else xyz[:: n // sample]
    cell = 8.0 / ppm
    q = np.floor((take - take.min(axis=0)) / cell).astype(np.int64)
    dims = q.max(axis=0) + 1
    key = (q[:, 0] * dims[1] + q[:, 1]) * dims[2] + q[:, 2]
    cells = len(np.unique(key))
    per_cell = len(take) / max(cells, 1) * (n / len(take))
    spacing_px = 8.0 / np.sqrt(max(per_cell, 1e-9))
    return int(np.clip(np.round(0.75 * spacing_px), 0, MAX_AUTO_RADIUS))


def _shading(normals: np.ndarray, forward: np.ndarray) -> np.ndarray:
    cos = np.abs(np.asarray(normals, dtype=np.float64) @ forward)
    return np.nan_to_num(0.45 + 0.55 * cos, nan=1.0)


def _paint(zb: ZBuffer, colouring: Colouring, shade=None, fade: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """The drawing (h, w, 3) and the winners' item indices. ``shade``: a factor per item,
    or a function giving the factors of the items it is given (only winners are shaded)."""
    h, w = zb.index.shape
    image = np.empty((h, w, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    where = np.flatnonzero(zb.index.reshape(-1) >= 0)
    items = zb.index.reshape(-1)[where]
    colours = colouring.colours(items).astype(np.float64)
    if shade is not None and not isinstance(colouring, Scalar):
        colours *= (shade(items) if callable(shade) else shade[items])[:, None]
    if fade is not None:
        f = fade[items][:, None]
        colours = colours * (1.0 - f) + 255.0 * f
    image.reshape(-1, 3)[where] = np.clip(np.round(colours), 0, 255).astype(np.uint8)
    return image, items


def render_points(
    xyz: np.ndarray,
    view: View,
    ppm: float,
    colouring: Colouring | None = None,
    *,
    origin=None,
    bounds=None,
    point_size: int | None = None,
    normals: np.ndarray | None = None,
    title: str | None = None,
    subtitle: str | None = None,
) -> Picture:
    """A cloud drawn in ``view`` at ``ppm`` pixels per metre. ``point_size``: splat
    radius in pixels (default: from the point spacing, see :func:`auto_point_radius`)."""
    xyz = _as_xyz("points", xyz)
    ppm = _check_ppm(ppm)
    colouring = colouring or Uniform()
    colouring.check(len(xyz), "points")
    if point_size is not None and (int(point_size) != point_size or point_size < 0):
        raise UsageError(f"render: point size must be a whole number of pixels >= 0, got {point_size}")
    keep = view.slab_mask(xyz, origin)
    index = None
    if keep is not None:
        index = np.flatnonzero(keep)
        xyz_used = xyz[index]
    else:
        xyz_used = xyz
    if not len(xyz_used):
        raise UsageError(f"render: nothing to draw in the {view.describe()}")
    uvd = view.project(xyz_used, origin)
    frame = frame_for(view, ppm, uvd=uvd, bounds=bounds)
    radius = auto_point_radius(xyz_used, ppm) if point_size is None else int(point_size)
    zb = zbuffer_points(uvd, frame, radius=radius, index=index)
    shade = None
    if normals is not None:
        normals = np.asarray(normals)
        if normals.shape != xyz.shape:
            raise UsageError(f"render: need {len(xyz)} normals (n, 3), got shape {normals.shape}")
        forward = np.asarray(view.forward)
        shade = lambda items: _shading(normals[items], forward)  # noqa: E731 - only the winners
    drawing, items = _paint(zb, colouring, shade)
    return _finish(drawing, zb, frame, view, colouring, items, title, subtitle, f"{len(xyz_used):,} points")


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    n = np.cross(b - a, c - a)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return n / length


def render_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    view: View,
    ppm: float,
    colouring: Colouring | None = None,
    *,
    origin=None,
    bounds=None,
    title: str | None = None,
    subtitle: str | None = None,
    shade: bool = True,
) -> Picture:
    """A triangle mesh drawn in ``view``; ``colouring`` is per face (see
    :func:`vertex_to_face` for per-vertex colours)."""
    vertices = _as_xyz("mesh vertices", vertices)
    ppm = _check_ppm(ppm)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if not len(faces):
        raise UsageError("render: the mesh has no faces")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise UsageError("render: mesh faces must index its vertices")
    colouring = colouring or Uniform((200, 200, 200))
    colouring.check(len(faces), "faces")
    forward = np.asarray(view.forward)
    shading = (lambda items: _shading(face_normals(vertices, faces[items]), forward)) if shade else None
    if view.is_section:
        return _mesh_section(vertices, faces, view, ppm, colouring, origin, bounds, shading, title, subtitle)
    uvd = view.project(vertices, origin)
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    frame = frame_for(view, ppm, uvd=uvd if used.all() else uvd[used], bounds=bounds)
    zb = zbuffer_triangles(uvd, faces, frame)
    drawing, items = _paint(zb, colouring, shading)
    return _finish(drawing, zb, frame, view, colouring, items, title, subtitle, f"{len(faces):,} faces")


def _mesh_section(vertices, faces, view, ppm, colouring, origin, bounds, shading, title, subtitle) -> Picture:
    n = np.asarray(view.plane_normal, dtype=np.float64)
    offset = float(n @ np.asarray(view.plane_point))
    if origin is not None:
        offset -= float(n @ np.asarray(origin, dtype=np.float64))
    s = vertices @ n - offset  # signed distance to the plane; the viewer is on the + side
    sf = s[faces]
    beyond = np.flatnonzero(sf.min(axis=1) < 0)
    cut = np.flatnonzero((sf.min(axis=1) < 0) & (sf.max(axis=1) > 0))
    uvd = view.project(vertices, origin)
    segments = _cut_segments(vertices, faces[cut], s) if len(cut) else np.zeros((0, 2, 3))
    if bounds is None and not len(beyond):
        raise UsageError(f"render: the mesh does not reach the {view.describe()}")
    extent = None
    if len(beyond):
        used = np.zeros(len(vertices), dtype=bool)
        used[faces[beyond].ravel()] = True
        extent = uvd[used]
    frame = frame_for(view, ppm, uvd=extent, bounds=bounds)
    back = zbuffer_triangles(uvd, faces[beyond], frame)
    back.index[back.index >= 0] = beyond[back.index[back.index >= 0]]
    fade = np.full(len(faces), FADE)
    drawing, items = _paint(back, colouring, shading, fade)
    # the cut, in full colour and in front of everything
    if len(segments):
        ends = view.project(segments.reshape(-1, 3), origin).reshape(-1, 2, 3)
        length_px = np.linalg.norm(ends[:, 1, :2] - ends[:, 0, :2], axis=1) * ppm
        steps = np.maximum(np.ceil(length_px * 2).astype(np.int64), 1) + 1
        owner = np.repeat(np.arange(len(ends)), steps)
        step = np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)
        t = step / np.repeat(steps - 1, steps).clip(1)
        pts = ends[owner, 0] + (ends[owner, 1] - ends[owner, 0]) * t[:, None]
        pts[:, 2] = frame.depth_lo  # the cut lies in front of what is beyond it
        zcut = zbuffer_points(pts, frame, radius=1, index=cut[owner])
        on_cut = zcut.index >= 0
        if on_cut.any():
            colours = colouring.colours(zcut.index[on_cut])
            if not isinstance(colouring, Scalar):
                colours = (colours.astype(np.float64) * 0.8).astype(np.uint8)  # a touch darker: the cut reads first
            drawing[on_cut] = colours
            items = np.concatenate([items, zcut.index[on_cut]])
        covered = back.covered | on_cut
    else:
        covered = back.covered
    zb = ZBuffer(index=np.where(covered, 0, -1), key=back.key)
    return _finish(drawing, zb, frame, view, colouring, items, title, subtitle, f"{len(cut):,} faces cut")


def _cut_segments(vertices: np.ndarray, faces: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(k, 2, 3) where the plane (s = 0) crosses each triangle (each straddles it)."""
    ends = np.zeros((len(faces), 2, 3))
    filled = np.zeros(len(faces), dtype=np.int64)
    for i, j in ((0, 1), (1, 2), (2, 0)):
        a, b = faces[:, i], faces[:, j]
        sa, sb = s[a], s[b]
        cross = (sa < 0) != (sb < 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(cross, sa / (sa - sb), 0.0)
        p = vertices[a] + (vertices[b] - vertices[a]) * t[:, None]
        slot = np.minimum(filled, 1)
        rows = np.flatnonzero(cross)
        ends[rows, slot[rows]] = p[rows]
        filled += cross
    return ends[filled >= 2]


def vertex_to_face(values: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per-face values from per-vertex ones: the mean of the three (rgb: rounded to uint8)."""
    values = np.asarray(values)
    faces = np.asarray(faces, dtype=np.int64)
    mean = (values[faces[:, 0]].astype(np.float64) + values[faces[:, 1]] + values[faces[:, 2]]) / 3.0
    return np.round(mean).astype(values.dtype) if np.issubdtype(values.dtype, np.integer) else mean


def _finish(drawing, zb: ZBuffer, frame, view, colouring, items, title, subtitle, what: str) -> Picture:
    coverage = float(zb.covered.mean()) if zb.covered.size else 0.0
    legend = colouring.legend(items) if len(items) else None
    if subtitle is None:
        subtitle = f"{view.describe()}; {what}"
    image = compose(drawing, frame, view, legend, title or view.describe(), subtitle)
    return Picture(image=image, frame=frame, view=view, coverage=coverage)
