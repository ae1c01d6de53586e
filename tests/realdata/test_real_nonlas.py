"""The E57, PCD and PLY files in ../shared/data/real against the facts in its MANIFEST.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.io import registry

pytestmark = pytest.mark.realdata

MM = 1e-3

# `real_data` (tests/conftest.py): ../shared/data/real, skipped when absent unless CI=true.


E57 = {
    "e57/pumpAVisualReferenceImage.e57": dict(
        points=155_201,
        name="pumpA",
        fields=["cartesianX", "cartesianY", "cartesianZ", "intensity", "colorRed", "colorGreen", "colorBlue",
                "rowIndex", "columnIndex", "cartesianInvalidState"],  # fmt: skip
        grid=(1074, 345),
        bounds=((-2.904, -5.301, -1.9), (1.722, -0.793, 1.843)),
        software="InteliSum-LD3-Studio-V5.1-E57RefImpl-1.0.173-x86-windows",
        rgb=True,
        intensity=True,
    ),
    "e57/bunnyDouble.e57": dict(
        points=30_571,
        name="bunny",
        fields=["cartesianX", "cartesianY", "cartesianZ", "cartesianInvalidState"],
        grid=None,
        bounds=((-0.095, 0.04, -0.062), (0.061, 0.187, 0.059)),
        software="InteliSum-LD3-Studio-V5.1-E57RefImpl-1.0.154-x86-windows",
        rgb=False,
        intensity=False,
    ),
    "e57/bunnyInt32.e57": dict(
        points=30_571,
        name="bunny",
        fields=["cartesianX", "cartesianY", "cartesianZ", "cartesianInvalidState"],
        grid=None,
        bounds=((-0.095, 0.04, -0.062), (0.061, 0.187, 0.059)),
        software="InteliSum-LD3-Studio-V5.1-E57RefImpl-1.0.154-x86-windows",
        rgb=False,
        intensity=False,
    ),
}

PCD = {
    "pcl/bun0.pcd": dict(
        version="0.7",
        data="ascii",
        points=397,
        fields=["x", "y", "z", "normal_x", "normal_y", "normal_z", "curvature"],
        bounds=(
            (-0.09390000253915787, 0.03739999979734421, -0.054999999701976776),
            (0.05959999933838844, 0.18449999392032623, 0.05779999867081642),
        ),
        tolerance=MM,
    ),
    "pcl/bun4.pcd": dict(version="0.5", data="ascii", points=361, fields=["x", "y", "z"], bounds=None, tolerance=MM),
    "pdal/autzen-utm.pcd": dict(
        version="0.7",
        data="binary",
        points=1_065,
        fields=["X", "Y", "Z", "Intensity", "ReturnNumber", "NumberOfReturns", "ScanDirectionFlag",
                "EdgeOfFlightLine", "Classification", "ScanAngleRank", "UserData", "PointSourceId", "GpsTime",
                "Red", "Green", "Blue"],  # fmt: skip
        # the manifest gives the extent in whole metres
        bounds=((493_995.0, 4_877_430.0, None), (494_994.0, 4_878_817.0, None)),
        tolerance=1.0,
    ),
}

PLY = "trimesh/bunny.ply"


def test_every_non_las_file_has_facts(real_data: Path) -> None:
    found = {str(p.relative_to(real_data)) for ext in ("e57", "pcd", "ply") for p in real_data.rglob(f"*.{ext}")}
    assert found == set(E57) | set(PCD) | {PLY} | set(REGISTRATION_PLY)


# The registration pair (binary PLY from CloudCompare, scalar_intensity): point counts.
REGISTRATION_PLY = {"small_gicp/source.ply": 69_792, "small_gicp/target.ply": 69_088}


@pytest.mark.parametrize("name", sorted(REGISTRATION_PLY))
def test_registration_ply_reads_every_point(real_data: Path, name: str) -> None:
    cloud = registry.read_scan(real_data / name)
    assert len(cloud) == REGISTRATION_PLY[name]
    assert np.isfinite(cloud.world_xyz).all()


def assert_bounds(bounds, expected, tolerance: float) -> None:
    for got, want in zip((bounds.min, bounds.max), expected):
        for g, w in zip(got, want):
            if w is not None:
                assert g == pytest.approx(w, abs=tolerance)


@pytest.mark.parametrize("name", sorted(E57))
def test_e57_manifest_facts(real_data: Path, name: str) -> None:
    facts = E57[name]
    info = registry.inspect_scan(real_data / name, stats=True)
    assert (info.format, info.version, info.point_count) == ("e57", "1.0", facts["points"])
    assert info.software == facts["software"]
    assert len(info.scans) == 1
    (scan,) = info.scans
    assert (scan.name, scan.point_count, scan.fields, scan.grid) == (
        facts["name"], facts["points"], facts["fields"], facts["grid"],
    )  # fmt: skip
    assert scan.pose.translation == (0.0, 0.0, 0.0) and scan.pose.rotation_wxyz == (1.0, 0.0, 0.0, 0.0)
    assert_bounds(scan.bounds, facts["bounds"], MM)
    assert_bounds(info.bounds, facts["bounds"], MM)
    assert_bounds(info.stats.bounds, facts["bounds"], MM)
    assert info.stats.points_read == facts["points"]
    assert (info.has_rgb, info.has_intensity) == (facts["rgb"], facts["intensity"])
    assert not info.warnings


def test_e57_pump_attributes(real_data: Path) -> None:
    cloud = registry.read_scan(real_data / "e57/pumpAVisualReferenceImage.e57")
    assert len(cloud) == 155_201
    assert cloud.attrs["rgb"].dtype == np.uint8 and cloud.attrs["rgb"].shape == (155_201, 3)
    assert int(cloud.attrs["rowIndex"].max()) <= 1073 and int(cloud.attrs["columnIndex"].max()) <= 344
    assert set(np.unique(cloud.attrs["scan_index"])) == {0}


def test_e57_int32_codec_matches_double(real_data: Path) -> None:
    double = registry.read_scan(real_data / "e57/bunnyDouble.e57")
    scaled = registry.read_scan(real_data / "e57/bunnyInt32.e57")
    np.testing.assert_allclose(scaled.world_xyz, double.world_xyz, atol=MM, rtol=0)


@pytest.mark.parametrize("name", sorted(PCD))
def test_pcd_manifest_facts(real_data: Path, name: str) -> None:
    facts = PCD[name]
    info = registry.inspect_scan(real_data / name, stats=True)
    assert (info.format, info.version, info.encoding) == ("pcd", facts["version"], facts["data"])
    assert info.point_count == info.stats.points_read == facts["points"]
    assert info.dimensions == facts["fields"]
    if facts["bounds"]:
        assert_bounds(info.bounds, facts["bounds"], facts["tolerance"])
        assert_bounds(info.stats.bounds, facts["bounds"], facts["tolerance"])
    assert not info.warnings


def test_pcd_bun0_normals(real_data: Path) -> None:
    cloud = registry.read_scan(real_data / "pcl/bun0.pcd")
    norms = np.linalg.norm(cloud.attrs["normals"], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-3)
    assert "curvature" in cloud.attrs


def test_pcd_autzen_las_attributes(real_data: Path) -> None:
    info = registry.inspect_scan(real_data / "pdal/autzen-utm.pcd")
    assert info.has_rgb and info.has_intensity
    cloud = registry.read_scan(real_data / "pdal/autzen-utm.pcd")
    assert cloud.attrs["classification"].dtype == np.uint8
    assert cloud.attrs["point_source_id"].dtype == np.uint16
    assert cloud.attrs["GpsTime"].dtype == np.float64
    # float64 coordinates survive: every coordinate equals the file's float64, read here independently
    # (measured: 0 difference; margin: one float64 step at a northing near 4.88e6 m, 1e-9 m). Float32
    # would step 0.5 m there: whole centimetres still, so the centimetre check alone cannot tell.
    raw = _pcd_binary_records(real_data / "pdal/autzen-utm.pcd")
    expected = np.column_stack([raw["X"], raw["Y"], raw["Z"]])
    assert cloud.world_xyz.dtype == np.float64
    np.testing.assert_allclose(cloud.world_xyz, expected, atol=1e-9, rtol=0)
    # the file holds whole centimetres on every axis, and they stay whole centimetres (measured: X 0,
    # Y 6e-8 cm, the float64 step of a northing times 100, Z 2e-10 cm; margin 1e-6 cm)
    xyz_cm = cloud.world_xyz * 100
    np.testing.assert_allclose(xyz_cm, np.round(xyz_cm), atol=1e-6, rtol=0)
    assert np.mean(cloud.world_xyz[:, 1] % 0.5 != 0) > 0.9  # not float32's half-metre steps (measured 98.6 %)


def _pcd_binary_records(path: Path) -> np.ndarray:
    """A minimal reader of an uncompressed binary PCD (COUNT 1 fields), independent of twin.io."""
    data = path.read_bytes()
    start = data.index(b"\nDATA binary\n") + len(b"\nDATA binary\n")
    header = {line.split()[0]: line.split()[1:] for line in data[:start].decode("ascii").splitlines() if line}
    kinds = {"F": "f", "U": "u", "I": "i"}
    fields = zip(header["FIELDS"], header["SIZE"], header["TYPE"], strict=True)
    dtype = np.dtype([(name, "<" + kinds[t] + size) for name, size, t in fields])
    assert set(header["COUNT"]) == {"1"}
    return np.frombuffer(data, dtype=dtype, count=int(header["POINTS"][0]), offset=start)


def test_ply_bunny(real_data: Path) -> None:
    info = registry.inspect_scan(real_data / PLY, stats=True)
    assert (info.format, info.encoding, info.version) == ("ply", "ascii", "1.0")
    assert info.point_count == info.stats.points_read == 8_171
    assert info.dimensions == ["x", "y", "z", "confidence", "intensity"]
    assert info.extra_dimensions == ["confidence"] and info.has_intensity
    assert info.warnings == ["mesh: 16,301 faces (points are its vertices)"]
    bounds = (
        (-0.09459999948740005, 0.033399999141693115, -0.061900001019239426),
        (0.0608999989926815, 0.186599999666214, 0.05869999900460243),
    )
    assert_bounds(info.stats.bounds, bounds, MM)
    cloud = registry.read_scan(real_data / PLY)
    assert cloud.attrs["confidence"].dtype == np.float32 and cloud.attrs["intensity"].dtype == np.float32
