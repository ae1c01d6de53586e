"""Core points: subsampling at a spacing, and reading X,Y,Z files with or without a header."""

from __future__ import annotations

import numpy as np
import pytest

from twin.compare.corepoints import read_core_points, subsample, subsample_indices
from twin.errors import ScanReadError, UsageError


def test_one_point_per_cell_nearest_its_centre():
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0.0, 1.0, (20_000, 3)) * [4.0, 4.0, 0.0]
    idx = subsample_indices(xyz, 0.5)
    assert np.all(np.diff(idx) > 0)
    kept = xyz[idx]
    cells = np.floor(kept[:, :2] / 0.5).astype(int)
    assert len(kept) == 64 and len(np.unique(cells, axis=0)) == 64  # one per occupied cell
    centre = (cells + 0.5) * 0.5
    d_kept = np.linalg.norm(kept[:, :2] - centre, axis=1)
    for c, d in zip(cells[:10], d_kept[:10], strict=True):  # nobody in its cell is nearer the centre
        mine = (np.floor(xyz[:, :2] / 0.5).astype(int) == c).all(axis=1)
        assert d == pytest.approx(np.linalg.norm(xyz[mine, :2] - (c + 0.5) * 0.5, axis=1).min())
    assert np.array_equal(subsample(xyz, 0.5), kept)


def test_spacing_on_georeferenced_coordinates_and_edge_cases():
    rng = np.random.default_rng(1)
    xyz = rng.uniform(0.0, 10.0, (5000, 3)) + [749_000.0, 1_821_000.0, 0.0]
    kept = subsample(xyz, 1.0)
    assert 900 <= len(kept) <= 1000
    assert len(subsample(xyz, 100.0)) == 1
    assert len(subsample_indices(np.empty((0, 3)), 0.1)) == 0
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UsageError):
            subsample(xyz, bad)
    with pytest.raises(UsageError):
        subsample(xyz[:, :2], 1.0)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("core.xyz", "749001.5 1821002.25 10.125\n749003.0 1821004.0 11.0\n"),
        ("core.txt", "X Y Z\n749001.5 1821002.25 10.125\n749003.0 1821004.0 11.0\n"),
        ("core.csv", "//X,Y,Z\n749001.5,1821002.25,10.125\n749003.0,1821004.0,11.0\n"),
    ],
)
def test_reads_xyz_files_with_or_without_header(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    world = read_core_points(path)
    assert np.allclose(world, [[749001.5, 1821002.25, 10.125], [749003.0, 1821004.0, 11.0]], atol=1e-9)
    local = read_core_points(path, origin=[749000.0, 1821000.0, 0.0])
    assert np.allclose(local, [[1.5, 2.25, 10.125], [3.0, 4.0, 11.0]], atol=1e-9)


def test_unreadable_core_point_file(tmp_path):
    path = tmp_path / "core.xyz"
    path.write_text("not numbers at all\n")
    with pytest.raises(ScanReadError):
        read_core_points(path)
    with pytest.raises(ScanReadError):
        read_core_points(tmp_path / "missing.xyz")
