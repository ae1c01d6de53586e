"""The streaming COPC writer: a valid COPC 1.0 file that laspy's CopcReader queries by box
and by level, that plain LAZ readers read whole, with every point exactly once, the labels
as extra bytes, in bounded memory, and nothing left behind when writing fails."""

from __future__ import annotations

import os
from pathlib import Path

import laspy
import numpy as np
import pytest

import twin.io.copc as copc
from twin.errors import ScanContentError, UsageError
from twin.io.copc import write_cloud_copc, write_copc
from twin.models.pointcloud import PointCloud

ORIGIN = np.array([749000.0, 1821000.0, 0.0])
SCALE = 0.0001
MAX_PER_NODE = 3000
MEMORY_LIMIT = 20_000  # far below the statue's points: its cell must be binned again
CHUNK = 40_000
FIELDS = ("X", "Y", "Z", "intensity", "red", "green", "blue", "classification", "element", "phase", "material")


def survey(n_walls: int = 150_000, n_statue: int = 90_000, seed: int = 7) -> PointCloud:
    """Two walls, the floor and the roof of a 40 x 30 x 15 m building, a dense statue
    (90k points within about 30 cm) in its middle and a few survey targets 50 m off;
    colours, intensity, labels."""
    rng = np.random.default_rng(seed)
    xyz = rng.random((n_walls, 3)) * [40.0, 30.0, 15.0] + [10.0, 20.0, 5.0]
    face = rng.integers(0, 4, n_walls)
    xyz[face == 0, 1] = 20.0 + rng.normal(0, 0.003, (face == 0).sum())
    xyz[face == 1, 0] = 10.0 + rng.normal(0, 0.003, (face == 1).sum())
    xyz[face == 2, 2] = 5.0 + rng.normal(0, 0.003, (face == 2).sum())
    xyz[face == 3, 2] = 20.0 + rng.normal(0, 0.003, (face == 3).sum())
    statue = rng.normal(0, 0.08, (n_statue, 3)) + [30.3, 35.2, 6.1]
    targets = rng.random((300, 3)) * 2 + [-30.0, -20.0, 0.0]  # survey targets far off: sparse octants
    xyz = np.vstack([xyz, statue, targets])
    n = len(xyz)
    element = np.concatenate([face, np.full(n_statue, 9), np.full(300, 11)]).astype(np.int32)
    element[rng.random(n) < 0.05] = -1  # unlabelled
    return PointCloud(xyz, ORIGIN, {
        "intensity": rng.integers(0, 65536, n).astype(np.float32),
        "rgb": rng.integers(0, 256, (n, 3)).astype(np.uint8),
        "classification": rng.integers(0, 20, n).astype(np.uint8),
        "element": element,
        "phase": np.where(element < 0, -1, element % 3).astype(np.int32),
        "material": np.where(element < 0, -1, 1000 + element).astype(np.int32),
    })


def split(cloud: PointCloud, size: int = CHUNK) -> list[PointCloud]:
    return [cloud.subset(slice(s, s + size)) for s in range(0, len(cloud), size)]


def expected_rows(cloud: PointCloud) -> np.ndarray:
    """The input as the LAS integers and values a reader must give back, one row a point."""
    units = np.rint(cloud.xyz / SCALE).astype(np.int64)
    rgb = cloud.attrs["rgb"].astype(np.int64) * 257
    a = cloud.attrs
    return np.column_stack([units, a["intensity"].astype(np.int64), rgb, a["classification"],
                            a["element"], a["phase"], a["material"]]).astype(np.int64)


def rows(points) -> np.ndarray:
    array = points.array if hasattr(points, "array") else points
    return np.column_stack([np.asarray(array[name], dtype=np.int64) for name in FIELDS])


def same_points(a: np.ndarray, b: np.ndarray) -> bool:
    """The same multiset of rows."""
    if a.shape != b.shape:
        return False
    return np.array_equal(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])])


def packed(cells: np.ndarray) -> np.ndarray:
    """(n, 3) non-negative integer cells as one int64 each."""
    return (cells[:, 0] << 42) | (cells[:, 1] << 21) | cells[:, 2]


def hierarchy(path: Path) -> dict[tuple[int, int, int, int], int]:
    with laspy.CopcReader.open(str(path)) as reader:
        return {(k.level, k.x, k.y, k.z): e.point_count for k, e in reader.root_page.entries.items()}


def nodes(path: Path):
    """(key, records) of every node with points, decoded from the file's own bytes."""
    import lazrs

    with laspy.CopcReader.open(str(path)) as reader:
        header, info = reader.header, reader.copc_info
        entries = dict(reader.root_page.entries)
        laz = reader.laszip_vlr.record_data
    data = path.read_bytes()
    out = []
    for key, entry in entries.items():
        if entry.point_count > 0:
            buffer = np.zeros(entry.point_count * header.point_format.size, dtype=np.uint8)
            lazrs.decompress_points_with_chunk_table(data[entry.offset:entry.offset + entry.byte_size], laz, buffer,
                                                     [(entry.point_count, entry.byte_size)])
            record = laspy.PackedPointRecord.from_buffer(buffer, header.point_format)
            out.append(((key.level, key.x, key.y, key.z), record.array))
    return header, info, out


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The survey written through the streaming API (a callable giving 6 chunks), with a
    memory limit that forces the dense statue's cell to be binned again; records the
    size and level of every cell the writer built in memory."""
    folder = tmp_path_factory.mktemp("copc")
    cloud = survey()
    cells = []
    build = copc._Writer._build_cell

    def spy(self, records, level, cell):
        cells.append((level, len(records)))
        return build(self, records, level, cell)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(copc._Writer, "_build_cell", spy)
        summary = write_copc(lambda: split(cloud), folder / "survey.copc.laz", origin=ORIGIN,
                             max_points_per_node=MAX_PER_NODE, memory_limit_points=MEMORY_LIMIT)
    return cloud, summary, folder / "survey.copc.laz", cells


def test_header_info_and_hierarchy(written):
    cloud, summary, path, _ = written
    head = path.read_bytes()[:600]
    assert head[:4] == b"LASF" and head[24:26] == bytes([1, 4])
    assert head[104] & 0x80 and head[104] & 0x3F == 7  # LAZ-compressed point format 7
    assert head[377:381] == b"copc" and head[393:395] == bytes([1, 0])  # info VLR first, at 375
    with laspy.CopcReader.open(str(path)) as reader:
        header, info = reader.header, reader.copc_info
        assert header.point_count == len(cloud) == summary.point_count
        assert list(header.point_format.extra_dimension_names) == ["element", "phase", "material"]
        assert np.allclose(header.offsets, ORIGIN) and np.allclose(header.scales, SCALE)
        assert np.allclose(header.mins, cloud.world_xyz.min(axis=0), atol=SCALE)
        assert np.allclose(header.maxs, cloud.world_xyz.max(axis=0), atol=SCALE)
        assert header.number_of_evlrs == 1 and header.global_encoding.wkt
        assert info.spacing == pytest.approx(2 * info.halfsize / 128)
        entries = {(k.level, k.x, k.y, k.z): e for k, e in reader.root_page.entries.items()}
        import lazrs

        assert lazrs.LazVlr(reader.laszip_vlr.record_data).uses_variable_size_chunks()
    # the root cube holds every point
    root_low, root_high = info.center - info.halfsize, info.center + info.halfsize
    assert (cloud.world_xyz > root_low).all() and (cloud.world_xyz < root_high).all()
    assert sum(e.point_count for e in entries.values()) == len(cloud)
    assert sum(1 for e in entries.values() if e.point_count > 0) == summary.node_count
    for (level, x, y, z), entry in entries.items():  # a tree: every node's parent is listed
        assert level == 0 or (level - 1, x >> 1, y >> 1, z >> 1) in entries
        assert entry.point_count >= 0 and (entry.point_count > 0) == (entry.byte_size > 0)
    assert max(level for level, *_ in entries) == len(summary.points_per_level) - 1 >= 4


def test_every_point_once_inside_its_node(written):
    cloud, _, path, _ = written
    header, info, decoded = nodes(path)
    keys = {key for key, _ in decoded}
    root = info.center - info.halfsize
    max_depth = round(np.log2(2 * info.halfsize / SCALE)) - 7  # grid cells of one unit
    assert max(level for level, *_ in keys) < max_depth
    counted = {}

    def cube_counts(level: int) -> dict[tuple[int, int, int], int]:
        """Input points per node cube of a level."""
        if level not in counted:
            cubes = np.floor((cloud.world_xyz - root) / (2 * info.halfsize / 2**level)).astype(np.int64)
            found, n = np.unique(packed(cubes), return_counts=True)
            counted[level] = dict(zip(found.tolist(), n.tolist()))
        return counted[level]

    for (level, x, y, z), records in decoded:
        side = 2 * info.halfsize / 2**level
        low = info.center - info.halfsize + np.array([x, y, z]) * side
        world = np.column_stack([records[a] * header.scales[i] + header.offsets[i] for i, a in enumerate("XYZ")])
        assert (world > low).all() and (world < low + side).all(), (level, x, y, z)
        children = any((level + 1, 2 * x + i, 2 * y + j, 2 * z + k) in keys
                       for i in (0, 1) for j in (0, 1) for k in (0, 1))
        in_cube = cube_counts(level).get(int(packed(np.array([[x, y, z]]))[0]), 0)
        if not children:  # a leaf: its cube held at most max_points_per_node input points
            assert in_cube <= MAX_PER_NODE or level == max_depth, (level, x, y, z, in_cube)
        else:  # a node with children: more than that, and it keeps one point per cell of its 128^3 grid
            assert in_cube > MAX_PER_NODE, (level, x, y, z, in_cube)
            cell = np.floor((world - low) / (side / 128)).astype(np.int64)
            assert len(np.unique(packed(cell))) == len(records), (level, x, y, z)
    assert same_points(np.concatenate([rows(r) for _, r in decoded]), expected_rows(cloud))


def test_bounds_query_returns_exactly_the_points_in_the_box(written):
    cloud, _, path, _ = written
    units = np.rint(cloud.xyz / SCALE).astype(np.int64)
    boxes = [
        ([749030.2, 1821035.1, 6.0], [749030.4, 1821035.3, 6.2]),  # inside the statue
        ([749012.0, 1821019.0, 4.0], [749031.0, 1821026.0, 20.0]),  # a slab of the south wall and floor
        ([749009.0, 1821021.5, 0.0], [749011.0, 1821022.0, 30.0]),  # a strip of the west wall
    ]
    with laspy.CopcReader.open(str(path)) as reader:
        for low, high in boxes:
            low, high = np.array(low), np.array(high)
            got = reader.query(bounds=laspy.copc.Bounds(low, high))
            lo, hi = np.round((low - ORIGIN) / SCALE), np.round((high - ORIGIN) / SCALE)
            inside = ((units >= lo) & (units <= hi)).all(axis=1)
            assert 100 < inside.sum() < len(cloud)
            assert same_points(rows(got), expected_rows(cloud)[inside])
        plan = reader.query(bounds=laspy.copc.Bounds(np.array([749030.0, 1821035.0]), np.array([749031.0, 1821036.0])))
        in_plan = ((units[:, :2] >= np.round(([749030.0, 1821035.0] - ORIGIN[:2]) / SCALE))
                   & (units[:, :2] <= np.round(([749031.0, 1821036.0] - ORIGIN[:2]) / SCALE))).all(axis=1)
        assert same_points(rows(plan), expected_rows(cloud)[in_plan])


def test_levels_of_detail(written):
    cloud, summary, path, _ = written
    with laspy.CopcReader.open(str(path)) as reader:
        per_level = [reader.query(level=level) for level in range(len(summary.points_per_level) + 1)]
        assert len(per_level[-1]) == 0  # nothing below the deepest level
        counts = [len(p) for p in per_level[:-1]]
        assert counts == summary.points_per_level
        assert 0 < counts[0] < len(cloud) / 5 and all(counts)
        assert sum(counts) == len(cloud)
        assert same_points(np.concatenate([rows(p) for p in per_level]), expected_rows(cloud))
        assert len(reader.query(level=range(0, 2))) == counts[0] + counts[1]
        # coarse levels spread over the whole survey, not one corner of it
        coarse = np.column_stack([np.asarray(per_level[0].x), np.asarray(per_level[0].y)])
        assert np.ptp(coarse, axis=0).min() > 25
        assert len(reader.query(resolution=reader.copc_info.spacing / 2)) == counts[0] + counts[1]


def test_plain_laz_read_gives_every_point_to_the_scale(written):
    cloud, _, path, _ = written
    las = laspy.read(str(path))
    assert las.header.point_count == len(las.points) == len(cloud)
    got, want = rows(las.points), expected_rows(cloud)
    assert same_points(got, want)
    for name in ("element", "phase", "material"):
        assert las.points.array.dtype[name] == np.int32
    assert (np.asarray(las.return_number) == 1).all() and (np.asarray(las.number_of_returns) == 1).all()
    # world coordinates within half the scale of the input (rows paired through the sort)
    order_got, order_want = np.lexsort(got.T[::-1]), np.lexsort(want.T[::-1])
    world = np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])[order_got]
    assert np.abs(world - cloud.world_xyz[order_want]).max() <= SCALE / 2 + 1e-9


def test_memory_stays_bounded_and_the_partition_changes_nothing(written, tmp_path):
    cloud, summary, path, cells = written
    assert max(n for _, n in cells) <= MEMORY_LIMIT  # no cell held more than the limit
    assert max(level for level, _ in cells) > min(level for level, _ in cells)  # the statue's cell was split
    assert sum(n for _, n in cells) == len(cloud)
    reference = hierarchy(path)
    # all in one cell, a single-use generator (staged on disk), and given bounds: the same octree
    whole = write_copc(split(cloud), tmp_path / "whole.laz", max_points_per_node=MAX_PER_NODE,
                       memory_limit_points=10**7)
    assert hierarchy(whole.path) == reference and whole.points_per_level == summary.points_per_level
    once = write_copc(iter(split(cloud)), tmp_path / "once.laz", max_points_per_node=MAX_PER_NODE,
                      memory_limit_points=MEMORY_LIMIT)
    assert hierarchy(once.path) == reference
    assert once.path.read_bytes()[600:] == path.read_bytes()[600:]  # same bytes after the header
    given = write_copc(iter(split(cloud)), tmp_path / "given.laz", bounds=(cloud.xyz.min(0), cloud.xyz.max(0)),
                       max_points_per_node=MAX_PER_NODE, memory_limit_points=MEMORY_LIMIT)
    assert hierarchy(given.path) == reference
    assert sorted(os.listdir(tmp_path)) == ["given.laz", "once.laz", "whole.laz"]  # no work files left


def _failing(chunks, after: int):
    for i, chunk in enumerate(chunks):
        if i == after:
            raise RuntimeError("scanner tile unreadable")
        yield chunk


@pytest.mark.parametrize("how", ["single-pass", "second-pass", "while-compressing"])
def test_a_failure_leaves_no_file(tmp_path, monkeypatch, how):
    cloud = survey(40_000, 10_000)
    target = tmp_path / "out.copc.laz"
    target.write_bytes(b"the previous version")
    if how == "single-pass":
        source = _failing(split(cloud, 8000), 3)
    elif how == "second-pass":
        calls = []

        def source():
            calls.append(1)
            return split(cloud, 8000) if len(calls) == 1 else _failing(split(cloud, 8000), 4)
    else:
        source = split(cloud, 8000)
        added = []
        add = copc._ChunkSink.add

        def fail_later(self, node, records):
            added.append(node)
            if len(added) == 5:
                raise RuntimeError("disk went away")
            return add(self, node, records)

        monkeypatch.setattr(copc._ChunkSink, "add", fail_later)
    with pytest.raises(RuntimeError):
        write_copc(source, target, max_points_per_node=500, memory_limit_points=5000)
    assert os.listdir(tmp_path) == ["out.copc.laz"]  # no temporary file, no work folder
    assert target.read_bytes() == b"the previous version"


def test_bad_input_is_refused_clearly(tmp_path):
    cloud = survey(2000, 500)
    empty = PointCloud(np.empty((0, 3)), ORIGIN, {})
    with pytest.raises(ScanContentError, match="no points"):
        write_copc([empty, empty], tmp_path / "a.laz")
    with pytest.raises(ScanContentError, match="no points"):
        write_copc(iter([]), tmp_path / "a.laz")
    moved = PointCloud(cloud.xyz, ORIGIN + [100.0, 0, 0], cloud.attrs)
    with pytest.raises(UsageError, match="same local frame"):
        write_copc([cloud, moved], tmp_path / "a.laz")
    with pytest.raises(UsageError, match="same local frame"):
        write_copc([cloud], tmp_path / "a.laz", origin=[0.0, 0.0, 0.0])
    grey = PointCloud(cloud.xyz, ORIGIN, {k: v for k, v in cloud.attrs.items() if k != "rgb"})
    with pytest.raises(UsageError, match="chunk 2 has no rgb"):
        write_copc(iter([cloud, grey]), tmp_path / "a.laz")
    bad = PointCloud(cloud.xyz.copy(), ORIGIN, cloud.attrs)
    bad.xyz[10, 2] = np.nan
    with pytest.raises(ScanContentError, match="not finite"):
        write_copc([bad], tmp_path / "a.laz")
    with pytest.raises(ScanContentError, match="not finite"):
        write_copc(iter([bad]), tmp_path / "a.laz")
    far = PointCloud(cloud.xyz + [300_000.0, 0, 0], ORIGIN, cloud.attrs)
    with pytest.raises(UsageError, match="do not fit LAS integers"):
        write_copc([far], tmp_path / "a.laz")
    with pytest.raises(UsageError, match="outside the given bounds"):
        write_copc(iter([cloud]), tmp_path / "a.laz", bounds=(cloud.xyz.min(0), cloud.xyz.max(0) - 1.0))
    with pytest.raises(UsageError, match="not an attribute"):
        write_copc([cloud], tmp_path / "a.laz", extra_dims=["element", "era"])
    with pytest.raises(UsageError, match="at least twice"):
        write_copc([cloud], tmp_path / "a.laz", max_points_per_node=1000, memory_limit_points=1500)
    with pytest.raises(UsageError, match="scale"):
        write_copc([cloud], tmp_path / "a.laz", scale=0.0)
    with pytest.raises(ScanContentError):
        write_cloud_copc(empty, tmp_path / "a.laz")
    assert os.listdir(tmp_path) == []


def test_duplicates_and_a_single_position(tmp_path):
    """Thousands of copies of one point end in a leaf at the deepest level; a cloud that is
    one position is a root node alone."""
    rng = np.random.default_rng(3)
    xyz = np.vstack([np.repeat([[1.0, 2.0, 3.0]], 5000, axis=0), rng.random((3000, 3)) * 10])
    labels = np.arange(len(xyz), dtype=np.int32)
    summary = write_copc([PointCloud(xyz, ORIGIN, {"element": labels})], tmp_path / "dup.laz",
                         max_points_per_node=200, memory_limit_points=1000)
    entries = hierarchy(summary.path)
    assert sum(entries.values()) == len(xyz) and 0 in entries.values()  # empty nodes keep the tree whole
    with laspy.CopcReader.open(str(summary.path)) as reader:
        assert len(reader.query()) == len(xyz)  # read by walking the tree from the root
        near = reader.query(bounds=laspy.copc.Bounds(ORIGIN + [0.99, 1.99, 2.99], ORIGIN + [1.01, 2.01, 3.01]))
        assert (np.asarray(near.element) < 5000).sum() == 5000
    las = laspy.read(str(summary.path))
    assert las.point_format.id == 6 and sorted(np.asarray(las.element).tolist()) == labels.tolist()
    one = write_copc([PointCloud(np.repeat([[5.0, 5.0, 5.0]], 10, axis=0), ORIGIN)], tmp_path / "one.laz")
    assert hierarchy(one.path) == {(0, 0, 0, 0): 10} and one.points_per_level == [10]
    with laspy.CopcReader.open(str(one.path)) as reader:
        assert len(reader.query(bounds=laspy.copc.Bounds(ORIGIN + 4.9, ORIGIN + 5.1))) == 10


def test_whole_cloud_with_normals_and_crs_reads_back_as_copc(tmp_path):
    from pyproj import CRS

    from twin.io.registry import format_for, inspect_scan

    cloud = survey(20_000, 2000)
    normals = np.random.default_rng(1).normal(size=(len(cloud), 3)).astype(np.float32)
    cloud = PointCloud(cloud.xyz, cloud.origin, {**cloud.attrs, "normals": normals})
    summary = write_cloud_copc(cloud, tmp_path / "cloud.copc.laz", crs_wkt=CRS.from_epsg(32648).to_wkt(),
                               chunk_points=7000, max_points_per_node=2000, memory_limit_points=8000)
    assert summary.extra_dims == ["element", "phase", "material", "normal_x", "normal_y", "normal_z"]
    assert format_for(summary.path).name == "copc"
    info = inspect_scan(summary.path)
    assert info.point_count == len(cloud) and info.crs.epsg == 32648
    las = laspy.read(str(summary.path))
    got, want = rows(las.points), expected_rows(cloud)
    assert same_points(got, want)
    read_normals = np.column_stack([np.asarray(las[f"normal_{a}"]) for a in "xyz"])[np.lexsort(got.T[::-1])]
    assert np.array_equal(read_normals, normals[np.lexsort(want.T[::-1])])


# -- what the header says: the same as the labelled LAS/LAZ export --------------------------


def extra_bytes_records(header) -> dict[str, dict]:
    """Name -> type, options, no_data and description of the Extra Bytes record (laspy)."""
    return {
        r.name.rstrip(b"\0").decode(): {
            "type": r.data_type, "options": r.options, "description": r.description.rstrip(b"\0").decode(),
            "no_data": None if r.no_data is None else r.no_data.tolist(),
        }
        for r in header.vlrs.get("ExtraBytesVlr")[0].extra_bytes_structs
    }


def test_labels_are_described_with_no_data_and_the_crs_is_wkt1(tmp_path):
    """A WKT2 CRS in, OGC WKT1 out (a WKT record, the WKT bit set); the labels described,
    ``-1`` their declared no-data value (options bit 0); ``twin <version>`` wrote it; and the
    file is still a COPC file that CopcReader queries by bounds and level."""
    import twin
    from pyproj import CRS

    from twin.io.las_meta import LAS_DESCRIPTIONS

    cloud = survey(20_000, 2000)
    normals = np.random.default_rng(2).normal(size=(len(cloud), 3)).astype(np.float32)
    cloud = PointCloud(cloud.xyz, cloud.origin, {**cloud.attrs, "normals": normals})
    wkt2 = CRS.from_epsg(32648).to_wkt()
    assert wkt2.startswith("PROJCRS[")
    summary = write_cloud_copc(cloud, tmp_path / "cloud.copc.laz", crs_wkt=wkt2, max_points_per_node=2000,
                               memory_limit_points=8000)
    with laspy.CopcReader.open(str(summary.path)) as reader:
        header = reader.header
        records = extra_bytes_records(header)
        for name in ("element", "phase", "material"):
            assert header.point_format.dimension_by_name(name).description == LAS_DESCRIPTIONS[name]
            assert records[name]["description"] == LAS_DESCRIPTIONS[name] and "-1 = none" in LAS_DESCRIPTIONS[name]
            assert records[name]["type"] == 6  # signed 32-bit
            assert records[name]["options"] & 1 and records[name]["no_data"] == [-1]  # no_data is relevant
        for axis in "xyz":  # normals described, no no-data
            assert records[f"normal_{axis}"]["description"] == LAS_DESCRIPTIONS[f"normal_{axis}"]
            assert not records[f"normal_{axis}"]["options"] & 1
        wkts = header.vlrs.get("WktCoordinateSystemVlr")
        assert len(wkts) == 1 and header.global_encoding.wkt
        wkt = wkts[0].string
        assert wkt.startswith('PROJCS["WGS 84 / UTM zone 48N"') and 'AUTHORITY["EPSG","32648"]' in wkt  # OGC WKT1
        assert header.parse_crs().to_epsg() == 32648
        assert header.generating_software.startswith("twin ")
        assert header.generating_software == f"twin {twin.__version__}"
        assert header.system_identifier == "EXTRACTION"
        # still COPC: bounds and level queries give the points back
        assert sum(len(reader.query(level=d)) for d in range(len(summary.points_per_level))) == len(cloud)
        low, high = ORIGIN + [30.1, 35.0, 5.9], ORIGIN + [30.5, 35.4, 6.3]
        got = reader.query(bounds=laspy.copc.Bounds(low, high))
        units = np.rint(cloud.xyz / SCALE).astype(np.int64)
        lo, hi = np.round((low - ORIGIN) / SCALE), np.round((high - ORIGIN) / SCALE)
        inside = ((units >= lo) & (units <= hi)).all(axis=1)
        assert inside.sum() > 100 and same_points(rows(got), expected_rows(cloud)[inside])
        assert set(np.asarray(got.element).tolist()) <= set(cloud.attrs["element"].tolist())
    head = summary.path.read_bytes()[:600]
    assert head[58:90].rstrip(b"\0").decode() == f"twin {twin.__version__}"
    assert head[377:381] == b"copc"  # the info VLR is still the first


def test_a_geographic_crs_is_geogcs_and_no_crs_writes_no_record(tmp_path):
    from pyproj import CRS

    cloud = survey(3000, 500)
    geo = write_cloud_copc(cloud, tmp_path / "geo.copc.laz", crs_wkt=CRS.from_epsg(4326).to_wkt())
    with laspy.CopcReader.open(str(geo.path)) as reader:
        assert reader.header.vlrs.get("WktCoordinateSystemVlr")[0].string.startswith('GEOGCS["WGS 84"')
    bare = write_cloud_copc(cloud, tmp_path / "bare.copc.laz")
    with laspy.CopcReader.open(str(bare.path)) as reader:
        assert reader.header.vlrs.get("WktCoordinateSystemVlr") == []
        assert reader.header.global_encoding.wkt  # required for point formats 6 and 7 all the same
        assert reader.header.generating_software.startswith("twin ")
        assert extra_bytes_records(reader.header)["element"]["no_data"] == [-1]


def test_an_unreadable_crs_is_refused_before_writing(tmp_path):
    from twin.errors import CRSError

    with pytest.raises(CRSError, match="not a WKT"):
        write_cloud_copc(survey(2000, 500), tmp_path / "a.copc.laz", crs_wkt='PROJCS["nothing"')
    assert os.listdir(tmp_path) == []


def test_copc_and_laz_exports_say_the_same(tmp_path):
    """``twin export`` as .laz and as .copc.laz: the same extra bytes records (names, types,
    no-data, descriptions), the same WKT1 record, the same generating software."""
    from twin.export.labelled import write_labelled_cloud
    from twin.layers import load_layers
    from twin.models.scan import CRSInfo
    from twin.ops.labelling import compile_layers

    compiled = compile_layers(load_layers(Path(__file__).resolve().parents[1] / "data" / "layers" / "example.yaml"))
    rng = np.random.default_rng(5)
    world = rng.random((4000, 3)) * [26, 18, 10] + [749007.0, 1821017.0, 4.5]
    cloud = PointCloud(world - ORIGIN, ORIGIN, {"rgb": rng.integers(0, 255, (len(world), 3), dtype=np.uint8)})
    crs = CRSInfo(name="WGS 84 / UTM zone 48N", epsg=32648, wkt=None)
    said = {}
    for name in ("cloud.laz", "cloud.copc.laz"):
        path = write_labelled_cloud(cloud, compiled, tmp_path / name, crs=crs)
        header = laspy.read(str(path)).header
        said[name] = (extra_bytes_records(header), header.vlrs.get("WktCoordinateSystemVlr")[0].string,
                      header.generating_software, header.system_identifier, bool(header.global_encoding.wkt))
    assert said["cloud.copc.laz"] == said["cloud.laz"]
    assert said["cloud.laz"][1].startswith("PROJCS[")
    with laspy.CopcReader.open(str(tmp_path / "cloud.copc.laz")) as reader:
        assert len(reader.query()) == len(cloud)
        element = np.asarray(reader.query().element)
    assert (element == -1).any() and (element >= 0).any()
