"""Solids the scene builders need beyond twin.sample.geometry: terrain, prisms, hipped
roofs, an arched passage, ellipsoids and capsules. Each returns (vertices, triangles),
outward normals, counter-clockwise winding; faces buried in the ground are left out."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from twin.sample.geometry import facing_toward, grid_face, grid_lines, merge_parts, quad

Mesh = tuple[np.ndarray, np.ndarray]
Ground = Callable[[np.ndarray, np.ndarray], np.ndarray]


def ground_function(rng: np.random.Generator, slope: float, bumps: float, wavelength: float = 18.0) -> Ground:
    """z(x, y): a plane falling ``slope`` (rise over run) toward a random azimuth, plus a
    few smooth waves of amplitude up to ``bumps``; z(0, 0) = 0."""
    a = rng.uniform(0.0, 2 * np.pi)
    fall = slope * np.array([np.cos(a), np.sin(a)])
    k = rng.normal(size=(4, 2))
    k *= (2 * np.pi / (wavelength * rng.uniform(0.6, 1.6, 4)) / np.linalg.norm(k, axis=1))[:, None]
    phase = rng.uniform(0, 2 * np.pi, 4)
    amp = bumps * rng.uniform(0.3, 1.0, 4) / 2

    def z(x, y):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        wave = sum(amp[i] * (np.sin(k[i, 0] * x + k[i, 1] * y + phase[i]) - np.sin(phase[i])) for i in range(4))
        return -(fall[0] * x + fall[1] * y) + wave

    return z


def terrain(ground: Ground, x: tuple[float, float], y: tuple[float, float], cell: float) -> Mesh:
    v, t = grid_face((x[0], y[0], 0.0), (1, 0, 0), (0, 1, 0), grid_lines(0, x[1] - x[0], cell),
                     grid_lines(0, y[1] - y[0], cell), (0, 0, 1))  # fmt: skip
    v[:, 2] = ground(v[:, 0], v[:, 1])
    return v, t


def prism(polygon: np.ndarray, z0: float, z1: float, top: bool = True, bottom: bool = False) -> Mesh:
    """A vertical extrusion of a convex counter-clockwise polygon (n, 2)."""
    n = len(polygon)
    v = np.concatenate([np.c_[polygon, np.full(n, z0)], np.c_[polygon, np.full(n, z1)]])
    i = np.arange(n)
    j = (i + 1) % n
    tris = [np.stack([i, j, j + n], 1), np.stack([i, j + n, i + n], 1)]
    fan = np.stack([np.zeros(n - 2, int), np.arange(1, n - 1), np.arange(2, n)], 1)
    if top:
        tris.append(fan + n)
    if bottom:
        tris.append(fan[:, ::-1])
    return v, np.concatenate(tris)


def regular_polygon(cx: float, cy: float, r: float, sides: int, angle: float) -> np.ndarray:
    a = angle + 2 * np.pi * np.arange(sides) / sides
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1)


def pyramid(polygon: np.ndarray, z0: float, apex: float) -> Mesh:
    """Slopes from a convex polygon at z0 up to an apex over its centroid, and a ceiling under it."""
    n = len(polygon)
    c = polygon.mean(axis=0)
    v = np.vstack([np.c_[polygon, np.full(n, z0)], [[c[0], c[1], apex]]])
    i = np.arange(n)
    slopes = np.stack([i, (i + 1) % n, np.full(n, n)], 1)
    ceiling = np.stack([np.zeros(n - 2, int), np.arange(2, n), np.arange(1, n - 1)], 1)
    return v, np.concatenate([slopes, ceiling])


def hipped_roof(x: tuple[float, float], y: tuple[float, float], eave: float, ridge: float, ridge_inset: float) -> Mesh:
    """Four slopes from an eaves rectangle to a ridge along x (inset from each end), with a
    flat ceiling under the eaves."""
    (x0, x1), (y0, y1) = x, y
    ym = (y0 + y1) / 2
    r0, r1 = (x0 + ridge_inset, ym, ridge), (x1 - ridge_inset, ym, ridge)
    c = [(x0, y0, eave), (x1, y0, eave), (x1, y1, eave), (x0, y1, eave)]
    return merge_parts([
        quad(c[0], c[1], r1, r0),
        (np.array([c[1], c[2], r1]), np.array([[0, 1, 2]])),
        quad(c[2], c[3], r0, r1),
        (np.array([c[3], c[0], r0]), np.array([[0, 1, 2]])),
        quad(c[0], c[3], c[2], c[1]),  # ceiling, facing down
    ])  # fmt: skip


def arch_profile(x0: float, x1: float, spring: float, segments: int) -> np.ndarray:
    """The intrados of a semicircular arch as a polyline (m, 2) of (x, z), west to east."""
    r = (x1 - x0) / 2
    a = np.linspace(np.pi, 0.0, segments + 1)
    return np.stack([(x0 + x1) / 2 + r * np.cos(a), spring + r * np.sin(a)], 1)


def arched_block(x: tuple[float, float], y: tuple[float, float], z: tuple[float, float], arch: np.ndarray) -> Mesh:
    """A masonry block with a passage along y under an arch (a polygonal barrel vault).

    ``arch`` is the intrados polyline (x, z) from ``arch_profile``; the jambs run from
    the block's bottom (below ground) to the springing. Faces: west, east and top, the
    two arched fronts, the jambs and the vault.
    """
    (x0, x1), (y0, y1), (zb, zt) = x, y, z
    ax0, ax1 = arch[0, 0], arch[-1, 0]
    parts = [
        quad((x0, y0, zb), (x0, y0, zt), (x0, y1, zt), (x0, y1, zb)),  # west
        quad((x1, y0, zb), (x1, y1, zb), (x1, y1, zt), (x1, y0, zt)),  # east
        quad((x0, y0, zt), (x1, y0, zt), (x1, y1, zt), (x0, y1, zt)),  # top
    ]
    for yf, sign in ((y0, -1.0), (y1, 1.0)):  # fronts: beside the opening, then one strip per arch segment
        strips = [quad((x0, yf, zb), (ax0, yf, zb), (ax0, yf, zt), (x0, yf, zt)),
                  quad((ax1, yf, zb), (x1, yf, zb), (x1, yf, zt), (ax1, yf, zt))]  # fmt: skip
        for (xa, za), (xb, zc) in zip(arch[:-1], arch[1:], strict=True):
            strips.append(quad((xa, yf, za), (xb, yf, zc), (xb, yf, zt), (xa, yf, zt)))
        v, t = merge_parts(strips)
        parts.append(_face_toward((v, t), np.array([0.0, sign, 0.0])))
    parts.append(
        quad((ax0, y0, zb), (ax0, y1, zb), (ax0, y1, arch[0, 1]), (ax0, y0, arch[0, 1]))
    )  # west jamb, facing +x
    parts.append(quad((ax1, y0, zb), (ax1, y0, arch[-1, 1]), (ax1, y1, arch[-1, 1]), (ax1, y1, zb)))  # east jamb
    for (xa, za), (xb, zc) in zip(arch[:-1], arch[1:], strict=True):  # vault, facing the passage
        v, t = quad((xa, y0, za), (xb, y0, zc), (xb, y1, zc), (xa, y1, za))
        centre = np.array([(ax0 + ax1) / 2, 0.0, arch[0, 1]])
        mid = v.mean(axis=0)
        parts.append(_face_toward((v, t), np.array([centre[0] - mid[0], 0.0, centre[2] - mid[2]])))
    return merge_parts(parts)


_face_toward = facing_toward  # the pavilion's: flip the triangles whose normal points away from ``want``


def ellipsoid(centre, radii, rotation: np.ndarray, rng: np.random.Generator | None = None,
              wobble: float = 0.0, subdivisions: int = 3) -> Mesh:  # fmt: skip
    """An icosphere scaled to ``radii``, turned by ``rotation``; ``wobble`` adds a few
    smooth random waves to the radius (relative amplitude) so no two are alike."""
    import trimesh  # noqa: PLC0415

    ico = trimesh.creation.icosphere(subdivisions=subdivisions)
    d = np.asarray(ico.vertices, dtype=np.float64)
    scale = np.ones(len(d))
    if rng is not None and wobble > 0:
        for _ in range(4):
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            scale += (
                wobble
                * rng.uniform(0.3, 1.0)
                * np.sin(rng.uniform(1.0, 3.0) * np.pi * (d @ axis) + rng.uniform(0, 6.3))
            )
    v = (d * scale[:, None] * np.asarray(radii)) @ rotation.T + np.asarray(centre)
    return v, np.asarray(ico.faces, dtype=np.int64)


def capsule(a, b, r0: float, r1: float, sections: int = 24, rings: int = 6) -> Mesh:
    """A tapered limb from point a (radius r0) to point b (radius r1), closed by
    hemispherical ends."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    axis = b - a
    length = np.linalg.norm(axis)
    w = axis / length
    u = np.cross(w, [1.0, 0.0, 0.0] if abs(w[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(w, u)
    # profile: (along the axis, radius) from the pole at a to the pole at b
    th = np.linspace(0, np.pi / 2, rings + 1)
    start = np.stack([-r0 * np.cos(th), r0 * np.sin(th)], 1)
    end = np.stack([length + r1 * np.sin(th), r1 * np.cos(th)], 1)
    prof = np.concatenate([start, end])
    phi = 2 * np.pi * np.arange(sections) / sections
    ring_dirs = np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v
    verts = a + prof[:, :1, None] * w + prof[:, 1:, None] * ring_dirs[None]  # (P, S, 3)
    p = len(prof)
    idx = np.arange(p * sections).reshape(p, sections)
    i0, i1 = idx[:-1], idx[1:]
    j0, j1 = np.roll(i0, -1, axis=1), np.roll(i1, -1, axis=1)
    tris = np.concatenate([np.stack([i0, j0, j1], -1).reshape(-1, 3), np.stack([i0, j1, i1], -1).reshape(-1, 3)])
    v_all = verts.reshape(-1, 3)
    e1, e2 = v_all[tris[:, 1]] - v_all[tris[:, 0]], v_all[tris[:, 2]] - v_all[tris[:, 0]]
    keep = np.linalg.norm(np.cross(e1, e2), axis=1) > 1e-14  # the poles' degenerate triangles
    tris = tris[keep]
    return _face_outward((v_all, tris), a, b)


def _face_outward(mesh: Mesh, a: np.ndarray, b: np.ndarray) -> Mesh:
    """Wind every triangle so its normal points away from the segment a-b."""
    v, t = mesh
    t = t.copy()
    c = v[t].mean(axis=1)
    w = b - a
    s = np.clip(((c - a) @ w) / (w @ w), 0.0, 1.0)
    out = c - (a + s[:, None] * w)
    n = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    flip = np.einsum("ij,ij->i", n, out) < 0
    t[flip] = t[flip][:, ::-1]
    return v, t


def rotation(axis, angle: float) -> np.ndarray:
    k = np.asarray(axis, dtype=np.float64)
    k = k / np.linalg.norm(k)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx
