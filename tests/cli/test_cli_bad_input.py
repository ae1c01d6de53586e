"""Every bad input the foundation issue lists, through `twin ingest` and `twin inspect`:
one line naming the file and the problem, a non-zero exit, an untouched workspace."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import workspace_state, write_las


def _missing(t: Path) -> Path:
    return t / "missing.laz"


def _empty(t: Path) -> Path:
    p = t / "empty.laz"
    p.write_bytes(b"")
    return p


def _wrong_extension(t: Path) -> Path:
    return write_las(t / "scan.las").rename(t / "scan.e57")


def _truncated_las(t: Path) -> Path:
    p = write_las(t / "cut.las", n=2000)
    p.write_bytes(p.read_bytes()[:-7777])
    return p


def _claims_more(t: Path) -> Path:
    p = write_las(t / "claims.las", n=100, version="1.2", point_format=3)
    data = bytearray(p.read_bytes())
    data[107:111] = struct.pack("<I", 250)
    p.write_bytes(bytes(data))
    return p


def _corrupt_laz(t: Path) -> Path:
    p = write_las(t / "corrupt.laz", n=20_000)
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 256] = bytes(range(256))
    p.write_bytes(bytes(data))
    return p


def _broken_e57_xml(t: Path) -> Path:
    from tests.unit.test_io_e57 import PAGE, crc32c, station, write_multi, xml_section

    data = bytearray(write_multi(t / "ok.e57", [station(50, 0)]).read_bytes())
    offset, length = xml_section(data)
    at = data.index(b"<e57Root", offset, offset + length)
    data[at : at + 8] = b"<e57Rxxx"
    page = at // PAGE * PAGE
    data[page + PAGE - 4 : page + PAGE] = crc32c(bytes(data[page : page + PAGE - 4])).to_bytes(4, "big")
    p = t / "brokenxml.e57"
    p.write_bytes(bytes(data))
    return p


def _ply_unknown_type(t: Path) -> Path:
    p = t / "weird.ply"
    header = "ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float128 x\nproperty float y\nproperty float z\nend_header\n"
    p.write_bytes(header.encode() + bytes(64))
    return p


def _text_non_numeric(t: Path) -> Path:
    p = t / "rows.xyz"
    p.write_text("1.0 2.0 3.0\n4.0 five 6.0\n7.0 8.0 9.0\n")
    return p


def _nan_coordinates(t: Path) -> Path:
    p = t / "nan.xyz"
    p.write_text("1.0 2.0 3.0\nnan 5.0 6.0\n7.0 inf 9.0\n")
    return p


def _zero_points(t: Path) -> Path:
    return write_las(t / "nothing.las", xyz=np.empty((0, 3)))


CASES = {
    "missing file": (_missing, "missing.laz: no such file"),
    "empty file": (_empty, "empty.laz: the file is empty"),
    "wrong extension": (_wrong_extension, "scan.e57: the extension says E57 but the content is LAS"),
    "truncated LAS": (_truncated_las, "cut.las: the header declares 2,000 points"),
    "header claims more points": (_claims_more, "claims.las: the header declares 250 points but the file holds only 100"),
    "corrupt LAZ chunk": (_corrupt_laz, "corrupt.laz: "),
    "E57 broken XML": (_broken_e57_xml, "brokenxml.e57: cannot read the E57 file"),
    "PLY unknown property type": (_ply_unknown_type, "weird.ply: "),
    "text non-numeric row": (_text_non_numeric, "rows.xyz: line 2"),
    "NaN coordinates": (_nan_coordinates, "nan.xyz: "),
    "zero points": (_zero_points, "nothing.las: the scan holds zero points"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_scan_refused_by_ingest(cli, tmp_path: Path, case: str):
    make, message = CASES[case]
    ws = tmp_path / "ws"
    cli("init", ws)
    cli("ingest", write_las(tmp_path / "good.laz", seed=5), "--structure", "p", "--survey", "s", "-w", ws)
    before = workspace_state(ws)
    bad = make(tmp_path)
    result = cli("ingest", bad, "--structure", "p", "--survey", "s2", "-w", ws)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert workspace_state(ws) == before


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_scan_refused_by_inspect(cli, tmp_path: Path, case: str):
    make, message = CASES[case]
    result = cli("inspect", make(tmp_path), "--stats")
    assert result.exit_code == 3 and message in result.stderr


def test_specific_reasons(cli, tmp_path: Path):
    assert "unknown type 'float128'" in cli("inspect", _ply_unknown_type(tmp_path)).stderr
    assert "NaN or infinite" in cli("inspect", _nan_coordinates(tmp_path), "--stats").stderr


def test_unknown_crs_and_bad_id(cli, tmp_path: Path):
    ws = tmp_path / "ws"
    cli("init", ws)
    before = workspace_state(ws)
    scan = write_las(tmp_path / "a.las")
    r1 = cli("ingest", scan, "--structure", "p", "--survey", "s", "--crs", "EPSG:123456789", "-w", ws)
    r2 = cli("ingest", scan, "--structure", "thai hoa", "--survey", "s", "-w", ws)
    r3 = cli("ingest", scan, "--structure", "p", "--survey", "..", "-w", ws)
    assert r1.exit_code == 2 and "unknown coordinate system 'EPSG:123456789'" in r1.stderr
    assert r2.exit_code == 2 and "structure id 'thai hoa' contains ' '" in r2.stderr
    assert r3.exit_code == 2 and "survey id '..'" in r3.stderr
    assert workspace_state(ws) == before


def test_crs_contradiction_warned_at_inspect_refused_at_ingest(cli, tmp_path: Path):
    """UTM metres under a WGS 84 header: a warning line at inspect, a refusal at ingest
    (workspace untouched), accepted with --crs, the override recorded."""
    scan = write_las(tmp_path / "degrees.las", n=200, epsg=4326)
    shown = cli("inspect", scan)
    assert shown.exit_code == 0
    warnings = [line for line in shown.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: the header says WGS 84 (EPSG:4326), in degrees, but the coordinates reach x=749,029.9, "
        "y=1,821,031.9, beyond ±180/±90: they look projected (metres or feet); twin ingest refuses it unless "
        "--crs gives the right one"
    ]
    ws = tmp_path / "ws"
    cli("init", ws)
    before = workspace_state(ws)
    refused = cli("ingest", scan, "--structure", "p", "--survey", "s", "-w", ws)
    assert refused.exit_code == 3 and "give the right coordinate system with --crs" in refused.stderr
    assert workspace_state(ws) == before
    fixed = cli("ingest", scan, "--structure", "p", "--survey", "s", "--crs", "EPSG:32648", "-w", ws)
    assert fixed.exit_code == 0 and "EPSG:32648 (override)" in fixed.stdout


def test_projected_coordinates_far_outside_the_area_of_use(tmp_path: Path):
    from twin.io.crs import crs_contradiction, parse_user_crs

    utm48 = parse_user_crs("EPSG:32648")
    assert crs_contradiction(utm48, (749_000, 1_821_000, 0), (749_100, 1_821_100, 10)) is None  # Hue
    far = crs_contradiction(utm48, (49_000_000, 1_821_000, 0), (49_000_100, 1_821_100, 10))
    assert far and far.startswith("the coordinates (x 49,000,000.0..49,000,100.0, y 1,821,000.0..1,821,100.0) "
                                  "lie far outside the area of use of WGS 84 / UTM zone 48N (EPSG:32648)")
    assert crs_contradiction(parse_user_crs("EPSG:4326"), (105.0, 16.0, 0), (107.0, 17.0, 0)) is None


def test_foreign_errors_are_mapped_in_one_place(cli, tmp_path: Path, monkeypatch):
    """A catalog locked past the busy timeout is the machine's state, not a bug: one line, exit 4."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    import twin.catalog.ingest as ingest_module

    def locked(*_a, **_k):
        raise OperationalError("INSERT INTO scans ...", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(ingest_module, "ingest", locked)
    ws = tmp_path / "ws"
    cli("init", ws)
    result = cli("ingest", write_las(tmp_path / "a.las"), "--structure", "p", "--survey", "s", "-w", ws)
    assert result.exit_code == 4
    assert result.stderr.strip() == (
        "error: the catalog is busy: another twin process has held it for over a minute (database is locked); "
        "wait for it to finish and run the command again"
    )


def test_an_unknown_exception_is_still_an_internal_error(cli, tmp_path: Path, monkeypatch):
    import twin.catalog.ingest as ingest_module

    def bug(*_a, **_k):
        raise KeyError("oops")

    monkeypatch.setattr(ingest_module, "ingest", bug)
    ws = tmp_path / "ws"
    cli("init", ws)
    result = cli("ingest", write_las(tmp_path / "a.las"), "--structure", "p", "--survey", "s", "-w", ws)
    assert result.exit_code == 1 and result.stderr.startswith("internal error: KeyError: 'oops'")
