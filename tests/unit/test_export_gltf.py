"""GLB export: Khronos validation, millimetre round trip, feature ids and the property table,
no degenerate or duplicate faces, the scans' colours on the mesh vertices."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from twin.export.gltf import (
    redundant_faces,
    split_by_face_labels,
    srgb_to_linear,
    vertex_colours_from_cloud,
    write_glb,
    write_glb_levels,
)
from twin.layers import load_layers
from twin.models.mesh import TriMesh
from twin.models.scan import CRSInfo
from twin.ops.labelling import compile_layers, label_faces

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "data" / "layers" / "example.yaml"
VALIDATOR = REPO / "tools" / "validate_gltf.mjs"
ORIGIN = np.array([749000.0, 1821000.0, 0.0])
CRS = CRSInfo(name="WGS 84 / UTM zone 48N", epsg=32648, wkt=None)

# boxes inside the example's platform, altar and roof, and one outside every element
BOXES = [
    ((749010.0, 1821020.0, 5.0), (749030.0, 1821032.0, 5.6)),
    ((749018.1234, 1821024.5678, 5.6), (749021.9876, 1821026.5432, 6.9)),
    ((749009.5, 1821019.5, 10.5), (749030.5, 1821032.5, 13.9)),
    ((749040.0, 1821040.0, 0.0), (749041.0, 1821041.0, 1.0)),
]


def boxes_world(boxes=BOXES) -> tuple[np.ndarray, np.ndarray]:
    """World vertices (float64) and faces of axis-aligned boxes."""
    import trimesh

    parts = [trimesh.creation.box(bounds=[lo, hi]) for lo, hi in boxes]
    mesh = trimesh.util.concatenate(parts)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces)


@pytest.fixture(scope="module")
def layers():
    return load_layers(EXAMPLE)


@pytest.fixture
def mesh() -> TriMesh:
    world, faces = boxes_world()
    return TriMesh(world - ORIGIN, faces, ORIGIN)


def read_glb(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data, 0)
    assert (magic, version, total) == (b"glTF", 2, len(data))
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON"
    doc = json.loads(data[20 : 20 + json_len])
    bin_len, bin_type = struct.unpack_from("<I4s", data, 20 + json_len)
    assert bin_type == b"BIN\0"
    return doc, data[28 + json_len : 28 + json_len + bin_len]


_NUMPY = {5121: "u1", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_WIDTH = {"SCALAR": 1, "VEC3": 3}


def accessor(doc: dict, binary: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(_NUMPY[acc["componentType"]])
    width = _WIDTH[acc["type"]]
    stride = view.get("byteStride", dtype.itemsize * width)
    start = view["byteOffset"] + acc.get("byteOffset", 0)
    rows = [np.frombuffer(binary, dtype, width, start + i * stride) for i in range(acc["count"])]
    out = np.array(rows)
    return out[:, 0] if width == 1 else out


def colour_bytes(doc: dict, binary: bytes, primitive: dict) -> np.ndarray:
    """COLOR_0 (linear light, normalised) back as the sRGB bytes it was made from."""
    acc = doc["accessors"][primitive["attributes"]["COLOR_0"]]
    assert acc.get("normalized") and acc["componentType"] in (5121, 5123)
    c = accessor(doc, binary, primitive["attributes"]["COLOR_0"]) / (255.0 if acc["componentType"] == 5121 else 65535.0)
    srgb = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.round(srgb * 255.0).astype(np.uint8)


def primitives(doc: dict) -> list[dict]:
    return [prim for m in doc["meshes"] for prim in m["primitives"]]


def merged(doc: dict, binary: bytes) -> dict:
    """Every primitive (one per element) read and concatenated: ``positions`` (float64
    local), ``faces`` (indices into them), ``ids`` (the feature id, -1 where a primitive has
    none or the null id), ``colours`` (sRGB bytes, when every primitive has COLOR_0)."""
    positions, faces, ids, colours = [], [], [], []
    offset = 0
    for prim in primitives(doc):
        local = accessor(doc, binary, prim["attributes"]["POSITION"]).astype(np.float64)
        positions.append(local)
        if "indices" in prim:  # (a cloud's POINTS primitive has none)
            faces.append(accessor(doc, binary, prim["indices"]).reshape(-1, 3).astype(np.int64) + offset)
        if "_FEATURE_ID_0" in prim["attributes"]:
            raw = accessor(doc, binary, prim["attributes"]["_FEATURE_ID_0"]).astype(np.int64)
            null = prim["extensions"]["EXT_mesh_features"]["featureIds"][0].get("nullFeatureId")
            ids.append(np.where(raw == null, -1, raw))
        else:
            ids.append(np.full(len(local), -1))
        if "COLOR_0" in prim["attributes"]:
            colours.append(colour_bytes(doc, binary, prim))
        offset += len(local)
    return {"positions": np.vstack(positions), "faces": np.vstack(faces) if faces else np.empty((0, 3), np.int64),
            "ids": np.concatenate(ids),
            "colours": np.vstack(colours) if len(colours) == len(positions) else None}


def view_bytes(doc: dict, binary: bytes, index: int) -> bytes:
    view = doc["bufferViews"][index]
    return binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]


def property_table(doc: dict, binary: bytes) -> list[dict]:
    """Decode the element property table after the 3D Metadata binary table format."""
    meta = doc["extensions"]["EXT_structural_metadata"]
    schema = meta["schema"]
    table = meta["propertyTables"][0]
    cls = schema["classes"][table["class"]]["properties"]
    rows = [dict() for _ in range(table["count"])]
    for name, column in table["properties"].items():
        definition = cls[name]
        values = view_bytes(doc, binary, column["values"])
        if definition["type"] == "STRING":
            offsets = np.frombuffer(view_bytes(doc, binary, column["stringOffsets"]), "<u4")
            strings = [values[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]
            if definition.get("array"):
                arrays = np.frombuffer(view_bytes(doc, binary, column["arrayOffsets"]), "<u4")
                for i, row in enumerate(rows):
                    row[name] = strings[arrays[i] : arrays[i + 1]]
            else:
                for row, s in zip(rows, strings, strict=True):
                    row[name] = s
        elif definition["type"] == "ENUM":
            names = {v["value"]: v["name"] for v in schema["enums"][definition["enumType"]]["values"]}
            for row, v in zip(rows, np.frombuffer(values, "<u2"), strict=True):
                row[name] = names[int(v)]
        elif definition["type"] == "BOOLEAN":
            bits = np.unpackbits(np.frombuffer(values, "u1"), bitorder="little")
            for row, v in zip(rows, bits, strict=False):
                row[name] = bool(v)
    return rows


def axes_node(doc: dict) -> dict:
    """The node that turns the CRS's z-up into glTF's y-up, above every element's node."""
    return next(n for n in doc["nodes"] if "rotation" in n)


Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # glTF (x, y, z) -> (x, -z, y)


def _node_matrix(node: dict) -> np.ndarray:
    """A node's local transform (4x4, float64): its matrix, else T * R * S."""
    if "matrix" in node:
        return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T  # column-major
    x, y, z, w = node.get("rotation", [0.0, 0.0, 0.0, 1.0])
    out = np.eye(4)
    out[:3, :3] = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    out[:3, :3] *= np.asarray(node.get("scale", [1.0, 1.0, 1.0]))
    out[:3, 3] = node.get("translation", [0.0, 0.0, 0.0])
    return out


def scene_positions(doc: dict, local: np.ndarray) -> np.ndarray:
    """The mesh's vertices in glTF's world frame (y-up), through every node from the scene's
    root to the mesh's, in float64 as a careful viewer composes them."""
    parent = {child: i for i, n in enumerate(doc["nodes"]) for child in n.get("children", [])}
    index = next(i for i, n in enumerate(doc["nodes"]) if "mesh" in n)
    matrix = np.eye(4)
    while index is not None:
        matrix = _node_matrix(doc["nodes"][index]) @ matrix
        index = parent.get(index)
    return np.asarray(local, dtype=np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def crs_positions(doc: dict, local: np.ndarray) -> np.ndarray:
    """The mesh's vertices in the CRS's axes (z-up): the scene's world turned back from y-up."""
    return scene_positions(doc, local) @ Y_UP_TO_Z_UP.T


# -- the Khronos validator ----------------------------------------------------------------------


def run_validator(path: Path) -> dict:
    node = shutil.which("node")
    installed = (REPO / "tools" / "node_modules" / "gltf-validator").is_dir()
    if node is None or not installed:
        why = "node is not installed" if node is None else "run `npm ci --prefix tools` to install gltf-validator"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the glTF validator cannot run under CI: {why}")
        pytest.skip(why)
    done = subprocess.run([node, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_glb_passes_the_khronos_validator_with_zero_errors(tmp_path, mesh, layers):
    path = write_glb(mesh, tmp_path / "pavilion-lod0.glb", layers, crs=CRS, structure_id="pavilion", level="lod0")
    report = run_validator(path)
    errors = [m for m in report["issues"]["messages"] if m["severity"] == 0]
    assert report["issues"]["numErrors"] == 0, errors
    assert report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    assert report["info"]["totalTriangleCount"] == mesh.n_faces


def test_glb_with_colours_normals_and_many_elements_passes_the_validator(tmp_path):
    """uint16 feature ids (more than 255 elements), COLOR_0 and NORMAL."""
    from twin.models.layers import LayerFile

    n = 300
    elements = [{"id": f"e{i}", "name": f"element {i}", "class": "B5_Stratigraphic_Building_Unit",
                 "knowledge": {"status": "measured"},
                 "region": {"box": {"min": [749000.0 + i, 1821000.0, 0.0], "max": [749001.0 + i, 1821001.0, 1.0]}}}
                for i in range(n)]
    layers = LayerFile.model_validate({"metadata": {"title": "row"}, "elements": elements})
    world, faces = boxes_world([((749000.2 + i, 1821000.2, 0.2), (749000.8 + i, 1821000.8, 0.8)) for i in range(n)])
    rng = np.random.default_rng(0)
    mesh = TriMesh(world - ORIGIN, faces, ORIGIN, {"rgb": rng.integers(0, 255, (len(world), 3), dtype=np.uint8),
                                                   "normals": rng.normal(size=(len(world), 3))})
    path = write_glb(mesh, tmp_path / "row.glb", layers, crs=CRS)
    doc, binary = read_glb(path)
    assert len(primitives(doc)) == n  # one mesh per element
    for prim in primitives(doc):
        assert doc["accessors"][prim["attributes"]["_FEATURE_ID_0"]]["componentType"] == 5123
        assert {"COLOR_0", "NORMAL"} <= set(prim["attributes"])
        assert prim["extensions"]["EXT_mesh_features"]["featureIds"][0]["featureCount"] == 1
    assert sorted(set(merged(doc, binary)["ids"].tolist())) == list(range(n))
    report = run_validator(path)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]


# -- coordinates --------------------------------------------------------------------------------


def test_a_millimetre_survives_the_round_trip(tmp_path, mesh, layers):
    path = write_glb(mesh, tmp_path / "m.glb", layers, crs=CRS)
    doc, binary = read_glb(path)
    local = merged(doc, binary)["positions"]
    world = crs_positions(doc, local)  # through the nodes' float64 transforms from JSON
    original = mesh.vertices + mesh.origin
    from scipy.spatial import cKDTree

    distance, nearest = cKDTree(original).query(world)
    assert distance.max() < 1e-3  # every written vertex is an original one, to the millimetre
    assert distance.max() < 1e-4  # (in fact to a tenth)
    assert set(nearest) == set(range(len(original)))  # and none is lost
    # POSITION min/max describe the float32 data exactly (the validator checks this too)
    for prim in primitives(doc):
        acc = doc["accessors"][prim["attributes"]["POSITION"]]
        part = accessor(doc, binary, prim["attributes"]["POSITION"]).astype(np.float64)
        assert acc["min"] == part.min(axis=0).tolist() and acc["max"] == part.max(axis=0).tolist()


def test_world_coordinates_in_the_vertices_are_moved_into_the_translation(tmp_path, layers):
    world, faces = boxes_world()
    mesh = TriMesh(world, faces, np.zeros(3))  # no origin: float32 would lose metres
    doc, binary = read_glb(write_glb(mesh, tmp_path / "m.glb", layers))
    local = merged(doc, binary)["positions"]
    origin = np.array(doc["asset"]["extras"]["origin"])
    assert np.abs(local).max() < 2000
    from scipy.spatial import cKDTree

    assert cKDTree(world).query(local + origin)[0].max() < 1e-3
    assert cKDTree(world).query(crs_positions(doc, local))[0].max() < 1e-3


def test_crs_origin_and_axes_are_recorded(tmp_path, mesh, layers):
    doc, _ = read_glb(write_glb(mesh, tmp_path / "m.glb", layers, crs=CRS, structure_id="pavilion", level="lod1"))
    extras = doc["asset"]["extras"]
    assert extras["crs"]["epsg"] == 32648 and extras["crs"]["urn"] == "urn:ogc:def:crs:EPSG::32648"
    assert extras["origin"] == [749000.0, 1821000.0, 0.0]
    assert extras["structure"] == "pavilion" and extras["level"] == "lod1"
    assert doc["asset"]["copyright"] == layers.metadata.rights
    root = doc["nodes"][doc["scenes"][0]["nodes"][0]]
    # the origin turned y-up in the root, with no rotation above it (a float32 viewer would
    # carry the rotation's rounding times 1.8e6 m into the position), the mesh node turns z-up to y-up
    assert root["translation"] == [749000.0, 0.0, -1821000.0] and "rotation" not in root
    assert axes_node(doc)["rotation"] == pytest.approx([-np.sqrt(0.5), 0, 0, np.sqrt(0.5)])
    assert "translation" not in axes_node(doc)
    assert axes_node(doc)["extras"] == {"structure": "pavilion", "level": "lod1", "crs": "EPSG:32648",
                                        "origin": [749000.0, 1821000.0, 0.0]}
    elements = [n for n in doc["nodes"] if "mesh" in n]  # below it, untransformed
    assert axes_node(doc)["children"] == [doc["nodes"].index(n) for n in elements]
    assert all(not {"translation", "rotation", "scale", "matrix"} & set(n) for n in elements)


# -- features and metadata ------------------------------------------------------------------------


def test_every_vertex_carries_its_faces_element_and_no_triangle_mixes_elements(tmp_path, mesh, layers):
    compiled = compile_layers(layers)
    faces_expected = label_faces(compiled, mesh)
    doc, binary = read_glb(write_glb(mesh, tmp_path / "m.glb", layers, compiled=compiled))
    both = merged(doc, binary)
    per_face = both["ids"][both["faces"]]
    assert (per_face == per_face[:, :1]).all()
    got = per_face[:, 0]
    assert sorted(got.tolist()) == sorted(faces_expected.tolist())
    named = {compiled.element_ids[i] for i in got if i >= 0}
    assert named == {"platform", "altar", "roof"}
    assert (got == -1).sum() == 12  # the box outside every element
    unlabelled, *labelled = primitives(doc)  # the unlabelled faces' mesh first: no feature ids
    assert "_FEATURE_ID_0" not in unlabelled["attributes"] and "extensions" not in unlabelled
    for prim in labelled:
        feature = prim["extensions"]["EXT_mesh_features"]["featureIds"][0]
        assert feature["featureCount"] == 1 and feature["propertyTable"] == 0 and feature["attribute"] == 0
        assert "nullFeatureId" not in feature  # each element's mesh holds that element only


def test_every_element_is_a_node_named_by_its_id_with_its_phase_and_material(tmp_path, mesh, layers):
    """What an editor that ignores the extensions still shows: one object per element, its
    phase and material as flat custom properties."""
    compiled = compile_layers(layers)
    doc, binary = read_glb(write_glb(mesh, tmp_path / "m.glb", layers, compiled=compiled, structure_id="pavilion",
                                     level="lod0"))
    nodes = {n["name"]: n for n in doc["nodes"] if "mesh" in n}
    assert set(nodes) == {"unlabelled", "platform", "altar", "roof"} and "extras" not in nodes["unlabelled"]
    roof = nodes["roof"]["extras"]
    assert roof == {"element": "roof", "name": "Roof", "class": "B2_Morphological_Building_Section",
                    "knowledge": "measured", "phase": "construction-1805", "material": "tile",
                    "phases": "construction-1805, restoration-1920s, damage-1968", "materials": "tile, ironwood",
                    "value": compiled.element_ids.index("roof")}
    assert doc["meshes"][nodes["roof"]["mesh"]]["name"] == "pavilion lod0 roof"
    for name, node in nodes.items():  # each node's faces are its element's
        prim = doc["meshes"][node["mesh"]]["primitives"][0]
        if name != "unlabelled":
            ids = accessor(doc, binary, prim["attributes"]["_FEATURE_ID_0"])
            assert set(ids.tolist()) == {compiled.element_ids.index(name)}


def test_property_table_holds_names_classes_phases_dates_materials_and_knowledge(tmp_path, mesh, layers):
    doc, binary = read_glb(write_glb(mesh, tmp_path / "m.glb", layers))
    assert doc["extensionsUsed"] == ["EXT_mesh_features", "EXT_structural_metadata"]
    rows = property_table(doc, binary)
    assert [r["id"] for r in rows] == [e.id for e in layers.elements]
    roof = rows[[r["id"] for r in rows].index("roof")]
    assert roof["name"] == "Roof"
    assert roof["crmClass"] == "B2_Morphological_Building_Section"
    assert roof["knowledge"] == "measured"
    assert roof["stable"] is False
    assert roof["phases"] == ["construction-1805", "restoration-1920s", "damage-1968"]
    assert roof["phaseDates"] == ["1805", "1920/1925", "1968-02"]
    assert roof["phaseTypes"] == ["construction", "restoration", "damage"]
    assert roof["materials"] == ["tile", "ironwood"]
    assert roof["materialAat"] == ["http://vocab.getty.edu/aat/300010669", "http://vocab.getty.edu/aat/300011914"]
    assert roof["primaryPhase"] == "construction-1805" and roof["primaryMaterial"] == "tile"
    column = rows[[r["id"] for r in rows].index("column-sw")]
    assert column["knowledge"] == "inferred"
    assert column["knowledgeSources"] == ["drawing 1925", "symmetry with column-ne"]
    assert column["phases"] == ["construction-1805"] and column["materials"] == ["ironwood"]  # from the union
    group = rows[[r["id"] for r in rows].index("columns")]
    assert group["members"] == ["column-ne", "column-sw"]
    # every property table buffer view is 8-byte aligned and none is empty
    assert all(v["byteOffset"] % 8 == 0 and v["byteLength"] > 0 for v in doc["bufferViews"])


def test_levels_of_detail_are_one_file_each(tmp_path, mesh, layers):
    coarse = TriMesh(mesh.vertices, mesh.faces[::2], mesh.origin)
    paths = write_glb_levels({"lod0": mesh, "lod1": coarse}, tmp_path, layers, stem="pavilion", crs=CRS,
                             structure_id="pavilion")
    assert paths == {"lod0": tmp_path / "pavilion-lod0.glb", "lod1": tmp_path / "pavilion-lod1.glb"}
    counts = {name: sum(doc["accessors"][prim["indices"]]["count"] for prim in primitives(doc))
              for name, p in paths.items() for doc in [read_glb(p)[0]]}
    assert counts == {"lod0": 3 * mesh.n_faces, "lod1": 3 * coarse.n_faces}
    with pytest.raises(ValueError, match="file name"):
        write_glb_levels({"../x": mesh}, tmp_path, layers, stem="p")


def test_no_labelled_face_means_no_feature_ids(tmp_path, layers):
    world, faces = boxes_world([((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))])
    doc, _ = read_glb(write_glb(TriMesh(world, faces), tmp_path / "m.glb", layers))
    (prim,) = primitives(doc)
    assert "_FEATURE_ID_0" not in prim["attributes"] and "extensions" not in prim


def test_bad_input_is_refused_and_leaves_no_file(tmp_path, mesh, layers):
    with pytest.raises(ValueError, match="face labels"):
        write_glb(mesh, tmp_path / "m.glb", layers, face_element=np.zeros(3, dtype=np.int32))
    with pytest.raises(ValueError, match="-1"):
        write_glb(mesh, tmp_path / "m.glb", layers, face_element=np.full(mesh.n_faces, 99))
    with pytest.raises(ValueError, match="no faces"):
        write_glb(TriMesh(mesh.vertices, np.empty((0, 3))), tmp_path / "m.glb", layers)
    assert list(tmp_path.iterdir()) == []


def test_split_by_face_labels_duplicates_only_boundary_vertices():
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    source, labels, new_faces = split_by_face_labels(faces, np.array([4, 7]))
    assert len(source) == 6  # 0 and 2 are shared by faces of two elements
    assert (labels[new_faces] == np.array([[4], [7]])).all()
    assert (source[new_faces] == faces).all()
    source, labels, new_faces = split_by_face_labels(faces, np.array([5, 5]))
    assert len(source) == 4 and (source[new_faces] == faces).all()


# -- clean geometry and colour ---------------------------------------------------------------------


def duplicate_faces_by_position(positions: np.ndarray, faces: np.ndarray) -> tuple[int, int]:
    """(degenerate, duplicate) faces counted as an editor that merges vertices by position
    counts them (Blender's "duplicate faces"): corners compared by place (to a micron), in
    any order."""
    _, place = np.unique(np.round(positions, 6), axis=0, return_inverse=True)
    corners = np.sort(place.reshape(-1)[faces], axis=1)
    degenerate = int(((corners[:, 0] == corners[:, 1]) | (corners[:, 1] == corners[:, 2])).sum())
    _, counts = np.unique(corners, axis=0, return_counts=True)
    return degenerate, int((counts - 1).sum())


def test_degenerate_and_duplicate_faces_are_left_out_and_counted(tmp_path, mesh, layers):
    """Four bad faces added to the boxes: the same face again, the same face turned over,
    the same face on copies of its vertices (equal positions, other indices), and a face
    with two corners at one place. The GLB has none of them, and says how many it left out."""
    faces = mesh.faces
    n = len(mesh.vertices)
    copies = mesh.vertices[faces[5]]  # three new vertices where face 5's corners are
    vertices = np.vstack([mesh.vertices, copies, mesh.vertices[[0]]])
    bad = np.array([faces[0], faces[1][::-1], [n, n + 1, n + 2], [0, n + 3, 1]])
    dirty = TriMesh(vertices, np.vstack([faces, bad]), mesh.origin)
    assert duplicate_faces_by_position(dirty.vertices, dirty.faces) == (1, 3)
    degenerate, duplicate = redundant_faces(dirty.vertices, dirty.faces)
    assert np.flatnonzero(degenerate).tolist() == [len(faces) + 3]
    assert np.flatnonzero(duplicate).tolist() == [len(faces), len(faces) + 1, len(faces) + 2]  # the first is kept

    doc, binary = read_glb(write_glb(dirty, tmp_path / "dirty.glb", layers, crs=CRS))
    both = merged(doc, binary)
    indices, positions = both["faces"], both["positions"]
    assert len(indices) == mesh.n_faces
    assert duplicate_faces_by_position(positions, indices) == (0, 0)
    assert doc["asset"]["extras"]["facesLeftOut"] == {"degenerate": 1, "duplicate": 3}
    clean = read_glb(write_glb(mesh, tmp_path / "clean.glb", layers, crs=CRS))[0]
    assert clean["asset"]["extras"]["facesLeftOut"] == {"degenerate": 0, "duplicate": 0}


def test_mesh_vertices_take_the_colour_of_the_nearest_scan_point(tmp_path, mesh, layers):
    """COLOR_0 per vertex from the cloud's rgb: a cloud point 1 mm from each vertex (the cloud
    in another origin) with its own colour, and far points of other colours."""
    from twin.models.pointcloud import PointCloud

    rng = np.random.default_rng(3)
    world = mesh.vertices + mesh.origin
    near = world + rng.normal(scale=0.001, size=world.shape)
    far = world + [0.0, 0.0, 50.0]
    colours = rng.integers(0, 255, (len(world), 3), dtype=np.uint8)
    origin = np.array([749100.0, 1821100.0, 0.0])
    cloud = PointCloud(np.vstack([near, far]) - origin, origin,
                       {"rgb": np.vstack([colours, 255 - colours]).astype(np.uint8)})
    rgb = vertex_colours_from_cloud(mesh, cloud)
    assert np.array_equal(rgb, colours)
    assert vertex_colours_from_cloud(mesh, PointCloud(cloud.xyz, cloud.origin)) is None  # no colour, none
    coloured = TriMesh(mesh.vertices, mesh.faces, mesh.origin, {"rgb": rgb})
    path = write_glb(coloured, tmp_path / "coloured.glb", layers, crs=CRS)
    doc, binary = read_glb(path)
    prim = primitives(doc)[0]
    acc = doc["accessors"][prim["attributes"]["COLOR_0"]]
    # linear light as glTF says COLOR_0 is, 16 bits so that every sRGB byte comes back
    assert (acc["componentType"], acc["type"], acc.get("normalized")) == (5123, "VEC3", True)
    both = merged(doc, binary)
    positions = crs_positions(doc, both["positions"])
    got = both["colours"]
    nearest = np.linalg.norm(positions[:, None, :] - world[None, :, :], axis=2).argmin(axis=1)
    assert np.array_equal(got, colours[nearest])  # every written vertex, split copies included
    linear = np.vstack([accessor(doc, binary, p["attributes"]["COLOR_0"]) for p in primitives(doc)]) / 65535.0
    assert np.abs(linear - srgb_to_linear(colours[nearest])).max() < 1e-5  # sRGB 128 is 21.6 % linear
    assert run_validator(path)["issues"]["numErrors"] == 0
