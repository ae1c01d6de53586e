"""Facts gathered in one streaming pass over a scan's chunks."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from twin.errors import ScanContentError
from twin.io.base import Chunk
from twin.models.scan import Bounds, ScanStats

_MAX_SOURCE_IDS = 4096


def gather_stats(path: Path, chunks: Iterable[Chunk]) -> ScanStats:
    """Bounds, class histogram, source ids and intensity range over every chunk.

    Refuses NaN or infinite coordinates: no later stage can place such a point, and
    silently dropping it would alter the raw evidence.
    """
    start = time.perf_counter()
    count = 0
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    class_counts = np.zeros(256, dtype=np.int64)
    have_class = False
    source_ids: set[int] = set()
    have_sources = False
    i_lo, i_hi = np.inf, -np.inf
    have_intensity = False
    for chunk in chunks:
        xyz = chunk["xyz"]
        n = len(xyz)
        if n == 0:
            continue
        chunk_lo, chunk_hi = xyz.min(axis=0), xyz.max(axis=0)
        if not (np.isfinite(chunk_lo).all() and np.isfinite(chunk_hi).all()):  # NaN and inf reach min/max
            finite = np.isfinite(xyz).all(axis=1)
            bad = int(np.flatnonzero(~finite)[0]) + count
            raise ScanContentError(
                f"{path}: point {bad} has a NaN or infinite coordinate "
                f"({int((~finite).sum())} such points in this chunk); fix or re-export the scan"
            )
        lo = np.minimum(lo, chunk_lo)
        hi = np.maximum(hi, chunk_hi)
        cls = chunk.get("classification")
        if cls is not None:
            have_class = True
            class_counts += np.bincount(cls.astype(np.uint8, copy=False), minlength=256)
        src = chunk.get("point_source_id")
        if src is not None and len(source_ids) < _MAX_SOURCE_IDS:
            have_sources = True
            source_ids.update(int(v) for v in np.unique(src))
        inten = chunk.get("intensity")
        if inten is not None:
            have_intensity = True
            i_lo = min(i_lo, float(inten.min()))
            i_hi = max(i_hi, float(inten.max()))
        count += n
    if count == 0:
        raise ScanContentError(f"{path}: the scan holds zero points")
    return ScanStats(
        points_read=count,
        bounds=Bounds(min=tuple(lo.tolist()), max=tuple(hi.tolist())),
        classification_histogram=(
            {int(c): int(k) for c, k in enumerate(class_counts) if k} if have_class else None
        ),
        point_source_ids=sorted(source_ids) if have_sources else None,
        intensity_range=(i_lo, i_hi) if have_intensity else None,
        seconds=time.perf_counter() - start,
    )
