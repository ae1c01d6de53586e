"""Labelled PLY/LAZ exports and their legend: the same point reads back with the same ids."""

from __future__ import annotations

import csv
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from twin.export.labelled import label_arrays, legend, write_labelled_cloud, write_labelled_mesh, write_legend
from twin.layers import load_layers
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.models.scan import CRSInfo
from twin.ops.labelling import compile_layers, label_faces, label_points

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "layers" / "example.yaml"
ORIGIN = np.array([749000.0, 1821000.0, 0.0])
CRS = CRSInfo(name="WGS 84 / UTM zone 48N", epsg=32648, wkt=None)


@pytest.fixture(scope="module")
def layers():
    return load_layers(EXAMPLE)


@pytest.fixture(scope="module")
def compiled(layers):
    return compile_layers(layers)


@pytest.fixture
def cloud() -> PointCloud:
    """Points over the pavilion (platform, columns, altar, roof) and around it, sub-mm coordinates."""
    rng = np.random.default_rng(7)
    world = rng.random((5000, 3)) * [26, 18, 10] + [749007.0, 1821017.0, 4.5]
    world[0] = [749027.0123, 1821029.0456, 8.0789]  # inside column-ne
    rgb = rng.integers(0, 255, (len(world), 3), dtype=np.uint8)
    return PointCloud(world - ORIGIN, ORIGIN, {"rgb": rgb, "intensity": rng.random(len(world)).astype(np.float32)})


@pytest.fixture
def mesh() -> TriMesh:
    import trimesh

    parts = [trimesh.creation.box(bounds=b) for b in (
        ((749010.0, 1821020.0, 5.0), (749030.0, 1821032.0, 5.6)),
        ((749018.5, 1821024.5, 5.6), (749021.5, 1821026.5, 6.9)),
        ((749040.0, 1821040.0, 0.0), (749041.0, 1821041.0, 1.0)),
    )]
    m = trimesh.util.concatenate(parts)
    return TriMesh(np.asarray(m.vertices) - ORIGIN, m.faces, ORIGIN)


def ply_extended() -> bool:
    from twin.io.ply_write import write_cloud_ply

    return "vertex_props" in inspect.signature(write_cloud_ply).parameters


needs_ply_props = pytest.mark.skipif(not ply_extended(), reason="twin.io.ply_write has no vertex_props/face_props yet")


# -- LAS / LAZ ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".laz", ".las"])
def test_laz_points_read_back_with_their_element_phase_and_material(tmp_path, cloud, compiled, layers, suffix):
    import laspy

    path = write_labelled_cloud(cloud, compiled, tmp_path / f"cloud{suffix}", crs=CRS)
    las = laspy.read(str(path))
    assert {"element", "phase", "material"} <= set(las.point_format.extra_dimension_names)
    element = np.asarray(las["element"])
    expected = label_points(compiled, cloud.xyz, cloud.origin)
    assert element.dtype == np.int32 and (element == expected).all()
    assert (np.asarray(las["phase"]) == compiled.phase_of(expected)).all()
    assert (np.asarray(las["material"]) == compiled.material_of(expected)).all()
    # the same point: the first one, inside the north-east column
    world = np.column_stack([las.x, las.y, las.z])
    assert np.abs(world[0] - cloud.world_xyz[0]).max() < 1e-3
    assert compiled.element_ids[element[0]] == "column-ne"
    assert compiled.phase_ids[las["phase"][0]] == "reconstruction-1833"  # its latest (re)construction
    assert compiled.material_ids[las["material"][0]] == "ironwood"  # from the columns group
    assert set(np.unique(element)) >= {-1, *range(len(compiled.element_ids) - 1)} - {3}  # every leaf, and none
    assert las.header.parse_crs().to_epsg() == 32648


def test_laz_uses_the_clouds_own_labels_when_it_has_them(tmp_path, cloud, compiled):
    import laspy

    own = np.full(len(cloud), 4, dtype=np.int32)  # say everything is the roof
    labelled = PointCloud(cloud.xyz, cloud.origin, {**cloud.attrs, "element": own})
    las = laspy.read(str(write_labelled_cloud(labelled, compiled, tmp_path / "c.laz")))
    assert (np.asarray(las["element"]) == 4).all()


def test_mesh_vertices_as_laz(tmp_path, mesh, compiled):
    import laspy

    las = laspy.read(str(write_labelled_mesh(mesh, compiled, tmp_path / "mesh.laz", crs=CRS)))
    assert len(las.points) == len(mesh.vertices)
    assert (np.asarray(las["element"]) == label_points(compiled, mesh.vertices, mesh.origin)).all()


def test_labels_from_other_layers_are_refused(tmp_path, cloud, compiled):
    with pytest.raises(ValueError, match="other layers"):
        write_labelled_cloud(cloud, compiled, tmp_path / "c.laz", element=np.full(len(cloud), 50))
    with pytest.raises(ValueError, match="labels for"):
        write_labelled_cloud(cloud, compiled, tmp_path / "c.laz", element=np.zeros(3, dtype=np.int32))
    with pytest.raises(ValueError, match=".ply, .las, .laz or .copc.laz"):
        write_labelled_cloud(cloud, compiled, tmp_path / "c.xyz")
    assert list(tmp_path.iterdir()) == []


def test_label_arrays_follow_the_compiled_lookups(compiled):
    element = np.array([-1, 0, 1, 4], dtype=np.int32)
    arrays = label_arrays(compiled, element)
    assert arrays["phase"].tolist() == [-1, 0, 1, 0]
    assert arrays["material"].tolist() == [-1, 0, 1, 2]
    assert all(a.dtype == np.int32 for a in arrays.values())


# -- PLY ----------------------------------------------------------------------------------------


@needs_ply_props
def test_ply_cloud_reads_back_with_labels(tmp_path, cloud, compiled):
    from twin.io.registry import read_scan

    path = write_labelled_cloud(cloud, compiled, tmp_path / "cloud.ply", crs=CRS)
    back = read_scan(path)
    from twin.io.ply_write import read_mesh_ply_origin

    world = back.world_xyz + read_mesh_ply_origin(path)
    assert np.abs(world - cloud.world_xyz).max() < 1e-3
    expected = label_points(compiled, cloud.xyz, cloud.origin)
    assert (np.asarray(back.attrs["element"]) == expected).all()
    assert (np.asarray(back.attrs["phase"]) == compiled.phase_of(expected)).all()
    assert (np.asarray(back.attrs["material"]) == compiled.material_of(expected)).all()
    assert "comment twin_crs EPSG:32648" in path.read_bytes()[:2000].decode("ascii", "replace")


@needs_ply_props
def test_ply_mesh_has_vertex_and_face_labels(tmp_path, mesh, compiled):
    import trimesh

    path = write_labelled_mesh(mesh, compiled, tmp_path / "mesh.ply")
    loaded = trimesh.load(str(path), process=False)
    raw = loaded.metadata["_ply_raw"]
    vertex_element = np.asarray(raw["vertex"]["data"]["element"]).ravel()
    face_element = np.asarray(raw["face"]["data"]["element"]).ravel()
    assert (vertex_element == label_points(compiled, mesh.vertices, mesh.origin)).all()
    assert (face_element == label_faces(compiled, mesh)).all()
    assert (np.asarray(raw["face"]["data"]["material"]).ravel() == compiled.material_of(face_element)).all()
    assert len(loaded.faces) == mesh.n_faces


# -- the legend ----------------------------------------------------------------------------------


def test_legend_names_every_value(layers, compiled):
    table = legend(layers, compiled)
    assert table["none"] == -1
    assert [e["id"] for e in table["elements"]] == list(compiled.element_ids)
    assert [e["value"] for e in table["elements"]] == list(range(len(compiled.element_ids)))
    column = table["elements"][compiled.element_index("column-ne")]
    assert column["phases"] == ["reconstruction-1833", "construction-1805"]
    assert column["primary_phase"] == "reconstruction-1833" and column["primary_material"] == "ironwood"
    assert column["region"] == "oriented_box"
    restoration = table["phases"][compiled.phase_index("restoration-1920s")]
    assert (restoration["date"], restoration["earliest"], restoration["latest"]) == ("1920/1925", "1920-01-01",
                                                                                    "1925-12-31")
    tile = table["materials"][compiled.material_index("tile")]
    assert tile["aat"] == "http://vocab.getty.edu/aat/300010669" and tile["properties"]["glazed"] is True


def test_legend_files_json_and_csv(tmp_path, layers, compiled):
    json_path, csv_path = write_legend(layers, compiled, tmp_path / "legend.json")
    assert csv_path == tmp_path / "legend.csv"
    assert json.loads(json_path.read_text(encoding="utf-8")) == legend(layers, compiled)
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    by_key = {(r["attribute"], r["id"]): r for r in rows}
    assert by_key[("material", "stone")]["aat"] == "http://vocab.getty.edu/aat/300011176"
    assert by_key[("material", "stone")]["value"] == "0"
    assert by_key[("phase", "reconstruction-1833")]["date"] == "1833~"
    assert by_key[("element", "roof")]["materials"] == "tile ironwood"
    assert rows[0]["value"] == "-1"


def test_legend_refuses_compiled_layers_of_another_file(layers):
    from twin.models.layers import LayerFile

    other = LayerFile.model_validate({"metadata": {"title": "x"}})
    with pytest.raises(ValueError, match="do not match"):
        legend(layers, compile_layers(other))
