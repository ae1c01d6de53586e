"""3D Tiles export: the tileset's structure, the 3D Tiles 1.1 schema, the Khronos validator on
every content, placement on the globe against pyproj, and the local frame without a CRS.

The model: three spheres inside the example layers' platform, altar and roof, and a cube
outside every element (its corner is the known corner of the placement test), as a fine
and a coarse level of detail; the cloud is 20,000 points sampled on the fine level. Small
tile budgets make the cloud's octree split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_export_gltf import (
    Y_UP_TO_Z_UP,
    accessor,
    merged,
    primitives,
    property_table,
    read_glb,
    run_validator,
    scene_positions,
)
from twin.export.tiles3d import octree_cells, placement_frame, write_tileset
from twin.layers import load_layers
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.models.scan import CRSInfo
from twin.ops.labelling import compile_layers, label_faces, label_points

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "data" / "layers" / "example.yaml"
SCHEMA = REPO / "tests" / "data" / "3d-tiles-schema"
ORIGIN = np.array([749000.0, 1821000.0, 0.0])
CRS = CRSInfo(name="WGS 84 / UTM zone 48N", epsg=32648)
SPHERES = [((749020.0, 1821026.0, 5.3), 0.25), ((749020.0, 1821025.5, 6.3), 0.6), ((749020.0, 1821026.0, 12.0), 1.0)]
CUBE = ((749040.0, 1821040.0, 0.0), (749040.5, 1821040.5, 0.5))  # outside every element
CORNER = np.array(CUBE[0])
ROOT_POINTS, TILE_POINTS, N_POINTS = 2000, 5000, 20000


def _mesh(subdivisions: int) -> TriMesh:
    import trimesh

    parts = [trimesh.creation.icosphere(subdivisions=subdivisions, radius=r).apply_translation(c) for c, r in SPHERES]
    parts.append(trimesh.creation.box(bounds=CUBE))
    mesh = trimesh.util.concatenate(parts)
    return TriMesh(np.asarray(mesh.vertices) - ORIGIN, np.asarray(mesh.faces), ORIGIN)


@pytest.fixture(scope="module")
def layers():
    return load_layers(EXAMPLE)


@pytest.fixture(scope="module")
def model(layers):
    """Levels (name → (mesh, face labels)) and the labelled cloud."""
    import trimesh

    compiled = compile_layers(layers)
    levels = {}
    for name, subdivisions in (("fine", 4), ("coarse", 1)):
        mesh = _mesh(subdivisions)
        levels[name] = (mesh, label_faces(compiled, mesh))
    fine = levels["fine"][0]
    points, _ = trimesh.sample.sample_surface(trimesh.Trimesh(fine.vertices, fine.faces, process=False), N_POINTS,
                                              seed=1)
    rgb = np.random.default_rng(0).integers(0, 255, (N_POINTS, 3), dtype=np.uint8)
    cloud = PointCloud(np.asarray(points), ORIGIN, {"rgb": rgb})
    return levels, cloud, label_points(compiled, cloud.xyz, cloud.origin)


@pytest.fixture(scope="module")
def written(tmp_path_factory, layers, model):
    levels, cloud, element = model
    folder = tmp_path_factory.mktemp("tiles") / "pavilion-3dtiles"
    tileset = write_tileset(folder, layers, levels=levels, cloud=cloud, point_element=element, crs=CRS,
                            structure_id="pavilion", max_tile_points=TILE_POINTS, root_points=ROOT_POINTS)
    return folder, tileset


def tileset_validator():
    """A JSON Schema validator of tileset JSON from the vendored 3D Tiles 1.1 schema files.

    Their ``$id`` are bare file names while their ``$ref`` are relative paths between folders,
    so each file is registered under a URI made from its path (``$ref`` then resolve as the
    folders say)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    base = "https://3d-tiles-schema.invalid/"
    resources = []
    for path in sorted(SCHEMA.rglob("*.schema.json")):
        contents = {**json.loads(path.read_text(encoding="utf-8")), "$id": base + path.relative_to(SCHEMA).as_posix()}
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry = Registry().with_resources(resources)
    return Draft202012Validator(registry[base + "tileset.schema.json"].contents, registry=registry)


def content(path: Path) -> tuple[np.ndarray, np.ndarray, dict, bytes]:
    """A content's positions in the tileset frame (through its nodes, then y-up to z-up as a
    runtime does), its feature ids (the null id where it has none), and the document."""
    doc, binary = read_glb(path)
    both = merged(doc, binary)  # every element's mesh (a cloud's one primitive)
    gltf = scene_positions(doc, both["positions"])
    null = doc["extensions"]["EXT_structural_metadata"]["propertyTables"][0]["count"]  # one past the table's rows
    ids = np.where(both["ids"] < 0, null, both["ids"])
    return gltf @ Y_UP_TO_Z_UP.T, ids, doc, binary


def to_ecef(tileset_doc: dict, xyz: np.ndarray) -> np.ndarray:
    matrix = np.asarray(tileset_doc["root"]["transform"], dtype=np.float64).reshape(4, 4).T  # column-major
    return xyz @ matrix[:3, :3].T + matrix[:3, 3]


def pyproj_ecef(world: np.ndarray) -> np.ndarray:
    from pyproj import Transformer

    x, y, z = np.asarray(world, dtype=np.float64).T
    return np.column_stack(Transformer.from_crs("EPSG:32648", "EPSG:4978", always_xy=True).transform(x, y, z))


def tiles(doc: dict) -> list[dict]:
    out, todo = [], [doc["root"]]
    while todo:
        tile = todo.pop()
        out.append(tile)
        todo.extend(tile.get("children", []))
    return out


def inside(box: list[float], xyz: np.ndarray, slack: float = 1e-6) -> bool:
    centre, half = np.asarray(box[:3]), np.abs(np.asarray(box[3:]).reshape(3, 3)).sum(axis=0)
    return bool(np.all(np.abs(xyz - centre) <= half + slack))


# -- the files and the schema --------------------------------------------------------------------


def test_the_tileset_json_is_valid_against_the_3d_tiles_1_1_schema(written):
    folder, tileset = written
    doc = json.loads((folder / "tileset.json").read_text(encoding="utf-8"))
    assert doc == tileset.doc and doc["asset"]["version"] == "1.1"
    validator = tileset_validator()
    assert [e.message for e in validator.iter_errors(doc)] == []
    broken = json.loads(json.dumps(doc))  # the check can fail
    broken["root"]["children"][0]["geometricError"] = -1.0
    broken["root"]["boundingVolume"]["box"] = [0.0, 1.0]
    del broken["asset"]
    assert len(list(validator.iter_errors(broken))) == 3


def test_every_content_passes_the_khronos_validator(written):
    folder, tileset = written
    names = sorted(p.name for p in folder.iterdir())
    assert [p.name for p in tileset.paths][0] == "tileset.json" and sorted(p.name for p in tileset.paths) == names
    glbs = [n for n in names if n.endswith(".glb")]
    assert {"mesh-fine.glb", "mesh-coarse.glb", "cloud-root.glb", "cloud-0000.glb"} <= set(glbs)
    assert {t["content"]["uri"] for t in tiles(tileset.doc) if "content" in t} == set(glbs)
    for name in glbs:
        report = run_validator(folder / name)
        assert report["issues"]["numErrors"] == 0, (name, [m for m in report["issues"]["messages"]
                                                           if m["severity"] == 0])
        assert report["issues"]["numWarnings"] == 0, (name, report["issues"]["messages"])
    points = read_glb(folder / "cloud-root.glb")[0]["meshes"][0]["primitives"][0]
    assert points["mode"] == 0 and "indices" not in points and "COLOR_0" in points["attributes"]  # POINTS


# -- structure and geometric error ----------------------------------------------------------------


def test_mesh_levels_are_a_replace_chain_whose_error_is_the_deviation_from_the_finest(written):
    _, tileset = written
    root = tileset.doc["root"]
    assert root["refine"] == "ADD" and len(root["children"]) == 2
    coarse, cloud_root = root["children"]
    fine = coarse["children"][0]
    assert coarse["content"]["uri"] == "mesh-coarse.glb" and fine["content"]["uri"] == "mesh-fine.glb"
    assert coarse["refine"] == fine["refine"] == "REPLACE" and "children" not in fine
    assert root["geometricError"] == tileset.doc["geometricError"] > coarse["geometricError"]
    assert coarse["geometricError"] > fine["geometricError"] == 0
    # the coarse level's deviation from the fine one: about the sagitta of an icosphere-1 face
    # on the largest sphere (r = 1 m), far more than the fine level's edges; its error is that
    # or half its own mean edge length (how coarsely it draws element boundaries)
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=1, radius=1.0)
    sagitta = 1.0 - np.linalg.norm(sphere.triangles_center, axis=1).min()
    deviation = coarse["extras"]["deviationFromFinest"]
    assert 0.3 * sagitta < deviation <= sagitta + 1e-3, (deviation, sagitta)
    assert fine["extras"]["meanEdgeLength"] < deviation
    assert coarse["geometricError"] == pytest.approx(max(deviation, coarse["extras"]["meanEdgeLength"] / 2))
    diagonal = np.linalg.norm(2 * np.abs(np.asarray(root["boundingVolume"]["box"][3:]).reshape(3, 3)).sum(axis=0))
    assert root["geometricError"] == pytest.approx(diagonal)


def test_the_cloud_is_a_thinned_root_over_full_resolution_octree_cells(written, model):
    folder, tileset = written
    _, cloud, element = model
    cloud_root = tileset.doc["root"]["children"][1]
    frame, _ = placement_frame(CRS, tileset.doc["extras"]["anchor"])
    expected = frame.local(cloud.world_xyz)

    coarse, coarse_ids, *_ = content(folder / "cloud-root.glb")
    assert 0 < len(coarse) <= ROOT_POINTS and cloud_root["refine"] == "REPLACE"
    assert cloud_root["geometricError"] == pytest.approx(cloud_root["extras"]["spacing"])
    assert cloud_root["geometricError"] > cloud_root["extras"]["fullResolutionSpacing"] > 0
    from scipy.spatial import cKDTree

    distance, nearest = cKDTree(expected).query(coarse)
    null = len(load_layers(EXAMPLE).elements)
    assert distance.max() < 1e-3 and np.array_equal(coarse_ids, np.where(element < 0, null, element)[nearest])

    children = cloud_root["children"]
    assert len(children) > 1 and all(c["geometricError"] == 0 and "children" not in c for c in children)
    parts, ids = [], []
    for child in children:
        xyz, feature, *_ = content(folder / child["content"]["uri"])
        assert len(xyz) <= TILE_POINTS and len(xyz) == child["extras"]["points"]
        assert inside(child["boundingVolume"]["box"], xyz, 1e-4) and inside(cloud_root["boundingVolume"]["box"], xyz,
                                                                          1e-4)
        parts.append(xyz)
        ids.append(feature)
    got, got_ids = np.concatenate(parts), np.concatenate(ids)
    assert len(got) == len(cloud)  # full resolution: every point once
    distance, nearest = cKDTree(expected).query(got)
    assert distance.max() < 1e-3 and len(np.unique(nearest)) == len(cloud)
    assert np.array_equal(got_ids, np.where(element < 0, null, element)[nearest])  # each point's element
    assert {0, 4, 5} <= set(got_ids.tolist()) and null in got_ids  # platform, roof, altar and the unlabelled cube


def test_features_and_metadata_of_a_mesh_tile(written, layers):
    folder, _ = written
    xyz, ids, doc, binary = content(folder / "mesh-fine.glb")
    rows = property_table(doc, binary)
    assert [r["id"] for r in rows] == [e.id for e in layers.elements]
    altar = rows[[r["id"] for r in rows].index("altar")]
    assert altar["name"] == "Altar" and altar["primaryPhase"] == "construction-1805" and altar["phaseDates"] == ["1805"]
    assert doc["extensionsUsed"] == ["EXT_mesh_features", "EXT_structural_metadata"]
    assert "east, north, up" in doc["asset"]["extras"]["axes"] and doc["asset"]["extras"]["crs"] is None
    features = [p["extensions"]["EXT_mesh_features"]["featureIds"][0] for p in primitives(doc) if "extensions" in p]
    assert [f["featureCount"] for f in features] == [1, 1, 1]  # a mesh per element
    assert sorted(set(ids.tolist())) == sorted([rows.index(r) for r in rows if r["id"] in
                                                ("platform", "altar", "roof")] + [len(rows)])


# -- placement -------------------------------------------------------------------------------------


def test_a_known_corner_lands_within_a_centimetre_of_pyproj(written, model):
    folder, tileset = written
    levels, cloud, _ = model
    doc = tileset.doc
    matrix = np.asarray(doc["root"]["transform"]).reshape(4, 4).T
    assert np.allclose(matrix[:3, :3].T @ matrix[:3, :3], np.eye(3), atol=1e-12)  # ENU: a rotation
    assert np.allclose(matrix[3], [0, 0, 0, 1])
    from pyproj import Transformer

    anchor = np.asarray(doc["extras"]["anchor"])
    lon, lat, _ = Transformer.from_crs("EPSG:32648", "EPSG:4979", always_xy=True).transform(*anchor)
    up = [np.cos(np.radians(lat)) * np.cos(np.radians(lon)), np.cos(np.radians(lat)) * np.sin(np.radians(lon)),
          np.sin(np.radians(lat))]
    assert np.allclose(matrix[:3, 2], up, atol=1e-9)  # z is the ellipsoid's normal at the anchor
    assert np.allclose(matrix[:3, 3], pyproj_ecef(anchor[None])[0], atol=1e-6)

    for name in ("fine", "coarse"):
        xyz, *_ = content(folder / f"mesh-{name}.glb")
        ecef = to_ecef(doc, xyz)
        truth = pyproj_ecef(levels[name][0].world_vertices)
        from scipy.spatial import cKDTree

        distance, nearest = cKDTree(truth).query(ecef)
        assert distance.max() < 0.001 and len(np.unique(nearest)) == len(truth)  # every vertex, to the millimetre
        corner = pyproj_ecef(CORNER[None])[0]
        error = np.linalg.norm(ecef - corner, axis=1).min()
        assert error <= 0.01, f"the corner is {error * 1000:.2f} mm from pyproj's ECEF"  # ≤ 1 cm
    # a point of the cloud too
    xyz, *_ = content(folder / "cloud-root.glb")
    from scipy.spatial import cKDTree

    assert cKDTree(pyproj_ecef(cloud.world_xyz)).query(to_ecef(doc, xyz))[0].max() < 0.001


def test_without_a_crs_the_tileset_stays_in_the_models_frame_and_says_so(tmp_path, layers, model):
    levels, cloud, element = model
    tileset = write_tileset(tmp_path / "t", layers, levels=levels, cloud=cloud, point_element=element, crs=None,
                            max_tile_points=TILE_POINTS, root_points=ROOT_POINTS)
    doc = json.loads((tmp_path / "t" / "tileset.json").read_text(encoding="utf-8"))
    assert "transform" not in doc["root"]
    assert len(tileset.warnings) == 1 and "no coordinate system" in tileset.warnings[0]
    assert "not placed on the globe" in doc["extras"]["frame"] and doc["extras"]["crs"] is None
    assert [e.message for e in tileset_validator().iter_errors(doc)] == []
    xyz, *_ = content(tmp_path / "t" / "mesh-fine.glb")
    from scipy.spatial import cKDTree

    assert cKDTree(levels["fine"][0].world_vertices).query(xyz)[0].max() < 0.001  # the model's own coordinates
    assert inside(doc["root"]["boundingVolume"]["box"], xyz, 1e-4)


def test_an_export_without_a_crs_warns_in_the_report(cli, tmp_path):
    """Through `twin export`: a survey ingested without a CRS, processed, exported as 3D Tiles."""
    from tests.cli.test_cli_export import PIPELINE, _box_surface
    from tests.conftest import write_las

    rng = np.random.default_rng(0)
    xyz = _box_surface((10.0, 20.0, 5.0), (14.0, 24.0, 6.0), 8000, rng)
    write_las(tmp_path / "S1.laz", xyz=xyz, epsg=None)
    ws = tmp_path / "ws"
    (tmp_path / "tiny.yaml").write_text(PIPELINE, encoding="utf-8")
    (tmp_path / "layers.yaml").write_text(
        "metadata: {title: Local}\nelements:\n  - id: block\n    name: Block\n    class: E22_Human-Made_Object\n"
        "    region: {box: {min: [9.8, 19.8, 4.8], max: [14.2, 24.2, 6.2]}}\n    knowledge: {status: measured}\n",
        encoding="utf-8")
    for args in (("init", ws), ("ingest", tmp_path / "S1.laz", "--structure", "block", "--survey", "s1", "-w", ws),
                 ("layers", "set", "block", tmp_path / "layers.yaml", "-w", ws),
                 ("process", "block", "--survey", "s1", "--pipeline", tmp_path / "tiny.yaml", "-w", ws)):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr + result.stdout)
    result = cli("export", "block", "--survey", "s1", "-f", "3dtiles", "--out", tmp_path / "out", "-w", ws)
    assert result.exit_code == 0, result.stderr
    assert "warning: the survey has no coordinate system: the 3D Tiles are in the model's own frame" in result.stderr
    report = json.loads((tmp_path / "out" / "export.json").read_text(encoding="utf-8"))
    assert report["formats"] == ["3dtiles"] and any("no coordinate system" in w for w in report["warnings"])
    files = {f["path"] for f in report["files"] if f["format"] == "3dtiles"}
    assert {"block-s1-3dtiles/tileset.json", "block-s1-3dtiles/mesh-full.glb", "block-s1-3dtiles/mesh-small.glb",
            "block-s1-3dtiles/cloud-root.glb"} <= files
    doc = json.loads((tmp_path / "out" / "block-s1-3dtiles" / "tileset.json").read_text(encoding="utf-8"))
    assert "transform" not in doc["root"]


def test_a_compound_crs_without_its_geoid_grid_is_placed_with_a_warning():
    """EGM96 heights need a geoid grid; where pyproj lacks it (its own TransformerGroup says
    so), the export places the tiles by the ballpark transformation and warns."""
    import warnings

    from pyproj import CRS as PyprojCRS
    from pyproj.transformer import TransformerGroup

    compound = PyprojCRS.from_user_input("EPSG:32648+5773")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        grid_missing = not TransformerGroup(compound, "EPSG:4978", always_xy=True).best_available
    frame, problems = placement_frame(CRSInfo(name=compound.name, wkt=compound.to_wkt()), SPHERES[1][0])
    assert frame.transform is not None
    assert len(problems) == int(grid_missing) and all("ballpark" in p and "geoid" in p for p in problems)
    assert placement_frame(CRS, SPHERES[1][0])[1] == []  # plain UTM: nothing to say


# -- small parts and bad input ---------------------------------------------------------------------


def test_octree_cells_partition_the_points_within_the_budget():
    rng = np.random.default_rng(3)
    xyz = np.vstack([rng.random((7000, 3)) * [20, 10, 0.01], np.zeros((50, 3))])
    cells = octree_cells(xyz, 1000)
    assert all(len(c) <= 1000 for c in cells)
    assert np.array_equal(np.sort(np.concatenate(cells)), np.arange(len(xyz)))
    assert len(octree_cells(np.zeros((30, 3)), 10)) == 1  # identical points cannot split: one cell, no endless loop


def test_bad_input_is_refused(tmp_path, layers, model):
    levels, cloud, element = model
    with pytest.raises(ValueError, match="neither"):
        write_tileset(tmp_path / "a", layers)
    with pytest.raises(ValueError, match="one element label each"):
        write_tileset(tmp_path / "b", layers, cloud=cloud, point_element=element[:-1])
    with pytest.raises(ValueError, match="root_points"):
        write_tileset(tmp_path / "c", layers, levels=levels, root_points=10, max_tile_points=5)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("only_finest", [False, True])
def test_a_large_finest_level_is_split_in_space_every_face_once_whole(tmp_path, layers, model, only_finest):
    """Past ``max_tile_faces`` the finest level is an octree of tiles under the next
    coarser level (or under an empty tile when it is the only level): every face of the
    level in exactly one tile, with its element, each tile's box around its vertices,
    every content valid for the Khronos validator and the tileset for the schema."""
    levels, cloud, element = model
    if only_finest:
        levels = {"fine": levels["fine"]}
    fine, labels = levels["fine"]
    tileset = write_tileset(tmp_path / "t", layers, levels=levels, crs=CRS, structure_id="pavilion",
                            max_tile_faces=fine.n_faces // 5)
    assert [e.message for e in tileset_validator().iter_errors(tileset.doc)] == []
    branch = tileset.doc["root"]["children"][0]
    if only_finest:
        assert "content" not in branch and branch["geometricError"] > 0
    else:
        assert branch["content"]["uri"] == "mesh-coarse.glb"
    parts = branch["children"]
    assert len(parts) >= 5 and all(p["content"]["uri"].startswith("mesh-fine-") for p in parts)
    assert all(p["geometricError"] == 0 and "children" not in p for p in parts)
    frame = placement_frame(CRS, (lambda lo, hi: (lo + hi) / 2)(fine.world_vertices.min(axis=0),
                                                                  fine.world_vertices.max(axis=0)))[0]
    expected = frame.local(fine.world_vertices[fine.faces].mean(axis=1))  # the faces' centres, tileset frame
    found, found_ids = [], []
    for p in parts:
        doc, binary = read_glb(tmp_path / "t" / p["content"]["uri"])
        both = merged(doc, binary)
        xyz = scene_positions(doc, both["positions"]) @ Y_UP_TO_Z_UP.T
        assert inside(p["boundingVolume"]["box"], xyz, slack=1e-3)
        assert p["extras"]["faces"] == len(both["faces"])
        found.append(xyz[both["faces"]].mean(axis=1))
        found_ids.append(both["ids"][both["faces"][:, 0]])
        report = run_validator(tmp_path / "t" / p["content"]["uri"])
        assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0
    found, found_ids = np.concatenate(found), np.concatenate(found_ids)
    assert len(found) == fine.n_faces  # no face doubled, none lost
    from scipy.spatial import cKDTree

    gap, nearest = cKDTree(expected).query(found)
    assert gap.max() < 1e-3 and len(np.unique(nearest)) == fine.n_faces
    assert np.array_equal(found_ids, np.asarray(labels)[nearest])  # each face's element (-1: none)
    assert (found_ids >= 0).any() and (found_ids < 0).any()
