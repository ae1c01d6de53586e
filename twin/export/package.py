"""`twin export`: a structure's latest model of a survey, with its current layers, in the
formats archivists and viewers use, written as one folder that appears whole or not at all.

What is written (``<stem>`` is ``<structure>-<survey>``)::

    <stem>-<level>.glb             glb: one GLB per level of detail, EXT_mesh_features + EXT_structural_metadata
    <stem>-cloud.ply               ply: the cloud with element, phase, material per point
    <stem>-mesh-<level>.ply        ply: each mesh level, labels per vertex and per face
    <stem>-cloud.laz               laz: the cloud, labels as LAS 1.4 extra bytes
    <stem>-mesh-<level>.laz        laz: each mesh level's vertices, labelled
    <stem>-cloud.copc.laz          copc: the cloud as one COPC file (octree, bounds and level queries), labelled
    <stem>-3dtiles/tileset.json    3dtiles: 3D Tiles 1.1 of the mesh levels and the cloud, placed in ECEF from the
                                   survey CRS (a local frame and a warning without one); see twin.export.tiles3d
    legend.json, legend.csv        ply, laz, copc: what each label value means
    <structure>.wgs84.geojson      geojson: footprints in WGS 84 (RFC 7946), valid MultiPolygons
    <structure>.crs.geojson        geojson: the same in the structure's CRS
    <structure>.gpkg               gpkg: the same as a GeoPackage in the structure's CRS (layers structure, elements)
    <stem>-<level>.ifc             ifc: IFC 4.3 of one mesh level (``--level``; default the finest of at most
                                   200,000 faces, the default pipeline's 200k): an element per layer element, its
                                   phases, materials and knowledge in property sets, georeferenced by an
                                   IfcMapConversion from the survey CRS; see twin.export.ifc
    <structure>.jsonld             jsonld: layers in CIDOC-CRM/CRMba, the place (GeoSPARQL), processing history
                                   and every file above with its SHA-256 in CRMdig (written last)
    export.json                    what was exported, from which model and layers revision

Where the model's cloud has colour and its meshes do not, each mesh vertex takes the
colour of its nearest cloud point (GLB ``COLOR_0``, mesh PLY and LAZ).

With ``bagit`` the output folder is a BagIt bag (RFC 8493, SHA-512 manifests): the files
above under ``data/exports/``, the survey's raw scans byte for byte under
``data/raw/<station>/``, and the provenance records under ``data/provenance/`` (the model's
run record, the scans' catalog records, the layer revision as authored);
bag-info names the structure, the survey, the workspace's source organisation and its
address and contact (``organisation``, ``organisation_address``, ``contact_name``,
``contact_email`` in ``twin.yaml``; a warning says which are missing), Bag-Size and
Payload-Oxum. The JSON-LD IRIs start with ``--base-uri``, else the workspace's
``base_uri``, else ``urn:twin:``.

Labels come from the structure's *current* layers (the model's own labels may predate a
later revision; the report says so). A structure with no layers yet still exports its
geometry, every label -1 (no data), with a warning; GeoJSON and GeoPackage, drawn from the
layers' regions, are skipped then (refused when asked for by name). Everything is checked before anything is written: the
formats, the output folder (absent or empty), the structure, survey, model and layers, a
mesh for GLB and IFC, the IFC's level, a CRS for GeoJSON. The package is assembled in a hidden folder beside the
destination and renamed onto it at the end, so a failure leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

import twin
from twin.errors import UsageError
from twin.export.jsonld import DEFAULT_BASE

FORMATS = ("glb", "ply", "laz", "copc", "3dtiles", "jsonld", "bagit", "geojson", "gpkg", "ifc")
IFC_MAX_FACES = 200_000  # the default IFC level: the finest with at most this many faces
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")


class ExportedFile(BaseModel):
    path: str  # relative to the output folder
    format: str
    size_bytes: int


class ExportReport(BaseModel):
    structure_id: str
    survey_id: str
    model_key: str
    pipeline: str
    layers_rev: int
    layers_sha256: str
    out: str
    formats: list[str]
    ifc_level: str | None = Field(default=None, description="the mesh level written as IFC")
    skipped: dict[str, str] = Field(default_factory=dict, description="default formats this model cannot give, why")
    bag: bool = False
    files: list[ExportedFile] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="what the export chose, for information")
    seconds: float = 0.0


# -- checking the request -----------------------------------------------------------------------


def parse_formats(formats: Sequence[str] | None, choices: Sequence[str] = FORMATS) -> tuple[list[str], bool]:
    """The formats in the order of ``choices`` (repeated or comma-separated), and whether they
    were given (False: the default, all of ``choices``)."""
    if not formats:
        return list(choices), False
    wanted = []
    for f in formats:
        for part in str(f).split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in choices:
                raise UsageError(f"unknown export format {part.strip()!r}: use one or more of {', '.join(choices)}")
            wanted.append(name)
    if not wanted:
        raise UsageError(f"no export format given: use one or more of {', '.join(choices)}")
    return [f for f in choices if f in wanted], True


def check_out(out: Path) -> None:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty; choose a new folder or empty it")


def _check_base_uri(base_uri: str | None) -> str | None:
    if base_uri is None:
        return None
    if not _URI.match(base_uri):
        raise UsageError(f"--base-uri {base_uri!r} is not an absolute URI, e.g. https://monuments.example.org/twin/")
    return base_uri


# -- writing ----------------------------------------------------------------------------------


def ifc_level(meshes: dict[str, Path], level: str | None, where: str) -> str:
    """The mesh level to write as IFC: ``level`` if the model has it, else the finest level of
    at most :data:`IFC_MAX_FACES` faces, else the coarsest."""
    from twin.io.ply import ply_element_counts  # noqa: PLC0415

    if level is not None:
        if level not in meshes:
            raise UsageError(f"{where} has no mesh level {level!r}: use --level with one of {', '.join(meshes)}")
        return level
    faces = {name: ply_element_counts(path).get("face", 0) for name, path in meshes.items()}
    small = [name for name in faces if faces[name] <= IFC_MAX_FACES]
    return max(small, key=faces.get) if small else min(faces, key=faces.get)


def _current_layers(ws, structure_id: str):
    """The structure's current layers revision, or, where it has none yet, an empty
    revision 0 (no elements, phases or materials) so that its geometry still exports."""
    from twin.catalog.layers import get_layers, history  # noqa: PLC0415
    from twin.models.layers import LayerFile, LayerRevision, Metadata  # noqa: PLC0415

    if history(ws, structure_id):  # (history checks that the structure exists)
        return get_layers(ws, structure_id)
    empty = LayerFile(metadata=Metadata(title=structure_id))
    return LayerRevision(structure_id=structure_id, rev=0, author="", created_at="", sha256="", layers=empty,
                         yaml_text="")


def export_package(ws, structure_id: str, survey_id: str, out: Path, formats: Sequence[str] | None = None, *,
                   base_uri: str | None = None, level: str | None = None,
                   on_step: Callable[[str], None] = lambda message: None) -> ExportReport:
    """Export the latest model of ``structure_id``/``survey_id`` with the current layers into ``out``.

    ``level`` is the mesh level of the IFC (see :func:`ifc_level`).
    Raises :class:`UsageError` (bad format, base URI, output folder, level, or a requested format the
    model cannot give), :class:`NotFoundError` (unknown structure or survey, no model),
    :class:`CRSError` (GeoJSON without a CRS); nothing is written then.
    """
    from twin.catalog.models import latest_model, model_crs  # noqa: PLC0415

    started = time.perf_counter()
    started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    wanted, explicit = parse_formats(formats)
    base_uri = _check_base_uri(base_uri) or ws.settings.base_uri
    out = Path(out)
    check_out(out)
    model = latest_model(ws, structure_id, survey_id)
    revision = _current_layers(ws, structure_id)
    unlabelled = revision.rev == 0
    cloud_path = model.cloud
    meshes = model.meshes
    crs = model_crs(ws, model)

    skipped: dict[str, str] = {}
    needs = {"glb": (bool(meshes), "the model has no mesh (its pipeline has no mesh stage)"),
             "ply": (cloud_path is not None or bool(meshes), "the model has no cloud and no mesh"),
             "laz": (cloud_path is not None or bool(meshes), "the model has no cloud and no mesh"),
             "copc": (cloud_path is not None, "the model has no cloud"),
             "3dtiles": (cloud_path is not None or bool(meshes), "the model has no cloud and no mesh"),
             "ifc": (bool(meshes), "the model has no mesh (its pipeline has no mesh stage)"),
             "geojson": (crs is not None or revision.layers.crs is not None,
                         "neither the model nor the layers have a coordinate system"),
             "gpkg": (crs is not None or revision.layers.crs is not None,
                      "neither the model nor the layers have a coordinate system")}
    if unlabelled:  # footprints are drawn from the layers' regions
        for name in ("geojson", "gpkg"):
            needs[name] = (False, f"the structure has no layers yet (twin layers set {structure_id} FILE)")
    for name, (ok, why) in needs.items():
        if name in wanted and not ok:
            if explicit:
                raise UsageError(f"cannot export {name} for {structure_id}/{survey_id}: {why}")
            skipped[name] = why
            wanted.remove(name)
    if level is not None and "ifc" not in wanted:
        raise UsageError(f"--level {level} chooses the level of the IFC export, which is not among the formats"
                         + (f": {skipped['ifc']}" if "ifc" in skipped else "; add -f ifc"))
    where = f"the model of {structure_id}/{survey_id}"

    report = ExportReport(
        structure_id=structure_id, survey_id=survey_id, model_key=model.key, pipeline=model.pipeline,
        layers_rev=revision.rev, layers_sha256=revision.sha256, out=str(out), formats=wanted, skipped=skipped,
        bag="bagit" in wanted, ifc_level=ifc_level(meshes, level, where) if "ifc" in wanted else None,
    )
    if unlabelled:
        report.warnings.append(f"{structure_id} has no layers yet: the export carries no element, phase or material "
                               f"(every label is -1, no data); add them with twin layers set {structure_id} FILE")
    if report.bag:
        missing = [key for key in ("organisation", "contact_name", "contact_email") if not getattr(ws.settings, key)]
        if missing:
            report.warnings.append(f"bag-info will have no {', '.join(missing)}: set {missing[0]}"
                                   + "".join(f", {m}" for m in missing[1:]) + f" in {ws.root / 'twin.yaml'}")
    labelled = model.provenance.get("labels") or {}
    if labelled.get("layers_sha256") and labelled["layers_sha256"] != revision.sha256:
        report.warnings.append(
            f"the model was labelled with layers revision {labelled.get('layers_rev')}; the export uses the "
            f"current one ({revision.rev}); process again to update the model itself"
        )

    missing = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
    created_parent = missing[-1] if missing else None  # removed again if the export fails
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.exporting-"))
    try:
        exports = work / "exports"
        exports.mkdir()
        _write_exports(ws, model, revision, exports, wanted, crs, base_uri, report, on_step, started_at)
        report.seconds = round(time.perf_counter() - started, 3)
        record = report.model_dump(mode="json")
        (exports / "export.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if report.bag:
            on_step("packing the BagIt bag (raw scans, provenance, SHA-512 manifests)")
            final = _write_bag(ws, model, revision, exports, work / "bag")
            prefix = "data/exports/"
        else:
            final, prefix = exports, ""
        report.files = [
            ExportedFile(path=f"{prefix}{f.path}", format=f.format, size_bytes=f.size_bytes)
            for f in [*report.files, ExportedFile(path="export.json", format="report",
                                                   size_bytes=(exports / "export.json").stat().st_size)]
        ]
        if report.bag:
            report.files += [
                ExportedFile(path=str(p.relative_to(final)), format="bagit", size_bytes=p.stat().st_size)
                for p in sorted(final.rglob("*")) if p.is_file() and not str(p.relative_to(final)).startswith(prefix)
            ]
        os.chmod(final, 0o755)
        if out.is_dir():
            out.rmdir()  # empty, checked above
        os.rename(final, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if created_parent is not None:
            shutil.rmtree(created_parent, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _write_exports(ws, model, revision, folder: Path, wanted: list[str], crs, base_uri: str | None,
                   report: ExportReport, on_step: Callable[[str], None], started_at: dt.datetime) -> None:
    from twin.export.gltf import vertex_colours_from_cloud  # noqa: PLC0415
    from twin.export.labelled import write_labelled_cloud, write_labelled_mesh, write_legend  # noqa: PLC0415
    from twin.io.ply_write import read_mesh_ply  # noqa: PLC0415
    from twin.io.registry import read_scan  # noqa: PLC0415
    from twin.ops.labelling import compile_layers, label_faces, label_points  # noqa: PLC0415

    layers = revision.layers
    compiled = compile_layers(layers)
    structure_id, survey_id = model.structure_id, model.survey_id
    stem = f"{structure_id}-{survey_id}"

    def done(path: Path, fmt: str) -> None:
        report.files.append(ExportedFile(path=str(path.relative_to(folder)), format=fmt,
                                         size_bytes=path.stat().st_size))

    cloud = None
    if ({"glb", "ply", "laz", "copc", "3dtiles", "ifc"} & set(wanted)) and model.cloud is not None:
        on_step(f"labelling the cloud ({model.point_count:,} points)")
        cloud = read_scan(model.cloud)
        cloud.attrs["element"] = label_points(compiled, cloud.xyz, cloud.origin)
    levels = {}
    every_level = bool({"glb", "ply", "laz", "3dtiles"} & set(wanted))
    for name, path in model.meshes.items():
        if every_level or name == report.ifc_level:
            on_step(f"labelling mesh level {name}")
            mesh = read_mesh_ply(path)
            if every_level and cloud is not None and mesh.vertex_attrs.get("rgb") is None:
                rgb = vertex_colours_from_cloud(mesh, cloud)
                if rgb is not None:
                    mesh.vertex_attrs["rgb"] = rgb
            mesh.vertex_attrs["element"] = label_points(compiled, mesh.vertices, mesh.origin)
            levels[name] = (mesh, label_faces(compiled, mesh, cloud=cloud,
                                              point_element=cloud.attrs["element"] if cloud is not None else None))
    if "glb" in wanted:
        from twin.export.gltf import write_glb  # noqa: PLC0415

        for name, (mesh, faces) in levels.items():
            on_step(f"writing GLB of level {name}")
            done(write_glb(mesh, folder / f"{stem}-{name}.glb", layers, compiled=compiled, face_element=faces,
                           crs=crs, structure_id=structure_id, level=name), "glb")
    for fmt in ("ply", "laz"):
        if fmt not in wanted:
            continue
        on_step(f"writing labelled {fmt.upper()} files")
        if cloud is not None:
            done(write_labelled_cloud(cloud, compiled, folder / f"{stem}-cloud.{fmt}", crs=crs), fmt)
        for name, (mesh, faces) in levels.items():
            done(write_labelled_mesh(mesh, compiled, folder / f"{stem}-mesh-{name}.{fmt}", crs=crs,
                                     face_element=faces), fmt)
    if "copc" in wanted and cloud is not None:
        on_step("writing the labelled cloud as COPC")
        done(write_labelled_cloud(cloud, compiled, folder / f"{stem}-cloud.copc.laz", crs=crs), "copc")
    if "3dtiles" in wanted:
        from twin.export.tiles3d import write_tileset  # noqa: PLC0415

        store = None
        if (Path(model.folder) / "tiles" / "tiles.json").exists():  # `twin tiles` made one: every point
            from twin.tiles import TileStore  # noqa: PLC0415

            store = TileStore.open(Path(model.folder) / "tiles")
            report.notes.append(f"3D Tiles: the cloud at full resolution from the model's tile store "
                                   f"({store.points:,} points before outliers), one content per tile")
        on_step("writing 3D Tiles (mesh levels and cloud, EXT_mesh_features + EXT_structural_metadata)")
        tileset = write_tileset(folder / f"{stem}-3dtiles", layers, levels=levels, cloud=cloud,
                                point_element=cloud.attrs["element"] if cloud is not None else None, crs=crs,
                                compiled=compiled, structure_id=structure_id, cloud_store=store)
        for path in tileset.paths:
            done(path, "3dtiles")
        report.warnings.extend(tileset.warnings)
    if {"ply", "laz", "copc"} & set(wanted):
        for path in write_legend(layers, compiled, folder / "legend.json"):
            done(path, "legend")
    if "geojson" in wanted:
        from twin.export.geojson import write_geojson  # noqa: PLC0415

        on_step("writing GeoJSON footprints")
        for path in write_geojson(layers, structure_id, folder, crs=crs):
            done(path, "geojson")
    if "gpkg" in wanted:
        from twin.export.gpkg import write_gpkg  # noqa: PLC0415

        on_step("writing the GeoPackage of the footprints")
        done(write_gpkg(layers, structure_id, folder / f"{structure_id}.gpkg", crs=crs), "gpkg")
    if "ifc" in wanted:
        from twin.export.ifc import write_ifc  # noqa: PLC0415

        mesh, faces = levels[report.ifc_level]
        on_step(f"writing IFC 4.3 of mesh level {report.ifc_level} ({mesh.n_faces:,} faces)")
        written = write_ifc(folder / f"{stem}-{report.ifc_level}.ifc", mesh, faces, layers, compiled=compiled,
                            crs=crs, structure_id=structure_id, level=report.ifc_level,
                            structure_name=next((s.name for s in ws.structures() if s.id == structure_id), None),
                            about={"Survey": survey_id, "ModelKey": model.key, "Pipeline": model.pipeline,
                                   "LayersRevision": revision.rev, "LayersSHA256": revision.sha256})
        done(written.path, "ifc")
        report.warnings.extend(written.warnings)
    if "jsonld" in wanted:  # last: it lists every file above with its checksum
        from twin.catalog.store import file_digest  # noqa: PLC0415
        from twin.export.jsonld import write_jsonld  # noqa: PLC0415

        on_step("writing JSON-LD (CIDOC-CRM, CRMba, CRMdig, GeoSPARQL)")
        surveys = [s for s in ws.surveys(structure_id) if s.id == survey_id]
        files = [{**f.model_dump(), "sha256": file_digest(folder / f.path, "sha256")} for f in report.files]
        export = {"id": f"{stem}-{started_at.strftime('%Y%m%dT%H%M%SZ')}", "structure_id": structure_id,
                  "survey_id": survey_id, "started_at": started_at.isoformat().replace("+00:00", "Z"),
                  "software": {"twin": twin.__version__}, "model_key": model.key,
                  "model_files": [o.get("sha256") for o in model.provenance.get("outputs") or [] if o.get("sha256")],
                  "layers_rev": revision.rev, "layers_sha256": revision.sha256}
        done(write_jsonld(layers, structure_id, folder / f"{structure_id}.jsonld", runs=[model.provenance],
                          surveys=surveys, base=base_uri or DEFAULT_BASE, crs=_pyproj_crs(crs, layers),
                          export=export, files=files), "jsonld")


def _pyproj_crs(crs, layers):
    """The footprints' CRS (the model's, else the layers'), or None when there is none."""
    from twin.errors import CRSError  # noqa: PLC0415
    from twin.export.geojson import layer_crs  # noqa: PLC0415

    try:
        return layer_crs(crs, layers)
    except CRSError:
        return None


def _raw_name(scan) -> str:
    name = scan.original_name
    if any(c in name for c in "%\r\n/\\") or not name.strip():
        name = f"{scan.sha256[:16]}{Path(name).suffix}"
    return f"{scan.station}/{name}"


def _write_bag(ws, model, revision, exports: Path, dest: Path) -> Path:
    from twin.export.bagit_package import bag_info, bag_payload, write_bag  # noqa: PLC0415

    scans = ws.scans(model.structure_id, model.survey_id)
    payload = bag_payload(
        exports=exports,
        raw_scans={_raw_name(s): ws.root / s.store_path for s in scans},
        provenance={
            f"model-{model.key[:16]}.json": model.provenance,
            "scans.json": [s.model_dump(mode="json") for s in scans],
        },
    )
    if revision.rev:
        payload[f"provenance/layers-rev-{revision.rev}.yaml"] = revision.yaml_text.encode("utf-8")
    settings = ws.settings
    info = bag_info(
        model.structure_id, model.survey_id, settings.organisation or settings.name,
        description=revision.layers.metadata.title, contact_name=settings.contact_name,
        contact_email=settings.contact_email, organization_address=settings.organisation_address,
        extra={"Model-Key": model.key, "Pipeline": model.pipeline, "Layers-Revision": str(revision.rev),
               "Layers-SHA256": revision.sha256, "Raw-Scans": str(len(scans))},
    )
    return write_bag(dest, payload, info)
