"""The contract every scan format implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from twin.models.pointcloud import PointCloud, choose_origin
from twin.models.scan import ScanInfo

# A chunk is a dict of equal-length arrays. "xyz" is required: (n, 3) float64 in the
# file's (georeferenced) frame, E57 poses already applied. Other keys follow the names
# in twin.models.pointcloud (rgb, intensity, classification, point_source_id, normals)
# plus "scan_index" (int32) for multi-scan containers and any extra dimensions.
Chunk = dict[str, np.ndarray]

DEFAULT_CHUNK_POINTS = 2_000_000


class ScanFormat(ABC):
    """One scan file format: how to recognise it, read its header and stream its points."""

    name: str
    extensions: tuple[str, ...]

    @abstractmethod
    def sniff(self, head: bytes) -> bool:
        """Whether the first bytes of a file (up to 4 KiB) look like this format."""

    @abstractmethod
    def inspect(self, path: Path) -> ScanInfo:
        """Header facts, reading as little of the file as the format allows.

        Raise twin.errors.ScanReadError (one line naming the file and the problem) for
        anything that cannot be parsed.
        """

    @abstractmethod
    def iter_chunks(self, path: Path, chunk_points: int = DEFAULT_CHUNK_POINTS) -> Iterator[Chunk]:
        """Stream every point in chunks of at most about ``chunk_points``.

        Raise twin.errors.ScanReadError when the data ends early or is corrupt.
        """

    def read(self, path: Path) -> PointCloud:
        """The whole file as one PointCloud in local coordinates about a round origin."""
        chunks = list(self.iter_chunks(path))
        return chunks_to_cloud(chunks)


def chunks_to_cloud(chunks: list[Chunk]) -> PointCloud:
    """Concatenate chunks into a PointCloud whose origin is near the data's minimum."""
    chunks = [c for c in chunks if len(c["xyz"])]
    if not chunks:
        return PointCloud(np.empty((0, 3)))
    xyz = np.concatenate([c["xyz"] for c in chunks])
    origin = choose_origin(xyz.min(axis=0)) if len(xyz) else np.zeros(3)
    xyz -= origin
    keys = set(chunks[0]) - {"xyz"}
    attrs = {k: np.concatenate([c[k] for c in chunks]) for k in sorted(keys)}
    return PointCloud(xyz, origin, attrs)
