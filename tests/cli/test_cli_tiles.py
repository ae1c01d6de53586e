"""`twin tiles`: a registered survey's raw stations, every point, moved by the model's
poses into tiles, cleaned tile by tile, and written as one COPC file."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np
import pytest

from tests.conftest import SAMPLES

SHIFT = np.array([0.7, -0.4, 0.05])  # the second station's file: the first's points, moved
PIPELINE = "name: register-only\ndescription: register, then write\nstages:\n  - stage: register\n  - stage: write\n"


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A workspace whose survey `s` has two stations of the same scene (the second's file
    shifted by SHIFT), registered by `twin process`."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    root = tmp_path_factory.mktemp("tiles")
    station = SAMPLES / "pavilion" / "survey-2024" / "S1.laz"
    las = laspy.read(station)
    las.x, las.y, las.z = np.asarray(las.x) + SHIFT[0], np.asarray(las.y) + SHIFT[1], np.asarray(las.z) + SHIFT[2]
    las.write(root / "S2.laz")
    (root / "register.yaml").write_text(PIPELINE)
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.stdout + result.stderr
        return result

    ws = root / "ws"
    run("init", ws)
    run("ingest", station, "--structure", "pavilion", "--survey", "s", "-w", ws)
    run("ingest", root / "S2.laz", "--structure", "pavilion", "--survey", "s", "--station", "S2", "-w", ws)
    run("process", "pavilion", "--pipeline", root / "register.yaml", "-w", ws)
    return ws, len(las.points)


def test_every_point_of_every_station_is_tiled_where_its_pose_puts_it(cli, registered):
    from scipy.spatial import cKDTree

    from twin.ops.flags import FLAG_STAT_OUTLIER
    from twin.ops.outliers import statistical_outlier_mask
    from twin.tiles import TileStore

    ws, n = registered
    result = cli("tiles", "pavilion", "--survey", "s", "--tile-size", "5", "--json", "-w", ws)
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["stations"] == 2 and report["points"] == 2 * n and report["tiles"] >= 8
    store = TileStore.open(Path(report["store"]))
    merged = store.merged()
    first, second = merged.xyz[merged.attrs["station"] == 0], merged.xyz[merged.attrs["station"] == 1]
    assert len(first) == len(second) == n
    gap, _ = cKDTree(first).query(second)
    assert np.median(gap) < 0.001 and gap.max() < 0.005  # the pose undoes the shift: the same points

    # outlier flags per tile equal the step over the whole cloud
    expected = statistical_outlier_mask(merged.xyz, 20, 2.0, backend="scipy")
    got = (merged.attrs["flags"] & FLAG_STAT_OUTLIER) > 0
    assert got.sum() == report["flagged"] and np.array_equal(got, expected)

    # the COPC: exactly the unflagged points (to its 0.1 mm scale), and a bounds query
    # answers with the points inside
    kept = merged.world_xyz[merged.attrs["flags"] == 0]
    with laspy.CopcReader.open(report["copc"]) as reader:
        assert reader.header.point_count == report["written"] == len(kept) == 2 * n - report["flagged"]
        everything = reader.query()
        lo = kept.min(axis=0) + [3.0, 3.0, -1.0]
        hi = lo + [6.0, 6.0, 50.0]
        inside = reader.query(bounds=laspy.copc.Bounds(mins=lo, maxs=hi))
        offsets, scales = np.asarray(reader.header.offsets), np.asarray(reader.header.scales)
    stored = np.column_stack([np.asarray(everything.x), np.asarray(everything.y), np.asarray(everything.z)])
    assert cKDTree(stored).query(kept)[0].max() < 6e-5  # every kept point is there, to half the 0.1 mm scale
    # laspy compares in the file's integer units, both bounds included
    units = np.rint((stored - offsets) / scales)
    lo_u, hi_u = np.round((lo - offsets) / scales), np.round((hi - offsets) / scales)
    assert 0 < len(inside) == np.all((units >= lo_u) & (units <= hi_u), axis=1).sum()


def test_tiles_on_local_dask_workers_equal_the_run_in_process(cli, registered):
    from twin.tiles import TileStore

    ws, _ = registered
    runs = []
    for extra in ([], ["--workers", "2"]):
        result = cli("tiles", "pavilion", "--survey", "s", "--tile-size", "5", "--no-copc", "--json", "-w", ws, *extra)
        assert result.exit_code == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        runs.append({k: r.sha256 for k, r in TileStore.open(Path(report["store"])).records.items()})
    assert runs[0] == runs[1]


def test_the_tile_size_follows_the_memory_limit(cli, registered):
    """Without --tile-size the tiles are as large as --memory-limit allows at 200 bytes a
    point: every tile with its halo fits the budget (at 0.02 GiB the first guess, four
    times the average density, left a 135,354-point tile, and the tiles were made
    smaller until none was over), and a smaller budget makes smaller tiles."""
    from twin.tiles import TileStore
    from twin.tiles.layout import BYTES_PER_POINT

    ws, _ = registered
    sizes = {}
    for limit in ("0.1", "0.02"):
        result = cli("tiles", "pavilion", "--survey", "s", "--memory-limit", limit, "--no-copc", "--json", "-w", ws)
        assert result.exit_code == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        store = TileStore.open(Path(report["store"]))
        largest = max(len(store.read(key)[0]) for key in store.keys)
        assert largest * BYTES_PER_POINT <= float(limit) * 2**30, (limit, largest, report["tile_size"])
        sizes[limit] = report["tile_size"]
    assert sizes["0.02"] < sizes["0.1"]


def test_a_survey_without_a_model_is_refused_in_one_line(cli, registered):
    ws, _ = registered
    result = cli("tiles", "pavilion", "--survey", "nope", "-w", ws)
    assert result.exit_code != 0 and result.stderr.count("\n") == 1, result.stderr
    assert "nope" in result.stderr


def test_a_station_corrupt_in_the_middle_fails_in_one_line_and_leaves_no_tiles(cli, registered, tmp_path):
    """The second station's stored file is cut short halfway through: the run stops with
    one line naming the station and its file, and the model folder is as it was (the last
    good tile store and COPC untouched, nothing half-built beside them). Put back, the
    same command completes."""
    import shutil

    from twin.catalog.models import latest_model
    from twin.catalog.workspace import Workspace

    ws, _ = registered
    assert cli("tiles", "pavilion", "--survey", "s", "--tile-size", "5", "-w", ws).exit_code == 0
    workspace = Workspace.open(ws)
    scan = next(s for s in workspace.scans("pavilion", "s") if s.station == "S2")
    stored = workspace.root / scan.store_path
    backup = tmp_path / "S2.laz"
    shutil.copy2(stored, backup)
    folder = Path(latest_model(workspace, "pavilion", "s").folder)
    before = sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())
    try:
        stored.chmod(0o644)
        data = backup.read_bytes()
        stored.write_bytes(data[: len(data) // 2])
        result = cli("tiles", "pavilion", "--survey", "s", "--tile-size", "5", "-w", ws)
        assert result.exit_code != 0, result.stdout
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "station S2" in errors[0] and stored.name in errors[0], result.stderr
        after = sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())
        assert after == before
    finally:
        shutil.copy2(backup, stored)
    assert cli("tiles", "pavilion", "--survey", "s", "--tile-size", "5", "-w", ws).exit_code == 0


def test_an_interrupted_run_resumes_at_the_tiles_not_done_and_ends_as_an_uninterrupted_one(cli, registered):
    """Ctrl-C (KeyboardInterrupt) after three tiles of the outlier step: the store being
    built stays beside the last good one, which is untouched; the same command then
    takes the bucketing and those three tiles' work as they are (their kept results
    are not rewritten) and ends with the tiles, hashes and COPC of a run never stopped."""
    from twin.catalog.models import latest_model
    from twin.catalog.workspace import Workspace
    from twin.tiles.survey import survey_tiles

    ws, _ = registered
    args = ("tiles", "pavilion", "--survey", "s", "--tile-size", "5", "--json", "-w", ws)
    whole = cli(*args)
    assert whole.exit_code == 0, whole.stdout + whole.stderr
    expected = json.loads(whole.stdout)
    assert expected["resumed"] == 0 and len(expected["tile_hashes"]) == expected["tiles"] >= 8
    workspace = Workspace.open(ws)
    folder = Path(latest_model(workspace, "pavilion", "s").folder)
    on_disk = {p.parent.name: json.loads(p.read_text())["sha256"] for p in (folder / "tiles").glob("*/record.json")}
    assert expected["tile_hashes"] == on_disk  # the hashes of the tiles as written, every step's attributes in
    last_good = sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in (folder / "tiles").rglob("*"))

    class Stop(KeyboardInterrupt):
        pass

    def stop_after_three(step: str, done: int, total: int) -> None:
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        survey_tiles(workspace, "pavilion", "s", tile_size=5.0, memory_bytes=None, on_tile=stop_after_three)
    work = folder / ".tiles-new"
    kept = sorted(work.glob("*/step-measure-*.json"))
    assert len(kept) == 3 and (work / "job.json").exists()
    assert sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in (folder / "tiles").rglob("*")) == last_good
    stamps = [p.stat().st_mtime_ns for p in kept]

    resumed = cli(*args)
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["resumed"] == 3
    assert [p.stat().st_mtime_ns for p in (folder / "tiles" / p.parent.name / p.name for p in kept)] == stamps
    assert not work.exists()
    for name in ("tile_hashes", "points", "flagged", "written", "tiles"):
        assert report[name] == expected[name], name
    import laspy

    with laspy.open(report["copc"]) as reader:
        assert reader.header.point_count == expected["written"]


@pytest.mark.parametrize(("where", "succeed"), [("twin.tiles.store._save_array", 3), ("twin.io.copc.write_copc", 0)])
def test_a_full_disk_gives_one_line_and_leaves_the_model_folder_as_it_was(cli, registered, monkeypatch, where, succeed):
    """The disk fills (ENOSPC injected) while a tile step writes its arrays, or while the
    COPC is written: one line that says so, exit non-zero, the model folder exactly as
    the last good run left it (no store being built kept: a full disk is a failure, not
    an interruption); once there is space, the same command completes."""
    import errno
    import importlib

    from twin.catalog.models import latest_model
    from twin.catalog.workspace import Workspace

    ws, _ = registered
    args = ("tiles", "pavilion", "--survey", "s", "--tile-size", "5", "-w", ws)
    assert cli(*args).exit_code == 0
    folder = Path(latest_model(Workspace.open(ws), "pavilion", "s").folder)
    before = sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())
    module, name = where.rsplit(".", 1)
    real = getattr(importlib.import_module(module), name)
    calls = []

    def full(*a, **k):
        calls.append(1)
        if len(calls) > succeed:  # a few writes succeed, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(folder / "x"))
        return real(*a, **k)

    monkeypatch.setattr(f"{module}.{name}", full)
    result = cli(*args)
    assert result.exit_code != 0, result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left" in errors[0], result.stderr
    after = sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())
    assert after == before
    monkeypatch.undo()
    assert cli(*args).exit_code == 0


def test_3d_tiles_of_a_tiled_model_carry_every_clean_point_one_content_per_store_tile(cli, registered, tmp_path):
    """After `twin tiles`, the exported 3D Tiles' cloud is the store's: one content per
    store tile holding exactly its unflagged points (the COPC's), placed where the store
    says, under a thinned root; every content valid for the Khronos validator, the
    tileset for the 3D Tiles schema."""
    from tests.unit.test_export_3dtiles import run_validator, tileset_validator
    from tests.unit.test_export_gltf import Y_UP_TO_Z_UP, merged, read_glb, scene_positions
    from twin.tiles import TileStore

    ws, _ = registered
    made = cli("tiles", "pavilion", "--survey", "s", "--tile-size", "5", "--json", "-w", ws)
    assert made.exit_code == 0, made.stdout + made.stderr
    report = json.loads(made.stdout)
    result = cli("export", "pavilion", "--survey", "s", "-f", "3dtiles", "--out", tmp_path / "out", "-w", ws)
    assert result.exit_code == 0, result.stdout + result.stderr
    # the export says where the cloud came from, as information, not as a warning
    assert "note: 3D Tiles: the cloud at full resolution from the model's tile store" in result.stderr
    assert "warning: 3D Tiles" not in result.stderr
    folder = next((tmp_path / "out").glob("*-3dtiles"))
    doc = json.loads((folder / "tileset.json").read_text())
    assert [e.message for e in tileset_validator().iter_errors(doc)] == []
    cloud = next(b for b in doc["root"]["children"] if b["content"]["uri"] == "cloud-root.glb")
    assert cloud["extras"]["fullResolutionPoints"] == report["written"]
    store = TileStore.open(Path(report["store"]))
    matrix = np.asarray(doc["root"]["transform"]).reshape(4, 4).T if "transform" in doc["root"] else None
    total = 0
    for child in cloud["children"]:
        key = tuple(child["extras"]["storeTile"])
        arrays = store.arrays(key)
        clean = arrays["xyz"][arrays["flags"] == 0] + np.asarray(store.layout.origin)
        path = folder / child["content"]["uri"]
        gltf, binary = read_glb(path)
        xyz = scene_positions(gltf, merged(gltf, binary)["positions"]) @ Y_UP_TO_Z_UP.T
        assert len(xyz) == child["extras"]["points"] == len(clean)
        if matrix is None:  # a survey without a CRS: the tileset frame is the model's own
            from scipy.spatial import cKDTree

            assert cKDTree(clean).query(xyz)[0].max() < 1e-3
        total += len(xyz)
        issues = run_validator(path)["issues"]
        assert issues["numErrors"] == 0, [m for m in issues["messages"] if m["severity"] == 0][:3]
    with_points = [k for k in store.keys if (store.arrays(k)["flags"] == 0).any()]  # tiles of outliers only: none
    assert total == report["written"] and len(cloud["children"]) == len(with_points) >= 8
