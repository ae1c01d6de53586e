"""A terrestrial laser scanner, simulated by ray casting against a labelled mesh.

The instrument sweeps a regular angular grid (azimuth columns, each an elevation sweep
from low to high) over a scan window, with one step in both directions. Each ray that
hits the scene within range gives a point in the instrument's own frame (origin at the
optical centre, z along the instrument's vertical axis). What a real scanner adds is
simulated too:

- range noise: Gaussian, sigma growing with range and with the angle of incidence;
- lost returns at grazing incidence (with a probability rising as the angle grows);
- outliers: a small share of returns moved along their ray, before or behind the
  surface (dust, multipath), and mixed pixels at range edges (a return that averages
  the foreground and background ranges);
- colour from the material, a simple pattern (paving bricks, ashlar joints, tile
  rows, door planks), sun shading and a little noise (no cast shadows);
- intensity from the material's reflectance, the incidence angle and the range, as a
  12-bit value scaled to 16 bits.

The scanner records nothing else per point: the element a point belongs to is not in
its files. The simulation still returns it (``ScanChunk.element``) for tests.

Randomness comes from ``numpy.random.default_rng([seed, station_key, batch])`` so a
scan is the same for the same seed, station and batch size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from twin._deps import open3d
from twin.sample.geometry import MATERIALS, LabelledMesh

BATCH_RAYS = 1 << 19  # rays cast per batch: bounds memory for any point count


@dataclass(frozen=True)
class ScannerModel:
    """Error model and limits of the instrument (a phase-based TLS of the 2020s)."""

    min_range: float = 0.6
    max_range: float = 60.0
    range_sigma: float = 0.0020  # m, at zero range and normal incidence
    range_sigma_per_m: float = 0.00003  # added per metre of range
    incidence_sigma_gain: float = 0.6  # sigma *= 1 + gain·(1 - cos i)
    drop_cos_all: float = 0.06  # returns with cos(incidence) below this are lost
    drop_cos_none: float = 0.20  # ... above this all kept, linear in between
    outlier_fraction: float = 0.003  # returns moved along their ray
    mixed_edge: float = 0.10  # a neighbour this far off the plane of a return marks an edge (m)
    mixed_probability: float = 0.08  # chance that a ray on such an edge is a mixed pixel
    rgb_noise: float = 2.0  # 8-bit levels, luminance (a quarter of it per channel)
    intensity_noise: float = 0.02  # relative
    scan_seconds: float = 240.0  # duration of one station's sweep

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class StationSetup:
    """Where the instrument stands and what it sweeps.

    ``rotation`` maps instrument-frame vectors to the site frame; ``position`` is the
    optical centre in the site frame. Windows are in the instrument frame, degrees:
    azimuth counter-clockwise from the instrument's x axis, elevation from its xy plane.
    """

    name: str
    position: np.ndarray
    rotation: np.ndarray
    azimuth_window: tuple[float, float]
    elevation_window: tuple[float, float]
    step_deg: float
    key: int  # distinguishes the station's random stream

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(azimuth columns, elevation rows) of the angular grid."""
        (a0, a1), (e0, e1) = self.azimuth_window, self.elevation_window
        return int(np.floor((a1 - a0) / self.step_deg + 1e-9)) + 1, int(np.floor((e1 - e0) / self.step_deg + 1e-9)) + 1

    def pose(self) -> np.ndarray:
        """4x4 instrument frame -> site frame."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.position
        return m


@dataclass
class ScanChunk:
    """Points of one batch of rays, in scan order."""

    xyz: np.ndarray  # (n, 3) float64, instrument frame
    rgb: np.ndarray  # (n, 3) uint8
    intensity: np.ndarray  # (n,) uint16
    time: np.ndarray  # (n,) float64, seconds since the start of the sweep
    element: np.ndarray  # (n,) int32, element index of the surface the ray hit
    outlier: np.ndarray  # (n,) bool, moved along the ray or mixed


class MeshScene:
    """A labelled mesh ready for ray casting, with per-triangle normals and materials."""

    def __init__(self, mesh: LabelledMesh) -> None:
        o3d = open3d()
        self.mesh = mesh
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(mesh.vertices, dtype=np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(mesh.triangles, dtype=np.uint32)),
        )
        self.normals = mesh.triangle_normals()
        names = list(MATERIALS)
        self.material = mesh.triangle_material()
        self.base_rgb = np.array([MATERIALS[n].rgb for n in names], dtype=np.float64)
        self.reflectance = np.array([MATERIALS[n].reflectance for n in names])
        self.pattern = [MATERIALS[n].pattern for n in names]

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Range (inf on a miss) and triangle id (-1 on a miss) of each ray."""
        o3d = open3d()
        rays = np.concatenate([np.broadcast_to(origins, directions.shape), directions], axis=1).astype(np.float32)
        ans = self.scene.cast_rays(o3d.core.Tensor(rays))
        t = ans["t_hit"].numpy().astype(np.float64)
        prim = ans["primitive_ids"].numpy().astype(np.int64)
        miss = ~np.isfinite(t)
        prim[miss] = -1
        return t, prim


# --------------------------------------------------------------------------- planning


def directions(az_deg: np.ndarray, el_deg: np.ndarray) -> np.ndarray:
    a, e = np.radians(az_deg), np.radians(el_deg)
    return np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=-1)


def window_for(
    position: np.ndarray,
    rotation: np.ndarray,
    targets: np.ndarray,
    *,
    margin_deg: float = 3.0,
    below_deg: float = 5.0,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The scan window that covers ``targets`` (points of the building, site frame) seen
    from a station, plus ``margin_deg`` around them and ``below_deg`` more of the
    ground in front.

    What an operator does when a full dome would spend most points on the ground and
    the sky. Windows are in the instrument frame, degrees.
    """
    v = (np.asarray(targets, dtype=np.float64) - position) @ rotation  # to the instrument frame
    az = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
    el = np.degrees(np.arctan2(v[:, 2], np.hypot(v[:, 0], v[:, 1])))
    cv = v.mean(axis=0)
    az_c = np.degrees(np.arctan2(cv[1], cv[0]))
    rel = (az - az_c + 180.0) % 360.0 - 180.0
    span = rel.max() - rel.min() + 2 * margin_deg
    if span >= 300.0:
        a0, a1 = 0.0, 360.0
    else:
        a0 = float((az_c + rel.min() - margin_deg) % 360.0)
        a1 = a0 + float(span)
    e0 = max(-60.0, float(el.min()) - margin_deg - below_deg)
    e1 = min(90.0, float(el.max()) + margin_deg)
    return (round(a0, 6), round(a1, 6)), (round(e0, 6), round(e1, 6))


def step_for_points(
    scene: MeshScene,
    position: np.ndarray,
    rotation: np.ndarray,
    azimuth_window: tuple[float, float],
    elevation_window: tuple[float, float],
    points: int,
    model: ScannerModel,
    pilot_step: float = 0.25,
) -> float:
    """The angular step that gives about ``points`` returns in the window.

    A pilot sweep at ``pilot_step`` measures the share of rays that return (in range,
    not lost at grazing incidence); the step follows from the window's area.
    """
    (a0, a1), (e0, e1) = azimuth_window, elevation_window
    az = np.arange(a0, a1 + 1e-9, pilot_step)
    el = np.arange(e0, e1 + 1e-9, pilot_step)
    aa, ee = np.meshgrid(az, el, indexing="ij")
    d_local = directions(aa.ravel(), ee.ravel())
    d = d_local @ rotation.T
    t, prim = scene.cast(position, d)
    ok = (prim >= 0) & (t >= model.min_range) & (t <= model.max_range)
    cos_i = np.abs(np.einsum("ij,ij->i", scene.normals[prim[ok]], d[ok]))
    keep = np.clip((cos_i - model.drop_cos_all) / (model.drop_cos_none - model.drop_cos_all), 0.0, 1.0)
    share = max(float(keep.sum()) / len(t), 1e-6)
    rays = points / share
    area = (a1 - a0) * (e1 - e0)
    return float(np.sqrt(area / rays))


# --------------------------------------------------------------------------- appearance


def _hash01(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """A deterministic pseudo-random value in [0, 1) per integer cell."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF) / 65536.0


def _pattern(kind: str, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Brightness factor (about 1) of a material pattern at site-frame points p."""
    horizontal = np.abs(n[:, 2]) > 0.7
    # in-plane coordinates: (x, y) on horizontal faces, (along, z) on the others
    along = np.where(np.abs(n[:, 1]) > np.abs(n[:, 0]), p[:, 0], p[:, 1])
    u = np.where(horizontal, p[:, 0], along)
    v = np.where(horizontal, p[:, 1], p[:, 2])
    if kind == "paving":  # bricks 0.4 x 0.2 m in running bond, mortar joints
        row = np.floor(v / 0.2)
        uu = u + 0.2 * (row % 2)
        col = np.floor(uu / 0.4)
        joint = (np.abs(uu - np.round(uu / 0.4) * 0.4) < 0.008) | (np.abs(v - np.round(v / 0.2) * 0.2) < 0.008)
        return np.where(joint, 0.72, 0.9 + 0.2 * _hash01(col, row))
    if kind == "ashlar":  # blocks 0.6 x 0.3 m
        row = np.floor(v / 0.3)
        uu = u + 0.3 * (row % 2)
        col = np.floor(uu / 0.6)
        joint = (np.abs(uu - np.round(uu / 0.6) * 0.6) < 0.006) | (np.abs(v - np.round(v / 0.3) * 0.3) < 0.006)
        return np.where(joint, 0.8, 0.92 + 0.16 * _hash01(col, row))
    if kind == "tiles":  # rows of tiles along the eaves, 0.22 m apart
        return 0.88 + 0.12 * np.cos(2 * np.pi * along / 0.22)
    if kind == "planks":  # vertical boards 0.12 m wide
        return np.where(np.abs(along - np.round(along / 0.12) * 0.12) < 0.004, 0.75, 1.0)
    return np.ones(len(p))


def appearance(
    scene: MeshScene,
    prim: np.ndarray,
    p_site: np.ndarray,
    d_site: np.ndarray,
    rng_range: np.ndarray,
    cos_i: np.ndarray,
    sun: np.ndarray,
    model: ScannerModel,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """RGB (uint8) and intensity (uint16) of returns on triangles ``prim``."""
    n = scene.normals[prim]
    n = n * -np.sign(np.einsum("ij,ij->i", n, d_site))[:, None]  # the side facing the scanner
    mat = scene.material[prim]
    factor = np.ones(len(prim))
    for m in np.unique(mat):
        sel = mat == m
        factor[sel] = _pattern(scene.pattern[m], p_site[sel], n[sel])
    shade = 0.55 + 0.45 * np.clip(n @ sun, 0.0, 1.0)
    # camera noise: mostly in luminance (shared by the channels), a little per channel
    noise = rng.normal(0.0, model.rgb_noise, (len(prim), 1)) + rng.normal(0.0, model.rgb_noise / 4, (len(prim), 3))
    rgb = scene.base_rgb[mat] * (factor * shade)[:, None] + noise
    rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    refl = scene.reflectance[mat] * (0.85 + 0.15 * factor)
    level = refl * (0.2 + 0.8 * cos_i) / np.sqrt(1.0 + (rng_range / 50.0) ** 2)
    level *= 1.0 + rng.normal(0.0, model.intensity_noise, len(prim))
    intensity = (np.clip(np.round(level * 4095.0), 0, 4095) * 16).astype(np.uint16)
    return rgb, intensity


# --------------------------------------------------------------------------- the sweep


def scan(
    scene: MeshScene,
    station: StationSetup,
    *,
    seed: int,
    sun: np.ndarray,
    model: ScannerModel | None = None,
    batch_rays: int = BATCH_RAYS,
) -> Iterator[ScanChunk]:
    """Sweep the station's grid and yield its returns batch by batch, in scan order."""
    model = model or ScannerModel()
    n_az, n_el = station.grid_shape
    (a0, _), (e0, _) = station.azimuth_window, station.elevation_window
    el = e0 + station.step_deg * np.arange(n_el)
    cols_per_batch = max(1, batch_rays // n_el)
    column_period = model.scan_seconds / n_az
    R, pos = station.rotation, station.position
    elements = scene.mesh.element_index
    for batch, c0 in enumerate(range(0, n_az, cols_per_batch)):
        rng = np.random.default_rng([seed, station.key, batch])
        cols = np.arange(c0, min(n_az, c0 + cols_per_batch))
        az = a0 + station.step_deg * cols
        aa, ee = np.meshgrid(az, el, indexing="ij")
        d_local = directions(aa.ravel(), ee.ravel())
        d_site = d_local @ R.T
        t, prim = scene.cast(pos, d_site)
        valid = (prim >= 0) & (t >= model.min_range) & (t <= model.max_range)
        t = np.where(valid, t, np.inf)

        # mixed pixels: a ray beside a range edge (its neighbour's return lies well off the
        # plane of its own surface) may return a blend of both ranges
        hit = pos + d_site * np.where(valid, t, 0.0)[:, None]
        n_hit = scene.normals[np.where(valid, prim, 0)]
        grid_t = t.reshape(len(cols), n_el)
        grid_p = hit.reshape(len(cols), n_el, 3)
        grid_n = n_hit.reshape(len(cols), n_el, 3)
        best = np.zeros_like(grid_t)
        for axis, shift in ((0, 1), (0, -1), (1, 1), (1, -1)):
            nb_t = np.roll(grid_t, shift, axis=axis)
            nb_p = np.roll(grid_p, shift, axis=axis)
            border = [slice(None)] * 2
            border[axis] = 0 if shift == 1 else -1
            nb_t[tuple(border)] = np.inf
            both = np.isfinite(nb_t) & np.isfinite(grid_t)
            off_plane = np.abs(np.einsum("ijk,ijk->ij", nb_p - grid_p, grid_n))
            jump = np.where(both & (off_plane > model.mixed_edge), np.where(both, nb_t, 0.0) - np.where(both, grid_t, 0.0), 0.0)
            best = np.where(np.abs(jump) > np.abs(best), jump, best)
        best = best.ravel()
        u = rng.random(len(t))
        w = rng.uniform(0.15, 0.85, len(t))
        mixed = valid & (best != 0.0) & (u < model.mixed_probability)

        cos_i = np.zeros(len(t))
        cos_i[valid] = np.abs(np.einsum("ij,ij->i", scene.normals[prim[valid]], d_site[valid]))
        p_keep = np.clip((cos_i - model.drop_cos_all) / (model.drop_cos_none - model.drop_cos_all), 0.0, 1.0)
        keep = valid & (rng.random(len(t)) < p_keep)

        t_true = t.copy()
        sigma = (model.range_sigma + model.range_sigma_per_m * np.where(valid, t, 0.0)) * (
            1.0 + model.incidence_sigma_gain * (1.0 - cos_i)
        )
        r = t + rng.normal(0.0, 1.0, len(t)) * sigma
        r = np.where(mixed, r + w * best, r)
        u = rng.random(len(t))
        before = keep & ~mixed & (u < model.outlier_fraction / 2)
        after = keep & ~mixed & (u >= model.outlier_fraction / 2) & (u < model.outlier_fraction)
        r = np.where(before, t * rng.uniform(0.1, 0.95, len(t)), r)
        r = np.where(after, t + rng.uniform(0.05, 2.0, len(t)), r)
        keep &= (r >= model.min_range) & (r <= model.max_range)

        idx = np.flatnonzero(keep)
        xyz = d_local[idx] * r[idx, None]
        p_true = pos + d_site[idx] * t_true[idx, None]
        rgb, intensity = appearance(scene, prim[idx], p_true, d_site[idx], t_true[idx], cos_i[idx], sun, model, rng)
        outlier = (mixed | before | after)[idx]
        intensity[outlier] = (intensity[outlier] * rng.uniform(0.2, 0.6, len(np.flatnonzero(outlier)))).astype(np.uint16) & 0xFFF0
        col_of, row_of = np.divmod(idx, n_el)
        time = (cols[col_of] + row_of / n_el) * column_period
        yield ScanChunk(xyz, rgb, intensity, time, elements[prim[idx]].astype(np.int32), outlier)
