"""A corpus of broken inputs across every format twin reads, each generated here (nothing
binary is committed), each with its EXACT one-line answer.

For every case: a non-zero exit, exactly one line on stderr equal to the expected one, no
traceback, no "internal error", and, for the cases that go through a workspace (ingest,
layers set, process), the workspace folder byte for byte as it was (catalog included).
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REAL_DATA, write_las

# ----------------------------------------------------------------------------- the files


def _missing(t: Path) -> Path:
    return t / "missing.laz"


def _empty(t: Path) -> Path:
    p = t / "empty.las"
    p.write_bytes(b"")
    return p


def _good_ply(path: Path, n: int = 50, binary: bool = True) -> Path:
    xyz = np.random.default_rng(3).random((n, 3)).astype("<f4")
    fmt = "binary_little_endian" if binary else "ascii"
    head = f"ply\nformat {fmt} 1.0\nelement vertex {n}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    body = xyz.tobytes() if binary else "".join(f"{a} {b} {c}\n" for a, b, c in xyz).encode()
    path.write_bytes(head.encode() + body)
    return path


def _ply_named_las(t: Path) -> Path:
    return _good_ply(t / "station.las")


def _truncated_las(t: Path) -> Path:
    p = write_las(t / "cut.las", n=2000, version="1.2", point_format=3)
    p.write_bytes(p.read_bytes()[:-7777])
    return p


def _las_header_patch(name: str, offset: int, fmt: str, value) -> Callable[[Path], Path]:
    def make(t: Path) -> Path:
        p = write_las(t / name, n=100, version="1.2", point_format=3)
        data = bytearray(p.read_bytes())
        data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
        p.write_bytes(bytes(data))
        return p

    return make


# LAS 1.2 header: point count at 107, x/y/z scale at 131/139/147, max x at 179
_x_scale_zero = _las_header_patch("xscale0.las", 131, "<d", 0.0)
_negative_scale = _las_header_patch("negscale.las", 147, "<d", -0.001)
_count_too_large = _las_header_patch("claims.las", 107, "<I", 250)
_bounds_contradict = _las_header_patch("bounds.las", 179, "<d", 749015.0)


def _corrupt_laz(t: Path) -> Path:
    p = write_las(t / "S1.laz", n=200_000)
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 256] = bytes(range(256))
    p.write_bytes(bytes(data))
    return p


def _truncated_laz(t: Path) -> Path:
    p = write_las(t / "cut.laz", n=200_000)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) * 6 // 10])
    return p


def _e57(t: Path, name: str) -> Path:
    from tests.unit.test_io_e57 import station, write_multi

    return write_multi(t / name, [station(100, 0), station(80, 1)])


def _e57_truncated(t: Path) -> Path:
    p = _e57(t, "cut.e57")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _e57_garbage_xml(t: Path) -> Path:
    from tests.unit.test_io_e57 import PAGE, crc32c, xml_section

    p = _e57(t, "garbage.e57")
    data = bytearray(p.read_bytes())
    offset, length = xml_section(data)
    at = data.index(b"<e57Root", offset, offset + length)
    data[at : at + 8] = b"<e57Rxxx"  # the closing tag no longer matches; page checksums redone
    page = at // PAGE * PAGE
    data[page + PAGE - 4 : page + PAGE] = crc32c(bytes(data[page : page + PAGE - 4])).to_bytes(4, "big")
    p.write_bytes(bytes(data))
    return p


def _ply_bad_header(t: Path) -> Path:
    p = t / "badhead.ply"
    p.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex many\nproperty float x\nend_header\n")
    return p


def _ply_binary_truncated(t: Path) -> Path:
    p = _good_ply(t / "short.ply", n=100)
    p.write_bytes(p.read_bytes()[:-100])
    return p


def _pcd(fields: str, size: str, type_: str, count: str, width: int) -> str:
    return (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        f"FIELDS {fields}\nSIZE {size}\nTYPE {type_}\nCOUNT {count}\n"
        f"WIDTH {width}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {width}\nDATA binary\n"
    )


def _pcd_missing_field(t: Path) -> Path:
    p = t / "noz.pcd"
    p.write_bytes(_pcd("x y", "4 4", "F F", "1 1", 10).encode() + np.zeros(20, "<f4").tobytes())
    return p


def _pcd_truncated(t: Path) -> Path:
    p = t / "short.pcd"
    p.write_bytes(_pcd("x y z", "4 4 4", "F F F", "1 1 1", 10).encode() + np.zeros(25, "<f4").tobytes())
    return p


def _text_non_numeric(t: Path) -> Path:
    p = t / "rows.xyz"
    p.write_text("1.0 2.0 3.0\n4.0 five 6.0\n7.0 8.0 9.0\n")
    return p


def _pts_ragged(t: Path) -> Path:
    p = t / "ragged.pts"
    p.write_text("3\n1.0 2.0 3.0 10\n4.0 5.0 6.0 11\n7.0 8.0\n")
    return p


def _geographic_out_of_range(t: Path) -> Path:
    return write_las(t / "degrees.las", n=200, epsg=4326)  # UTM metres under a WGS 84 header


def _layers_bad_yaml(t: Path) -> Path:
    p = t / "layers.yaml"
    p.write_text("elements:\n  - id: roof\n    name: [unclosed\n")
    return p


def _pipeline(t: Path, name: str, stages: str) -> Path:
    p = t / name
    p.write_text(f"name: broken\nstages:\n{stages}")
    return p


def _pipeline_unknown_stage(t: Path) -> Path:
    return _pipeline(t, "unknown.yaml", "  - stage: voxel_downsample\n    voxel_size: 0.05\n  - stage: sharpen\n")


def _pipeline_negative_voxel(t: Path) -> Path:
    return _pipeline(t, "negative.yaml", "  - stage: voxel_downsample\n    voxel_size: -0.05\n")


def _lone_star(t: Path) -> Path:
    src = REAL_DATA / "pdal" / "lone-star.laz"
    if not src.is_file():
        pytest.skip(f"{src} not present")
    return src


# ----------------------------------------------------------------------------- the cases


@dataclass
class Case:
    make: Callable[[Path], Path]
    command: str  # inspect, ingest, layers, process
    expected: str  # the one line, "{p}" standing for the file as given
    exit_code: int = 3


CASES: dict[str, Case] = {
    "missing file": Case(
        _missing, "ingest",
        'error: {p}: no such file',
    ),
    "empty file": Case(
        _empty, "ingest",
        'error: {p}: the file is empty (0 bytes)',
    ),
    "PLY named .las": Case(
        _ply_named_las, "ingest",
        'error: {p}: the extension says LAS but the content is PLY; rename the file to station.ply',
    ),
    "truncated LAS": Case(
        _truncated_las, "ingest",
        'error: {p}: the header declares 2,000 points but the file holds only 1,771 complete point records (it ends at byte 60,611, 68,388 are needed); it is truncated or its header is wrong, copy it again from the scanner export',
    ),
    "LAZ corrupt chunk": Case(
        _corrupt_laz, "inspect",
        'error: {p}: compressed chunk 2 of 4 (points 50,000-99,999, bytes 495,101-988,112) is corrupt: lazrs: failed to fill whole buffer; the file is damaged, copy it again from the scanner export',
    ),
    "LAZ corrupt chunk, ingest": Case(
        _corrupt_laz, "ingest",
        'error: {p}: compressed chunk 2 of 4 (points 50,000-99,999, bytes 495,101-988,112) is corrupt: lazrs: failed to fill whole buffer; the file is damaged, copy it again from the scanner export',
    ),
    "LAZ truncated": Case(
        _truncated_laz, "inspect",
        'error: {p}: the LAZ chunk table cannot be read (lazrs: failed to fill whole buffer): the file (1,184,470 bytes) is truncated or damaged; copy it again from the scanner export',
    ),
    "x scale 0": Case(
        _x_scale_zero, "ingest",
        "error: {p}: the header's x scale is 0, which would give every point the same x; the header is damaged, re-export the scan from the scanner software",
    ),
    "negative scale": Case(
        _negative_scale, "inspect",
        "error: {p}: the header's z scale is -0.001, but a scale must be positive; the header is damaged, re-export the scan from the scanner software",
    ),
    "point count larger than the file": Case(
        _count_too_large, "ingest",
        'error: {p}: the header declares 250 points but the file holds only 100 complete point records (it ends at byte 3,788, 8,888 are needed); it is truncated or its header is wrong, copy it again from the scanner export',
    ),
    "bounds contradict points": Case(
        _bounds_contradict, "ingest",
        "error: {p}: point 0 has x 749,022.739, above the header's max x 749,015.000 (79 of points 0-99 lie outside the header's bounds): the header contradicts its points; the header is damaged, re-export the scan from the scanner software",
    ),
    "E57 truncated": Case(
        _e57_truncated, "ingest",
        'error: {p}: the E57 header says the file is 11,264 bytes but it ends at byte 5,632; it is truncated, copy it again from the scanner export',
    ),
    "E57 garbage XML": Case(
        _e57_garbage_xml, "inspect",
        'error: {p}: cannot read the E57 file (XML not well formed (ErrorXMLParser)); it is corrupt or not E57',
    ),
    "PLY bad header": Case(
        _ply_bad_header, "inspect",
        "error: {p}: PLY header line 3: bad element line 'element vertex many'; expected 'element <name> <count>': the header is corrupt, export the file again",
    ),
    "PLY binary truncated": Case(
        _ply_binary_truncated, "ingest",
        'error: {p}: the PLY header declares 100 vertices but the file holds only 91 complete ones (it ends at byte 1,217, 1,317 are needed); it is truncated, copy it again',
    ),
    "PCD missing field": Case(
        _pcd_missing_field, "inspect",
        'error: {p}: the PCD FIELDS have no x, y and z (x y); it holds no point coordinates; export it again with its x y z fields',
    ),
    "PCD truncated data": Case(
        _pcd_truncated, "ingest",
        'error: {p}: the PCD header declares 10 points but the file holds only 8 complete records (it ends at byte 266, 286 are needed); it is truncated, copy it again',
    ),
    "text non-numeric row": Case(
        _text_non_numeric, "ingest",
        "error: {p}: line 2 holds the non-numeric value 'five'; fix or remove that line and read the file again",
    ),
    "PTS ragged row": Case(
        _pts_ragged, "inspect",
        "error: {p}: line 4 has 2 values where 4 are expected ('7.0 8.0'); the file is corrupt or not in this layout",
    ),
    "geographic coordinates out of range": Case(
        _geographic_out_of_range, "ingest",
        'error: {p}: the header says WGS 84 (EPSG:4326), in degrees, but the coordinates reach x=749,029.9, y=1,821,031.9, beyond ±180/±90: they look projected (metres or feet); give the right coordinate system with --crs EPSG:NNNN',
    ),
    "wrong CRS (lone-star)": Case(
        _lone_star, "ingest",
        'error: {p}: the header says WGS 84 (EPSG:4326), in degrees, but the coordinates reach x=515,401.0, y=4,918,381.1, beyond ±180/±90: they look projected (metres or feet); give the right coordinate system with --crs EPSG:NNNN',
    ),
    "layers: bad YAML syntax": Case(
        _layers_bad_yaml, "layers",
        "error: {p}: line 4, column 1: not valid YAML (expected ',' or ']', but got '<stream end>')", 2,
    ),
    "pipeline: unknown stage": Case(
        _pipeline_unknown_stage, "process",
        "error: {p}: stages[1] (sharpen) unknown stage 'sharpen' (known: 'crop', 'flag_outliers', 'drop_flagged', 'voxel_downsample', 'normals', 'register', 'mesh', 'repair', 'decimate', 'label', 'write')", 2,
    ),
    "pipeline: negative voxel": Case(
        _pipeline_negative_voxel, "process",
        'error: {p}: stages[0] (voxel_downsample) voxel_size: Input should be greater than 0', 2,
    ),
}


def _tree_hash(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``, the catalog included.

    SQLite's ``-shm`` file (an index of the write-ahead log, rebuilt on open) and an EMPTY
    ``-wal`` file are what an open connection leaves while this in-process runner keeps
    its engine; they hold no data, so they do not count. A ``-wal`` with content does.
    """
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith("-shm") and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


@pytest.fixture(scope="module")
def base_workspace(tmp_path_factory) -> Path:
    """A workspace with structure "p", survey "s", one good station: copied for each case."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    t = tmp_path_factory.mktemp("base")
    ws = t / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    good = write_las(t / "good.laz", n=500, seed=5)
    result = runner.invoke(app, ["ingest", str(good), "--structure", "p", "--survey", "s", "-w", str(ws)])
    assert result.exit_code == 0, result.stderr
    return ws


def _run(cli, case: Case, bad: Path, ws: Path):
    if case.command == "inspect":
        return cli("inspect", bad, "--stats")
    if case.command == "ingest":
        return cli("ingest", bad, "--structure", "p", "--survey", "s2", "-w", ws)
    if case.command == "layers":
        return cli("layers", "set", "p", bad, "-w", ws)
    return cli("process", "p", "--pipeline", bad, "-w", ws)


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 20
    suffixes = {".las", ".laz", ".e57", ".ply", ".pcd", ".xyz", ".pts", ".yaml"}
    assert suffixes <= {_make_name(c) for c in CASES.values()}


def _make_name(case: Case) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        try:
            return case.make(Path(t)).suffix
        except pytest.skip.Exception:
            return ".laz"


@pytest.mark.parametrize("name", list(CASES))
def test_broken_input_gets_its_one_line(cli, tmp_path: Path, base_workspace: Path, name: str):
    case = CASES[name]
    ws = tmp_path / "ws"
    shutil.copytree(base_workspace, ws)
    before = _tree_hash(ws)
    bad = case.make(tmp_path)
    result = _run(cli, case, bad, ws)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    assert lines == [case.expected.format(p=bad)], lines
    assert result.exit_code == case.exit_code, (result.exit_code, lines)
    assert _tree_hash(ws) == before, "the workspace changed"
