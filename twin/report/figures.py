"""The report's pictures: elevations (and a horizontal section 1.5 m above the lowest
point, an architect's plan cut) coloured by phase and by material, and change maps.

Elevations come from the survey's finest mesh where the model has one (faces labelled by
their centroid), else from its cloud. Change maps show the comparison's core points
coloured by the M3C2 distance on a diverging scale, one scale for every map; core points
whose change is not significant are grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.render import RGB, Categories, Scalar, Uniform, elevation, render_mesh, render_points, section_at_height
from twin.render.colours import nice_ceiling

VIEWS = ("front", "back", "left", "right", "plan")
TARGET_PIXELS = 900  # the longest side of a drawing, about
SECTION_HEIGHT = 1.5  # a horizontal section this far above the model's lowest point (a plan cut)
SECTION_THICKNESS = 0.1


@dataclass
class Figure:
    title: str
    caption: str
    png: bytes


def auto_ppm(world_min: np.ndarray, world_max: np.ndarray, target: int = TARGET_PIXELS) -> float:
    """A round scale (1, 2, 2.5, 5 x 10^k px/m) that draws the longest side in about
    ``target`` pixels or fewer."""
    extent = float(np.max(np.asarray(world_max) - np.asarray(world_min)))
    if not (math.isfinite(extent) and extent > 0):
        return 100.0
    raw = target / extent
    k = math.floor(math.log10(raw))
    best = 10.0**k
    for m in (1.0, 2.0, 2.5, 5.0):
        if m * 10**k <= raw:
            best = m * 10**k
    return best


class Geometry:
    """A model's mesh (preferred) or cloud, read once for many pictures."""

    def __init__(self, model):
        from twin.compare.inputs import read_cloud, read_mesh  # noqa: PLC0415

        self.model = model
        self.mesh = None
        self.cloud = None
        mesh_path = model.finest_mesh()
        if mesh_path is not None:
            self.mesh = read_mesh(mesh_path)
            self.source = f"mesh {mesh_path.name}, {self.mesh.n_faces:,} faces"
            world = self.mesh.vertices + self.mesh.origin
        else:
            self.cloud = read_cloud(model.require_cloud())
            self.source = f"cloud {model.require_cloud().name}, {len(self.cloud):,} points"
            world = self.cloud.world_xyz
        self.world_min = np.array([world[:, k].min() for k in range(3)])
        self.world_max = np.array([world[:, k].max() for k in range(3)])

    def labels(self, compiled) -> np.ndarray:
        from twin.compare.inputs import read_cloud  # noqa: PLC0415
        from twin.ops.labelling import label_faces, label_points  # noqa: PLC0415

        if self.mesh is not None:
            cloud = read_cloud(self.model.cloud) if self.model.cloud is not None else None
            return label_faces(compiled, self.mesh, cloud=cloud)
        return label_points(compiled, self.cloud.xyz, self.cloud.origin)

    def render(self, view_name: str, ppm: float, colouring, title: str):
        return self.render_view(elevation(view_name), ppm, colouring, title)

    def render_view(self, view, ppm: float, colouring, title: str):
        bounds = np.array([self.world_min, self.world_max])
        if self.mesh is not None:
            return render_mesh(self.mesh.vertices, self.mesh.faces, view, ppm, colouring, origin=self.mesh.origin,
                               bounds=bounds, title=title)
        attrs = self.cloud.attrs
        normals = None
        if all(f"normal_{a}" in attrs for a in "xyz"):
            normals = np.stack([attrs["normal_x"], attrs["normal_y"], attrs["normal_z"]], axis=1)
        return render_points(self.cloud.xyz, view, ppm, colouring, origin=self.cloud.origin, bounds=bounds,
                             normals=normals, title=title)


def layer_elevations(model, layers, ppm: float | None = None, views=VIEWS) -> dict[str, list[Figure]]:
    """Elevations by phase and by material (or, without layers, by the scanner's colour)."""
    geometry = Geometry(model)
    ppm = ppm or auto_ppm(geometry.world_min, geometry.world_max)
    out: dict[str, list[Figure]] = {}
    if layers is None:
        colouring = Uniform((170, 170, 170))
        if geometry.cloud is not None and "rgb" in geometry.cloud.attrs:
            colouring = RGB(geometry.cloud.attrs["rgb"])
        out["model"] = [_figure(geometry.render(v, ppm, colouring, f"{v}"), geometry.source) for v in views]
        return out
    from twin.ops.labelling import compile_layers  # noqa: PLC0415

    compiled = compile_layers(layers)
    element = geometry.labels(compiled)
    phase_names = [f"{p.id} ({p.date})" for p in layers.phases]
    material_names = [m.label for m in layers.materials]
    section_z = float(geometry.world_min[2]) + SECTION_HEIGHT
    for by, colouring in (
        ("phase", Categories(compiled.phase_of(element), phase_names, "phase", none_label="no phase")),
        ("material", Categories(compiled.material_of(element), material_names, "material",
                                none_label="no material")),
    ):
        out[by] = [_figure(geometry.render(v, ppm, colouring, f"{v} by {by}"), geometry.source) for v in views]
        if geometry.world_max[2] > section_z:
            section = geometry.render_view(section_at_height(section_z, SECTION_THICKNESS), ppm, colouring,
                                           f"section by {by}")
            out[by].append(_figure(section, geometry.source))
    return out


def _figure(picture, source: str) -> Figure:
    view = picture.view
    caption = f"{view.describe()}, {picture.frame.ppm:g} px/m; from the {source}"
    return Figure(title=view.describe(), caption=caption, png=picture.png_bytes())


def change_limit(distance: np.ndarray, significant: np.ndarray) -> float:
    """The change colour scale (shared by the maps and the 3D view): the 98th percentile of
    the significant |distances|, rounded up to a round number."""
    shown = np.abs(np.asarray(distance, dtype=np.float64)[np.asarray(significant, dtype=bool)])
    shown = shown[np.isfinite(shown)]
    return nice_ceiling(float(np.percentile(shown, 98))) if len(shown) else 0.01


def change_maps(folder: Path, summary: dict, ppm: float | None = None, views=VIEWS) -> list[Figure]:
    """The comparison's core points coloured by change (significant only), one shared scale."""
    from twin.compare.inputs import read_cloud  # noqa: PLC0415

    cloud = read_cloud(Path(folder) / "core_points.laz")
    distance = np.asarray(cloud.attrs["distance"], dtype=np.float64)
    significant = np.asarray(cloud.attrs["significant"]) > 0
    world = cloud.world_xyz
    lo = np.array([world[:, k].min() for k in range(3)])
    hi = np.array([world[:, k].max() for k in range(3)])
    ppm = ppm or auto_ppm(lo, hi)
    limit = change_limit(distance, significant)
    method = summary.get("method", "m3c2")
    title = "M3C2 distance" if method == "m3c2" else f"{method} distance"
    colouring = Scalar(distance, limit=limit, mask=significant, title=f"{title} (mm)",
                       masked_label="not significant" if method == "m3c2" else "below threshold")
    pictures = []
    for v in views:
        picture = render_points(cloud.xyz, elevation(v), ppm, colouring, origin=cloud.origin, bounds=np.array([lo, hi]),
                                title=f"change, {v}")
        pictures.append(Figure(title=picture.view.describe(),
                               caption=f"{picture.view.describe()}, {ppm:g} px/m; {len(cloud):,} core points, "
                                       f"colour scale ±{1000 * limit:g} mm",
                               png=picture.png_bytes()))
    return pictures
