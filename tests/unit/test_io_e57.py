"""E57 reader (twin.io.e57), on files written with pye57."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pye57
import pytest

from twin.errors import ScanReadError
from twin.io import registry
from twin.io._common import rgb_to_uint8
from twin.io.e57 import E57Format, quaternion_matrix, spherical_to_cartesian

PAGE = 1024  # E57 physical page: 1020 data bytes + a big-endian CRC-32C


def crc32c(data: bytes) -> int:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def quaternion(axis, degrees: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    half = np.radians(degrees) / 2
    return np.array([np.cos(half), *(np.sin(half) * axis)])


def station(n: int, seed: int, colour: bool = True, invalid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = {f"cartesian{a}": rng.uniform(-20, 20, n) for a in "XYZ"}
    data["intensity"] = rng.uniform(0, 1, n)
    if colour:
        for c in ("colorRed", "colorGreen", "colorBlue"):
            data[c] = rng.integers(0, 256, n).astype(np.uint8)
    if invalid is not None:
        data["cartesianInvalidState"] = invalid.astype(np.int8)
    return data


POSES = [
    (quaternion([0, 0, 1], 0), np.array([0.0, 0.0, 0.0])),
    (quaternion([0, 0, 1], 90), np.array([1000.0, 2000.0, 50.0])),
    (quaternion([1, 2, 3], 37.5), np.array([-12.25, 3.5, 0.75])),
]


def write_multi(path: Path, stations: list[dict[str, np.ndarray]]) -> Path:
    with pye57.E57(str(path), mode="w") as e57:
        for i, (data, (q, t)) in enumerate(zip(stations, POSES)):
            e57.write_scan_raw(data, name=f"station {i}", rotation=q, translation=t)
    return path


def expected_xyz(data: dict[str, np.ndarray], q: np.ndarray, t: np.ndarray) -> np.ndarray:
    # pye57 stores coordinates as float32; the pose is applied in float64
    local = np.column_stack([data[f"cartesian{a}"] for a in "XYZ"]).astype(np.float32).astype(np.float64)
    if "cartesianInvalidState" in data:
        local = local[data["cartesianInvalidState"] == 0]
    return local @ quaternion_matrix(q).T + t


def test_quaternion_matrix() -> None:
    quarter_turn = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    np.testing.assert_allclose(quaternion_matrix(quaternion([0, 0, 1], 90)), quarter_turn, atol=1e-15)
    np.testing.assert_allclose(quaternion_matrix([2.0, 0, 0, 0]), np.eye(3))  # normalised


def test_spherical_to_cartesian() -> None:
    r = np.array([2.0, 1.0, 3.0])
    azimuth = np.array([0.0, np.pi / 2, 0.0])
    elevation = np.array([0.0, 0.0, np.pi / 2])
    want = [[2, 0, 0], [0, 1, 0], [0, 0, 3]]
    np.testing.assert_allclose(spherical_to_cartesian(r, azimuth, elevation), want, atol=1e-15)


def test_multi_scan_poses_give_the_common_frame(tmp_path: Path) -> None:
    stations = [station(300, 0), station(200, 1), station(100, 2)]
    path = write_multi(tmp_path / "survey.e57", stations)
    info = registry.inspect_scan(path, stats=True)
    assert (info.format, info.version, info.point_count) == ("e57", "1.0", 600)
    assert [s.point_count for s in info.scans] == [300, 200, 100]
    assert [s.name for s in info.scans] == ["station 0", "station 1", "station 2"]
    assert all(s.guid and s.guid.startswith("{") for s in info.scans)
    for sub, (q, t) in zip(info.scans, POSES):
        np.testing.assert_allclose(sub.pose.translation, t)
        np.testing.assert_allclose(sub.pose.rotation_wxyz, q)
        assert sub.fields[:3] == ["cartesianX", "cartesianY", "cartesianZ"] and sub.grid is None
    assert info.bounds is None  # rotated scans: header boxes are in each scan's own frame
    assert info.has_rgb and info.has_intensity and not info.warnings

    cloud = registry.read_scan(path)
    want = np.concatenate([expected_xyz(d, q, t) for d, (q, t) in zip(stations, POSES)])
    np.testing.assert_allclose(cloud.world_xyz, want, atol=1e-6, rtol=0)
    assert cloud.attrs["scan_index"].tolist() == [0] * 300 + [1] * 200 + [2] * 100
    assert cloud.attrs["scan_index"].dtype == np.int32
    rgb = np.concatenate([np.column_stack([d["colorRed"], d["colorGreen"], d["colorBlue"]]) for d in stations])
    np.testing.assert_array_equal(cloud.attrs["rgb"], rgb)
    assert cloud.attrs["intensity"].dtype == np.float32


def test_chunks_stay_within_the_limit(tmp_path: Path) -> None:
    path = write_multi(tmp_path / "two.e57", [station(250, 0), station(120, 1)])
    chunks = list(E57Format().iter_chunks(path, chunk_points=100))
    assert [len(c["xyz"]) for c in chunks] == [100, 100, 50, 100, 20]
    assert [int(c["scan_index"][0]) for c in chunks] == [0, 0, 0, 1, 1]


def test_invalid_records_are_dropped_and_counted(tmp_path: Path) -> None:
    state = np.zeros(400, dtype=np.int8)
    state[::4] = 2  # invalid
    state[1::8] = 1  # direction only: no range
    data = station(400, 5, invalid=state)
    path = write_multi(tmp_path / "holes.e57", [data])
    info = registry.inspect_scan(path, stats=True)  # stats: delivered == point_count
    valid = int((state == 0).sum())
    assert info.point_count == info.scans[0].point_count == valid == 250
    assert any("400 records, 150 flagged invalid" in w for w in info.warnings)
    assert "cartesianInvalidState" in info.dimensions
    cloud = registry.read_scan(path)
    np.testing.assert_allclose(cloud.world_xyz, expected_xyz(data, *POSES[0]), atol=1e-6, rtol=0)
    assert "cartesianInvalidState" not in cloud.attrs


def test_identity_pose_bounds_and_grid(tmp_path: Path) -> None:
    n = 60
    data = station(n, 7)
    data["rowIndex"] = np.repeat(np.arange(6), 10).astype(np.uint16)
    data["columnIndex"] = np.tile(np.arange(10), 6).astype(np.uint16)
    path = tmp_path / "grid.e57"
    with pye57.E57(str(path), mode="w") as e57:
        e57.write_scan_raw(data, name="grid")
    info = registry.inspect_scan(path, stats=True)
    (sub,) = info.scans
    assert sub.grid == (6, 10)
    assert info.bounds is not None
    np.testing.assert_allclose(info.bounds.min, info.stats.bounds.min, atol=1e-5)
    np.testing.assert_allclose(info.bounds.max, info.stats.bounds.max, atol=1e-5)
    assert info.extra_dimensions == ["columnIndex", "rowIndex"]
    cloud = registry.read_scan(path)
    assert cloud.attrs["rowIndex"].tolist() == data["rowIndex"].tolist()


def test_scans_with_different_fields(tmp_path: Path) -> None:
    path = write_multi(tmp_path / "mixed.e57", [station(50, 0, colour=True), station(40, 1, colour=False)])
    info = registry.inspect_scan(path)
    assert not info.has_rgb and info.has_intensity
    assert any("not every scan has rgb" in w for w in info.warnings)
    cloud = registry.read_scan(path)
    assert len(cloud) == 90 and "rgb" not in cloud.attrs


# ------------------------------------------------------------------ broken files


def valid_e57(tmp_path: Path) -> bytes:
    return write_multi(tmp_path / "valid.e57", [station(100, 0), station(80, 1)]).read_bytes()


def xml_section(data: bytes) -> tuple[int, int]:
    offset, length = struct.unpack("<QQ", data[24:40])
    return offset, length


def test_corrupt_xml_bytes_fail_the_checksum(tmp_path: Path) -> None:
    data = bytearray(valid_e57(tmp_path))
    offset, _ = xml_section(data)
    data[offset + 40 : offset + 50] = b"##########"
    path = tmp_path / "broken.e57"
    path.write_bytes(data)
    for call in (registry.inspect_scan, registry.read_scan):
        with pytest.raises(ScanReadError, match=r"broken\.e57: cannot read the E57 file \(checksum") as err:
            call(path)
        assert "\n" not in str(err.value)


def test_broken_xml_with_valid_checksums(tmp_path: Path) -> None:
    data = bytearray(valid_e57(tmp_path))
    offset, length = xml_section(data)
    at = data.index(b"<e57Root", offset, offset + length)
    data[at : at + 8] = b"<e57Rxxx"  # the closing tag no longer matches
    page = at // PAGE * PAGE
    data[page + PAGE - 4 : page + PAGE] = crc32c(bytes(data[page : page + PAGE - 4])).to_bytes(4, "big")
    path = tmp_path / "badxml.e57"
    path.write_bytes(data)
    with pytest.raises(ScanReadError, match=r"badxml\.e57: cannot read the E57 file") as err:
        registry.inspect_scan(path)
    assert "\n" not in str(err.value) and "checksum" not in str(err.value)


def test_corrupt_point_packet_with_valid_checksums(tmp_path: Path) -> None:
    data = bytearray(valid_e57(tmp_path))
    data[48:64] = b"\x00\x01\x02\x03" * 4  # the first binary section: scan 0's packets
    data[PAGE - 4 : PAGE] = crc32c(bytes(data[: PAGE - 4])).to_bytes(4, "big")
    path = tmp_path / "packet.e57"
    path.write_bytes(data)
    with pytest.raises(ScanReadError, match=r"packet\.e57: the E57 scan 0 data cannot be read") as err:
        registry.read_scan(path)
    assert "\n" not in str(err.value)


def test_truncated_file(tmp_path: Path) -> None:
    data = valid_e57(tmp_path)
    path = tmp_path / "cut.e57"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ScanReadError, match=r"cut\.e57: ") as err:
        registry.inspect_scan(path)
    assert "\n" not in str(err.value)


def test_not_e57_content(tmp_path: Path) -> None:
    path = tmp_path / "fake.e57"
    path.write_bytes(b"ASTM-E57" + bytes(100))
    with pytest.raises(ScanReadError, match=r"fake\.e57: cannot read the E57 file"):
        registry.inspect_scan(path)
    path.write_bytes(b"hello, not a scan" * 10)
    with pytest.raises(ScanReadError, match=r"fake\.e57: "):
        registry.inspect_scan(path)


def test_colour_limits_scale_to_eight_bits() -> None:
    rgb16 = np.array([[65535, 0, 32768]], dtype=np.float64)
    assert rgb_to_uint8(rgb16, max_value=65535).tolist() == [[255, 0, 128]]
    assert rgb_to_uint8(np.array([[1.0, 0.5, 0.0]]), max_value=1.0).tolist() == [[255, 128, 0]]
    assert rgb_to_uint8(np.array([[200.0, 3.0, 0.0]]), max_value=255).tolist() == [[200, 3, 0]]


def test_sniff() -> None:
    assert E57Format().sniff(b"ASTM-E57\x00\x00\x01\x00")
    assert not E57Format().sniff(b"LASF") and not E57Format().sniff(b"")
