"""PLY reader (twin.io.ply), checked against files written by plyfile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from twin.errors import ScanReadError
from twin.io import registry
from twin.io.ply import PlyFormat, ply_element_counts

N = 1000
FACES = 7


def vertices(n: int = N) -> np.ndarray:
    rng = np.random.default_rng(3)
    v = np.empty(
        n,
        dtype=[
            ("x", "f8"), ("y", "f8"), ("z", "f8"),
            ("nx", "f4"), ("ny", "f4"), ("nz", "f4"),
            ("red", "u1"), ("green", "u1"), ("blue", "u1"),
            ("scalar_intensity", "f4"), ("confidence", "f4"), ("label", "i4"),
        ],
    )  # fmt: skip
    v["x"], v["y"], v["z"] = (rng.uniform(0, 100, n) + off for off in (600_000.0, 1_800_000.0, 10.0))
    v["nx"], v["ny"], v["nz"] = rng.normal(size=(3, n)).astype("f4")
    for c in ("red", "green", "blue"):
        v[c] = rng.integers(0, 256, n)
    v["scalar_intensity"] = rng.uniform(0, 1, n)
    v["confidence"] = rng.uniform(0, 1, n)
    v["label"] = rng.integers(-5, 5, n)
    return v


def write_ply(path: Path, v: np.ndarray, text: bool = False, byte_order: str = "<", faces: int = FACES) -> Path:
    elements = [PlyElement.describe(v, "vertex")]
    if faces:
        f = np.empty(faces, dtype=[("vertex_indices", "O")])
        f["vertex_indices"] = [np.array([0, 1, 2], dtype="i4")] * faces
        elements.append(PlyElement.describe(f, "face"))
    PlyData(elements, text=text, byte_order=byte_order).write(str(path))
    return path


@pytest.mark.parametrize(("text", "order", "encoding"), [
    (False, "<", "binary_little_endian"),
    (False, ">", "binary_big_endian"),
    (True, "=", "ascii"),
])  # fmt: skip
def test_round_trip(tmp_path: Path, text: bool, order: str, encoding: str) -> None:
    v = vertices()
    path = write_ply(tmp_path / "mesh.ply", v, text=text, byte_order=order)
    info = registry.inspect_scan(path, stats=True)
    assert (info.format, info.encoding, info.version, info.point_count) == ("ply", encoding, "1.0", N)
    assert info.dimensions == list(v.dtype.names)
    assert info.extra_dimensions == ["confidence", "label"]
    assert info.has_rgb and info.has_normals and info.has_intensity
    assert info.warnings == [f"mesh: {FACES:,} faces (points are its vertices)"]
    cloud = registry.read_scan(path)
    xyz = np.column_stack([v["x"], v["y"], v["z"]])
    # exact in every encoding (measured: 0; margin: none): binary is a copy of the doubles, and plyfile
    # writes ASCII doubles with 18 significant digits, which parse back to the same double
    assert cloud.world_xyz.dtype == np.float64
    np.testing.assert_array_equal(cloud.world_xyz, xyz)
    assert cloud.attrs["rgb"].tolist() == np.column_stack([v["red"], v["green"], v["blue"]]).tolist()
    np.testing.assert_array_equal(cloud.attrs["normals"], np.column_stack([v["nx"], v["ny"], v["nz"]]))
    np.testing.assert_array_equal(cloud.attrs["intensity"], v["scalar_intensity"])
    assert cloud.attrs["label"].dtype == np.int32 and cloud.attrs["label"].tolist() == v["label"].tolist()
    assert cloud.attrs["confidence"].dtype == np.float32
    assert ply_element_counts(path) == {"vertex": N, "face": FACES}


@pytest.mark.parametrize("text", [False, True])
def test_chunks(tmp_path: Path, text: bool) -> None:
    v = vertices()
    path = write_ply(tmp_path / "c.ply", v, text=text)
    chunks = list(PlyFormat().iter_chunks(path, chunk_points=300))
    assert [len(c["xyz"]) for c in chunks] == [300, 300, 300, 100]
    xyz = np.column_stack([v["x"], v["y"], v["z"]])
    np.testing.assert_array_equal(np.concatenate([c["xyz"] for c in chunks]), xyz)  # exact, as read_scan


def test_alternative_colour_names_and_16_bit(tmp_path: Path) -> None:
    v = np.zeros(2, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("r", "u2"), ("g", "u2"), ("b", "u2")])
    v["r"] = [65535, 0]
    v["b"] = [257, 25700]
    path = write_ply(tmp_path / "rgb16.ply", v, faces=0)
    cloud = registry.read_scan(path)
    assert cloud.attrs["rgb"].tolist() == [[255, 0, 1], [0, 0, 100]]


def test_vertex_after_a_fixed_size_element(tmp_path: Path) -> None:
    cameras = np.zeros(2, dtype=[("k", "f8")])
    v = np.zeros(10, dtype=[("x", "f8"), ("y", "f8"), ("z", "f8")])
    v["x"] = np.arange(10)
    for text in (False, True):
        path = tmp_path / f"camera_first_{text}.ply"
        PlyData([PlyElement.describe(cameras, "camera"), PlyElement.describe(v, "vertex")], text=text).write(str(path))
        assert registry.read_scan(path).world_xyz[:, 0].tolist() == list(range(10))


def test_vertex_after_a_list_element_is_refused_in_binary(tmp_path: Path) -> None:
    faces = np.empty(1, dtype=[("vertex_indices", "O")])
    faces["vertex_indices"] = [np.array([0, 1, 2], dtype="i4")]
    v = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    path = tmp_path / "faces_first.ply"
    PlyData([PlyElement.describe(faces, "face"), PlyElement.describe(v, "vertex")]).write(str(path))
    with pytest.raises(ScanReadError, match=r"faces_first\.ply: element 'face' with list properties"):
        registry.read_scan(path)


BINARY_HEADER = "ply\nformat binary_little_endian 1.0\nelement vertex {n}\n{props}end_header\n"


def raw_ply(path: Path, props: str, body: bytes, n: int = 2, fmt: str = "binary_little_endian") -> Path:
    header = BINARY_HEADER.format(n=n, props=props).replace("binary_little_endian", fmt)
    path.write_bytes(header.encode() + body)
    return path


def test_unknown_property_type(tmp_path: Path) -> None:
    props = "property float x\nproperty float y\nproperty float z\nproperty float128 foo\n"
    path = raw_ply(tmp_path / "q.ply", props, b"")
    with pytest.raises(ScanReadError, match=r"q\.ply: PLY property 'foo' has unknown type 'float128'"):
        registry.inspect_scan(path)


def test_missing_coordinates(tmp_path: Path) -> None:
    path = raw_ply(tmp_path / "noz.ply", "property float x\nproperty float y\n", np.zeros(4, "f4").tobytes())
    with pytest.raises(ScanReadError, match=r"noz\.ply: .*no x, y and z"):
        registry.inspect_scan(path)


def test_truncated_binary(tmp_path: Path) -> None:
    props = "property float x\nproperty float y\nproperty float z\n"
    path = raw_ply(tmp_path / "cut.ply", props, np.zeros(3 * 5 - 1, "f4").tobytes(), n=5)
    with pytest.raises(ScanReadError, match=r"cut\.ply: .*declares 5 vertices .*only 4 complete"):
        registry.inspect_scan(path)
    with pytest.raises(ScanReadError, match=r"cut\.ply: .*truncated"):
        registry.read_scan(path)


def test_ascii_row_with_missing_value(tmp_path: Path) -> None:
    props = "property float x\nproperty float y\nproperty float z\n"
    path = raw_ply(tmp_path / "row.ply", props, b"1 2 3\n4 5\n", fmt="ascii")
    with pytest.raises(ScanReadError, match=r"row\.ply: line 9 has 2 values where 3"):
        registry.read_scan(path)


def test_ascii_non_numeric(tmp_path: Path) -> None:
    props = "property float x\nproperty float y\nproperty float z\n"
    path = raw_ply(tmp_path / "nan.ply", props, b"1 2 3\n4 five 6\n", fmt="ascii")
    with pytest.raises(ScanReadError, match=r"nan\.ply: line 9 holds the non-numeric value 'five'"):
        registry.read_scan(path)


def test_ascii_truncated(tmp_path: Path) -> None:
    props = "property float x\nproperty float y\nproperty float z\n"
    path = raw_ply(tmp_path / "short.ply", props, b"1 2 3\n", n=3, fmt="ascii")
    with pytest.raises(ScanReadError, match=r"short\.ply: .*declares 3 vertices .*only 1"):
        registry.read_scan(path)


def test_bad_headers(tmp_path: Path) -> None:
    cases = {
        "noend.ply": b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n",
        "fmt.ply": b"ply\nformat binary_middle_endian 1.0\nelement vertex 0\nend_header\n",
        "novertex.ply": b"ply\nformat ascii 1.0\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n",
        "listvertex.ply": b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
        b"property float z\nproperty list uchar float uv\nend_header\n1 2 3 0\n",
        "keyword.ply": b"ply\nformat ascii 1.0\nelemnt vertex 1\nend_header\n",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ScanReadError, match=rf"{name.replace('.', r'[.]')}: ") as err:
            registry.inspect_scan(path)
        assert "\n" not in str(err.value)


def test_sniff() -> None:
    fmt = PlyFormat()
    assert fmt.sniff(b"ply\nformat ascii 1.0\n") and fmt.sniff(b"ply\r\nformat ascii 1.0\r\n")
    assert not fmt.sniff(b"plyx\n") and not fmt.sniff(b"1 2 3\n")
