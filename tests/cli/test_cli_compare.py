"""`twin compare` from the command line: two files, two surveys, a survey's parts by class;
results that read back, the catalog record, and bad input refused with nothing written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.cli.compare_workspace import (
    BULGE,
    BULGE_CENTRE,
    COLUMN_SHIFT,
    OFFSET,
    ORIGIN,
    layers_yaml,
    processed_workspace,
)
from tests.conftest import workspace_state, write_las

SHIFT = 0.020  # the known displacement of the file-mode test, metres
PARAMS = ["--normal-radius", "0.15", "--cylinder-radius", "0.1", "--cylinder-half-length", "0.15"]


def plane_scan(path: Path, z: float, seed: int, n: int = 30_000) -> Path:
    """A 4 x 4 m horizontal plane at height ``z`` near Hue, 1.5 mm noise, as LAZ."""
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2)) * 4.0
    xyz = np.c_[xy, np.full(n, z) + rng.normal(0.0, 0.0015, n)] + ORIGIN
    return write_las(path, xyz=xyz, seed=seed)


@pytest.fixture
def two_planes(tmp_path: Path) -> tuple[Path, Path]:
    return plane_scan(tmp_path / "a.laz", 0.0, 1), plane_scan(tmp_path / "b.laz", SHIFT, 2)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The processed two-survey workspace, compared once with the test parameters."""
    return processed_workspace(tmp_path_factory.mktemp("compare"))


@pytest.fixture(scope="module")
def compared(built, cli_module) -> dict:
    result = cli_module("compare", "pavilion", "--from", "2024", "--to", "2025", *PARAMS, "-w", built, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def cli_module():
    from typer.testing import CliRunner

    from twin.cli.app import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ------------------------------------------------------------------------------ help


@pytest.mark.parametrize("name", ["compare", "report"])
def test_help_ends_with_an_example(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0 and "Example: twin " in result.stdout


# ------------------------------------------------------------------------ two files


def test_files_known_displacement_laz_csv_json(cli, two_planes, tmp_path: Path):
    import laspy

    a, b = two_planes
    out = tmp_path / "out"
    result = cli("compare", "--files", a, b, "--core-spacing", "0.2", "--orientation", "up", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kind"] == "files" and summary["method"] == "m3c2"
    assert summary["inputs"]["a"]["path"] == str(a) and len(summary["inputs"]["b"]["sha256"]) == 64
    assert files_in(out) == ["comparison.json", "core_points.csv", "core_points.laz", "elements.csv", "elements.json"]

    las = laspy.read(str(out / "core_points.laz"))
    names = set(las.point_format.extra_dimension_names)
    assert {"distance", "lod", "significant", "normal_x", "normal_y", "normal_z", "n1", "n2", "sigma1",
            "sigma2"} <= names
    d = np.asarray(las["distance"])
    inner = (np.asarray(las.x) - ORIGIN[0] > 0.6) & (np.asarray(las.x) - ORIGIN[0] < 3.4) & \
            (np.asarray(las.y) - ORIGIN[1] > 0.6) & (np.asarray(las.y) - ORIGIN[1] < 3.4)
    assert np.median(d[inner]) == pytest.approx(SHIFT, abs=0.001)  # the known displacement, +z normals
    assert np.asarray(las["significant"])[inner].mean() > 0.95
    assert np.asarray(las["normal_z"])[inner].min() > 0.99
    assert np.all(np.asarray(las["lod"])[inner] < 0.005)  # 1.96 * sqrt(2 * 1.5 mm² / n)
    assert abs(float(las.x[0]) - ORIGIN[0]) < 10  # georeferenced, not local

    rows = np.genfromtxt(out / "core_points.csv", delimiter=",", names=True)
    assert len(rows) == len(las.points) == summary["core_points"]["count"]
    assert set(rows.dtype.names) >= {"x", "y", "z", "distance", "lod", "significant", "n1", "sigma1"}
    assert np.allclose(rows["x"], las.x, atol=1e-4) and np.allclose(rows["distance"], d, equal_nan=True, atol=1e-6)
    on_disk = json.loads((out / "comparison.json").read_text())
    assert on_disk["figures"] == summary["figures"]
    assert {o["path"] for o in on_disk["outputs"]} == {"core_points.csv", "core_points.laz", "elements.csv",
                                                       "elements.json"}
    assert summary["elements"][0]["element"] == "(all)" and summary["elements"][0]["significant"] > 0


def test_core_points_from_a_file_with_or_without_header(cli, two_planes, tmp_path: Path):
    a, b = two_planes
    core = ORIGIN + np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0], [3.0, 1.5, 0.0]])
    plain = tmp_path / "core.xyz"
    np.savetxt(plain, core, fmt="%.3f")
    headed = tmp_path / "core.csv"
    np.savetxt(headed, core, fmt="%.3f", delimiter=",", header="X,Y,Z", comments="")
    results = []
    for i, path in enumerate((plain, headed)):
        out = tmp_path / f"out{i}"
        result = cli("compare", "--files", a, b, "--core", path, "--orientation", "0,0,1", "--out", out, "--json")
        assert result.exit_code == 0, result.stderr
        results.append(np.genfromtxt(out / "core_points.csv", delimiter=",", names=True))
    assert len(results[0]) == len(results[1]) == 3
    assert np.allclose(results[0]["distance"], results[1]["distance"])
    assert np.allclose(results[0]["distance"], SHIFT, atol=0.002)
    assert np.allclose(results[0]["x"], core[:, 0])


def test_c2c_and_median(cli, two_planes, tmp_path: Path):
    a, b = two_planes
    c2c = cli("compare", "--files", a, b, "--method", "c2c", "--orientation", "up", "--threshold", "0.01",
              "--core-spacing", "0.2", "--out", tmp_path / "c2c", "--json")
    assert c2c.exit_code == 0, c2c.stderr
    rows = np.genfromtxt(tmp_path / "c2c" / "core_points.csv", delimiter=",", names=True)
    assert np.median(rows["distance"]) == pytest.approx(SHIFT, abs=0.001)  # point-to-plane, signed by +z
    assert rows["significant"].mean() > 0.95 and np.allclose(rows["lod"], 0.01)
    median = cli("compare", "--files", a, b, "--median", "--orientation", "up", "--core-spacing", "0.3",
                 "--out", tmp_path / "median", "--json")
    assert median.exit_code == 0 and json.loads(median.stdout)["m3c2"]["use_median"] is True


def test_c2m_against_a_mesh_file(cli, two_planes, tmp_path: Path):
    from twin.io.ply_write import write_mesh_ply
    from twin.models.mesh import TriMesh

    _, b = two_planes
    square = TriMesh(np.array([[-1, -1, 0], [5, -1, 0], [5, 5, 0], [-1, 5, 0]], dtype=float),
                     np.array([[0, 1, 2], [0, 2, 3]]), origin=ORIGIN)  # counter-clockwise from above: +z
    mesh = write_mesh_ply(square, tmp_path / "reference.ply")
    result = cli("compare", "--files", mesh, b, "--method", "c2m", "--threshold", "0.01", "--core-spacing", "0.25",
                 "--out", tmp_path / "c2m", "--json")
    assert result.exit_code == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["inputs"]["a"]["role"] == "reference mesh" and s["inputs"]["a"]["points"] == 4
    rows = np.genfromtxt(tmp_path / "c2m" / "core_points.csv", delimiter=",", names=True)
    assert np.median(rows["distance"]) == pytest.approx(SHIFT, abs=0.001)
    assert np.allclose(rows["normal_z"], 1.0) and rows["significant"].mean() > 0.99


@pytest.mark.parametrize("preset", ["cloudcompare", "pdal"])
def test_files_presets_follow_the_reference_rules(cli, two_planes, tmp_path: Path, preset):
    """Both references use the mean and +Z normals: the known shift comes out positive,
    and the settings written say which rules were followed."""
    a, b = two_planes
    out = tmp_path / "out"
    result = cli("compare", "--files", a, b, "--core-spacing", "0.2", "--preset", preset, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    settings = json.loads((out / "comparison.json").read_text())["params"]
    assert settings["preset"] == preset and settings["median"] is False and settings["orientation"] == "up"
    d = np.asarray(laspy_read(out / "core_points.laz")["distance"])
    assert np.nanmedian(d) == pytest.approx(SHIFT, abs=0.001)


def laspy_read(path: Path):
    import laspy

    return laspy.read(str(path))


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--normal-radius", "-1"], 2, "--normal-radius must be a positive number"),
        (["--cylinder-half-length", "0"], 2, "--cylinder-half-length must be a positive number"),
        (["--core-spacing", "nan"], 2, "--core-spacing must be a positive number"),
        (["--registration-error", "-0.01"], 2, "--registration-error must be zero or a positive"),
        (["--method", "icp"], 2, "unknown method 'icp'"),
        (["--orientation", "sideways"], 2, "--orientation 'sideways'"),
        (["--orientation", "stations"], 2, "needs the scanner positions"),
        (["--core", "missing.xyz"], 2, "--core missing.xyz: no such file"),
        (["--core-spacing", "0.1", "--core", "x"], 2, "not both"),
        (["--preset", "cyclone"], 2, "--preset: unknown preset 'cyclone'"),
    ],
)
def test_files_bad_parameters_write_nothing(cli, two_planes, tmp_path: Path, args, code, message):
    a, b = two_planes
    out = tmp_path / "out"
    result = cli("compare", "--files", a, b, *args, "--out", out)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_files_bad_inputs(cli, two_planes, tmp_path: Path):
    a, b = two_planes
    missing = cli("compare", "--files", a, tmp_path / "nope.laz", "--out", tmp_path / "o1")
    assert missing.exit_code == 3 and "nope.laz: no such file" in missing.stderr
    twice = cli("compare", "--files", a, a, "--out", tmp_path / "o2")
    assert twice.exit_code == 2 and "twice" in twice.stderr
    no_out = cli("compare", "--files", a, b)
    assert no_out.exit_code == 2 and "--files needs --out" in no_out.stderr
    not_mesh = cli("compare", "--files", a, b, "--method", "c2m", "--out", tmp_path / "o3")
    assert not_mesh.exit_code == 2 and "mesh file" in not_mesh.stderr
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    refused = cli("compare", "--files", a, b, "--out", busy)
    assert refused.exit_code == 2 and "not empty" in refused.stderr and files_in(busy) == ["keep.txt"]
    assert not any(p.name.startswith(".o") for p in tmp_path.iterdir())


def test_rerun_replaces_an_earlier_comparison(cli, two_planes, tmp_path: Path):
    a, b = two_planes
    out = tmp_path / "out"
    assert cli("compare", "--files", a, b, "--core-spacing", "0.5", "--out", out).exit_code == 0
    first = json.loads((out / "comparison.json").read_text())["core_points"]["count"]
    result = cli("compare", "--files", a, b, "--core-spacing", "0.25", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "results in" in result.stdout
    assert json.loads((out / "comparison.json").read_text())["core_points"]["count"] > first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------------------ two surveys


def test_surveys_aligned_bulge_column_and_stable_walls(built, compared):
    s = compared
    assert s["kind"] == "surveys" and s["structure"] == "pavilion"
    out = Path(s["out"])
    assert out == built / "comparisons" / "pavilion" / "2024__2025"
    assert files_in(out) == ["comparison.json", "core_points.csv", "core_points.laz", "elements.csv", "elements.json"]
    # the later survey was off by OFFSET: the alignment moves it back, and its residual is the registration error
    a = s["alignment"]
    t = np.asarray(a["transform"])  # acts on world (UTM) coordinates
    for site in ([4.0, 3.0, 1.0], [0.0, 0.0, 0.0], [8.0, 6.0, 3.0]):
        p = ORIGIN + site
        assert np.allclose(t[:3, :3] @ p + t[:3, 3] - p, -OFFSET, atol=0.0015)
    assert a["rotation_deg"] < 0.01
    assert a["excluded_elements"] == ["column"]  # stable: false
    assert s["registration_error"] == pytest.approx(a["residual"]) and 0.001 < a["residual"] < 0.005
    assert s["m3c2"]["registration_error"] == pytest.approx(a["residual"])
    assert s["layers"]["rev"] == 1 and s["labels"]["element"][0] == "floor"

    rows = {r["element"]: r for r in s["elements"]}
    order = [r["element"] for r in s["elements"]]
    assert set(order[:2]) == {"wall-north", "column"}  # significant changes first
    assert rows["walls"]["group"] is True
    for wall in ("wall-south", "wall-west", "wall-east", "floor"):
        assert rows[wall]["significant_share"] <= 0.02, (wall, rows[wall])  # stable
    assert rows["wall-north"]["significant_share"] > 0.05
    assert rows["column"]["significant_share"] > 0.3
    # Moved toward the centre: the supported peak is the faces the move pushes (the faces it
    # slides along read about 0, and the box's corners are left out as edges).
    assert rows["column"]["max_change"] == pytest.approx(-COLUMN_SHIFT, abs=0.003)

    # at the bulge's centre the north wall moved outward by BULGE
    core = np.genfromtxt(out / "core_points.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
    site = np.c_[core["x"], core["y"], core["z"]] - ORIGIN
    r = np.hypot(site[:, 0] - BULGE_CENTRE[0], site[:, 2] - BULGE_CENTRE[1])
    near = (core["element"] == "wall-north") & (r < 0.12)
    assert near.sum() >= 3
    assert np.median(core["distance"][near]) == pytest.approx(BULGE, abs=0.003)
    assert core["significant"][near].all()
    assert set(np.unique(core["phase"])) <= {"construction-1805", "reconstruction-1833", ""}

    csv_lines = (out / "elements.csv").read_text().splitlines()
    assert csv_lines[0].startswith("element,name,group,stable,core_points")
    assert csv_lines[1].split(",")[0] in {"wall-north", "column"}

    # issue 17.2: the walls' out-of-plane change (the group "walls" has no points of its own)
    # and the column's lean (it slid along +x, it did not lean)
    figures = {r["element"]: r for r in s["element_figures"]}
    assert set(figures) == {"wall-south", "wall-north", "wall-west", "wall-east", "column"}
    north = figures["wall-north"]["figures"]
    assert 0.85 * BULGE * 1000 <= north["largest_change_mm"] <= 1000 * BULGE + 1.0  # a 0.25 m cell's mean, outward
    assert north["normal"][1] > 0.99
    at = np.asarray(north["largest_change_at"]) - ORIGIN
    assert np.hypot(at[0] - BULGE_CENTRE[0], at[2] - BULGE_CENTRE[1]) < 0.3
    for wall in ("wall-south", "wall-west", "wall-east"):
        assert abs(figures[wall]["figures"]["largest_change_mm"]) < 4.0, figures[wall]
    column = figures["column"]
    assert column["figures"] is None or abs(column["figures"]["lean_change_deg"]) < 0.2, column


def test_surveys_recorded_in_the_catalog(built, compared):
    con = sqlite3.connect(built / "catalog.sqlite")
    rows = con.execute("select id, structure_id, from_survey, to_survey, method, path, layers_rev, params_json, "
                       "summary_json from comparisons").fetchall()
    con.close()
    mine = [r for r in rows if r[0] == compared["comparison_id"]]
    assert len(mine) == 1
    _, structure, first, second, method, path, rev, params, summary = mine[0]
    assert (structure, first, second, method, path, rev) == ("pavilion", "2024", "2025", "m3c2",
                                                            "comparisons/pavilion/2024__2025", 1)
    assert json.loads(params)["cylinder_half_length"] == 0.15
    assert json.loads(summary)["alignment"]["residual"] == compared["alignment"]["residual"]


def test_surveys_c2m_and_no_align(cli, built, tmp_path: Path):
    result = cli("compare", "pavilion", "--from", "2024", "--to", "2025", "--method", "c2m", "-w", built, "--json")
    assert result.exit_code == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["method"] == "c2m" and s["inputs"]["from"]["mesh"] == "mesh-full.ply"
    assert Path(s["out"]).name == "2024__2025__c2m"
    out = tmp_path / "noalign"
    plain = cli("compare", "pavilion", "--from", "2024", "--to", "2025", "--no-align", "--core-spacing", "0.3",
                "--out", out, "-w", built, "--json")
    assert plain.exit_code == 0, plain.stderr
    s = json.loads(plain.stdout)
    assert s["alignment"] is None and s["registration_error"] == 0.0 and (out / "core_points.laz").is_file()


def test_surveys_bad_input_writes_nothing(cli, tmp_path: Path):
    built = processed_workspace(tmp_path)  # a copy: this test adds a survey
    extra = tmp_path / "extra"
    extra.mkdir()
    write_las(extra / "S1.laz", n=500)
    assert cli("ingest", extra, "--structure", "pavilion", "--survey", "2026", "-w", built).exit_code == 0
    before = workspace_state(built)
    listing = files_in(built / "comparisons")
    cases = [
        (["--from", "2024", "--to", "2024"], 2, "compare two different surveys"),
        (["--from", "2024", "--to", "1999"], 4, "no survey '1999'"),
        (["--from", "2024", "--to", "2026"], 4, "has no processed model yet; run: twin process pavilion --survey 2026"),
        (["--from", "2024", "--to", "2025", "--cylinder-radius", "-0.1"], 2, "--cylinder-radius must be a positive"),
        (["--from", "2024"], 2, "give both --from SURVEY and --to SURVEY"),
        (["--from", "2024", "--to", "2025", "--layers-rev", "1"], 2, "--layers-rev goes with --survey and --by"),
    ]
    for args, code, message in cases:
        result = cli("compare", "pavilion", *args, "-w", built)
        assert result.exit_code == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    unknown = cli("compare", "palace", "--from", "2024", "--to", "2025", "-w", built)
    assert unknown.exit_code == 4 and "no structure 'palace'" in unknown.stderr
    nothing = cli("compare", "-w", built)
    assert nothing.exit_code == 2 and "name a structure" in nothing.stderr
    assert workspace_state(built) == before and files_in(built / "comparisons") == listing


# ---------------------------------------------------------------------- by class


def test_by_phase_material_element(cli, built):
    result = cli("compare", "pavilion", "--survey", "2025", "--by", "phase", "-w", built, "--json")
    assert result.exit_code == 0, result.stderr
    r = json.loads(result.stdout)
    assert r["by"] == "phase" and r["rev"] == 1 and r["mesh"] == "mesh-full.ply"
    phases = {c["id"]: c for c in r["classes"]}
    assert phases["restoration-1925"]["elements"] == ["wall-north"]
    assert (phases["restoration-1925"]["earliest"], phases["restoration-1925"]["latest"]) == ("1920-01-01",
                                                                                              "1925-12-31")
    assert phases["restoration-1925"]["area_m2"] == pytest.approx(4.5 * 3.0, rel=0.15)
    assert phases["reconstruction-1833"]["area_m2"] == pytest.approx(4 * 0.3 * 2.5 + 0.09, rel=0.25)  # column
    assert phases["construction-1805"]["area_m2"] > phases["restoration-1925"]["area_m2"]
    assert phases["construction-1805"]["points"] > 0 and "walls" in phases["construction-1805"]["elements"]

    materials = {c["id"]: c for c in json.loads(
        cli("compare", "pavilion", "--survey", "2025", "--by", "material", "-w", built, "--json").stdout)["classes"]}
    assert materials["teak"]["area_m2"] == 0 and materials["teak"]["points"] == 0
    assert materials["brick"]["area_m2"] == pytest.approx(2 * 4.5 * 3 + 2 * 3 * 3, rel=0.15)
    assert materials["stone"]["aat"].endswith("300011176")

    elements = json.loads(cli("compare", "pavilion", "--survey", "2024", "--by", "element", "-w", built,
                              "--json").stdout)
    rows = {c["id"]: c for c in elements["classes"]}
    walls = sum(rows[w]["area_m2"] for w in ("wall-south", "wall-north", "wall-west", "wall-east"))
    assert rows["walls"]["area_m2"] == pytest.approx(walls)  # a group gathers its members
    assert rows["wall-north"]["phases"] == ["construction-1805", "restoration-1925"] or \
        set(rows["wall-north"]["phases"]) == {"construction-1805", "restoration-1925"}
    assert rows["floor"]["volume_m3"] is None  # an open surface has no volume
    table = cli("compare", "pavilion", "--survey", "2025", "--by", "element", "-w", built)
    assert table.exit_code == 0 and "wall-north" in table.stdout and "outside every element" in table.stdout


def test_by_class_with_two_layer_revisions(cli, tmp_path: Path):
    built = processed_workspace(tmp_path)  # a copy: this test adds a layers revision
    second = tmp_path / "layers-2.yaml"
    second.write_text(layers_yaml(column_material="teak", north_phases="[construction-1805]"))
    assert cli("layers", "set", "pavilion", second, "-w", built).exit_code == 0
    result = cli("compare", "pavilion", "--survey", "2025", "--by", "material", "--layers-rev", "1",
                 "--layers-rev", "2", "-w", built, "--json")
    assert result.exit_code == 0, result.stderr
    r = json.loads(result.stdout)
    assert (r["other_rev"], r["rev"]) == (1, 2)
    changes = {c["element"]: c for c in r["changes"]}
    assert changes["column"]["materials_added"] == ["teak"] and changes["column"]["materials_removed"] == ["ironwood"]
    assert changes["wall-north"]["phases_removed"] == ["restoration-1925"]
    assert changes["column"]["area_m2"] > 0
    after = {c["id"]: c for c in r["classes"]}
    before = {c["id"]: c for c in r["other_classes"]}
    assert after["teak"]["area_m2"] == pytest.approx(before["ironwood"]["area_m2"])
    assert after["ironwood"]["area_m2"] == 0
    text = cli("compare", "pavilion", "--survey", "2025", "--by", "material", "--layers-rev", "1", "--layers-rev",
               "2", "-w", built)
    assert "column: materials +teak -ironwood" in text.stdout


def test_by_class_bad_input(cli, built):
    cases = [
        (["--survey", "2025", "--by", "colour"], 2, "unknown class 'colour'"),
        (["--survey", "2025"], 2, "needs both --survey ID and --by"),
        (["--survey", "2025", "--by", "phase", "--layers-rev", "1", "--layers-rev", "1"], 2, "twice"),
        (["--survey", "2025", "--by", "phase", "--layers-rev", "9"], 4, "no revision 9"),
        (["--survey", "1999", "--by", "phase"], 4, "no survey '1999'"),
        (["--survey", "2025", "--by", "phase", "--from", "2024"], 2, "give --survey, not --from/--to"),
        (["--survey", "2025", "--by", "phase", "--normal-radius", "0.2"], 2, "takes no comparison options"),
    ]
    for args, code, message in cases:
        result = cli("compare", "pavilion", *args, "-w", built)
        assert result.exit_code == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)


def test_a_version_1_catalog_gains_the_comparisons_table(workspace):
    from twin.catalog import db

    path = workspace.root / "catalog.sqlite"
    con = sqlite3.connect(path)
    con.execute("drop table comparisons")
    con.execute("update meta set value = '1' where key = 'schema_version'")
    con.execute("drop table alembic_version")  # as before Alembic
    con.commit()
    con.close()
    db.open_catalog(path).dispose()  # migrates
    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
    version = con.execute("select value from meta where key = 'schema_version'").fetchone()[0]
    con.close()
    assert "comparisons" in tables and version == str(db.SCHEMA_VERSION)


def test_help_states_the_defaults_the_options_use():
    # the CLI spells the defaults out (importing the options would slow `twin --help`)
    import inspect

    from twin.cli import compare_cmd
    from twin.compare import options

    source = inspect.getsource(compare_cmd)
    for value in (options.DEFAULT_CORE_SPACING, options.DEFAULT_NORMAL_RADIUS, options.DEFAULT_CYLINDER_RADIUS,
                  options.DEFAULT_HALF_LENGTH):
        assert f"(default: {value})" in source, value
