"""Generate the sample dataset: scans of every station of every survey, the true meshes
and ``ground_truth.json``.

Layout under ``out`` (``python -m twin.sample --out sample_scans`` makes the committed
sample)::

    pavilion/survey-2024/S1.laz ... Sn.laz   one file per station, as the scanner wrote it
    pavilion/survey-2025/S1.laz ... Sn.laz   the second campaign, with the deformations
    pavilion/truth/pavilion-2024.ply          true geometry (local frame, element per face)
    pavilion/truth/pavilion-2025.ply
    pavilion/truth/ground_truth.json          see twin.sample.truth
    pavilion/layers.yaml                      elements, phases, materials (see twin.sample.layers)

The same arguments give byte-identical files. Memory stays bounded for any point count:
rays are cast and points written to LAZ one batch at a time.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import laspy
import numpy as np
import pyproj

from twin import __version__
from twin.catalog.store import file_digest
from twin.sample.deform import Bulge, Lean, apply_deformations, default_deformations
from twin.sample.geometry import MATERIALS, LabelledMesh, SiteSpec, build_pavilion
from twin.sample.layers import LAYERS_FILE, write_layers
from twin.sample.scanner import BATCH_RAYS, MeshScene, ScannerModel, StationSetup, scan, step_for_points, window_for
from twin.sample.truth import (
    CRS,
    Box,
    BulgeTruth,
    Element,
    Generator,
    GroundTruth,
    LeanTruth,
    Station,
    Structure,
    Survey,
    write_truth,
    write_truth_mesh,
)

DEFAULT_SEED = 1805  # the year Thai Hoa Palace was built
DEFAULT_POINTS_PER_STATION = 140_000
DEFAULT_STATIONS = 4
DATASET = "pavilion"
LAS_SCALE = 0.001  # 1 mm: quantisation error at most 0.5 mm
LAS_FORMAT = {"version": "1.4", "point_format": 7, "scale": LAS_SCALE, "compressor": "lazrs"}  # as the truth states it
REGION_MARGIN = 0.03  # m around every part's bounds
LOCAL_TZ = dt.timezone(dt.timedelta(hours=7))  # Indochina Time
GPS_EPOCH = dt.datetime(1980, 1, 6, tzinfo=dt.timezone.utc)
GPS_LEAP_SECONDS = 18  # GPS - UTC since 2017


@dataclass(frozen=True)
class SurveyPlan:
    id: str
    year: int
    date: dt.date
    start: dt.time  # local time of the first station
    sun_azimuth_deg: float  # clockwise from north
    sun_elevation_deg: float
    deformed: bool


SURVEYS = (
    SurveyPlan("survey-2024", 2024, dt.date(2024, 3, 12), dt.time(8, 30), 105.0, 38.0, False),
    SurveyPlan("survey-2025", 2025, dt.date(2025, 3, 18), dt.time(9, 10), 112.0, 47.0, True),
)


@dataclass(frozen=True)
class StationPlan:
    setup: StationSetup
    heading_deg: float
    tilt_deg: float
    height: float
    start: dt.datetime


def rotation_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def tilt_rotation(deg: float, toward_deg: float) -> np.ndarray:
    """Rotation by ``deg`` about the horizontal axis at ``toward_deg`` (math angle)."""
    a = np.radians(toward_deg)
    k = np.array([np.cos(a), np.sin(a), 0.0])
    th = np.radians(deg)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(th) * kx + (1 - np.cos(th)) * kx @ kx


def station_positions(spec: SiteSpec, count: int) -> np.ndarray:
    """Nominal station positions (site frame, xy): on an ellipse round the pavilion,
    starting at the south-west corner and going counter-clockwise (S1 SW, S2 SE, S3 NE,
    S4 NW for four stations)."""
    (x0, x1), (y0, y1) = spec.platform_x, spec.platform_y
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a, b = (x1 - x0) / 2 + 9.3, (y1 - y0) / 2 + 8.3
    ang = np.radians(225.0 + 360.0 / count * np.arange(count))
    return np.stack([cx + a * np.cos(ang), cy + b * np.sin(ang)], 1)


@dataclass(frozen=True)
class Placement:
    """Where the building that stations are planned round stands in the scanned scene.

    The pavilion alone is its own scene (the defaults). On a site of several buildings
    (twin.sample.sites) each building is planned in its own frame and placed: ``frame``
    maps that frame to the scene's, ``mesh`` is the building alone (what the operator
    frames), ``stream`` and ``key_offset`` keep every station's random stream its own,
    ``prefix`` names its stations (``b03-S1``) and ``first`` counts the stations set up
    before its first one that day."""

    frame: np.ndarray | None = None  # 4x4 building frame -> scene frame
    mesh: LabelledMesh | None = None  # the building in its own frame (default: the scene's mesh)
    stream: tuple[int, ...] = ()
    key_offset: int = 0
    prefix: str = ""
    first: int = 0


def framing_targets(mesh: LabelledMesh, spec: SiteSpec) -> np.ndarray:
    """The points an operator frames: the pavilion, the stele and the urn (the shrubs are
    in the scan where they stand within that frame), above the ground."""
    framed = [i for i, e in enumerate(mesh.elements) if e.kind not in ("courtyard", "planter")]
    targets = mesh.vertices[np.isin(mesh.vertex_element_index(), framed)]
    return targets[targets[:, 2] >= spec.ground_z(targets[:, 0], targets[:, 1]) - 0.01]  # not the foundations


def plan_stations(
    scene: MeshScene,
    spec: SiteSpec,
    count: int,
    survey_index: int,
    survey: SurveyPlan,
    seed: int,
    points_per_station: int,
    model: ScannerModel,
    full_dome: bool,
    placement: Placement | None = None,
) -> list[StationPlan]:
    """Where each station of a survey stands, how it is oriented and what it sweeps.

    Positions vary by up to ~0.6 m between surveys (a second campaign never sets up on
    exactly the same spots); headings are arbitrary, tilts up to 0.5°. Positions and
    rotations are in the scene's frame (``placement``: where the building stands in it).
    """
    place = placement or Placement()
    rng = np.random.default_rng([seed, 1000 + survey_index, *place.stream])
    nominal = station_positions(spec, count)
    obstacles = np.array([spec.stele_centre, spec.urn_centre, *[(x, y) for x, y, _ in spec.planters]])
    frame = np.eye(4) if place.frame is None else place.frame
    targets = framing_targets(place.mesh or scene.mesh, spec) @ frame[:3, :3].T + frame[:3, 3]
    start = dt.datetime.combine(survey.date, survey.start, tzinfo=LOCAL_TZ)
    out = []
    for k in range(count):
        for _ in range(100):  # not on the stele, the urn or a shrub
            xy = nominal[k] + rng.uniform(-0.6, 0.6, 2)
            if np.min(np.linalg.norm(obstacles - xy, axis=1)) > 2.0:
                break
        height = float(rng.uniform(1.45, 1.75))
        yaw = float(rng.uniform(0.0, 360.0))
        tilt = float(rng.uniform(0.05, 0.5))
        toward = float(rng.uniform(0.0, 360.0))
        rot = frame[:3, :3] @ tilt_rotation(tilt, toward) @ rotation_z(yaw)
        pos = frame[:3, :3] @ [xy[0], xy[1], float(spec.ground_z(xy[0], xy[1])) + height] + frame[:3, 3]
        if full_dome:
            aw, ew = (0.0, 360.0), (-60.0, 90.0)
        else:
            aw, ew = window_for(pos, rot, targets)
        step = step_for_points(scene, pos, rot, aw, ew, points_per_station, model)
        step = round(step, 8)
        x_axis = rot[:, 0]
        heading = float(np.degrees(np.arctan2(x_axis[0], x_axis[1])) % 360.0)
        tilt_deg = float(np.degrees(np.arccos(np.clip(rot[2, 2], -1.0, 1.0))))
        key = place.key_offset + 100 * (survey_index + 1) + k + 1
        setup = StationSetup(f"{place.prefix}S{k + 1}", pos, rot, aw, ew, step, key)
        when = start + dt.timedelta(minutes=25 * (place.first + k))
        out.append(StationPlan(setup, heading, tilt_deg, height, when))
    return out


def sun_direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    return np.array([np.sin(a) * np.cos(e), np.cos(a) * np.cos(e), np.sin(e)])


def _gps_time(when: dt.datetime) -> float:
    """Adjusted standard GPS time (GPS seconds - 1e9), as LAS 1.4 stores it."""
    return (when - GPS_EPOCH).total_seconds() + GPS_LEAP_SECONDS - 1e9


def las_header(date: dt.date, offsets: np.ndarray, station_number: int, crs: pyproj.CRS | None) -> laspy.LasHeader:
    header = laspy.LasHeader(point_format=7, version="1.4")
    header.scales = np.array([LAS_SCALE] * 3)
    header.offsets = np.asarray(offsets, dtype=np.float64)
    header.creation_date = date
    header.system_identifier = "twin synthetic TLS"
    header.generating_software = f"twin.sample {__version__}"
    header.file_source_id = station_number
    header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    if crs is not None:
        # WKT1 as the LAS 1.4 specification asks (OGC CTS WKT), readable by pyproj and GDAL
        header.vlrs.append(laspy.vlrs.known.WktCoordinateSystemVlr(crs.to_wkt("WKT1_GDAL")))
        header.global_encoding.wkt = True
    return header


def write_station(
    path: Path,
    scene: MeshScene,
    plan: StationPlan,
    *,
    control: bool,
    origin_utm: np.ndarray,
    epsg: int,
    date: dt.date,
    seed: int,
    sun: np.ndarray,
    model: ScannerModel,
    number: int | None = None,
    batch_rays: int = BATCH_RAYS,
) -> tuple[int, int, str]:
    """Scan one station and write its LAZ, batch by batch: one batch of ``batch_rays``
    rays in memory at a time, whatever the station's size. ``number`` (the file source
    and every point's source id) is the station's number in its name (S3: 3) unless
    given. Returns (points, outliers, sha256)."""
    st = plan.setup
    number = int(st.name[1:]) if number is None else number
    if control:
        offsets = np.floor(origin_utm / 100.0) * 100.0
        crs = pyproj.CRS.from_epsg(epsg)
    else:
        offsets, crs = np.zeros(3), None
    header = las_header(date, offsets, number, crs)
    t0 = _gps_time(plan.start)
    count = outliers = 0
    tmp = path.with_name(path.name + ".tmp")
    with laspy.open(tmp, mode="w", header=header, do_compress=True, laz_backend=laspy.LazBackend.Lazrs) as writer:
        for chunk in scan(scene, st, seed=seed, sun=sun, model=model, batch_rays=batch_rays):
            n = len(chunk.xyz)
            if n == 0:
                continue
            if control:  # a scanner set up over a surveyed point writes map coordinates
                xyz = (chunk.xyz @ st.rotation.T + st.position) + origin_utm
            else:
                xyz = chunk.xyz
            rec = laspy.ScaleAwarePointRecord.zeros(n, header=header)
            rec.x, rec.y, rec.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
            rec.intensity = chunk.intensity
            rgb16 = chunk.rgb.astype(np.uint16) << 8  # 8-bit colour times 256, as the LAS spec says
            rec.red, rec.green, rec.blue = rgb16[:, 0], rgb16[:, 1], rgb16[:, 2]
            rec.return_number = np.ones(n, dtype=np.uint8)
            rec.number_of_returns = np.ones(n, dtype=np.uint8)
            rec.point_source_id = np.full(n, number, dtype=np.uint16)
            rec.gps_time = t0 + chunk.time
            writer.write_points(rec)
            count += n
            outliers += int(chunk.outlier.sum())
    os.replace(tmp, path)
    return count, outliers, file_digest(path)


def _matrix(m: np.ndarray) -> list[list[float]]:
    return [[float(x) for x in row] for row in m]


def _deformation_truth(d: Lean | Bulge, origin: np.ndarray, survey: str, reference: str) -> LeanTruth | BulgeTruth:
    if isinstance(d, Lean):
        return LeanTruth(
            id=f"lean-{d.element}",
            element=d.element,
            survey=survey,
            reference_survey=reference,
            angle_deg=d.angle_deg,
            azimuth_deg=d.azimuth_deg,
            pivot_utm=tuple(round(float(x), 9) for x in np.asarray(d.pivot) + origin),
            axis=tuple(round(float(x), 12) + 0.0 for x in d.axis),
            height_m=round(d.height, 9),
            top_displacement_m=round(d.top_displacement, 9),
            description=(
                f"{d.element} leans {d.angle_deg}° about the horizontal axis through its base centre, its top "
                f"moving toward grid azimuth {d.azimuth_deg}°: a point h above the pivot moves h·sin(angle) "
                f"horizontally and h·(1 - cos(angle)) down; the top ({d.height:.3f} m up) moves "
                f"{d.top_displacement * 1000:.1f} mm."
            ),
        )
    n = np.asarray(d.normal)
    return BulgeTruth(
        id=f"bulge-{d.element}",
        element=d.element,
        survey=survey,
        reference_survey=reference,
        centre_utm=tuple(round(float(x), 9) for x in np.asarray(d.centre) + origin),
        normal=tuple(float(x) for x in n),
        azimuth_deg=float(np.degrees(np.arctan2(n[0], n[1])) % 360.0),
        radius_m=d.radius,
        peak_m=d.peak,
        description=(
            f"{d.element} bulges outward: every point of the wall moves along the outward normal by "
            f"d(r) = peak·(1 + cos(pi·r/radius))/2 for r < radius, 0 beyond, r measured from the centre in "
            f"the wall's plane; peak {d.peak * 1000:.0f} mm, radius {d.radius} m."
        ),
    )


def _regions(meshes: list[LabelledMesh], origin: np.ndarray) -> dict[int, list[Box]]:
    """Per element: the union over surveys of each part's box, plus the margin, in UTM."""
    out: dict[int, list[Box]] = {}
    per_mesh = [m.part_boxes() for m in meshes]
    for boxes in zip(*per_mesh, strict=True):
        e = boxes[0][0]
        lo = np.min([b[1] for b in boxes], axis=0) - REGION_MARGIN + origin
        hi = np.max([b[2] for b in boxes], axis=0) + REGION_MARGIN + origin
        out.setdefault(e, []).append(
            Box(min=tuple(float(round(x, 4)) for x in lo), max=tuple(float(round(x, 4)) for x in hi))
        )
    return out


def station_truth(
    sp: StationPlan, rel: str, digest: str, control: bool, origin: np.ndarray, count: int, outliers: int
) -> Station:
    """The truth of one written station: where it stood (UTM), its file's frame and pose."""
    st = sp.setup
    instrument = st.pose()
    instrument[:3, 3] += origin
    return Station(
        name=st.name,
        file=rel,
        sha256=digest,
        control=control,
        frame="utm" if control else "scanner",
        pose=_matrix(np.eye(4) if control else instrument),
        instrument_pose=_matrix(instrument),
        position_utm=tuple(float(x) for x in instrument[:3, 3]),
        heading_deg=round(sp.heading_deg, 6),
        tilt_deg=round(sp.tilt_deg, 6),
        instrument_height_m=round(sp.height, 6),
        start_time=sp.start.isoformat(),
        point_count=count,
        outlier_count=outliers,
        angular_step_deg=st.step_deg,
        azimuth_window_deg=st.azimuth_window,
        elevation_window_deg=st.elevation_window,
    )


def element_truths(meshes: list[LabelledMesh], origin: np.ndarray) -> list[Element]:
    """Every element of the (first) mesh with its regions over all ``meshes``, in UTM."""
    regions = _regions(meshes, origin)
    return [
        Element(
            id=e.id,
            kind=e.kind,
            label=e.label,
            material=MATERIALS[e.material].name,
            mesh_index=i,
            priority=e.priority,
            regions_utm=regions[i],
        )
        for i, e in enumerate(meshes[0].elements)
    ]


def placed_on_grid(epsg: int, origin: np.ndarray) -> dict:
    """The truth's CRS and its origin in it and in WGS 84 (``GroundTruth`` fields)."""
    lon, lat = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True).transform(origin[0], origin[1])
    return {
        "crs": CRS(epsg=epsg, name=pyproj.CRS.from_epsg(epsg).name),
        "origin_utm": tuple(float(x) for x in origin),
        "origin_lonlat": (round(lon, 8), round(lat, 8)),
    }


def generate(
    out: str | os.PathLike[str],
    *,
    points_per_station: int = DEFAULT_POINTS_PER_STATION,
    stations: int = DEFAULT_STATIONS,
    seed: int = DEFAULT_SEED,
    surveys: int = len(SURVEYS),
    full_dome: bool = False,
    spec: SiteSpec | None = None,
    model: ScannerModel | None = None,
    progress: Callable[[str], None] | None = None,
) -> GroundTruth:
    """Write the sample dataset under ``out/pavilion`` and return its ground truth.

    ``surveys`` is 1 (the 2024 baseline) or 2 (and the 2025 survey with the known
    deformations). ``full_dome`` sweeps 360° x (-60°..90°) instead of a window fitted
    to the pavilion (most points then fall on the courtyard).
    """
    if not 1 <= surveys <= len(SURVEYS):
        raise ValueError(f"surveys must be 1..{len(SURVEYS)}, got {surveys}")
    if stations < 1:
        raise ValueError(f"stations must be at least 1, got {stations}")
    if points_per_station < 100:
        raise ValueError(f"points per station must be at least 100, got {points_per_station}")
    spec = spec or SiteSpec()
    model = model or ScannerModel()
    say = progress or (lambda _msg: None)
    origin = np.asarray(spec.origin_utm, dtype=np.float64)
    root = Path(out) / DATASET
    (root / "truth").mkdir(parents=True, exist_ok=True)

    reference = build_pavilion(spec)
    deformations = default_deformations(spec)
    plans = SURVEYS[:surveys]
    meshes = [apply_deformations(reference, deformations) if p.deformed else reference for p in plans]
    ids = reference.element_ids

    survey_truths, deformation_truths = [], []
    for si, (plan, mesh) in enumerate(zip(plans, meshes, strict=True)):
        mesh_rel = f"truth/{DATASET}-{plan.year}.ply"
        write_truth_mesh(
            root / mesh_rel,
            mesh.vertices,
            mesh.triangles,
            mesh.element_index,
            origin_utm=origin,
            epsg=spec.epsg,
            element_ids=ids,
            title=f"twin sample: true geometry of the pavilion at {plan.id} ({plan.date.isoformat()})",
        )
        if plan.deformed:
            deformation_truths += [_deformation_truth(d, origin, plan.id, plans[0].id) for d in deformations]
        scene = MeshScene(mesh)
        survey_dir = root / plan.id
        survey_dir.mkdir(parents=True, exist_ok=True)
        for stale in survey_dir.glob("S*.laz"):
            stale.unlink()
        sun = sun_direction(plan.sun_azimuth_deg, plan.sun_elevation_deg)
        station_truths = []
        for k, sp in enumerate(plan_stations(scene, spec, stations, si, plan, seed, points_per_station, model, full_dome)):
            st = sp.setup
            control = k == 0
            rel = f"{plan.id}/{st.name}.laz"
            count, outliers, digest = write_station(
                root / rel, scene, sp, control=control, origin_utm=origin, epsg=spec.epsg,
                date=plan.date, seed=seed, sun=sun, model=model,
            )  # fmt: skip
            station_truths.append(station_truth(sp, rel, digest, control, origin, count, outliers))
            say(f"{plan.id} {st.name}: {count:,} points ({outliers:,} outliers), step {st.step_deg:.4f}°")
        survey_truths.append(
            Survey(
                id=plan.id,
                date=plan.date.isoformat(),
                mesh=mesh_rel,
                deformations=[d.id for d in deformation_truths if d.survey == plan.id],
                sun_azimuth_deg=plan.sun_azimuth_deg,
                sun_elevation_deg=plan.sun_elevation_deg,
                stations=station_truths,
            )
        )

    elements = element_truths(meshes, origin)
    command = (
        f"python -m twin.sample --out {Path(out).as_posix()} --points-per-station {points_per_station} "
        f"--stations {stations} --seed {seed} --surveys {surveys}" + (" --full-dome" if full_dome else "")
    )
    truth = GroundTruth(
        structure=Structure(
            id=DATASET,
            name="Synthetic heritage pavilion",
            description=(
                "A synthetic hall in the spirit of Thai Hoa Palace (Hue): a stone platform with a deep front "
                "terrace and two flights of steps, a walled hall with a door and two windows inside a veranda of "
                "sixteen lacquered timber columns under exposed beams, a two-tier hipped roof, a west annex, and "
                "in the paved courtyard a stele, a bronze urn and ten potted shrubs."
            ),
        ),
        **placed_on_grid(spec.epsg, origin),
        surveys=survey_truths,
        deformations=deformation_truths,
        elements=elements,
        generator=Generator(
            package="twin.sample",
            version=__version__,
            seed=seed,
            points_per_station=points_per_station,
            stations=stations,
            surveys=surveys,
            full_dome=full_dome,
            region_margin_m=REGION_MARGIN,
            las=dict(LAS_FORMAT),
            scanner=model.as_dict(),
            command=command,
        ),
    )
    write_truth(truth, root / "truth" / "ground_truth.json")
    truth._root = root.resolve()
    write_layers(truth, root / LAYERS_FILE)
    return truth
