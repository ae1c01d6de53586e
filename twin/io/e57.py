"""ASTM E57 through pye57 (libE57Format): every scan of the file, in its common frame.

- Each Data3D scan's pose (quaternion + translation) is applied, so every chunk is in
  the file's frame; chunks carry ``scan_index``. Spherical scans are converted to
  Cartesian coordinates first.
- Records whose cartesianInvalidState (sphericalInvalidState for spherical scans) is
  not 0 have no usable coordinates and are dropped. inspect counts them, when the
  field's declared range allows any, by reading that one column, so ``point_count``
  is always the number of points iter_chunks delivers; the raw record count is then
  in a warning.
- Intensity is kept as stored (float32); colours are scaled to 8 bits by the scan's
  colorLimits (or, without them, the colour fields' declared maximum); E57 normals
  (``nor:normalX``...) become ``normals``; every other numeric per-point field
  (rowIndex, columnIndex, timeStamp, returnIndex...) is an extra dimension under its
  E57 name. When scans differ in their fields, only the
  attributes all scans have are delivered (a warning says which were left out).
- SubScan.bounds is the header's cartesianBounds as recorded, which E57 defines in
  the scan's own frame; ScanInfo.bounds is their union only when every pose is the
  identity (otherwise a full pass gives exact bounds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.errors import ScanReadError, TwinError
from twin.io._common import guarded, one_line, rgb_to_uint8
from twin.io.base import DEFAULT_CHUNK_POINTS, Chunk, ScanFormat
from twin.io.crs import crs_from_wkt
from twin.models.scan import Bounds, CRSInfo, Pose, ScanInfo, SubScan

_CARTESIAN = ("cartesianX", "cartesianY", "cartesianZ")
_SPHERICAL = ("sphericalRange", "sphericalAzimuth", "sphericalElevation")
_COLOURS = ("colorRed", "colorGreen", "colorBlue")
_NORMALS = ("nor:normalX", "nor:normalY", "nor:normalZ")
_INVALID = {_CARTESIAN: "cartesianInvalidState", _SPHERICAL: "sphericalInvalidState"}
_GPS_EPOCH = dt.datetime(1980, 1, 6, tzinfo=dt.timezone.utc)


def _libe57():
    from pye57 import libe57  # noqa: PLC0415  (a compiled extension: import on use)

    return libe57


@dataclass
class _FieldInfo:
    name: str
    minimum: float
    maximum: float
    integer: bool


@dataclass
class _Scan:
    index: int
    node: object  # libe57 StructureNode of the Data3D entry
    name: str | None
    guid: str | None
    records: int
    fields: dict[str, _FieldInfo]
    coords: tuple[str, str, str]
    pose: Pose
    rotation: np.ndarray  # 3x3
    bounds: Bounds | None
    grid: tuple[int, int] | None
    valid: int = 0
    colour_max: float | None = None  # the colour value that means full brightness
    sensor: str | None = None
    acquired: float | None = None  # GPS seconds

    @property
    def invalid_field(self) -> str | None:
        name = _INVALID[self.coords]
        return name if name in self.fields else None

    @property
    def identity_pose(self) -> bool:
        return self.pose.translation == (0.0, 0.0, 0.0) and bool(np.array_equal(self.rotation, np.eye(3)))

    def attributes(self) -> set[str]:
        """Chunk keys besides xyz/scan_index this scan can deliver."""
        keys = set()
        if all(c in self.fields for c in _COLOURS):
            keys.add("rgb")
        if all(n in self.fields for n in _NORMALS):
            keys.add("normals")
        if "intensity" in self.fields:
            keys.add("intensity")
        skip = set(self.coords) | set(_COLOURS) | set(_NORMALS) | {"intensity", *_INVALID.values()}
        return keys | {name for name in self.fields if name not in skip}


@dataclass
class _File:
    version: str | None
    software: str | None
    crs_text: str
    created: float | None
    scans: list[_Scan] = field(default_factory=list)


def _open(path: Path):
    import pye57  # noqa: PLC0415

    _check_length(path)
    try:
        return pye57.E57(str(path))
    except Exception as exc:
        raise ScanReadError(f"{path}: cannot read the E57 file ({one_line(exc)}); it is corrupt or not E57") from exc


def _check_length(path: Path) -> None:
    """An E57 file records its own length (bytes 16-24 of its header): a shorter file is truncated."""
    import struct  # noqa: PLC0415

    with path.open("rb") as fh:
        head = fh.read(48)
    size = path.stat().st_size
    if len(head) < 48:
        raise ScanReadError(f"{path}: the E57 header is cut short ({size:,} bytes of 48); the file is truncated")
    declared = struct.unpack("<Q", head[16:24])[0]
    if size < declared:
        raise ScanReadError(
            f"{path}: the E57 header says the file is {declared:,} bytes but it ends at byte {size:,}; "
            "it is truncated, copy it again from the scanner export"
        )


def _value(node, name: str, default=None):
    """A child's value, or ``default`` when it is absent."""
    return node[name].value() if node.isDefined(name) else default


def _field_info(node) -> _FieldInfo | None:
    lib = _libe57()
    kind = node.type()
    if kind == lib.NodeType.E57_INTEGER:
        n = lib.IntegerNode(node)
        return _FieldInfo(node.elementName(), n.minimum(), n.maximum(), True)
    if kind == lib.NodeType.E57_SCALED_INTEGER:
        n = lib.ScaledIntegerNode(node)
        return _FieldInfo(node.elementName(), n.scaledMinimum(), n.scaledMaximum(), False)
    if kind == lib.NodeType.E57_FLOAT:
        n = lib.FloatNode(node)
        return _FieldInfo(node.elementName(), n.minimum(), n.maximum(), False)
    return None  # strings or nested structures are not per-point numbers


def quaternion_matrix(wxyz) -> np.ndarray:
    """The rotation matrix of a (not necessarily unit) quaternion w, x, y, z."""
    w, x, y, z = np.asarray(wxyz, dtype=np.float64) / np.linalg.norm(wxyz)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _pose(node) -> tuple[Pose, np.ndarray]:
    q, t = (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    if node.isDefined("pose"):
        pose = node["pose"]
        if pose.isDefined("rotation"):
            r = pose["rotation"]
            q = tuple(float(_value(r, k, d)) for k, d in (("w", 1.0), ("x", 0.0), ("y", 0.0), ("z", 0.0)))
        if pose.isDefined("translation"):
            tr = pose["translation"]
            t = tuple(float(_value(tr, k, 0.0)) for k in "xyz")
    if not np.linalg.norm(q) > 0:
        raise ValueError(f"the pose rotation quaternion {q} has zero length")
    return Pose(translation=t, rotation_wxyz=q), quaternion_matrix(q)


def _bounds(node) -> Bounds | None:
    if not node.isDefined("cartesianBounds"):
        return None
    b = node["cartesianBounds"]
    lo = tuple(float(_value(b, f"{a}Minimum", np.nan)) for a in "xyz")
    hi = tuple(float(_value(b, f"{a}Maximum", np.nan)) for a in "xyz")
    return Bounds(min=lo, max=hi) if np.isfinite(lo + hi).all() else None


def _scan(index: int, node) -> _Scan:
    lib = _libe57()
    points = node["points"]  # pye57 returns children already downcast
    proto = lib.StructureNode(points.prototype())
    fields = {}
    for i in range(proto.childCount()):
        info = _field_info(proto.get(i))
        if info:
            fields[info.name] = info
    coords = _CARTESIAN if all(c in fields for c in _CARTESIAN) else _SPHERICAL
    if not all(c in fields for c in coords):
        raise ValueError(f"scan {index} has neither cartesianX/Y/Z nor sphericalRange/Azimuth/Elevation fields")
    pose, rotation = _pose(node)
    grid = None
    if "rowIndex" in fields and "columnIndex" in fields:
        if node.isDefined("indexBounds"):
            ib = node["indexBounds"]
            rows = _value(ib, "rowMaximum", 0) - _value(ib, "rowMinimum", 0) + 1
            cols = _value(ib, "columnMaximum", 0) - _value(ib, "columnMinimum", 0) + 1
        else:
            rows = int(fields["rowIndex"].maximum - fields["rowIndex"].minimum + 1)
            cols = int(fields["columnIndex"].maximum - fields["columnIndex"].minimum + 1)
        grid = (int(rows), int(cols))
    colour_max = None
    if all(c in fields for c in _COLOURS):
        colour_max = max(fields[c].maximum for c in _COLOURS)
        if node.isDefined("colorLimits"):  # the sensor's range, tighter than the codec's
            limits = [_value(node["colorLimits"], f"{c}Maximum") for c in _COLOURS]
            if all(v is not None and v > 0 for v in limits):
                colour_max = float(max(limits))
    sensor = " ".join(str(_value(node, k, "")).strip() for k in ("sensorVendor", "sensorModel")).strip() or None
    acquired = None
    if node.isDefined("acquisitionStart"):
        acquired = _value(node["acquisitionStart"], "dateTimeValue")
    return _Scan(
        index=index,
        node=node,
        name=_value(node, "name"),
        guid=_value(node, "guid"),
        records=int(points.childCount()),
        fields=fields,
        coords=coords,
        pose=pose,
        rotation=rotation,
        bounds=_bounds(node),
        grid=grid,
        colour_max=colour_max,
        sensor=sensor,
        acquired=acquired,
    )


def _read_structure(path: Path, e57) -> _File:
    try:
        root = e57.root
        major, minor = _value(root, "versionMajor"), _value(root, "versionMinor")
        created = _value(root["creationDateTime"], "dateTimeValue") if root.isDefined("creationDateTime") else None
        info = _File(
            version=f"{major}.{minor}" if major is not None else None,
            software=(_value(root, "e57LibraryVersion") or "").strip() or None,
            crs_text=(_value(root, "coordinateMetadata") or "").strip(),
            created=created,
        )
        data3d = root["data3D"] if root.isDefined("data3D") else []
        for index in range(len(data3d)):
            info.scans.append(_scan(index, data3d[index]))
    except Exception as exc:
        raise ScanReadError(f"{path}: the E57 header cannot be read ({one_line(exc)}); the file is corrupt") from exc
    return info


def _reader(e57, scan: _Scan, names: list[str], capacity: int):
    """A CompressedVectorReader filling float64 buffers (exact for E57 integers up to 2**53)."""
    lib = _libe57()
    arrays = {name: np.empty(capacity, dtype=np.float64) for name in names}
    buffers = lib.VectorSourceDestBuffer()
    for name, array in arrays.items():
        buffers.append(lib.SourceDestBuffer(e57.image_file, name, array, capacity, True, True))
    reader = scan.node["points"].reader(buffers)
    return reader, arrays


def _count_valid(e57, scan: _Scan, chunk_points: int) -> int:
    """Records with invalid state 0, reading only that column (and only when it can be non-zero)."""
    name = scan.invalid_field
    if name is None or scan.records == 0 or scan.fields[name].maximum == 0:
        return scan.records
    reader, arrays = _reader(e57, scan, [name], max(1, min(chunk_points, scan.records)))
    valid = 0
    try:
        while (n := reader.read()) > 0:
            valid += int(np.count_nonzero(arrays[name][:n] == 0))
    finally:
        reader.close()
    return valid


def _int_dtype(info: _FieldInfo) -> np.dtype:
    return np.result_type(np.min_scalar_type(int(info.minimum)), np.min_scalar_type(int(info.maximum)))


def spherical_to_cartesian(r: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """E57 spherical coordinates (range, azimuth from +x towards +y, elevation from the
    xy plane; radians) as (n, 3) Cartesian coordinates."""
    horizontal = r * np.cos(elevation)
    return np.column_stack([horizontal * np.cos(azimuth), horizontal * np.sin(azimuth), r * np.sin(elevation)])


def _to_xyz(scan: _Scan, cols: dict[str, np.ndarray]) -> np.ndarray:
    if scan.coords == _CARTESIAN:
        xyz = np.column_stack([cols[c] for c in _CARTESIAN])
    else:
        xyz = spherical_to_cartesian(*(cols[c] for c in _SPHERICAL))
    if not scan.identity_pose:
        xyz = xyz @ scan.rotation.T + np.asarray(scan.pose.translation)
    return xyz


def _scan_chunks(e57, scan: _Scan, keys: set[str], chunk_points: int) -> Iterator[Chunk]:
    names = list(scan.coords)
    names += list(_COLOURS) if "rgb" in keys else []
    names += list(_NORMALS) if "normals" in keys else []
    names += ["intensity"] if "intensity" in keys else []
    extras = sorted(k for k in keys if k in scan.fields and k != "intensity")
    names += extras
    if scan.invalid_field:
        names.append(scan.invalid_field)
    if scan.records == 0:
        return
    reader, arrays = _reader(e57, scan, names, max(1, min(chunk_points, scan.records)))
    try:
        while (n := reader.read()) > 0:
            keep = arrays[scan.invalid_field][:n] == 0 if scan.invalid_field else slice(0, n)
            cols = {name: arrays[name][keep] for name in names}  # copies: the buffers are reused
            count = len(cols[names[0]])
            if count == 0:
                continue
            chunk: Chunk = {"xyz": _to_xyz(scan, cols), "scan_index": np.full(count, scan.index, dtype=np.int32)}
            if "rgb" in keys:
                chunk["rgb"] = rgb_to_uint8(np.column_stack([cols[c] for c in _COLOURS]), max_value=scan.colour_max)
            if "normals" in keys:
                chunk["normals"] = np.column_stack([cols[c] for c in _NORMALS]).astype(np.float32)
            if "intensity" in keys:
                chunk["intensity"] = cols["intensity"].astype(np.float32)
            for name in extras:
                info = scan.fields[name]
                chunk[name] = cols[name].astype(_int_dtype(info)) if info.integer else cols[name]
            yield chunk
    finally:
        reader.close()


def _gps_date(seconds: float | None) -> str | None:
    if not seconds or seconds <= 0:
        return None
    try:
        return (_GPS_EPOCH + dt.timedelta(seconds=float(seconds))).date().isoformat()
    except (OverflowError, ValueError):
        return None


def _crs(text: str) -> CRSInfo:
    if not text:
        return CRSInfo()  # scanner-local coordinates: the norm for E57, nothing to warn about
    info, problem = crs_from_wkt(text, "header")
    return info if info else CRSInfo(source="none", warnings=[f"coordinateMetadata cannot be used: {problem}"])


class E57Format(ScanFormat):
    name = "e57"
    extensions = (".e57",)

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"ASTM-E57")

    def inspect(self, path: Path) -> ScanInfo:
        e57 = _open(path)
        try:
            info = _read_structure(path, e57)
            for scan in info.scans:
                scan.valid = _count_valid(e57, scan, DEFAULT_CHUNK_POINTS)
        except TwinError:
            raise
        except Exception as exc:  # libe57's E57Exception for damaged point data
            raise ScanReadError(f"{path}: the E57 point data cannot be read ({one_line(exc)}); it is corrupt") from exc
        finally:
            e57.close()
        return self._info(path, info)

    def _info(self, path: Path, info: _File) -> ScanInfo:
        scans = info.scans
        keys = _common_keys(scans)
        warnings = []
        for s in scans:
            if s.valid != s.records:
                warnings.append(
                    f"scan {s.index} ({s.name}): {s.records:,} records, {s.records - s.valid:,} flagged invalid "
                    f"({s.invalid_field}) and skipped; {s.valid:,} points are read"
                )
        dropped = set().union(*(s.attributes() for s in scans)) - keys if scans else set()
        if dropped:
            warnings.append(
                f"not every scan has {', '.join(sorted(dropped))}; only the attributes all scans share are read"
            )
        dimensions = list(dict.fromkeys(name for s in scans for name in s.fields))
        bounds = None
        if scans and all(s.identity_pose and s.bounds for s in scans):
            bounds = Bounds(
                min=tuple(np.min([s.bounds.min for s in scans], axis=0).tolist()),
                max=tuple(np.max([s.bounds.max for s in scans], axis=0).tolist()),
            )
        acquired = [s.acquired for s in scans if s.acquired and s.acquired > 0]
        return ScanInfo(
            path=str(path),
            format=self.name,
            size_bytes=path.stat().st_size,
            version=info.version,
            point_count=sum(s.valid for s in scans),
            bounds=bounds,
            crs=_crs(info.crs_text),
            dimensions=dimensions,
            extra_dimensions=sorted(keys - {"rgb", "normals", "intensity"}),
            has_rgb="rgb" in keys,
            has_intensity="intensity" in keys,
            has_normals="normals" in keys,
            scans=[
                SubScan(
                    index=s.index,
                    name=s.name,
                    guid=s.guid,
                    point_count=s.valid,
                    fields=list(s.fields),
                    pose=s.pose,
                    bounds=s.bounds,
                    grid=s.grid,
                )
                for s in scans
            ],
            software=info.software,
            system_id=next((s.sensor for s in scans if s.sensor), None),
            capture_date=_gps_date(min(acquired) if acquired else info.created),
            warnings=warnings,
        )

    def iter_chunks(self, path: Path, chunk_points: int = DEFAULT_CHUNK_POINTS) -> Iterator[Chunk]:
        e57 = _open(path)
        try:
            info = _read_structure(path, e57)
            keys = _common_keys(info.scans)
            for scan in info.scans:
                yield from guarded(path, f"E57 scan {scan.index}", _scan_chunks(e57, scan, keys, chunk_points))
        finally:
            e57.close()


def _common_keys(scans: list[_Scan]) -> set[str]:
    return set.intersection(*(s.attributes() for s in scans)) if scans else set()


FORMATS = [E57Format()]
