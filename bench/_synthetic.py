"""Large synthetic LAS/LAZ files for benchmarks, written in chunks with bounded memory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

CHUNK = 2_000_000


def write_synthetic_las(path: Path, points: int, point_format: int = 3, seed: int = 0) -> Path:
    """Points on a few facades of a 40 x 30 x 15 m building near Hue (UTM 48N), with RGB."""
    import laspy
    from pyproj import CRS

    rng = np.random.default_rng(seed)
    header = laspy.LasHeader(point_format=point_format, version="1.4" if point_format >= 6 else "1.2")
    header.scales = [0.001] * 3
    header.offsets = [749000.0, 1821000.0, 0.0]
    header.creation_date = dt.date(2025, 3, 18)
    header.add_crs(CRS.from_epsg(32648))
    with laspy.open(str(path), mode="w", header=header, do_compress=path.suffix == ".laz") as writer:
        left = points
        while left > 0:
            n = min(CHUNK, left)
            u = rng.random((n, 3))
            xyz = u * [40.0, 30.0, 15.0] + [749010.0, 1821020.0, 5.0]
            face = rng.integers(0, 3, n)
            xyz[face == 0, 1] = 1821020.0 + rng.normal(0, 0.003, (face == 0).sum())
            xyz[face == 1, 0] = 749010.0 + rng.normal(0, 0.003, (face == 1).sum())
            record = laspy.ScaleAwarePointRecord.zeros(n, header=header)
            record.x, record.y, record.z = xyz.T
            record.intensity = rng.integers(0, 65535, n, dtype=np.uint16)
            record.classification = np.where(face == 2, 2, 6).astype(np.uint8)
            record.point_source_id = rng.integers(1, 5, n).astype(np.uint16)
            if point_format in (2, 3, 5, 7, 8, 10):
                record.red = record.green = record.blue = rng.integers(0, 65535, n, dtype=np.uint16)
            writer.write_points(record)
            left -= n
    return path
