"""The stage registry: each pipeline stage name maps to an adapter that applies the pure
function from twin.ops to the model state, per station before registration or to the
merged cloud after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.catalog.workspace import Workspace
from twin.errors import ProcessingError
from twin.io.registry import read_scan
from twin.models import pipeline as spec
from twin.models.catalog import ScanRecord
from twin.models.pointcloud import PointCloud
from twin.pipeline.state import ModelState


@dataclass
class StageContext:
    ws: Workspace
    scans: list[ScanRecord]
    on_event: Callable[[dict], None] = lambda event: None
    output_dir: Path | None = None
    crs_wkt: str | None = None
    crs_epsg: int | None = None
    crs_name: str | None = None
    extra: dict = field(default_factory=dict)
    stage_index: int | None = None  # the runner's index of the stage running (recorded with its auto lengths)

    def observe(self, state: ModelState) -> None:
        """The CRS of the model: the reference station's (after registration) or the first that has one."""
        ref = state.metrics.get("registration", {}).get("reference")
        ordered = sorted(self.scans, key=lambda s: (s.station != ref, s.crs_epsg is None and s.crs_name is None))
        for scan in ordered:
            if scan.crs_epsg or scan.crs_name:
                self.crs_epsg, self.crs_name = scan.crs_epsg, scan.crs_name
                self.crs_wkt = _crs_wkt(self.ws, scan)
                return

    def crs_dict(self) -> dict | None:
        return {"epsg": self.crs_epsg, "name": self.crs_name} if (self.crs_epsg or self.crs_name) else None


def _crs_wkt(ws: Workspace, scan: ScanRecord) -> str | None:
    from sqlalchemy import select  # noqa: PLC0415

    from twin.catalog import db  # noqa: PLC0415

    with ws.engine.connect() as conn:
        return conn.execute(select(db.scans.c.crs_wkt).where(db.scans.c.id == scan.id)).scalar()


def load_inputs(ws: Workspace, scans: list[ScanRecord]) -> ModelState:
    from twin.ops.viewpoint import scanner_position  # noqa: PLC0415

    state = ModelState()
    for scan in sorted(scans, key=lambda s: s.station):
        cloud = read_scan(ws.root / scan.store_path)
        state.stations[scan.station] = cloud
        position = scanner_position(cloud.xyz, cloud.origin)
        state.metrics.setdefault("scanner_positions", {})[scan.station] = (
            None if position is None else [float(v) for v in position + cloud.origin]
        )
    return state


def _per_cloud(state: ModelState, fn: Callable[[PointCloud], PointCloud]) -> ModelState:
    if state.cloud is not None:
        state.cloud = fn(state.cloud)
    else:
        state.stations = {name: fn(cloud) for name, cloud in state.stations.items()}
    return state


def _input_clouds(state: ModelState) -> list[PointCloud]:
    return [state.cloud] if state.cloud is not None else list(state.stations.values())


def resolve_lengths(state: ModelState, stage, ctx: StageContext, rules: dict[str, Callable]) -> dict:
    """The values of ``stage``'s fields named in ``rules``: as given where explicit, and
    where ``auto`` what ``rules[name](scale)`` (a twin.ops.scale.Resolved) derives from the
    spacing and extent of the stage's input (the merged cloud, or every station: the
    median of their spacings, the largest extent, one value for all). Auto values are
    recorded in ``state.metrics["lengths"]`` (cached with the state, so provenance holds
    them however much of the run came from the cache), announced as a ``lengths`` event,
    and a rule that had to be clamped adds a warning."""
    from twin.errors import UsageError  # noqa: PLC0415
    from twin.ops import scale as auto  # noqa: PLC0415
    from twin.pipeline.provenance import describe_lengths  # noqa: PLC0415

    values = {name: getattr(stage, name) for name in rules}
    names = [name for name, value in values.items() if spec.is_auto(value)]
    if not names:
        return values
    try:
        measured = auto.measure_scale([c.xyz for c in _input_clouds(state)])
    except UsageError as exc:
        raise ProcessingError(f"{stage.stage}: {', '.join(names)} auto: {exc}; give {names[0]} explicitly") from None
    resolved = {name: rules[name](measured) for name in names}
    values.update({name: r.value for name, r in resolved.items()})
    notes = [r.note for r in resolved.values() if r.note]
    record = {
        "stage": stage.stage,
        **({"index": ctx.stage_index} if ctx.stage_index is not None else {}),
        "measured": measured.as_dict(),
        "resolved": {name: list(r.value) if isinstance(r.value, tuple) else r.value for name, r in resolved.items()},
        "rules": {name: r.rule for name, r in resolved.items()},
        "rules_version": auto.RULES_VERSION,
    }
    if notes:
        record["notes"] = notes
    state.metrics.setdefault("lengths", []).append(record)
    structure = ctx.scans[0].structure_id if ctx.scans else "?"
    survey = ctx.scans[0].survey_id if ctx.scans else "?"
    for note in notes:
        state.metrics.setdefault("warnings", []).append(f"{stage.stage}: {note}")
        ctx.on_event({"type": "warning", "structure": structure, "survey": survey, "stage": stage.stage,
                      "message": f"{stage.stage}: {note}"})
    ctx.on_event({"type": "lengths", "structure": structure, "survey": survey, "stage": stage.stage,
                  "index": ctx.stage_index, "measured": record["measured"], "resolved": record["resolved"],
                  "message": describe_lengths(record)})
    return values


def flag_outliers(state: ModelState, stage: spec.FlagOutliersStage, ctx: StageContext) -> ModelState:
    from twin.ops import outliers, scale as auto  # noqa: PLC0415

    if stage.method == "statistical":
        return _per_cloud(state, lambda c: outliers.flag_statistical_outliers(c, stage.neighbours, stage.std_ratio))
    radius = resolve_lengths(state, stage, ctx, {"radius": auto.outlier_radius})["radius"]
    return _per_cloud(state, lambda c: outliers.flag_radius_outliers(c, min_points=stage.min_points, radius=radius))


def drop_flagged(state: ModelState, stage: spec.DropFlaggedStage, ctx: StageContext) -> ModelState:
    from twin.ops.flags import drop_flagged as drop  # noqa: PLC0415

    return _per_cloud(state, drop)


def crop(state: ModelState, stage: spec.CropStage, ctx: StageContext) -> ModelState:
    from twin.ops.crop import crop as crop_cloud, region_from_params  # noqa: PLC0415

    if stage.polygon is not None:
        region = region_from_params({"polygon": stage.polygon, "z_min": stage.z_min, "z_max": stage.z_max})
    else:
        region = region_from_params({"min": stage.box_min, "max": stage.box_max})
    return _per_cloud(state, lambda c: crop_cloud(c, region, world=True, flag=True))


def voxel_downsample(state: ModelState, stage: spec.VoxelDownsampleStage, ctx: StageContext) -> ModelState:
    from twin.ops import scale as auto  # noqa: PLC0415
    from twin.ops.voxel import voxel_downsample as downsample  # noqa: PLC0415

    from twin.ops.voxel import voxel_for_budget  # noqa: PLC0415

    def budget(voxel: float, max_points: int) -> float:
        return max(voxel_for_budget(c.xyz, max_points, voxel) for c in _input_clouds(state))

    size = resolve_lengths(state, stage, ctx, {
        "voxel_size": lambda m: auto.voxel_size(m, stage.max_voxels_across, stage.max_points, budget)})
    return _per_cloud(state, lambda c: downsample(c, size["voxel_size"]))


def normals(state: ModelState, stage: spec.NormalsStage, ctx: StageContext) -> ModelState:
    """PCA normals, each oriented toward the station that saw the point where that
    station's position is known, and like its nearest such neighbour where not."""
    from twin.ops import scale as auto  # noqa: PLC0415
    from twin.ops.normals import estimate_normals, orient_from_oriented_neighbours, orient_toward  # noqa: PLC0415

    radius = resolve_lengths(state, stage, ctx, {"radius": auto.normal_radius})["radius"]

    def one(cloud: PointCloud, positions: np.ndarray | None) -> PointCloud:
        """``positions``: per-point scanner positions (local), NaN rows where unknown."""
        if positions is None or np.isnan(positions).all():
            return estimate_normals(cloud, radius, stage.max_neighbours, orientation="consistent")
        cloud = estimate_normals(cloud, radius, stage.max_neighbours, orientation="none")
        known = ~np.isnan(positions).any(axis=1)
        n = cloud.attrs["normals"]
        n[known] = orient_toward(cloud.xyz[known], n[known], positions[known])
        cloud.attrs["normals"] = orient_from_oriented_neighbours(cloud.xyz, n, known)
        return cloud

    if state.cloud is None:
        world = state.metrics.get("scanner_positions", {})
        for name, cloud in state.stations.items():
            pos = world.get(name)
            per_point = None if pos is None else np.broadcast_to(np.asarray(pos) - cloud.origin, (len(cloud), 3))
            state.stations[name] = one(cloud, per_point)
        return state
    reg = state.metrics.get("registration", {})
    index = reg.get("station_index", {})
    table = np.full((max(index.values(), default=0) + 1, 3), np.nan)
    for name, i in index.items():
        pos = reg.get("scanner_positions", {}).get(name)
        if pos is not None:
            table[i] = np.asarray(pos) - state.cloud.origin
    ids = state.cloud.attrs.get("point_source_id")
    per_point = table[ids] if ids is not None and index else None
    state.cloud = one(state.cloud, per_point)
    return state


def register(state: ModelState, stage: spec.RegisterStage, ctx: StageContext) -> ModelState:
    """Align the stations to the reference station and merge them; the merged cloud's
    point_source_id says which station (1, 2, ... in name order) saw each point."""
    from twin.ops.registration import RegistrationSettings, merge_registered, register_stations  # noqa: PLC0415

    if state.cloud is not None:
        raise ProcessingError("the stations are already registered")
    names = sorted(state.stations)
    reference = stage.reference or _default_reference(ctx, names)
    if reference not in state.stations:
        raise ProcessingError(f"reference station {reference!r} is not in this survey (stations: {', '.join(names)})")
    clouds = [state.stations[n] for n in names]
    world_positions = state.metrics.get("scanner_positions", {})
    local_positions = [
        None if world_positions.get(n) is None else np.asarray(world_positions[n]) - c.origin
        for n, c in zip(names, clouds)
    ]
    settings = RegistrationSettings(
        unit=None if spec.is_auto(stage.unit) else stage.unit,
        coarse_voxel=None if spec.is_auto(stage.coarse_voxel) else stage.coarse_voxel,
        icp_schedule=None if spec.is_auto(stage.icp_voxels) else tuple((v, 3.0 * v) for v in stage.icp_voxels),
        max_station_rmse=None if spec.is_auto(stage.max_rmse) else stage.max_rmse,
        min_edge_fitness=stage.min_overlap, min_station_fitness=stage.min_fitness, max_conflict=stage.max_conflict,
    )
    result = register_stations(clouds, names=names, reference=names.index(reference),
                               scanner_positions=local_positions, settings=settings)
    ref_origin = clouds[names.index(reference)].origin
    report_stations, positions = {}, {}
    for name, cloud, pose in zip(names, clouds, result.stations):
        world = _world_transform(pose.transform, cloud.origin, ref_origin)
        report_stations[name] = {
            "transform": world.tolist(), "fitness": float(pose.fitness),
            "inlier_rmse": float(pose.inlier_rmse), "correspondences": int(pose.correspondences),
        }
        # the scanner as registration knew it: from the file's frame, or found from the scan order
        if pose.scanner is not None:
            positions[name] = (world[:3, :3] @ (pose.scanner + cloud.origin) + world[:3, 3]).tolist()
    state.metrics["registration"] = {
        "reference": reference,
        "station_index": {name: i + 1 for i, name in enumerate(names)},
        "stations": report_stations,
        "scanner_positions": positions,
        "edges": [
            {"source": names[e.source], "target": names[e.target], "fitness": float(e.fitness),
             "inlier_rmse": float(e.inlier_rmse), "in_graph": bool(e.in_graph)}
            for e in result.edges
        ],
        "lengths": result.lengths,
        "quality": result.quality.to_dict() if result.quality is not None else None,
    }
    _record_registration_lengths(state, ctx, result.lengths)
    state.cloud, state.stations = merge_registered(clouds, result), {}
    ctx.observe(state)
    return state


def _record_registration_lengths(state: ModelState, ctx: StageContext, lengths: dict) -> None:
    """The lengths registration chose, recorded and announced like every stage's auto lengths."""
    measured = {"spacing": lengths["spacing"], "extent": lengths["extent"]}
    resolved = {k: v for k, v in lengths.items() if k not in measured}
    record = {"stage": "register", **({"index": ctx.stage_index} if ctx.stage_index is not None else {}),
              "measured": measured, "resolved": resolved,
              "rules": {"unit": "max(extent / 450, 2.5 x spacing); every other length a multiple of it"}}
    state.metrics.setdefault("lengths", []).append(record)
    icp = ", ".join(f"{v:g}" for v, _ in resolved["icp_schedule"])
    message = (f"register: working unit {resolved['unit']:g} m (max(extent / 450, 2.5 x spacing)), coarse voxel "
               f"{resolved['coarse_voxel']:g} m, overlap judged within {2 * resolved['check_voxel']:g} m, ICP voxels "
               f"{icp} m, RMSE limit {resolved['max_station_rmse']:g} m "
               f"[measured: spacing {measured['spacing']:g} m, extent {measured['extent']:g} m]")
    structure = ctx.scans[0].structure_id if ctx.scans else "?"
    survey = ctx.scans[0].survey_id if ctx.scans else "?"
    ctx.on_event({"type": "lengths", "structure": structure, "survey": survey, "stage": "register",
                  "index": ctx.stage_index, "measured": measured, "resolved": resolved, "message": message})


def _world_transform(local: np.ndarray, origin: np.ndarray, ref_origin: np.ndarray) -> np.ndarray:
    """The 4x4 that maps a station's file coordinates to the model's (georeferenced) ones."""
    shift_in, shift_out = np.eye(4), np.eye(4)
    shift_in[:3, 3] = -np.asarray(origin)
    shift_out[:3, 3] = np.asarray(ref_origin)
    return shift_out @ np.asarray(local) @ shift_in


def _default_reference(ctx: StageContext, names: list[str]) -> str:
    with_crs = [s.station for s in sorted(ctx.scans, key=lambda s: s.station) if s.crs_epsg or s.crs_name]
    return with_crs[0] if with_crs else sorted(names)[0]


def mesh(state: ModelState, stage: spec.MeshStage, ctx: StageContext) -> ModelState:
    from twin.ops import meshing, scale as auto  # noqa: PLC0415
    from twin.ops.voxel import surface_area  # noqa: PLC0415

    if stage.method == "poisson":
        def local_trim(measured):
            return auto.Resolved("local spacing", "a few local point spacings along and across the scan lines")

        values = resolve_lengths(state, stage, ctx, {
            "depth": lambda m: auto.poisson_depth(m, stage.scale, stage.cell_spacings, stage.max_cells,
                                                  area=surface_area(state.cloud.xyz, m.spacing)),
            "max_distance": local_trim,
        })
        max_distance = None if spec.is_auto(stage.max_distance) else values["max_distance"]
        built = meshing.poisson_reconstruct(state.cloud, depth=values["depth"], scale=stage.scale,
                                            density_quantile=stage.density_quantile, max_distance=max_distance)
        result = built.mesh
        state.metrics["mesh_support"] = built.support.as_dict()
    else:
        radii = resolve_lengths(state, stage, ctx, {"radii": auto.ball_radii})["radii"]
        result = meshing.ball_pivoting_mesh(state.cloud, radii=tuple(radii))
    state.mesh = result
    state.lods = {}
    return state


def repair(state: ModelState, stage: spec.RepairStage, ctx: StageContext) -> ModelState:
    from twin.ops.mesh_repair import repair_mesh  # noqa: PLC0415

    repaired, report = repair_mesh(state.mesh, min_island_faces=stage.min_island_faces)
    state.mesh = repaired
    state.metrics["repair"] = report.model_dump() if hasattr(report, "model_dump") else vars(report)
    return state


def decimate(state: ModelState, stage: spec.DecimateStage, ctx: StageContext) -> ModelState:
    from twin.ops.decimate import levels_of_detail  # noqa: PLC0415

    state.lods = levels_of_detail(state.mesh, stage.levels)
    return state


LABELS = ("element", "phase", "material")  # int32 per point, mesh vertex and mesh face; -1 = none


def label(state: ModelState, stage: spec.LabelStage, ctx: StageContext) -> ModelState:
    """Label every point (merged cloud, else each station), every mesh vertex and every mesh
    face with the structure's current layers (``ctx.extra["layers"]``, a LayerRevision).
    Without layers nothing is labelled and a warning is recorded."""
    revision = ctx.extra.get("layers")
    if revision is None:
        structure = ctx.scans[0].structure_id if ctx.scans else "?"
        survey = ctx.scans[0].survey_id if ctx.scans else "?"
        message = (f"structure {structure!r} has no layers: nothing was labelled; add them with "
                   f"`twin layers set {structure} FILE` and process again")
        state.metrics.setdefault("warnings", []).append(message)
        state.metrics["labels"] = None
        ctx.on_event({"type": "warning", "structure": structure, "survey": survey, "stage": "label",
                      "message": message})
        return state
    from twin.export.labelled import legend  # noqa: PLC0415
    from twin.ops.labelling import compile_layers, label_cloud, label_counts, label_mesh, label_points  # noqa: PLC0415

    compiled = compile_layers(revision.layers)
    state = _per_cloud(state, lambda c: label_cloud(compiled, c))
    meshes = {id(m): m for m in [state.mesh, *state.lods.values()] if m is not None}  # a level may be the mesh
    cloud = state.cloud
    for mesh in meshes.values():
        vertex = label_points(compiled, mesh.vertices, mesh.origin)
        mesh.vertex_attrs.update(element=vertex, phase=compiled.phase_of(vertex), material=compiled.material_of(vertex))
        mesh.face_attrs.update(label_mesh(compiled, mesh, stage.faces, cloud=cloud,
                                          point_element=cloud.attrs["element"] if cloud is not None else None))
    clouds = [state.cloud] if state.cloud is not None else list(state.stations.values())
    elements = [c.attrs["element"] for c in clouds]
    counts = label_counts(compiled, np.concatenate(elements) if elements else np.zeros(0, dtype=np.int32))
    state.metrics["labels"] = {
        "layers_rev": revision.rev,
        "layers_sha256": revision.sha256,
        "unlabelled_points": counts.pop(None),
        "points_per_element": {k: v for k, v in counts.items() if v},
        "legend": legend(revision.layers, compiled),
    }
    return state


def write(state: ModelState, stage: spec.WriteStage, ctx: StageContext) -> ModelState:
    """The cloud and each mesh level; where the label stage ran, their labels (LAS extra
    bytes, PLY vertex and face properties) and the legend that says what the values mean."""
    from twin.io.las import write_las  # noqa: PLC0415
    from twin.io.ply_write import write_mesh_ply  # noqa: PLC0415

    out = ctx.output_dir
    out.mkdir(parents=True, exist_ok=True)
    cloud = state.cloud if state.cloud is not None else PointCloud.concatenate(list(state.stations.values()))
    point_labels = {k: cloud.attrs[k].astype(np.int32) for k in LABELS if k in cloud.attrs}
    if stage.cloud_format in ("laz", "las"):
        write_las(cloud, out / f"cloud.{stage.cloud_format}", crs_wkt=ctx.crs_wkt, extra_dims=point_labels)
    else:
        from twin.io.ply_write import write_cloud_ply  # noqa: PLC0415

        write_cloud_ply(cloud, out / "cloud.ply", vertex_props=point_labels)
    crs = f"EPSG:{ctx.crs_epsg}" if ctx.crs_epsg else ctx.crs_name
    levels = state.lods or ({"full": state.mesh} if state.mesh is not None else {})
    for name, level in levels.items():
        vertex_labels = {k: level.vertex_attrs[k].astype(np.int32) for k in LABELS if k in level.vertex_attrs}
        face_labels = {k: level.face_attrs[k].astype(np.int32) for k in LABELS if k in level.face_attrs}
        write_mesh_ply(level, out / f"mesh-{name}.ply", crs=crs, vertex_props=vertex_labels, face_props=face_labels)
    table = (state.metrics.get("labels") or {}).get("legend")
    if table is not None:
        import json  # noqa: PLC0415

        from twin.catalog.store import atomic_write_bytes  # noqa: PLC0415
        from twin.export.labelled import legend_csv  # noqa: PLC0415

        atomic_write_bytes(out / "legend.json", (json.dumps(table, indent=2, ensure_ascii=False) + "\n").encode())
        atomic_write_bytes(out / "legend.csv", legend_csv(table).encode("utf-8"))
    return state


STAGES: dict[str, Callable[[ModelState, object, StageContext], ModelState]] = {
    "crop": crop,
    "flag_outliers": flag_outliers,
    "drop_flagged": drop_flagged,
    "voxel_downsample": voxel_downsample,
    "normals": normals,
    "register": register,
    "mesh": mesh,
    "repair": repair,
    "decimate": decimate,
    "label": label,
    "write": write,
}



def prepare_stations(stations: dict[str, PointCloud], pipeline: spec.PipelineSpec) -> dict[str, PointCloud]:
    """The station clouds as ``pipeline``'s stages before ``register`` leave them (its
    cleaning), outside any workspace: what the register stage of ``twin process`` would
    receive. Benchmarks and tests of registration start from here, as the product does."""
    state = ModelState(stations=dict(stations))
    ctx = StageContext(ws=None, scans=[])  # type: ignore[arg-type]
    for index, stage in enumerate(pipeline.stages):
        if stage.stage == "register":
            break
        ctx.stage_index = index
        state = STAGES[stage.stage](state, stage, ctx)
    return state.stations
