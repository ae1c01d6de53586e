"""The label pipeline stage: layers projected onto clouds and meshes, written as attributes,
cached on the layers' content, and a warning (not a failure) where there are no layers."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np
import pytest

from tests.conftest import write_las
from twin.catalog.layers import get_layers, set_layers
from twin.errors import SpecError
from twin.layers import load_layers
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.ops.labelling import compile_layers, label_faces, label_points
from twin.pipeline.runner import run_model, stage_keys
from twin.pipeline.spec import load_pipeline
from twin.pipeline.stages import StageContext, label, write
from twin.pipeline.state import ModelState, load_state, save_state

# two stations of random points in x 749010..749030, y 1821020..1821032, z 5..14 (tests.conftest)
PIPELINE = """name: label-test
stages:
  - stage: voxel_downsample
    voxel_size: 0.5
  - stage: label
  - stage: write
    cloud_format: laz
"""

LAYERS = """metadata: {{title: Test pavilion}}
crs: EPSG:32648
elements:
  - id: lower
    name: Lower half
    class: B3_Filled_Morphological_Building_Section
    region: {{box: {{min: [749000, 1821000, 0], max: [749040, 1821040, {split}]}}}}
    knowledge: {{status: measured}}
    phases: [built]
    materials: [stone]
  - id: upper
    name: Upper part
    class: B2_Morphological_Building_Section
    region:
      boxes:
        - {{min: [749000, 1821000, {split}], max: [749020, 1821040, 20]}}
        - {{min: [749020, 1821000, {split}], max: [749040, 1821026, 20]}}
    knowledge: {{status: inferred, sources: [drawing 1925]}}
    phases: [built, rebuilt]
    materials: [wood]
phases:
  - {{id: built, type: construction, date: 1805}}
  - {{id: rebuilt, type: reconstruction, date: 1833~}}
materials:
  - {{id: stone, label: stone, aat: "http://vocab.getty.edu/aat/300011176"}}
  - {{id: wood, label: wood, aat: "http://vocab.getty.edu/aat/300011914"}}
"""


def _spec(tmp_path: Path):
    path = tmp_path / "label.yaml"
    path.write_text(PIPELINE)
    return load_pipeline(str(path))


def _layers(tmp_path: Path, split: float = 9.0, name: str = "layers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(LAYERS.format(split=split))
    return path


def _ran(events) -> list[str]:
    return [e["stage"] for e in events if e["type"] == "stage" and not e["cached"]]


# -- the spec ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "preview", "high-detail"])
def test_bundled_pipelines_label_just_before_writing(name):
    spec, _ = load_pipeline(name)
    assert [s.stage for s in spec.stages][-2:] == ["label", "write"]
    assert spec.stages[-2].faces == "points"  # faces take the label of the points the scanners saw there


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ("  - stage: label\n  - stage: voxel_downsample\n    voxel_size: 0.1\n  - stage: write\n",
         "(label) must come right before write"),
        ("  - stage: label\n  - stage: label\n  - stage: write\n", "label and write may each appear once"),
        ("  - stage: label\n    faces: majority\n  - stage: write\n", "faces: Input should be 'points', 'centroid' or 'vertices'"),
        ("  - stage: label\n    layers: x.yaml\n  - stage: write\n", "unknown parameter 'layers'"),
    ],
)
def test_misplaced_or_mistyped_label_stages_are_refused(tmp_path, stages, message):
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nstages:\n" + stages)
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_pipeline(str(path))


def test_only_the_label_stage_key_depends_on_the_layers(tmp_path):
    spec, _ = _spec(tmp_path)
    from twin.pipeline.provenance import InputRecord

    inputs = [InputRecord(station="S1", sha256="a" * 64, store_path="x", original_name="S1.laz", point_count=1)]
    none, one, two = (stage_keys(spec, inputs, sha) for sha in (None, "1" * 64, "2" * 64))
    assert none[0] == one[0] == two[0]  # voxel_downsample
    assert len({none[1], one[1], two[1]}) == 3 and len({none[2], one[2], two[2]}) == 3


# -- the stage on its own -----------------------------------------------------------------------


class _Revision:
    """What the runner hands the stage: the latest LayerRevision (only these fields are used)."""

    def __init__(self, path: Path, rev: int = 1):
        self.layers = load_layers(path)
        self.rev = rev
        self.sha256 = "f" * 64


def _mesh(origin) -> TriMesh:
    import trimesh

    parts = [trimesh.creation.box(bounds=b) for b in (
        [(749011.0, 1821021.0, 6.0), (749013.0, 1821023.0, 8.0)],  # lower
        [(749011.0, 1821021.0, 10.0), (749013.0, 1821023.0, 12.0)],  # upper, first box
        [(749025.0, 1821021.0, 10.0), (749027.0, 1821023.0, 12.0)],  # upper, second box
        [(749025.0, 1821030.0, 10.0), (749027.0, 1821032.0, 12.0)],  # outside every region
    )]
    m = trimesh.util.concatenate(parts)
    return TriMesh(np.asarray(m.vertices) - origin, np.asarray(m.faces), origin)


def test_label_stage_labels_points_vertices_and_faces(tmp_path):
    origin = np.array([749000.0, 1821000.0, 0.0])
    rng = np.random.default_rng(3)
    xyz = rng.random((5000, 3)) * [40, 40, 20]
    mesh = _mesh(origin)
    state = ModelState(cloud=PointCloud(xyz, origin), mesh=mesh, lods={"full": mesh, "small": _mesh(origin)})
    revision = _Revision(_layers(tmp_path))
    ctx = StageContext(ws=None, scans=[], output_dir=tmp_path / "model", extra={"layers": revision})
    spec, _ = _spec(tmp_path)
    state = label(state, spec.stages[1], ctx)

    compiled = compile_layers(revision.layers)
    expected = label_points(compiled, xyz, origin)
    assert np.array_equal(state.cloud.attrs["element"], expected)
    assert np.array_equal(state.cloud.attrs["phase"], compiled.phase_of(expected))
    assert np.array_equal(state.cloud.attrs["material"], compiled.material_of(expected))
    assert set(np.unique(expected)) == {-1, 0, 1}  # the corner x > 749020, y > 1821026 above the split: none
    for level in (state.mesh, state.lods["small"]):
        faces = level.face_attrs["element"]
        assert np.array_equal(faces, label_faces(compiled, level, cloud=state.cloud))
        assert list(np.bincount(faces + 1)) == [12, 12, 24]  # 12 triangles a box: outside, lower, upper (two boxes)
        assert np.array_equal(level.vertex_attrs["element"], label_points(compiled, level.vertices, origin))
        assert level.face_attrs["phase"].dtype == np.int32
    labels = state.metrics["labels"]
    assert labels["layers_rev"] == 1 and labels["points_per_element"] == {
        "lower": int((expected == 0).sum()), "upper": int((expected == 1).sum())}
    assert [e["id"] for e in labels["legend"]["elements"]] == ["lower", "upper"]

    # the labels survive the stage cache, and the write stage writes them with the legend
    save_state(state, tmp_path / "state.npz")
    again = load_state(tmp_path / "state.npz")
    assert np.array_equal(again.lods["small"].face_attrs["element"], state.lods["small"].face_attrs["element"])
    write(again, spec.stages[2], ctx)
    las = laspy.read(tmp_path / "model" / "cloud.laz")
    assert np.array_equal(np.asarray(las.element), expected) and np.array_equal(np.asarray(las.phase),
                                                                                 compiled.phase_of(expected))
    from plyfile import PlyData

    ply = PlyData.read(str(tmp_path / "model" / "mesh-small.ply"))
    assert np.array_equal(ply["face"]["element"], state.lods["small"].face_attrs["element"])
    assert np.array_equal(ply["vertex"]["material"], state.lods["small"].vertex_attrs["material"])
    legend = json.loads((tmp_path / "model" / "legend.json").read_text())
    assert [m["aat"] for m in legend["materials"]] == ["http://vocab.getty.edu/aat/300011176",
                                                       "http://vocab.getty.edu/aat/300011914"]
    assert (tmp_path / "model" / "legend.csv").read_text().startswith("attribute,value,id")


def test_label_stage_labels_each_station_when_nothing_was_merged(tmp_path):
    origin = np.array([749000.0, 1821000.0, 0.0])
    stations = {"S1": PointCloud(np.array([[12.0, 22.0, 7.0]]), origin),
                "S2": PointCloud(np.array([[12.0, 22.0, 11.0], [35.0, 35.0, 15.0]]), origin)}
    ctx = StageContext(ws=None, scans=[], extra={"layers": _Revision(_layers(tmp_path))})
    spec, _ = _spec(tmp_path)
    state = label(ModelState(stations=stations), spec.stages[1], ctx)
    assert state.stations["S1"].attrs["element"].tolist() == [0]
    assert state.stations["S2"].attrs["element"].tolist() == [1, -1]
    assert state.stations["S2"].attrs["material"].tolist() == [1, -1]


# -- in the runner -------------------------------------------------------------------------------


def test_without_layers_the_stage_labels_nothing_and_says_so(surveyed, tmp_path):
    spec, source = _spec(tmp_path)
    events = []
    result = run_model(surveyed, "pavilion", "2024", spec, source, on_event=events.append)
    assert result.status == "built"
    assert len(result.warnings) == 1 and "has no layers: nothing was labelled" in result.warnings[0]
    assert "twin layers set pavilion" in result.warnings[0]
    assert any(e["type"] == "warning" and e["stage"] == "label" for e in events)
    folder = Path(result.path)
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["warnings"] == result.warnings and prov["labels"] is None
    assert "element" not in laspy.read(folder / "cloud.laz").point_format.dimension_names
    assert not (folder / "legend.json").exists()


def test_changed_layers_rerun_only_label_and_write(surveyed, tmp_path):
    spec, source = _spec(tmp_path)
    first = run_model(surveyed, "pavilion", "2024", spec, source)
    assert first.warnings

    set_layers(surveyed, "pavilion", _layers(tmp_path, split=9.0))
    events = []
    second = run_model(surveyed, "pavilion", "2024", spec, source, on_event=events.append)
    assert second.status == "built" and _ran(events) == ["label", "write"]
    assert second.stages_cached == 1 and second.stages_run == 2 and second.model_key != first.model_key
    assert second.warnings == []
    las = laspy.read(Path(second.path) / "cloud.laz")
    x, y, z, element = np.asarray(las.x), np.asarray(las.y), np.asarray(las.z), np.asarray(las.element)
    assert {"element", "phase", "material"} <= set(las.point_format.extra_dimension_names)
    corner = (x > 749020) & (y > 1821026)  # above the split, outside both boxes of "upper"
    assert np.all(element[z < 8.99] == 0)
    assert np.all(element[(z > 9.01) & ~corner] == 1) and np.all(element[(z > 9.01) & corner] == -1)
    assert np.all(np.asarray(las.phase)[(z > 9.01) & ~corner] == 1)  # upper: the reconstruction
    prov = json.loads((Path(second.path) / "provenance.json").read_text())
    assert prov["labels"]["layers_rev"] == 1
    assert prov["labels"]["layers_sha256"] == get_layers(surveyed, "pavilion").sha256
    assert {o["role"] for o in prov["outputs"]} == {"cloud", "legend"}

    # unchanged layers: nothing to do; a new revision: label and write again, nothing before
    assert run_model(surveyed, "pavilion", "2024", spec, source).status == "up-to-date"
    set_layers(surveyed, "pavilion", _layers(tmp_path, split=11.0, name="layers-2.yaml"))
    events = []
    third = run_model(surveyed, "pavilion", "2024", spec, source, on_event=events.append)
    assert _ran(events) == ["label", "write"] and third.model_key not in (first.model_key, second.model_key)
    element = np.asarray(laspy.read(Path(third.path) / "cloud.laz").element)
    z = np.asarray(laspy.read(Path(third.path) / "cloud.laz").z)
    assert np.all(element[(z > 9.1) & (z < 10.9)] == 0)  # now below the split
    assert json.loads((Path(third.path) / "provenance.json").read_text())["labels"]["layers_rev"] == 2


def test_twin_process_relabels_after_twin_layers_set(cli, tmp_path):
    ws = tmp_path / "ws"
    cli("init", ws)
    write_las(tmp_path / "S1.laz", n=2000, seed=1)
    cli("ingest", tmp_path / "S1.laz", "--structure", "pavilion", "--survey", "2024", "-w", ws)
    pipeline = tmp_path / "label.yaml"
    pipeline.write_text(PIPELINE)
    first = cli("process", "pavilion", "-p", pipeline, "-w", ws)
    assert first.exit_code == 0 and "warning: pavilion/2024: structure 'pavilion' has no layers" in first.stderr
    assert cli("layers", "set", "pavilion", _layers(tmp_path), "-w", ws).exit_code == 0
    again = cli("process", "pavilion", "-p", pipeline, "-w", ws, "--json")
    assert again.exit_code == 0, again.stderr
    result = json.loads(again.stdout)["succeeded"][0]
    assert (result["stages_run"], result["stages_cached"], result["warnings"]) == (2, 1, [])
