"""Generate a site: N pavilion-like buildings scanned in one survey, streamed to disk, with
the truth of every building.

Layout under ``out`` (``twin sample --buildings N --out DIR``)::

    site/site.json                          plots, footprints, stations (twin.sample.sites.record)
    site/b01/survey-2024/b01-S1.laz ...     one file per station, as the scanner wrote it
    site/b01/truth/b01-2024.ply             the building's true geometry (its local frame)
    site/b01/truth/ground_truth.json        its stations' true poses, element regions (twin.sample.truth)
    site/b01/layers.yaml                    its layers (twin.sample.layers, sides named as they face)
    site/b02/...

Every station is scanned against the whole site (a neighbour in range is in its scan,
and hides what stands behind it) and written batch by batch as it is simulated: one batch
of rays in memory at a time, one station at a time, whatever N and the point count. The
control station is b01-S1 (UTM zone 48N with its CRS, as the sample's S1); every other
station writes its own scanner frame. Points are shared out in proportion to each
building's surface (all but the courtyard), so the density is the same on every building
and the surface grows with the points. The same arguments give byte-identical files.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from twin import __version__
from twin.sample.generate import (
    DEFAULT_POINTS_PER_STATION,
    DEFAULT_SEED,
    DEFAULT_STATIONS,
    LAS_FORMAT,
    REGION_MARGIN,
    SURVEYS,
    Placement,
    element_truths,
    placed_on_grid,
    plan_stations,
    station_truth,
    sun_direction,
    write_station,
)
from twin.sample.geometry import LabelledMesh, SiteSpec, build_pavilion
from twin.sample.layers import LAYERS_FILE, pavilion_layers, write_layers
from twin.sample.scanner import BATCH_RAYS, MeshScene, ScannerModel
from twin.sample.sites.place import joined, placed, turn_words, turned_strings
from twin.sample.sites.plan import BuildingPlan, plan_site
from twin.sample.sites.record import SITE_FILE, Rect, Site, SiteBuilding, SiteStation, SiteSurvey, write_site
from twin.sample.truth import Generator, GroundTruth, Station, Structure, Survey, write_truth, write_truth_mesh

DATASET = "site"
SURVEY = SURVEYS[0]  # one campaign: the sample's first
MAX_STATIONS = 12  # round one building, as the pavilion takes


def framed_area(mesh: LabelledMesh) -> float:
    """The surface of everything but the courtyard (m²): what a building's share of the
    points is sampled from."""
    v = mesh.vertices[mesh.triangles]
    area = np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1) / 2
    paved = [i for i, e in enumerate(mesh.elements) if e.kind == "courtyard"]
    return float(area[~np.isin(mesh.element_index, paved)].sum())


def shares(areas: list[float], stations: int, points: int | None) -> list[int]:
    """Points per station of each building: ``points`` in all in proportion to the areas,
    or by default the sample's density (its stations' points over building 1's area)."""
    total = sum(areas)
    points = points if points is not None else round(stations * DEFAULT_POINTS_PER_STATION * total / areas[0])
    return [max(100, round(points * a / total / stations)) for a in areas]


def _clear_stale(root: Path, keep: set[str]) -> None:
    """Remove what an earlier run left: station files, and buildings this site has no more."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.is_dir() and re.fullmatch(r"b\d+", folder.name):
            if folder.name not in keep and (folder / "truth").is_dir():
                shutil.rmtree(folder)
            else:
                for stale in folder.glob(f"{SURVEY.id}/*.laz"):
                    stale.unlink()


def _building_truth(plan: BuildingPlan, local: LabelledMesh, stations: list[Station], points_per_station: int,
                    seed: int, model: ScannerModel, command: str) -> tuple[GroundTruth, dict]:
    """The building's truth (sides named as they face) and its layer file's content."""
    origin = plan.origin_utm
    truth = GroundTruth(
        structure=Structure(
            id=plan.id,
            name=f"Synthetic heritage pavilion {plan.id} of a generated site",
            description=(
                "The sample pavilion (a hall in the spirit of Thai Hoa Palace, Hue) stretched by "
                f"{plan.scale[0]:g} x {plan.scale[1]:g} x {plan.scale[2]:g} along its length, depth and height and "
                f"turned {90 * plan.turns} degrees counter-clockwise, in its own paved courtyard: a stone platform "
                "with a deep front terrace (south) and two flights of steps, a walled hall inside a veranda of sixteen "
                "timber columns, a two-tier hipped roof, a west annex, a stele, a bronze urn and ten potted shrubs."
            ),
        ),
        **placed_on_grid(plan.spec.epsg, origin),
        surveys=[Survey(id=SURVEY.id, date=SURVEY.date.isoformat(), mesh=f"truth/{plan.id}-{SURVEY.year}.ply",
                        deformations=[], sun_azimuth_deg=SURVEY.sun_azimuth_deg,
                        sun_elevation_deg=SURVEY.sun_elevation_deg, stations=stations)],
        deformations=[],
        elements=element_truths([local], origin),
        generator=Generator(package="twin.sample.sites", version=__version__, seed=seed,
                            points_per_station=points_per_station, stations=len(stations), surveys=1, full_dome=False,
                            region_margin_m=REGION_MARGIN, las=dict(LAS_FORMAT), scanner=model.as_dict(),
                            command=command),
    )  # fmt: skip
    layers = turned_strings(pavilion_layers(truth), plan.turns)  # the pavilion's groups name its unturned sides
    turned = truth.model_copy(update={
        "structure": truth.structure.model_copy(update={"description": turn_words(truth.structure.description,
                                                                                  plan.turns)}),
        "elements": [e.model_copy(update={"id": turn_words(e.id, plan.turns), "label": turn_words(e.label, plan.turns)})
                     for e in truth.elements],
    })  # fmt: skip
    return turned, layers


def _plan_rect(points: np.ndarray) -> Rect:
    return Rect(min=tuple(float(x) for x in points[:, :2].min(axis=0)),
                max=tuple(float(x) for x in points[:, :2].max(axis=0)))  # fmt: skip


def generate_site(
    out: str | os.PathLike[str],
    *,
    buildings: int,
    stations: int = DEFAULT_STATIONS,
    points: int | None = None,
    seed: int = DEFAULT_SEED,
    model: ScannerModel | None = None,
    progress: Callable[[str], None] | None = None,
    batch_rays: int = BATCH_RAYS,
) -> Site:
    """Write a site of ``buildings`` buildings under ``out/site`` and return its record.

    ``points``: about how many points in all (default: the sample's density, about
    560,000 per pavilion-sized building with four stations); ``batch_rays``: rays
    simulated (and points written) at a time, which bounds the memory.
    """
    if buildings < 2:
        raise ValueError(f"a site has at least two buildings (one is the sample pavilion), not {buildings}")
    if not 1 <= stations <= MAX_STATIONS:
        raise ValueError(f"stations per building must be 1..{MAX_STATIONS}, got {stations}")
    if points is not None and points < 100 * stations * buildings:
        raise ValueError(f"points must be at least 100 a station ({100 * stations * buildings:,} here), not {points:,}")
    model = model or ScannerModel()
    say = progress or (lambda _msg: None)
    site_origin = np.asarray(SiteSpec().origin_utm, dtype=np.float64)
    root = Path(out) / DATASET
    plans = plan_site(buildings, seed)
    own = [build_pavilion(p.spec) for p in plans]  # each in its own frame
    local = [placed(m, p.turns) for m, p in zip(own, plans, strict=True)]  # turned: its truth's frame
    scene = MeshScene(joined([placed(m, 0, (*p.centre, 0.0)) for m, p in zip(local, plans, strict=True)],
                             [p.id for p in plans]))  # fmt: skip
    per_station = shares([framed_area(m) for m in own], stations, points)
    total = sum(per_station) * stations
    command = (f"twin sample --buildings {buildings} --stations {stations} --points {points or total} --seed {seed} "
               f"--out {Path(out).as_posix()}")
    _clear_stale(root, {p.id for p in plans})
    sun = sun_direction(SURVEY.sun_azimuth_deg, SURVEY.sun_elevation_deg)

    records = []
    for b, (plan, mesh_own, mesh_local, pps) in enumerate(zip(plans, own, local, per_station, strict=True)):
        folder = root / plan.id
        (folder / SURVEY.id).mkdir(parents=True, exist_ok=True)
        (folder / "truth").mkdir(parents=True, exist_ok=True)
        placement = Placement(frame=plan.frame, mesh=mesh_own, stream=(b,), key_offset=100_000 * b,
                              prefix=f"{plan.id}-", first=b * stations)  # fmt: skip
        truths = []
        planned = plan_stations(scene, plan.spec, stations, 0, SURVEY, seed, pps, model, False, placement)
        for k, sp in enumerate(planned):
            control = b == 0 and k == 0
            rel = f"{SURVEY.id}/{sp.setup.name}.laz"
            count, outliers, digest = write_station(
                folder / rel, scene, sp, control=control, origin_utm=site_origin, epsg=plan.spec.epsg,
                date=SURVEY.date, seed=seed, sun=sun, model=model, number=b * stations + k + 1, batch_rays=batch_rays,
            )  # fmt: skip
            truths.append(station_truth(sp, rel, digest, control, site_origin, count, outliers))
            say(f"{sp.setup.name}: {count:,} points ({outliers:,} outliers), step {sp.setup.step_deg:.4f}°")
        truth, layers = _building_truth(plan, mesh_local, truths, pps, seed, model, command)
        write_truth_mesh(
            folder / truth.surveys[0].mesh, mesh_local.vertices, mesh_local.triangles, mesh_local.element_index,
            origin_utm=plan.origin_utm, epsg=plan.spec.epsg, element_ids=[e.id for e in truth.elements],
            title=f"twin sample site: true geometry of building {plan.id} at {SURVEY.id} ({SURVEY.date.isoformat()})",
        )  # fmt: skip
        write_truth(truth, folder / "truth" / "ground_truth.json")
        truth._root = folder.resolve()
        write_layers(truth, folder / LAYERS_FILE, layers)
        paved = [i for i, e in enumerate(mesh_local.elements) if e.kind == "courtyard"]
        built = mesh_local.vertices[np.isin(mesh_local.vertex_element_index(), paved, invert=True)]
        (px0, px1), (py0, py1) = plan.plot
        records.append(SiteBuilding(
            id=plan.id, truth=f"{plan.id}/truth/ground_truth.json", origin_utm=tuple(float(x) for x in plan.origin_utm),
            quarter_turns=plan.turns, front_azimuth_deg=float((180.0 - 90.0 * plan.turns) % 360.0), scale=plan.scale,
            plot_utm=_plan_rect(np.array([[px0, py0], [px1, py1]]) + site_origin[:2]),
            footprint_utm=_plan_rect(built + plan.origin_utm),
            stations=[SiteStation(name=st.name, file=f"{plan.id}/{st.file}", point_count=st.point_count)
                      for st in truths],
        ))  # fmt: skip
    site = Site(
        **{k: v for k, v in placed_on_grid(SiteSpec().epsg, site_origin).items() if k != "origin_lonlat"},
        survey=SiteSurvey(id=SURVEY.id, date=SURVEY.date.isoformat()),
        buildings=records,
        generator={"package": "twin.sample.sites", "version": __version__, "seed": seed, "buildings": buildings,
                   "stations": stations, "points": points, "scanner": model.as_dict(), "command": command},
    )  # fmt: skip
    write_site(site, root / SITE_FILE)
    site._root = root.resolve()
    return site
