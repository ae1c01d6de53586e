"""Pick the reader for a file from its content, and check the content against the name.

Each reader module exposes ``FORMATS``, a list of ScanFormat instances. Modules are
imported on first use so that importing twin stays cheap.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from twin.errors import ScanContentError, ScanReadError, UnsupportedFormatError
from twin.io.base import DEFAULT_CHUNK_POINTS, ScanFormat
from twin.io.stats import gather_stats
from twin.models.pointcloud import PointCloud
from twin.models.scan import ScanInfo

_READER_MODULES = ("twin.io.las", "twin.io.e57", "twin.io.ply", "twin.io.pcd", "twin.io.text")
_SNIFF_BYTES = 4096


@functools.cache
def formats() -> tuple[ScanFormat, ...]:
    found: list[ScanFormat] = []
    for module in _READER_MODULES:
        found.extend(importlib.import_module(module).FORMATS)
    return tuple(found)


def supported_extensions() -> list[str]:
    return sorted({ext for f in formats() for ext in f.extensions})


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ScanReadError(f"{path}: no such file")
    if path.is_dir():
        raise ScanReadError(f"{path}: is a folder, not a scan file")
    if path.stat().st_size == 0:
        raise ScanContentError(f"{path}: the file is empty (0 bytes)")


def format_for(path: Path) -> ScanFormat:
    """The format of a file, decided by its content and checked against its extension."""
    path = Path(path)
    _check_readable(path)
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    ext = path.suffix.lower()
    by_content = [f for f in formats() if f.sniff(head)]
    by_name = [f for f in formats() if ext in f.extensions]
    for fmt in by_content:
        if fmt in by_name:
            return fmt
    if by_content and by_name:
        raise UnsupportedFormatError(
            f"{path}: the extension says {by_name[0].name.upper()} but the content is "
            f"{by_content[0].name.upper()}; rename the file to {path.stem}{by_content[0].extensions[0]}"
        )
    if by_content:
        raise UnsupportedFormatError(
            f"{path}: unknown extension {ext or '(none)'} for {by_content[0].name.upper()} content; "
            f"rename it to {path.stem}{by_content[0].extensions[0]}"
        )
    if by_name:
        raise ScanReadError(
            f"{path}: the content is not valid {by_name[0].name.upper()} (unrecognised header); "
            "the file may be corrupt or of another format"
        )
    raise UnsupportedFormatError(
        f"{path}: unsupported scan format {ext or '(no extension)'}; "
        f"supported: {', '.join(supported_extensions())}"
    )


def inspect_scan(path: Path, stats: bool = False, chunk_points: int = DEFAULT_CHUNK_POINTS) -> ScanInfo:
    """Header facts, and with ``stats`` a full streaming pass that validates every point."""
    path = Path(path)
    fmt = format_for(path)
    info = fmt.inspect(path)
    if info.point_count == 0 and not info.scans:
        raise ScanContentError(f"{path}: the scan holds zero points")
    if stats:
        info.stats = gather_stats(path, fmt.iter_chunks(path, chunk_points))
        if info.stats.points_read != info.point_count:
            raise ScanReadError(
                f"{path}: the header declares {info.point_count:,} points but "
                f"{info.stats.points_read:,} could be read; the file is truncated or corrupt"
            )
    return info


def read_scan(path: Path) -> PointCloud:
    """Every point of a scan, validated, in local coordinates about a round origin."""
    path = Path(path)
    cloud = format_for(path).read(path)
    if len(cloud) == 0:
        raise ScanContentError(f"{path}: the scan holds zero points")
    return cloud
