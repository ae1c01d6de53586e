"""A real georeferenced LAZ (autzen, NAD83 HARN Lambert, 850 km northings) through
`twin tiles`: tiled, cleaned, and out as COPC with its CRS and its coordinates intact."""

from __future__ import annotations

import json

import laspy
import numpy as np
import pytest

PIPELINE = "name: write-only\ndescription: the station as it is\nstages:\n  - stage: write\n"


@pytest.mark.realdata
def test_a_real_laz_goes_through_the_tiles_to_copc(cli, real_data, tmp_path):
    source = real_data / "laspy" / "autzen_trim.laz"
    ws = tmp_path / "ws"
    (tmp_path / "w.yaml").write_text(PIPELINE)
    for args in (("init", ws), ("ingest", source, "--structure", "autzen", "--survey", "a", "-w", ws),
                 ("process", "autzen", "--pipeline", tmp_path / "w.yaml", "-w", ws)):
        result = cli(*args)
        assert result.exit_code == 0, result.stdout + result.stderr
    result = cli("tiles", "autzen", "--survey", "a", "--tile-size", "200", "--json", "-w", ws)
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    original = laspy.read(source)
    assert report["points"] == len(original.points) and report["tiles"] >= 9
    with laspy.CopcReader.open(report["copc"]) as reader:
        assert reader.header.point_count == report["written"] == report["points"] - report["flagged"]
        assert reader.header.parse_crs().name == original.header.parse_crs().name
        # inside the file's own box (the outliers dropped may trim it)
        assert np.all(reader.header.mins >= original.header.mins - 1e-3)
        assert np.all(reader.header.maxs <= original.header.maxs + 1e-3)
        points = reader.query()
    kept = np.column_stack([np.asarray(points.x), np.asarray(points.y), np.asarray(points.z)])
    raw = np.column_stack([np.asarray(original.x), np.asarray(original.y), np.asarray(original.z)])
    from scipy.spatial import cKDTree

    assert cKDTree(raw).query(kept)[0].max() < 1e-3  # every written point is a raw point, to the millimetre
