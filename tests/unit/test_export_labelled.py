"""Labelled PLY/LAZ exports and their legend: the same point reads back with the same ids, in
twin and in the readers of other programs (plyfile, trimesh, Open3D; the LAS 1.4 Extra Bytes
and WKT records parsed from the bytes as the specification lays them out)."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np
import pytest

import twin
from twin.export.labelled import (
    LAS_DESCRIPTIONS,
    PLY_LABELS,
    label_arrays,
    las_wkt,
    legend,
    write_labelled_cloud,
    write_labelled_mesh,
    write_legend,
)
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
    # what other readers need: described extra bytes, -1 declared as no-data, WKT1, who wrote it
    records = {r.name.rstrip(b"\0").decode(): r for r in las.header.vlrs.get("ExtraBytesVlr")[0].extra_bytes_structs}
    for name in ("element", "phase", "material"):
        assert las.point_format.dimension_by_name(name).description == LAS_DESCRIPTIONS[name]
        assert "-1 = none" in LAS_DESCRIPTIONS[name]
        assert records[name].no_data is not None and records[name].no_data.tolist() == [-1]
    wkt = las.header.vlrs.get("WktCoordinateSystemVlr")[0].string
    assert wkt.startswith('PROJCS["WGS 84 / UTM zone 48N"') and 'AUTHORITY["EPSG","32648"]' in wkt  # OGC WKT1
    assert las.header.global_encoding.wkt
    assert las.header.generating_software == f"twin {twin.__version__}"


def _las_records(path: Path) -> tuple[dict, dict[tuple[str, int], bytes]]:
    """The public header's fields and the VLRs (user id, record id) -> payload, read from the
    bytes by the LAS 1.4 R15 layout (no laspy)."""
    data = path.read_bytes()
    assert data[:4] == b"LASF"
    header = {
        "global_encoding": struct.unpack_from("<H", data, 6)[0],
        "version": (data[24], data[25]),
        "system": data[26:58].rstrip(b"\0").decode("ascii"),
        "software": data[58:90].rstrip(b"\0").decode("ascii"),
        "header_size": struct.unpack_from("<H", data, 94)[0],
        "point_offset": struct.unpack_from("<I", data, 96)[0],
        "n_vlrs": struct.unpack_from("<I", data, 100)[0],
        "point_format": data[104] & 0x3F,
        "record_length": struct.unpack_from("<H", data, 105)[0],
    }
    vlrs, at = {}, header["header_size"]
    for _ in range(header["n_vlrs"]):
        user = data[at + 2:at + 18].rstrip(b"\0").decode("ascii")
        record_id, length = struct.unpack_from("<HH", data, at + 18)
        vlrs[(user, record_id)] = data[at + 54:at + 54 + length]
        at += 54 + length
    return header, vlrs | {("points", 0): data[header["point_offset"]:]}


def test_las_extra_bytes_and_crs_by_the_specification(tmp_path, cloud, compiled):
    """Read the plain .las as a reader without laspy does: the Extra Bytes record (LASF_Spec 4,
    192 bytes per field) names each label, says int32, sets the no-data option bit with -1
    and describes it; the WKT record (LASF_Projection 2112) holds OGC WKT1; the first point's
    extra bytes hold its element."""
    path = write_labelled_cloud(cloud, compiled, tmp_path / "cloud.las", crs=CRS)
    header, vlrs = _las_records(path)
    assert header["version"] == (1, 4) and header["point_format"] == 7  # colour: format 7
    assert header["software"] == f"twin {twin.__version__}" and header["system"] == "EXTRACTION"
    assert header["global_encoding"] & 0b1_0000  # bit 4: the CRS is WKT
    wkt = vlrs[("LASF_Projection", 2112)].rstrip(b"\0").decode("utf-8")
    assert wkt.startswith("PROJCS[") and "UNIT[" in wkt and not wkt.startswith(("PROJCRS", "GEOGCRS"))
    extra = vlrs[("LASF_Spec", 4)]
    fields = {}
    for i in range(len(extra) // 192):
        record = extra[i * 192:(i + 1) * 192]
        name = record[4:36].rstrip(b"\0").decode("ascii")
        fields[name] = {"type": record[2], "options": record[3], "no_data": struct.unpack_from("<q", record, 40)[0],
                        "description": record[160:192].rstrip(b"\0").decode("ascii")}
    assert list(fields)[:3] == ["element", "phase", "material"]
    for name in ("element", "phase", "material"):
        f = fields[name]
        assert f["type"] == 6  # LAS data type 6: signed 32-bit
        assert f["options"] & 1 and f["no_data"] == -1  # bit 0: no_data is relevant
        assert f["description"] == LAS_DESCRIPTIONS[name]
    # point 0: format 7 is 36 bytes, then the extra bytes in record order (element first)
    points = vlrs[("points", 0)]
    element0 = struct.unpack_from("<i", points, 36)[0]
    assert element0 == label_points(compiled, cloud.xyz[:1], cloud.origin)[0] == compiled.element_index("column-ne")


def test_las_wkt_is_wkt1_and_none_without_a_crs():
    assert las_wkt(None) is None
    assert las_wkt(CRSInfo(epsg=4326)).startswith('GEOGCS["WGS 84"')
    assert las_wkt(CRS).startswith('PROJCS["WGS 84 / UTM zone 48N"')


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


def _ply_header(path: Path) -> list[str]:
    head = path.read_bytes()[:4000].split(b"end_header")[0].decode("ascii")
    return head.splitlines()


def test_ply_cloud_has_georeferenced_doubles_and_scalar_labels(tmp_path, cloud, compiled):
    """What CloudCompare needs: the labels as ``scalar_*`` properties (it drops the others) and
    the coordinates themselves (doubles, no origin in a comment to add)."""
    from plyfile import PlyData

    path = write_labelled_cloud(cloud, compiled, tmp_path / "cloud.ply", crs=CRS)
    header = _ply_header(path)
    assert {"property double x", "property double y", "property double z", "property int scalar_element",
            "property int scalar_phase", "property int scalar_material"} <= set(header)
    assert not [line for line in header if line.startswith("property") and line.split()[-1] in
                ("element", "phase", "material")]
    assert "comment twin_crs EPSG:32648" in header and not any("twin_origin" in line for line in header)
    vertex = PlyData.read(str(path))["vertex"].data
    world = np.column_stack([vertex["x"], vertex["y"], vertex["z"]])
    assert np.abs(world - cloud.world_xyz).max() < 1e-9  # exact: the doubles are the coordinates
    expected = label_points(compiled, cloud.xyz, cloud.origin)
    assert np.array_equal(vertex["scalar_element"], expected)
    assert np.array_equal(vertex["scalar_phase"], compiled.phase_of(expected))
    assert np.array_equal(vertex["scalar_material"], compiled.material_of(expected))
    assert np.array_equal(np.column_stack([vertex["red"], vertex["green"], vertex["blue"]]), cloud.attrs["rgb"])
    assert np.allclose(vertex["scalar_intensity"], cloud.attrs["intensity"])
    assert PLY_LABELS == {"element": "scalar_element", "phase": "scalar_phase", "material": "scalar_material"}


def test_ply_cloud_reads_back_in_twin_and_open3d(tmp_path, cloud, compiled):
    from twin._deps import open3d
    from twin.io.registry import read_scan

    path = write_labelled_cloud(cloud, compiled, tmp_path / "cloud.ply", crs=CRS)
    expected = label_points(compiled, cloud.xyz, cloud.origin)
    back = read_scan(path)  # twin's reader: every other property under its own name
    assert np.abs(back.world_xyz - cloud.world_xyz).max() < 1e-6
    assert np.array_equal(np.asarray(back.attrs["scalar_element"]), expected)
    o3d = open3d()
    tensor = o3d.t.io.read_point_cloud(str(path))
    assert np.array_equal(tensor.point["scalar_element"].numpy().ravel().astype(int), expected)
    assert np.abs(tensor.point["positions"].numpy() - cloud.world_xyz).max() < 1e-6
    assert len(o3d.io.read_point_cloud(str(path)).points) == len(cloud)


def test_ply_mesh_has_vertex_and_face_labels(tmp_path, mesh, compiled):
    import trimesh

    path = write_labelled_mesh(mesh, compiled, tmp_path / "mesh.ply")
    loaded = trimesh.load(str(path), process=False)
    raw = loaded.metadata["_ply_raw"]
    vertex_element = np.asarray(raw["vertex"]["data"]["scalar_element"]).ravel()
    face_element = np.asarray(raw["face"]["data"]["scalar_element"]).ravel()
    assert (vertex_element == label_points(compiled, mesh.vertices, mesh.origin)).all()
    assert (face_element == label_faces(compiled, mesh)).all()
    assert (np.asarray(raw["face"]["data"]["scalar_material"]).ravel() == compiled.material_of(face_element)).all()
    assert len(loaded.faces) == mesh.n_faces
    assert np.abs(np.asarray(loaded.vertices) - (mesh.vertices + mesh.origin)).max() < 1e-9


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
