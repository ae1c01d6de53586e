"""A workspace with the generated 850-monument inventory and a few statuses worth exporting,
for the inventory export and status page tests (unit, CLI and browser).

- Điện Thái Hòa (a footprint, in the Imperial City): surveyed in 2024, its layers set, a
  georeferenced model whose cloud is its footprint's walls and flat roof sampled from z 5 to
  14 m, less a 4 x 3 m patch of its south wall (PALACE_HOLE): up to date, extruded to LoD1
  from 5 to 14 m, walls covered but for that hole, roof covered, one suggested station;
- a village monument with a footprint: surveyed in 2010 only: stale;
- a village monument with only a point: surveyed in 2023, its last comparison changed 30 %:
  significant change;
- a village monument whose footprint is two parts, one with a courtyard (a hole): a model in
  its scans' own frame (no CRS), z 2..8 m: extruded from 0 to 6 m, one BuildingPart per part;
- every other monument: never surveyed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.conftest import write_las
from twin.inventory import synthetic

AS_OF = dt.date(2025, 6, 1)
CLOUD_Z = (5.0, 14.0)
LOCAL_Z = (2.0, 8.0)
PALACE_HOLE = dict(face=0, u=(20.0, 24.0), z=(7.0, 10.0))  # on the footprint's first edge, its south face


@dataclass
class InventoryWorkspace:
    ws: object
    monuments: list[dict]
    palace: str  # structure ids
    stale: str
    changed: str
    parts: str
    parts_footprint: str  # WKT as imported


def _village(monuments: list[dict], footprint: bool, skip: set[str]) -> dict:
    return next(m for m in monuments[21:] if (m["footprint"] is not None) == footprint and m["parent"] is None
                and m["inventory_number"] not in skip)


def _model(ws, structure_id: str, survey_id: str, z: tuple[float, float], epsg: int | None, layers_rev=None,
           xyz=None) -> None:
    from twin.catalog import db

    folder = ws.root / "models" / structure_id / survey_id / "k"
    folder.mkdir(parents=True)
    if xyz is None:
        rng = np.random.default_rng(1)
        xyz = rng.random((400, 3)) * [20, 12, 0] + [749010.0, 1821020.0, 0]
        xyz[:, 2] = np.linspace(*z, len(xyz))
    write_las(folder / "cloud.las", xyz=xyz, epsg=epsg)
    provenance = {"crs": {"epsg": epsg} if epsg else None}
    if layers_rev:
        provenance["labels"] = {"layers_rev": layers_rev, "unlabelled_points": 100, "points_per_element": {"a": 300}}
    with db.transaction(ws.engine) as conn:
        conn.execute(db.models.insert().values(
            key=(structure_id + "k" * 64)[:64], structure_id=structure_id, survey_id=survey_id, pipeline="default",
            path=str(folder.relative_to(ws.root)), point_count=len(xyz), face_count=0, crs_epsg=epsg,
            provenance_json=json.dumps(provenance), created_at=db.now()))


def palace_cloud(footprint_wkt: str) -> np.ndarray:
    """The palace's walls and flat roof, 40 points a square metre, less PALACE_HOLE; its lowest
    and highest points exactly at CLOUD_Z."""
    import shapely

    from tests.unit.coverage_scene import WallPatch, prism_points

    corners = np.asarray(shapely.from_wkt(footprint_wkt).exterior.coords)[:-1]
    xyz = prism_points(corners, *CLOUD_Z, density=40.0, seed=4, wall_patches=[WallPatch(**PALACE_HOLE)], noise=0.0)
    return np.vstack([xyz, np.column_stack([corners[:2], CLOUD_Z])])


def make(root: Path, n: int = 850) -> InventoryWorkspace:
    from tests.cli.compare_workspace import layers_yaml
    from twin.catalog.comparisons import record_comparison
    from twin.catalog.ingest import ingest
    from twin.catalog.layers import set_layers
    from twin.catalog.workspace import init_workspace
    from twin.inventory.importer import import_inventory

    root.mkdir(parents=True, exist_ok=True)
    monuments = synthetic.generate(n, seed=7)
    palace = next(m for m in monuments if m["name_vi"] == "Điện Thái Hòa")
    stale = _village(monuments, True, set())
    changed = _village(monuments, False, set())
    parts = _village(monuments, True, {stale["inventory_number"]})
    x, y = parts["x"], parts["y"]
    parts["footprint"] = (
        f"MULTIPOLYGON ((({x - 20} {y - 10}, {x + 10} {y - 10}, {x + 10} {y + 10}, {x - 20} {y + 10}, "
        f"{x - 20} {y - 10}), ({x - 12} {y - 4}, {x - 12} {y + 4}, {x - 2} {y + 4}, {x - 2} {y - 4}, "
        f"{x - 12} {y - 4})), (({x + 14} {y - 5}, {x + 20} {y - 5}, {x + 20} {y + 5}, {x + 14} {y + 5}, "
        f"{x + 14} {y - 5})))")
    ws = init_workspace(root / "ws", name="hue-inventory")
    import_inventory(ws, synthetic.write_gpkg(monuments, root / "inventory.gpkg"))
    ids = {m["inventory_number"]: m["inventory_number"].lower() for m in (palace, stale, changed, parts)}
    scans = root / "scans"
    scans.mkdir()
    for i, (number, survey, date) in enumerate([(palace["inventory_number"], "2024", "2024-03-12"),
                                                 (stale["inventory_number"], "2010", "2010-05-01"),
                                                 (changed["inventory_number"], "2023", "2023-11-20"),
                                                 (parts["inventory_number"], "2025", "2025-01-15")]):
        ingest(ws, [write_las(scans / f"s{i}.las", n=200, seed=i)], ids[number], survey, survey_date=date)
    layers = root / "layers.yaml"
    layers.write_text(layers_yaml(), encoding="utf-8")
    set_layers(ws, ids[palace["inventory_number"]], layers, author="N. Lan")
    _model(ws, ids[palace["inventory_number"]], "2024", CLOUD_Z, 32648, layers_rev=1,
           xyz=palace_cloud(palace["footprint"]))
    _model(ws, ids[parts["inventory_number"]], "2025", LOCAL_Z, None)
    record_comparison(ws, structure_id=ids[changed["inventory_number"]], from_survey="2023", to_survey="2023",
                      method="m3c2", params={}, folder=root / "cmp", from_model=None, to_model=None, layers_rev=None,
                      summary={"figures": {"core_points": 1200, "with_distance": 1000, "significant": 300}})
    return InventoryWorkspace(ws=ws, monuments=monuments, palace=ids[palace["inventory_number"]],
                              stale=ids[stale["inventory_number"]], changed=ids[changed["inventory_number"]],
                              parts=ids[parts["inventory_number"]], parts_footprint=parts["footprint"])
