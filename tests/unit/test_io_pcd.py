"""PCD reader (twin.io.pcd): ASCII, binary, binary_compressed, legacy headers, NaN records."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from twin._deps import open3d
from twin.errors import ScanReadError
from twin.io import registry
from twin.io.pcd import PcdFormat, lzf_decompress


def header(fields: str, size: str, type_: str, count: str, width: int, height: int = 1, data: str = "binary") -> str:
    return (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        f"FIELDS {fields}\nSIZE {size}\nTYPE {type_}\nCOUNT {count}\n"
        f"WIDTH {width}\nHEIGHT {height}\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {width * height}\nDATA {data}\n"
    )


def write(path: Path, head: str, body: bytes | str = b"") -> Path:
    path.write_bytes(head.encode() + (body.encode() if isinstance(body, str) else body))
    return path


def lzf_literals(data: bytes) -> bytes:
    """Valid LZF made only of literal runs (enough to exercise the container format)."""
    out = bytearray()
    for i in range(0, len(data), 32):
        part = data[i : i + 32]
        out += bytes([len(part) - 1]) + part
    return bytes(out)


# ------------------------------------------------------------------ round trips


def open3d_cloud(n: int = 1000):
    o3d = open3d()
    rng = np.random.default_rng(1)
    cloud = o3d.geometry.PointCloud()
    # repeated rows make the LZF stream use back-references
    cloud.points = o3d.utility.Vector3dVector(np.repeat(rng.uniform(-50, 50, (n // 10, 3)), 10, axis=0))
    cloud.colors = o3d.utility.Vector3dVector(np.repeat(rng.random((n // 10, 3)), 10, axis=0))
    cloud.normals = o3d.utility.Vector3dVector(np.repeat(rng.normal(size=(n // 10, 3)), 10, axis=0))
    return cloud


@pytest.mark.parametrize(("ascii", "compressed", "data"), [
    (True, False, "ascii"),
    (False, False, "binary"),
    (False, True, "binary_compressed"),
])  # fmt: skip
def test_round_trip_with_open3d_writer(tmp_path: Path, ascii: bool, compressed: bool, data: str) -> None:
    o3d = open3d()
    src = open3d_cloud()
    path = tmp_path / "o3d.pcd"
    o3d.io.write_point_cloud(str(path), src, write_ascii=ascii, compressed=compressed)
    info = registry.inspect_scan(path, stats=True)
    assert (info.format, info.version, info.encoding, info.point_count) == ("pcd", "0.7", data, 1000)
    assert info.has_rgb and info.has_normals and not info.warnings
    cloud = registry.read_scan(path)
    np.testing.assert_allclose(cloud.world_xyz, np.asarray(src.points), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(cloud.attrs["rgb"], np.rint(np.asarray(src.colors) * 255).astype(np.uint8))
    np.testing.assert_allclose(cloud.attrs["normals"], np.asarray(src.normals), atol=1e-6)


def test_binary_types_uppercase_counts_and_padding(tmp_path: Path) -> None:
    n = 50
    rec = np.zeros(
        n,
        dtype=[
            ("X", "<f8"), ("Y", "<f8"), ("Z", "<f8"), ("_", "u1", (3,)), ("Intensity", "<u2"),
            ("Classification", "u1"), ("PointSourceId", "<u2"), ("hist", "<f4", (4,)),
            ("t", "<i8"), ("flag", "i1"), ("big", "<u8"), ("i4", "<i4"),
        ],
    )  # fmt: skip
    rec["X"] = 494_000.123 + np.arange(n)
    rec["Y"] = 4_877_500.456
    rec["Z"] = np.linspace(120, 170, n)
    rec["Intensity"] = np.arange(n) * 1000
    rec["Classification"] = 6
    rec["PointSourceId"] = 7326
    rec["hist"] = np.arange(4 * n).reshape(n, 4)
    rec["t"] = -(2**40)
    rec["flag"] = -1
    rec["big"] = 2**60
    rec["i4"] = -123456
    head = header(
        "X Y Z _ Intensity Classification PointSourceId hist t flag big i4",
        "8 8 8 1 2 1 2 4 8 1 8 4",
        "F F F U U U U F I I U I",
        "1 1 1 3 1 1 1 4 1 1 1 1",
        n,
    )
    path = write(tmp_path / "types.pcd", head, rec.tobytes())
    info = registry.inspect_scan(path, stats=True)
    assert info.point_count == n and info.has_intensity
    assert "_" not in info.dimensions and info.dimensions[:3] == ["X", "Y", "Z"]
    assert info.bounds.min[0] == pytest.approx(494_000.123, abs=1e-9)
    (chunk,) = list(PcdFormat().iter_chunks(path))
    np.testing.assert_array_equal(chunk["xyz"], np.column_stack([rec["X"], rec["Y"], rec["Z"]]))
    assert chunk["classification"].dtype == np.uint8 and set(chunk["classification"]) == {6}
    assert chunk["point_source_id"].dtype == np.uint16 and set(chunk["point_source_id"]) == {7326}
    assert chunk["hist"].shape == (n, 4) and chunk["hist"][1].tolist() == [4, 5, 6, 7]
    assert chunk["t"].dtype == np.int64 and chunk["t"][0] == -(2**40)
    assert chunk["flag"][0] == -1 and chunk["big"][0] == 2**60 and chunk["i4"][0] == -123456
    assert not any(k.startswith("_") for k in chunk)


def test_legacy_header_without_viewpoint(tmp_path: Path) -> None:
    head = "# .PCD v.5 - Point Cloud Data file format\nVERSION .5\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
    head += "WIDTH 2\nHEIGHT 1\nPOINTS 2\nDATA ascii\n"
    path = write(tmp_path / "old.pcd", head, "0.1 0.2 0.3\n0.4 0.5 0.6\n")
    info = registry.inspect_scan(path, stats=True)
    assert (info.version, info.encoding, info.point_count) == ("0.5", "ascii", 2)
    np.testing.assert_allclose(registry.read_scan(path).world_xyz, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], atol=1e-7)


def test_columns_alias_and_missing_size_type(tmp_path: Path) -> None:
    head = "VERSION .5\nCOLUMNS x y z\nPOINTS 1\nDATA ascii\n"
    path = write(tmp_path / "older.pcd", head, "1 2 3\n")
    info = registry.inspect_scan(path)
    assert info.point_count == 1 and any("no SIZE/TYPE/COUNT" in w for w in info.warnings)


def test_packed_rgb_binary_float_and_rgba(tmp_path: Path) -> None:
    bits = np.array([0x00FF8001, 0xFF102030], dtype="<u4")
    rec = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgba", "<u4")])
    rec["rgba"] = bits
    path = write(tmp_path / "rgba.pcd", header("x y z rgba", "4 4 4 4", "F F F U", "1 1 1 1", 2), rec.tobytes())
    (chunk,) = list(PcdFormat().iter_chunks(path))
    assert chunk["rgb"].tolist() == [[255, 128, 1], [16, 32, 48]]
    assert chunk["alpha"].tolist() == [0, 255]
    rec = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<f4")])
    rec["rgb"] = bits.view("<f4")  # PCL's float-packed colour
    path = write(tmp_path / "rgbf.pcd", header("x y z rgb", "4 4 4 4", "F F F F", "1 1 1 1", 2), rec.tobytes())
    (chunk,) = list(PcdFormat().iter_chunks(path))
    assert chunk["rgb"].tolist() == [[255, 128, 1], [16, 32, 48]] and "alpha" not in chunk


def test_packed_rgb_ascii_integer_and_float_text(tmp_path: Path) -> None:
    as_float = repr(float(np.array([0x00FF8001], dtype="<u4").view("<f4")[0]))  # old writers: the float itself
    body = f"0 0 0 {0x00102030}\n1 1 1 {as_float}\n"  # PCL >= 1.8 writes the uint32 as an integer
    path = write(tmp_path / "rgb.pcd", header("x y z rgb", "4 4 4 4", "F F F F", "1 1 1 1", 2, data="ascii"), body)
    (chunk,) = list(PcdFormat().iter_chunks(path))
    assert chunk["rgb"].tolist() == [[16, 32, 48], [255, 128, 1]]


@pytest.mark.parametrize("data", ["ascii", "binary", "binary_compressed"])
def test_organised_cloud_drops_nan_records(tmp_path: Path, data: str) -> None:
    xyz = np.arange(18, dtype="<f4").reshape(6, 3)
    xyz[[1, 4], :] = np.nan
    xyz[2, 2] = np.nan
    head = header("x y z", "4 4 4", "F F F", "1 1 1", 3, height=2, data=data)
    if data == "ascii":
        body: bytes | str = "\n".join(" ".join(map(str, row)) for row in xyz) + "\n"
    elif data == "binary":
        body = xyz.tobytes()
    else:
        raw = np.ascontiguousarray(xyz.T).tobytes()  # field by field
        packed = lzf_literals(raw)
        body = struct.pack("<II", len(packed), len(raw)) + packed
    path = write(tmp_path / "organised.pcd", head, body)
    info = registry.inspect_scan(path, stats=True)  # stats: points read == point_count
    assert info.point_count == 3
    assert any("3 of 6 records" in w and "3 x 2" in w for w in info.warnings)
    assert info.bounds.min == (0.0, 1.0, 2.0) and info.bounds.max == (15.0, 16.0, 17.0)
    assert registry.read_scan(path).world_xyz[:, 0].tolist() == [0.0, 9.0, 15.0]


def test_chunks(tmp_path: Path) -> None:
    xyz = np.arange(3000, dtype="<f4").reshape(-1, 3)
    path = write(tmp_path / "c.pcd", header("x y z", "4 4 4", "F F F", "1 1 1", 1000), xyz.tobytes())
    chunks = list(PcdFormat().iter_chunks(path, chunk_points=400))
    assert [len(c["xyz"]) for c in chunks] == [400, 400, 200]


# ------------------------------------------------------------------ LZF


def test_lzf_back_references() -> None:
    # literal "abc", then a back-reference of length 9 at distance 3 (overlapping copy)
    # and one of length 7 + 2 + 5 = 14 (extended length byte) at distance 1.
    stream = bytes([2]) + b"abc" + bytes([(7 << 5) | 0, 0, 2]) + bytes([0]) + b"z" + bytes([(7 << 5) | 0, 5, 0])
    assert lzf_decompress(stream, 3 + 9 + 1 + 14) == b"abc" + b"abcabcabc" + b"z" + b"z" * 14


@pytest.mark.parametrize(
    "stream",
    [bytes([5]) + b"ab", bytes([0]) + b"a" + bytes([(1 << 5) | 0, 9]), bytes([0]) + b"a" + bytes([1 << 5])],
)
def test_lzf_corrupt(stream: bytes) -> None:
    with pytest.raises(ValueError):
        lzf_decompress(stream, 10)


def test_corrupt_compressed_block(tmp_path: Path) -> None:
    head = header("x y z", "4 4 4", "F F F", "1 1 1", 2, data="binary_compressed")
    packed = bytes([0]) + b"a" + bytes([(1 << 5) | 0, 200])  # refers before the start
    path = write(tmp_path / "lzf.pcd", head, struct.pack("<II", len(packed), 24) + packed)
    with pytest.raises(ScanReadError, match=r"lzf\.pcd: the PCD compressed data are corrupt"):
        registry.read_scan(path)
    path = write(tmp_path / "size.pcd", head, struct.pack("<II", len(packed), 20) + packed)
    with pytest.raises(ScanReadError, match=r"size\.pcd: .*unpacks to 20 bytes"):
        registry.inspect_scan(path)
    path = write(tmp_path / "short.pcd", head, struct.pack("<II", 100, 24) + packed)
    with pytest.raises(ScanReadError, match=r"short\.pcd: .*truncated"):
        registry.read_scan(path)


# ------------------------------------------------------------------ bad input


def test_truncated_binary(tmp_path: Path) -> None:
    head = header("x y z", "4 4 4", "F F F", "1 1 1", 10)
    path = write(tmp_path / "cut.pcd", head, np.zeros(3 * 7 + 1, "<f4").tobytes())
    with pytest.raises(ScanReadError, match=r"cut\.pcd: .*declares 10 points .*only 7 complete"):
        registry.inspect_scan(path)
    with pytest.raises(ScanReadError, match=r"cut\.pcd: .*truncated"):
        registry.read_scan(path)


def test_truncated_ascii(tmp_path: Path) -> None:
    path = write(tmp_path / "cut.pcd", header("x y z", "4 4 4", "F F F", "1 1 1", 3, data="ascii"), "1 2 3\n")
    with pytest.raises(ScanReadError, match=r"cut\.pcd: .*declares 3 points .*only 1 data lines"):
        registry.inspect_scan(path)


def test_ascii_non_numeric_names_the_line(tmp_path: Path) -> None:
    head = header("x y z", "4 4 4", "F F F", "1 1 1", 2, data="ascii")  # 11 header lines
    path = write(tmp_path / "text.pcd", head, "1 2 3\n4 5 six\n")
    with pytest.raises(ScanReadError, match=r"text\.pcd: line 13 holds the non-numeric value 'six'"):
        registry.read_scan(path)


@pytest.mark.parametrize(
    ("name", "head", "message"),
    [
        ("type.pcd", header("x y z", "4 4 3", "F F F", "1 1 1", 1), r"field 'z' has TYPE F with SIZE 3"),
        ("kind.pcd", header("x y z", "4 4 4", "F F Q", "1 1 1", 1), r"field 'z' has TYPE Q"),
        ("sizes.pcd", header("x y z", "4 4", "F F F", "1 1 1", 1), r"3 FIELDS but 2 SIZE"),
        ("noxyz.pcd", header("a b c", "4 4 4", "F F F", "1 1 1", 1), r"no x, y and z"),
        ("count.pcd", header("x y z", "4 4 4", "F F F", "1 2 1", 1), r"coordinate field 'y' has COUNT 2"),
        ("data.pcd", header("x y z", "4 4 4", "F F F", "1 1 1", 1, data="zip"), r"unknown PCD DATA type 'zip'"),
        ("points.pcd", header("x y z", "4 4 4", "F F F", "1 1 1", 2).replace("POINTS 2", "POINTS 5"), r"WIDTH 2"),
        ("nodata.pcd", "VERSION 0.7\nFIELDS x y z\n", r"header has no DATA line before binary"),
        ("eof.pcd", "VERSION 0.7\nFIELDS x y z\n", r"no DATA line"),
        ("keyword.pcd", "VERSION 0.7\nFIELDS x y z\nCOLOUR 1\nDATA ascii\n", r"unknown keyword 'COLOUR'"),
    ],
)
def test_bad_headers(tmp_path: Path, name: str, head: str, message: str) -> None:
    path = write(tmp_path / name, head, b"" if name == "eof.pcd" else np.zeros(12, "<f4").tobytes())
    with pytest.raises(ScanReadError, match=rf"{name.replace('.', r'[.]')}: .*{message}") as err:
        registry.inspect_scan(path)
    assert "\n" not in str(err.value)


def test_sniff() -> None:
    fmt = PcdFormat()
    assert fmt.sniff(b"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\n")
    assert fmt.sniff(b"FIELDS x y z\nSIZE 4 4 4\n")
    assert not fmt.sniff(b"1 2 3\n") and not fmt.sniff(b"ply\nformat ascii 1.0\n")
