"""`twin export`: a model and its layers as GLB, PLY, LAZ, COPC, 3D Tiles, JSON-LD, GeoJSON, GeoPackage, IFC and
a BagIt package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, err, out, print_json


def export(
    structure: Annotated[str, typer.Argument(help="Structure id.")],
    survey: Annotated[str, typer.Option("--survey", help="Survey whose latest model to export.")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to create (absent or empty); with bagit it becomes the bag.")
    ],
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", metavar="FORMAT",
                     help="glb, ply, laz, copc, 3dtiles, jsonld, bagit, geojson, gpkg or ifc; repeat for several "
                          "(default: all)."),
    ] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="Mesh level of detail to write as IFC, e.g. 200k (default: the "
                                                 "finest of at most 200,000 faces).")
    ] = None,
    base_uri: Annotated[
        str | None, typer.Option("--base-uri", help="Namespace for the JSON-LD IRIs (default: the workspace's "
                                                      "base_uri in twin.yaml, else urn:twin:).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export the latest model of a survey, labelled with the structure's current layers.

    GLB per level of detail (EXT_mesh_features, EXT_structural_metadata, the scans' colours),
    PLY and LAZ of the cloud and the mesh with element, phase and material per point and a
    legend (PLY: scalar_element, scalar_phase, scalar_material, which CloudCompare loads as
    scalar fields; LAS: extra bytes with no-data -1, WKT1 CRS), the cloud as COPC, 3D Tiles
    1.1 of the mesh levels and the cloud (tileset.json, placed on the globe from the survey
    CRS; in the model's own frame, with a warning, without one), JSON-LD in
    CIDOC-CRM/CRMba/CRMdig listing every exported file with its SHA-256, GeoJSON footprints
    (valid MultiPolygons) in the structure's CRS and WGS 84, a GeoPackage for QGIS, and IFC
    4.3 for BIM tools (one mesh level, --level: an IfcColumn, IfcWall, IfcSlab, ... or
    IfcBuildingElementPart per element with its faces, phases, dates, materials with their
    Getty AAT ids and knowledge status in property sets, georeferenced by an IfcMapConversion
    from the survey CRS; the faces of no element in one proxy). With
    bagit (part of the default) the folder is a BagIt bag that also holds the raw scans and
    the provenance records; bag-info takes the contact from twin.yaml (organisation,
    organisation_address, contact_name, contact_email). Check it later with `twin verify
    FOLDER`. The folder appears whole or not at all.

    Example: twin export pavilion --survey survey-2024 --out exports/pavilion-2024
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.export.package import export_package  # noqa: PLC0415

    ws = Workspace.open(workspace)
    report = export_package(ws, structure, survey, out_dir, formats, base_uri=base_uri, level=level,
                            on_step=(lambda m: None) if as_json else (lambda m: err.print(m, markup=False)))
    if as_json:
        print_json(report)
        return
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False)
    for note in report.notes:
        err.print(f"note: {note}", markup=False)
    for fmt, why in report.skipped.items():
        out.print(f"skipped {fmt}: {why}", markup=False)
    for f in report.files:
        if f.format != "bagit":
            out.print(f"  {f.path}  ({f.format}, {f.size_bytes:,} bytes)", markup=False)
    kind = "BagIt bag" if report.bag else "folder"
    out.print(
        f"exported {structure}/{survey} (model {report.model_key[:12]}, layers revision {report.layers_rev}) "
        f"as {', '.join(report.formats)} into the {kind} {report.out} in {report.seconds:.1f} s",
        markup=False,
    )
