"""XYZ / PTS / TXT / CSV readers (twin.io.text)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from twin.errors import ScanContentError, ScanReadError
from twin.io import registry
from twin.io._common import count_nonblank_lines
from twin.io.text import FORMATS

XYZ, PTS, TXT = FORMATS


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def read(path: Path, chunk_points: int = 1_000_000):
    fmt = registry.format_for(path)
    return list(fmt.iter_chunks(path, chunk_points))


def test_plain_xyz_round_trip(tmp_path: Path) -> None:
    xyz = np.random.default_rng(0).uniform(-1e6, 2e6, (500, 3))
    path = tmp_path / "cloud.xyz"
    np.savetxt(path, xyz, fmt="%.6f")
    info = registry.inspect_scan(path, stats=True)
    assert (info.format, info.encoding, info.point_count) == ("xyz", "ascii", 500)
    assert info.dimensions == ["x", "y", "z"] and not info.warnings
    cloud = registry.read_scan(path)
    np.testing.assert_allclose(cloud.world_xyz, np.round(xyz, 6), atol=1e-6, rtol=0)
    assert cloud.attrs == {}


def test_csv_with_cloudcompare_header(tmp_path: Path) -> None:
    path = write(tmp_path / "scan.csv", "//X,Y,Z,R,G,B,Intensity\n1.5,2,3,255,0,10,0.5\n4,5,6,0,128,255,0.25\n")
    info = registry.inspect_scan(path, stats=True)
    assert info.format == "txt" and info.point_count == 2
    assert info.has_rgb and info.has_intensity and not info.extra_dimensions
    cloud = registry.read_scan(path)
    assert cloud.attrs["rgb"].tolist() == [[255, 0, 10], [0, 128, 255]]
    assert cloud.attrs["rgb"].dtype == np.uint8
    assert cloud.attrs["intensity"].tolist() == [0.5, 0.25]


def test_semicolon_header_with_extras_and_crlf(tmp_path: Path) -> None:
    text = "# exported by a total station\nx;y;z;intensity;Deviation\n1;2;3;10;0.5\n\n4;5;6;20;-0.5\n"
    path = write(tmp_path / "pts.txt", text, newline="\r\n")
    info = registry.inspect_scan(path, stats=True)
    assert info.point_count == 2 and info.extra_dimensions == ["Deviation"]
    (chunk,) = read(path)
    assert chunk["xyz"].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert chunk["Deviation"].tolist() == [0.5, -0.5]


def test_pts_with_count_line(tmp_path: Path) -> None:
    path = write(tmp_path / "station.pts", "3\n1 2 3 -100 255 0 0\n4 5 6 2047 0 255 0\n7 8 9 -2048 0 0 255\n")
    info = registry.inspect_scan(path, stats=True)
    assert (info.format, info.point_count) == ("pts", 3)
    assert info.dimensions == ["x", "y", "z", "intensity", "red", "green", "blue"]
    assert any("no header line" in w for w in info.warnings)
    cloud = registry.read_scan(path)
    assert cloud.attrs["intensity"].tolist() == [-100, 2047, -2048]  # PTS range kept as stored
    assert cloud.attrs["rgb"].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def test_pts_truncated(tmp_path: Path) -> None:
    path = write(tmp_path / "cut.pts", "5\n1 2 3 0 1 2 3\n4 5 6 0 1 2 3\n")
    with pytest.raises(ScanReadError, match=r"cut\.pts.*declares 5 points.*only 2 rows"):
        registry.inspect_scan(path)
    with pytest.raises(ScanReadError, match=r"cut\.pts.*truncated"):
        read(path)


@pytest.mark.parametrize(
    ("ncols", "keys"),
    [
        (3, set()),
        (4, {"intensity"}),
        (5, {"column4", "column5"}),
        (6, {"rgb"}),
        (7, {"intensity", "rgb"}),
        (9, {"rgb", "normals"}),
        (10, {"intensity", "rgb", "normals"}),
    ],
)
def test_column_count_rule(tmp_path: Path, ncols: int, keys: set[str]) -> None:
    row = [1.0, 2.0, 3.0] + [7.0] * (ncols - 3)
    path = write(tmp_path / "c.xyz", " ".join(map(str, row)) + "\n")
    (chunk,) = read(path)
    assert set(chunk) - {"xyz"} == keys


def test_sixteen_bit_colours_are_scaled(tmp_path: Path) -> None:
    path = write(tmp_path / "c.xyz", "0 0 0 65535 257 0\n1 1 1 0 0 25700\n")
    (chunk,) = read(path)
    assert chunk["rgb"].tolist() == [[255, 1, 0], [0, 0, 100]]


def test_six_columns_that_are_not_colours(tmp_path: Path) -> None:
    path = write(tmp_path / "normals.xyz", "0 0 0 0.0 -0.7 0.7\n1 1 1 1.0 0.0 0.0\n")
    with pytest.raises(ScanContentError, match=r"normals\.xyz.*header line"):
        read(path)


def test_non_numeric_row_names_the_line(tmp_path: Path) -> None:
    rows = "\n".join(f"{i} {i} {i}" for i in range(2500)).split("\n")
    rows[2344] = "1 2 abc"  # physical line 2,345
    path = write(tmp_path / "bad.xyz", "\n".join(rows) + "\n")
    with pytest.raises(ScanReadError, match=r"bad\.xyz: line 2,345 .*'abc'") as err:
        read(path, chunk_points=1000)
    assert "\n" not in str(err.value)


def test_wrong_value_count_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "short.csv", "x,y,z\n1,2,3\n4,5\n")
    with pytest.raises(ScanReadError, match=r"short\.csv: line 3 has 2 values where 3"):
        read(path)


def test_streams_in_chunks(tmp_path: Path) -> None:
    xyz = np.arange(7500.0).reshape(-1, 3)
    path = tmp_path / "big.xyz"
    np.savetxt(path, xyz, fmt="%.1f")
    chunks = read(path, chunk_points=1000)
    assert [len(c["xyz"]) for c in chunks] == [1000, 1000, 500]
    np.testing.assert_array_equal(np.concatenate([c["xyz"] for c in chunks]), xyz)


def test_header_without_coordinates(tmp_path: Path) -> None:
    path = write(tmp_path / "noxyz.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(ScanReadError, match=r"noxyz\.csv.*no x, y and z"):
        registry.inspect_scan(path)


def test_header_naming_a_column_twice(tmp_path: Path) -> None:
    path = write(tmp_path / "twice.csv", "x,y,z,x\n1,2,3,4\n")
    with pytest.raises(ScanReadError, match=r"twice\.csv: .*column\(s\) x twice"):
        registry.inspect_scan(path)


def test_garbage_before_data(tmp_path: Path) -> None:
    path = write(tmp_path / "junk.txt", "Project: pavilion\nsurveyed 2024\n1 2 3\n")
    with pytest.raises(ScanReadError, match=r"junk\.txt"):
        registry.inspect_scan(path)


def test_two_columns_are_not_a_point_file(tmp_path: Path) -> None:
    path = write(tmp_path / "two.xyz", "1 2\n3 4\n")
    with pytest.raises(ScanReadError, match=r"two\.xyz"):
        registry.inspect_scan(path)


def test_extension_picks_the_flavour(tmp_path: Path) -> None:
    for name, fmt in (("a.xyz", "xyz"), ("a.pts", "pts"), ("a.txt", "txt"), ("a.csv", "txt")):
        path = write(tmp_path / name, "1 2 3\n")
        assert registry.format_for(path).name == fmt


def test_sniff() -> None:
    assert XYZ.sniff(b"1.0 2.0 3.0\n4 5 6\n")
    assert XYZ.sniff(b"//X,Y,Z\n1,2,3\n")
    assert XYZ.sniff(b"12\n1 2 3 4 5 6 7\n")
    assert not XYZ.sniff(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1 2 3\n")
    assert not XYZ.sniff(b"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nDATA ascii\n1 2 3\n")
    assert not XYZ.sniff(b"LASF\x00\x00\x01\x02" + bytes(200))
    assert not XYZ.sniff(b"hello world\n")


def test_count_nonblank_lines_across_blocks() -> None:
    text = b"1 2 3\r\n\r\n   \n4 5 6\n7 8 9\r10 11 12"
    for block in (1, 2, 3, 5, 64):
        assert count_nonblank_lines(io.BytesIO(text), block_bytes=block) == 4
