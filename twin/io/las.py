"""LAS 1.0-1.4, LAZ and COPC through laspy (lazrs for compression), read in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from twin.errors import ScanReadError
from twin.io._common import one_line, rgb_to_uint8
from twin.io.atomic import atomic_target
from twin.io.base import DEFAULT_CHUNK_POINTS, Chunk, ScanFormat
from twin.io.crs import choose_crs, crs_from_wkt, describe_crs, plausibility_warnings
from twin.models.scan import Bounds, CRSInfo, ScanInfo

_RGB_FORMATS = {2, 3, 5, 7, 8, 10}
_POINT_FORMAT_BYTE = 104


def _is_compressed(head: bytes) -> bool:
    return len(head) > _POINT_FORMAT_BYTE and bool(head[_POINT_FORMAT_BYTE] & 0x80)


def _is_copc(head: bytes) -> bool:
    # COPC requires its info VLR first, right after the 375-byte LAS 1.4 header.
    return head[375 + 2 : 375 + 2 + 4] == b"copc"


class _LasFamily(ScanFormat):
    def _open(self, path: Path):
        import laspy  # noqa: PLC0415

        try:
            if self.name == "las":
                return laspy.open(str(path))
            # LAZ chunks decompress in parallel on every core
            return laspy.open(str(path), laz_backend=laspy.LazBackend.LazrsParallel)
        except Exception as exc:
            raise ScanReadError(f"{path}: cannot read the {self.name.upper()} header ({one_line(exc)})") from exc

    def inspect(self, path: Path) -> ScanInfo:
        with self._open(path) as reader:
            header = reader.header
            _check_header(path, header)
            info = self._header_info(path, header)
        if self.name == "las":
            self._check_size(path, header)
        return info

    def _header_info(self, path: Path, header) -> ScanInfo:
        pf = header.point_format
        bounds = Bounds(min=tuple(map(float, header.mins)), max=tuple(map(float, header.maxs)))
        crs = _header_crs(header)
        if header.point_count:
            crs.warnings.extend(plausibility_warnings(crs, header.mins, header.maxs))
        vlr_names = [_vlr_name(v) for v in header.vlrs]
        evlrs = getattr(header, "evlrs", None) or []
        warnings = list(crs.warnings)
        return ScanInfo(
            path=str(path),
            format=self.name,
            size_bytes=path.stat().st_size,
            version=f"{header.version.major}.{header.version.minor}",
            encoding="laszip" if self.name != "las" else "uncompressed",
            point_format=int(pf.id),
            point_count=int(header.point_count),
            bounds=bounds if header.point_count else None,
            scales=tuple(map(float, header.scales)),
            offsets=tuple(map(float, header.offsets)),
            crs=crs,
            dimensions=list(pf.dimension_names),
            extra_dimensions=list(pf.extra_dimension_names),
            has_rgb=int(pf.id) in _RGB_FORMATS,
            has_intensity=True,
            vlrs=vlr_names + [f"EVLR:{_vlr_name(v)}" for v in evlrs],
            software=(header.generating_software or "").strip("\x00 ") or None,
            system_id=(header.system_identifier or "").strip("\x00 ") or None,
            capture_date=header.creation_date.isoformat() if header.creation_date else None,
            warnings=warnings,
        )

    def _check_size(self, path: Path, header) -> None:
        record = header.point_format.size
        needed = header.offset_to_point_data + header.point_count * record
        size = path.stat().st_size
        if size < needed:
            complete = max(0, (size - header.offset_to_point_data) // record)
            raise ScanReadError(
                f"{path}: the header declares {header.point_count:,} points but the file holds only {complete:,} "
                f"complete point records (it ends at byte {size:,}, {needed:,} are needed); it is truncated or its "
                "header is wrong, copy it again from the scanner export"
            )


    def iter_chunks(self, path: Path, chunk_points: int = DEFAULT_CHUNK_POINTS) -> Iterator[Chunk]:
        reader = self._open(path)
        with reader:
            header = reader.header
            _check_header(path, header)
            if self.name == "las":
                self._check_size(path, header)
            has_rgb = int(header.point_format.id) in _RGB_FORMATS
            extra = list(header.point_format.extra_dimension_names)
            rgb_max = _file_colour_max(reader, header) if has_rgb else None
            delivered = 0
            compressed = self.name != "las"
            try:
                for points in reader.chunk_iterator(chunk_points):
                    chunk = _chunk_arrays(points, header, has_rgb, extra, rgb_max)
                    _check_within_header_bounds(path, chunk["xyz"], header, delivered, compressed)
                    delivered += len(chunk["xyz"])
                    yield chunk
            except ScanReadError:
                raise
            except Exception as exc:
                damage = _laz_damage(path, header) if compressed else None
                raise damage or ScanReadError(
                    f"{path}: the point data is corrupt or truncated after {delivered:,} points "
                    f"({_library_reason(exc)}); the file is damaged, copy it again from the scanner export"
                ) from exc
            if delivered < header.point_count:
                raise ScanReadError(
                    f"{path}: the header declares {header.point_count:,} points but only {delivered:,} "
                    "could be read; the file is truncated"
                )


COLOUR_SAMPLES = 16  # places in a file whose colours decide its colour depth
COLOUR_SAMPLE_POINTS = 2000


def _file_colour_max(reader, header) -> float | None:
    """The largest colour value the file is written for: 65535 when colours sampled
    across the file go above 255 (16-bit, as the LAS standard asks), else None (each
    chunk's values decide; many files store 8-bit values).

    Deciding per file matters: a dark stretch of a 16-bit file (all values under 256)
    read on its own looks 8-bit, and would come out bright. Sampling seeks to evenly
    spaced points (LAZ by its chunk table), so it costs a few thousand points, not a pass.
    """
    count = int(header.point_count)
    if count == 0:
        return None
    try:
        top = 0
        for start in np.unique(np.linspace(0, max(count - COLOUR_SAMPLE_POINTS, 0), COLOUR_SAMPLES).astype(np.int64)):
            reader.seek(int(start))
            points = reader.read_points(COLOUR_SAMPLE_POINTS)
            if len(points):
                top = max(top, int(max(points.red.max(), points.green.max(), points.blue.max())))
            if top > 255:
                return 65535.0
        return None
    except Exception:  # noqa: BLE001 - a damaged file is reported by the full read that follows
        return None
    finally:
        try:
            reader.seek(0)
        except Exception:  # noqa: BLE001,S110 - likewise: the read that follows names the damage
            pass


def _chunk_arrays(points, header, has_rgb: bool, extra: list[str], rgb_max: float | None = None) -> Chunk:
    raw = points.array
    # Build x, y, z as three contiguous rows and hand out the (n, 3) transpose: per-axis
    # reductions (bounds) then run over contiguous memory, ~20x faster than on (n, 3) C order.
    columns = np.empty((3, len(raw)), dtype=np.float64)
    for axis, name in enumerate("XYZ"):
        np.multiply(raw[name], header.scales[axis], out=columns[axis])
        columns[axis] += header.offsets[axis]
    xyz = columns.T
    chunk: Chunk = {
        "xyz": xyz,
        "intensity": raw["intensity"].astype(np.float32),
        "classification": np.asarray(points.classification, dtype=np.uint8),
        "point_source_id": raw["point_source_id"].astype(np.uint16, copy=False),
    }
    if has_rgb:
        chunk["rgb"] = rgb_to_uint8(np.stack([raw["red"], raw["green"], raw["blue"]], axis=1), rgb_max)
    for name in extra:
        chunk[name] = np.asarray(points[name])
    return chunk


_AXES = "xyz"
_REEXPORT = "the header is damaged, re-export the scan from the scanner software"


def _check_header(path: Path, header) -> None:
    """Refuse header values that cannot describe points: a scale that is not a positive
    number, bounds that are not numbers or run backwards."""
    for axis, scale in zip(_AXES, map(float, header.scales)):
        if not np.isfinite(scale) or scale <= 0:
            why = f"which would give every point the same {axis}" if scale == 0 else "but a scale must be positive"
            raise ScanReadError(f"{path}: the header's {axis} scale is {scale:g}, {why}; {_REEXPORT}")
    for axis, scale in zip(_AXES, map(float, header.offsets)):
        if not np.isfinite(scale):
            raise ScanReadError(f"{path}: the header's {axis} offset is {scale}; {_REEXPORT}")
    if not header.point_count:
        return
    mins, maxs = np.asarray(header.mins, dtype=float), np.asarray(header.maxs, dtype=float)
    for axis in range(3):
        lo, hi = mins[axis], maxs[axis]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ScanReadError(f"{path}: the header's {_AXES[axis]} bounds are {lo}..{hi}; {_REEXPORT}")
        if lo > hi:
            raise ScanReadError(
                f"{path}: the header's {_AXES[axis]} bounds run backwards (min {lo:,.3f} > max {hi:,.3f}); {_REEXPORT}"
            )


def _check_within_header_bounds(path: Path, xyz: np.ndarray, header, before: int, compressed: bool) -> None:
    """Points outside the header's bounding box: in a LAZ (which has no checksums) the one
    cheap, reliable sign of a damaged chunk that decodes to plausible-looking garbage; in a
    LAS, a header that contradicts its points."""
    if not len(xyz):
        return
    mins, maxs = np.asarray(header.mins, dtype=float), np.asarray(header.maxs, dtype=float)
    tol = np.asarray(header.scales) + 1e-9 * np.maximum(np.abs(maxs), np.abs(mins))
    below, above = xyz < mins - tol, xyz > maxs + tol
    outside = below | above
    if not outside.any():
        return
    rows = outside.any(axis=1)
    first = int(np.flatnonzero(rows)[0])
    axis = int(np.flatnonzero(outside[first])[0])
    value = xyz[first, axis]
    name = _AXES[axis]
    side = f"below the header's min {name} {mins[axis]:,.3f}" if below[first, axis] else \
        f"above the header's max {name} {maxs[axis]:,.3f}"
    where = f"point {before + first:,} has {name} {value:,.3f}, {side}"
    many = f"{int(rows.sum()):,} of points {before:,}-{before + len(xyz) - 1:,} lie outside the header's bounds"
    if compressed:
        chunk = _laz_chunk_of(path, header, before + first)
        raise ScanReadError(
            f"{path}: {where}{chunk} ({many}): the compressed data is corrupt or the header's bounds are wrong; "
            "copy the file again from the scanner export, or re-export it"
        )
    raise ScanReadError(f"{path}: {where} ({many}): the header contradicts its points; {_REEXPORT}")


def _library_reason(exc: BaseException) -> str:
    """A library's message without its class-name prefixes: 'lazrs: failed to fill whole buffer'."""
    text = one_line(exc)
    source = "lazrs" if type(exc).__name__ == "LazrsError" else type(exc).__name__
    for prefix in ("IoError: ", "LazrsError: "):
        text = text.replace(prefix, "")
    return f"{source}: {text}"


def _laz_table(path: Path, header):
    """(LazVlr, chunk table [(points, bytes)]) of a LAZ file; raises the lazrs error when unreadable."""
    import laspy  # noqa: PLC0415
    import lazrs  # noqa: PLC0415

    with path.open("rb") as fh:  # a fresh header: a reader's own may have dropped the LASzip record
        header = laspy.LasHeader.read_from(fh)
        vlr = next(v for v in header.vlrs if type(v).__name__ == "LasZipVlr")
        laz_vlr = lazrs.LazVlr(vlr.record_data_bytes())
        fh.seek(header.offset_to_point_data)
        return laz_vlr, lazrs.read_chunk_table(fh, laz_vlr)


def _laz_chunk_of(header_path: Path, header, point: int) -> str:
    """', in compressed chunk k (points a-b)' for a point of a fixed-chunk LAZ, else ''."""
    try:
        import laspy  # noqa: PLC0415
        import lazrs  # noqa: PLC0415

        with open(header_path, "rb") as fh:
            fresh = laspy.LasHeader.read_from(fh)
        vlr = next(v for v in fresh.vlrs if type(v).__name__ == "LasZipVlr")
        size = lazrs.LazVlr(vlr.record_data_bytes()).chunk_size()
    except Exception:  # noqa: BLE001 - only a detail of the message
        return ""
    if not size or size >= 2**32 - 1:  # variable-size chunks
        return ""
    k = point // size
    last = min((k + 1) * size, int(header.point_count)) - 1
    return f", in compressed chunk {k + 1:,} (points {k * size:,}-{last:,})"


def _laz_damage(path: Path, header) -> ScanReadError | None:
    """Where a LAZ that failed to decompress is damaged: its chunk table, the first chunk that
    does not decode (one chunk at a time, so memory stays small), or a point count the chunks
    do not hold. None when every chunk decodes (the caller reports the original error)."""
    import lazrs  # noqa: PLC0415

    size = path.stat().st_size
    try:
        laz_vlr, table = _laz_table(path, header)
    except StopIteration:
        return ScanReadError(f"{path}: the LAZ file has no LASzip record, so its points cannot be decompressed; "
                             "the file is damaged, copy it again from the scanner export")
    except Exception as exc:  # noqa: BLE001
        return ScanReadError(
            f"{path}: the LAZ chunk table cannot be read ({_library_reason(exc)}): the file ({size:,} bytes) is "
            "truncated or damaged; copy it again from the scanner export"
        )
    record = laz_vlr.record_data()
    item = laz_vlr.item_size()
    declared = int(header.point_count)
    position = header.offset_to_point_data + 8  # after the offset to the chunk table
    first = 0
    with path.open("rb") as fh:
        for index, (count, nbytes) in enumerate(table):
            count = min(int(count), max(declared - first, 0)) or int(count)
            fh.seek(position)
            data = fh.read(nbytes)
            try:
                if len(data) < nbytes:
                    raise EOFError(f"the file ends at byte {size:,}")
                lazrs.decompress_points_with_chunk_table(data, record, bytearray(count * item), [(count, nbytes)])
            except Exception as exc:  # noqa: BLE001
                return ScanReadError(
                    f"{path}: compressed chunk {index + 1:,} of {len(table):,} (points {first:,}-{first + count - 1:,}, "
                    f"bytes {position:,}-{position + nbytes - 1:,}) is corrupt: {_library_reason(exc)}; "
                    "the file is damaged, copy it again from the scanner export"
                )
            position += nbytes
            first += count
    if first < declared:
        return ScanReadError(
            f"{path}: the header declares {declared:,} points but the compressed chunks hold {first:,}; "
            "the file is truncated or its header is wrong"
        )
    return None


def _vlr_name(vlr) -> str:
    name = type(vlr).__name__
    if name == "VLR":
        return f"VLR(user_id={vlr.user_id.strip(chr(0))!r},record_id={vlr.record_id})"
    return name


def _header_crs(header) -> CRSInfo:
    """CRS from the WKT record and the GeoTIFF keys; WKT first for LAS 1.4, GeoTIFF first before."""
    wkt_vlrs = [v for v in header.vlrs if type(v).__name__ == "WktCoordinateSystemVlr"]
    geo_vlrs = [v for v in header.vlrs if type(v).__name__ == "GeoKeyDirectoryVlr"]
    wkt_candidates, geo_candidates, problems = [], [], []
    for vlr in wkt_vlrs:
        info, problem = crs_from_wkt(vlr.string, "wkt-vlr")
        if info:
            wkt_candidates.append(info)
        else:
            problems.append(problem)
    for vlr in geo_vlrs:
        try:
            crs = vlr.parse_crs()
        except Exception as exc:
            problems.append(f"the GeoTIFF keys cannot be parsed ({one_line(exc)})")
            continue
        if crs is None:
            problems.append("the GeoTIFF keys name no coordinate system")
        else:
            geo_candidates.append(describe_crs(crs, "geotiff"))
    wkt_first = (header.version.major, header.version.minor) >= (1, 4)
    ordered = wkt_candidates + geo_candidates if wkt_first else geo_candidates + wkt_candidates
    return choose_crs(ordered, problems)


class LasFormat(_LasFamily):
    name = "las"
    extensions = (".las",)

    def sniff(self, head: bytes) -> bool:
        return head[:4] == b"LASF" and not _is_compressed(head)


class LazFormat(_LasFamily):
    name = "laz"
    extensions = (".laz",)

    def sniff(self, head: bytes) -> bool:
        return head[:4] == b"LASF" and _is_compressed(head) and not _is_copc(head)


class CopcFormat(_LasFamily):
    name = "copc"
    extensions = (".laz", ".copc")

    def sniff(self, head: bytes) -> bool:
        return head[:4] == b"LASF" and _is_compressed(head) and _is_copc(head)


FORMATS = [LasFormat(), LazFormat(), CopcFormat()]


_WRITE_CHUNK = 2_000_000


def write_points(cloud, path: Path, header, extras: dict[str, np.ndarray]) -> Path:
    """Write ``cloud`` under a prepared laspy ``header`` (its extra dimensions already
    added for ``extras``), LAS or LAZ by extension, in chunks, atomically: coordinates,
    intensity, classification, point source, colour (8-bit scaled to 16) where the cloud
    has them, and every extra dimension."""
    import laspy  # noqa: PLC0415

    path = Path(path)
    attrs = cloud.attrs
    with atomic_target(path) as tmp:
        with laspy.open(str(tmp), mode="w", header=header, do_compress=path.suffix.lower() == ".laz") as writer:
            for start in range(0, max(len(cloud), 1), _WRITE_CHUNK):
                part = slice(start, start + _WRITE_CHUNK)
                record = laspy.ScaleAwarePointRecord.zeros(len(cloud.xyz[part]), header=header)
                world = cloud.xyz[part] + cloud.origin
                record.x, record.y, record.z = world[:, 0], world[:, 1], world[:, 2]
                if attrs.get("intensity") is not None:
                    record.intensity = np.clip(attrs["intensity"][part], 0, 65535).astype(np.uint16)
                if attrs.get("classification") is not None:
                    record.classification = attrs["classification"][part]
                if attrs.get("point_source_id") is not None:
                    record.point_source_id = attrs["point_source_id"][part]
                if attrs.get("rgb") is not None:
                    rgb = np.asarray(attrs["rgb"][part]).astype(np.uint16) * 257
                    record.red, record.green, record.blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
                for name, values in extras.items():
                    record[name] = values[part]
                writer.write_points(record)
    return path


def write_las(cloud, path: Path, crs_wkt: str | None = None, scale: float = 0.0001,
              extra_dims: dict[str, np.ndarray] | None = None) -> Path:
    """Write a PointCloud as LAS/LAZ (by extension), atomically.

    The LAS offset is the cloud's origin and the scale 0.1 mm, so coordinates keep their
    full precision. Normals and any ``extra_dims`` go in as LAS extra bytes.
    """
    import laspy  # noqa: PLC0415

    has_rgb = "rgb" in cloud.attrs
    header = laspy.LasHeader(point_format=7 if has_rgb else 6, version="1.4")
    header.offsets = cloud.origin
    header.scales = [scale] * 3
    extras = dict(extra_dims or {})
    if "normals" in cloud.attrs:
        n = np.asarray(cloud.attrs["normals"], dtype=np.float32)
        extras.update({"normal_x": n[:, 0], "normal_y": n[:, 1], "normal_z": n[:, 2]})
    for name, values in extras.items():
        header.add_extra_dim(laspy.ExtraBytesParams(name=name, type=np.asarray(values).dtype))
    if crs_wkt:
        from pyproj import CRS  # noqa: PLC0415

        header.add_crs(CRS.from_wkt(crs_wkt))
    return write_points(cloud, path, header, extras)
