"""Every LAS/LAZ in ../shared/data/real inspects and ingests with the facts in its MANIFEST.md."""

from __future__ import annotations

import json

import pytest

from tests.conftest import workspace_state

# file: (version, point format, points, epsg, crs warning substring or None, classes, source ids, bounds min, max)
FACTS = {
    "pdal/sample_c.las": ("1.2", 3, 14408, None, "no coordinate system",
                          {2: 1368, 3: 93, 4: 29, 5: 7, 6: 12525, 11: 2, 14: 45, 31: 339}, [54, 55, 56, 58],
                          (674521.92, 1206740.08, 627.53), (674605.32, 1206814.96, 656.23)),
    "laspy/file_with_both_wkt_and_geotiff_vlrs.las": ("1.4", 6, 25408, 6880, "EPSG:32104",
                                                      {2: 9808, 3: 158, 4: 724, 5: 10956, 6: 3737, 7: 25}, [0],
                                                      (2445180.0, 604300.0, 1352.7), (2445239.99, 604339.98, 1403.96)),
    "laspy/autzen_trim.laz": ("1.2", 3, 110000, None, None, {1: 83893, 2: 26107}, [7326],
                              (636001.76, 848935.2, 406.26), (637179.22, 849497.9, 520.51)),
    "laspy/append-bug.laz": ("1.4", 8, 37805, 2154, None,
                             {1: 355, 2: 22859, 3: 929, 4: 1816, 5: 9974, 17: 1333, 65: 539}, [712, 800, 801, 802],
                             (698000.0, 6259242.79, 11.72), (699000.0, 6260000.0, 266.03)),
    "pdal/las_with_several_extra_byte_bloc.laz": ("1.4", 8, 697721, 2154, None,
                                                  {1: 3262, 2: 683023, 3: 960, 4: 873, 5: 9003, 6: 590, 65: 10},
                                                  [47], (484649.36, 6632629.73, 99.65),
                                                  (484999.99, 6632999.99, 120.42)),
    "laspy/fullwave.laz": ("1.4", 10, 10750, 32723, None, {0: 10750}, [1003],
                           (194267.419, 8249096.014, 989.944), (194318.295, 8249137.34, 1003.704)),
    "pdal/warsaw_small.las": ("1.2", 3, 3000, None, "record is empty",
                              {0: 433, 2: 1381, 3: 257, 4: 27, 5: 902}, [21, 64],
                              (639913.26, 485143.14, 84.7), (639946.75, 485175.91, 104.55)),
    "pdal/mvk-thin.las": ("1.2", 1, 6280, 26995, None, {1: 129, 2: 1693, 4: 141, 5: 578, 9: 37, 12: 3702},
                          [2003, 2004, 2005], (2045001.76, 1267501.19, 95.79), (2049993.92, 1272499.79, 228.73)),
    "pdal/lone-star.laz": ("1.1", 1, 518862, 4326, "look projected", {0: 518862}, [0],
                           (515368.6, 4918340.362, 2322.895), (515401.045, 4918381.125, 2338.577)),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(FACTS))
def test_inspect_matches_manifest(cli, real_data, name):
    version, pf, count, epsg, warning, classes, sources, lo, hi = FACTS[name]
    result = cli("inspect", real_data / name, "--stats", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["version"], info["point_format"], info["point_count"]) == (version, pf, count)
    assert info["stats"]["points_read"] == count
    assert info["crs"]["epsg"] == epsg
    if warning:
        assert any(warning in w for w in info["crs"]["warnings"]), info["crs"]["warnings"]
    assert {int(k): v for k, v in info["stats"]["classification_histogram"].items()} == classes
    assert info["stats"]["point_source_ids"] == sources
    assert info["bounds"]["min"] == pytest.approx(lo, abs=0.001)  # the header's
    assert info["bounds"]["max"] == pytest.approx(hi, abs=0.001)
    # the points themselves: lone-star's RiSCAN header rounds its box by a few mm
    assert info["stats"]["bounds"]["min"] == pytest.approx(lo, abs=0.005)
    assert info["stats"]["bounds"]["max"] == pytest.approx(hi, abs=0.005)


@pytest.mark.realdata
def test_extra_dimensions_and_wkt_without_epsg(cli, real_data):
    info = json.loads(cli("inspect", real_data / "laspy/append-bug.laz", "--json").stdout)
    assert info["extra_dimensions"] == ["Deviation", "ExtraBytes"] and info["has_rgb"]
    autzen = json.loads(cli("inspect", real_data / "laspy/autzen_trim.laz", "--json").stdout)
    assert autzen["crs"]["name"] == "NAD_1983_HARN_Lambert_Conformal_Conic" and autzen["crs"]["epsg"] is None


# Files whose header CRS contradicts their coordinates, and the CRS that fits them:
# lone-star claims WGS 84 degrees over UTM 12N metres; mvk-thin claims Mississippi West
# in metres over coordinates in US survey feet.
WRONG_CRS = {"pdal/lone-star.laz": "EPSG:32612", "pdal/mvk-thin.las": "EPSG:2255"}


@pytest.mark.realdata
def test_ingest_every_real_las(cli, real_data, tmp_path):
    ws = tmp_path / "ws"
    cli("init", ws)
    for i, name in enumerate(sorted(FACTS)):
        args = ("ingest", real_data / name, "--structure", "real", "--survey", f"s{i}", "-w", ws)
        if name in WRONG_CRS:
            # the header's CRS contradicts the coordinates: refused, workspace untouched, until --crs says
            before = workspace_state(ws)
            refused = cli(*args)
            assert refused.exit_code == 3 and "give the right coordinate system with --crs" in refused.stderr
            assert workspace_state(ws) == before
            args = (*args, "--crs", WRONG_CRS[name])
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
    scans = json.loads(cli("scans", "real", "-w", ws, "--json").stdout)
    assert sorted(s["point_count"] for s in scans) == sorted(f[2] for f in FACTS.values())
    # the wrong CRS of lone-star can be overridden, and the override is recorded
    before = workspace_state(ws)
    again = cli("ingest", real_data / "pdal/lone-star.laz", "--structure", "real", "--survey", "s-fix",
                "--crs", "EPSG:32612", "-w", ws)
    assert again.exit_code == 0 and "already ingested" in again.stdout
    assert workspace_state(ws) == before
