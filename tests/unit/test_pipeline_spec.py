"""Pipeline files: the bundled ones validate, and every kind of mistake is refused with the place named."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from twin.errors import SpecError
from twin.models.schemas import MODELS, SCHEMA_DIR, render
from twin.pipeline.spec import bundled_pipelines, canonical_params, load_pipeline


@pytest.mark.parametrize("name", ["default", "preview", "high-detail"])
def test_bundled_pipelines_validate(name):
    spec, path = load_pipeline(name)
    assert spec.name == name and spec.stages[-1].stage == "write"
    schema = (SCHEMA_DIR / "pipeline.schema.json").read_text()
    jsonschema.validate(yaml.safe_load(path.read_text()), __import__("json").loads(schema))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_schemas_do_not_drift(name):
    assert (SCHEMA_DIR / name).read_text() == render(MODELS[name]), "run: python -m twin.models.schemas"


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nstages:\n  - stage: sharpen\n", "stages[0] (sharpen) unknown stage 'sharpen'"),
        ("name: x\nstages:\n  - stage: voxel_downsample\n    voxel_size: -0.01\n  - stage: write\n",
         "stages[0] (voxel_downsample) voxel_size: Input should be greater than 0"),
        ("name: x\nstages:\n  - stage: flag_outliers\n    std_ratoi: 2\n  - stage: write\n",
         "stages[0] (flag_outliers) unknown parameter 'std_ratoi'"),
        ("name: x\nstages:\n  - stage: register\n  - stage: mesh\n    depth: 30\n  - stage: write\n",
         "stages[1] (mesh) depth: Input should be less than or equal to 14"),
        ("name: x\nstages:\n  - stage: flag_outliers\n    neighbours: many\n  - stage: write\n",
         "stages[0] (flag_outliers) neighbours: Input should be a valid integer"),
        ("name: x\nstages:\n  - stage: normals\n    radius: 0\n  - stage: write\n",
         "stages[0] (normals) radius: Input should be greater than 0"),
        ("name: x\nstages:\n  - stage: voxel_downsample\n    voxel_size: 11\n  - stage: write\n",
         "stages[0] (voxel_downsample) voxel_size: Input should be less than or equal to 10"),
        ("name: x\nstages:\n  - stage: normals\n    radius: Auto\n  - stage: write\n",
         "stages[0] (normals) radius: Input should be a number or 'auto'"),
        ("name: x\nstages:\n  - stage: register\n  - stage: mesh\n    depth: 10.5\n  - stage: write\n",
         "stages[1] (mesh) depth: Input should be a valid integer, got a number with a fractional part"),
        ("name: x\nstages:\n  - stage: register\n  - stage: mesh\n    method: ball_pivoting\n    radii: [0.1, -1]\n"
         "  - stage: write\n", "stages[1] (mesh) radii: Input should be greater than 0"),
        ("name: x\nstages:\n  - stage: mesh\n  - stage: write\n", "stages[0] (mesh) needs a register stage"),
        ("name: x\nstages:\n  - stage: register\n", "a pipeline ends with a write stage"),
        ("name: x\nstages: [\n", "not valid YAML"),
        ("- just\n- a list\n", "a pipeline is a mapping"),
        ("name: x\ncolour: red\nstages:\n  - stage: write\n", "unknown parameter 'colour'"),
    ],
)
def test_bad_pipelines_are_refused_with_place_and_reason(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_pipeline(path)
    assert str(info.value).startswith(path) and message in str(info.value)


def test_unknown_pipeline_name():
    with pytest.raises(SpecError, match="unknown pipeline 'fancy'.*default"):
        load_pipeline("fancy")


def test_canonical_params_fill_defaults(tmp_path):
    a, _ = load_pipeline(_write(tmp_path, "name: x\nstages:\n  - stage: normals\n  - stage: write\n"))
    (tmp_path / "b.yaml").write_text("name: y\nstages:\n  - stage: normals\n    radius: auto\n  - stage: write\n")
    b, _ = load_pipeline(str(tmp_path / "b.yaml"))
    assert canonical_params(a.stages[0]) == canonical_params(b.stages[0])


def test_bundled_folder_exists():
    assert sorted(p.stem for p in bundled_pipelines().glob("*.yaml")) == ["default", "high-detail", "preview"]


AUTO_LENGTHS = {
    "flag_outliers": ("radius",),
    "voxel_downsample": ("voxel_size",),
    "normals": ("radius",),
    "mesh": ("depth", "max_distance", "radii"),
}


def test_lengths_default_to_auto_and_take_numbers(tmp_path):
    """Every length a stage needs is auto unless given; a number given is kept as given."""
    text = ("name: x\nstages:\n  - stage: flag_outliers\n    method: radius\n  - stage: voxel_downsample\n"
            "  - stage: normals\n  - stage: register\n  - stage: mesh\n  - stage: write\n")
    spec, _ = load_pipeline(_write(tmp_path, text))
    for stage in spec.stages:
        for name in AUTO_LENGTHS.get(stage.stage, ()):
            assert getattr(stage, name) == "auto", (stage.stage, name)
    explicit = ("name: x\nstages:\n  - stage: flag_outliers\n    method: radius\n    radius: 0.03\n"
                "  - stage: voxel_downsample\n    voxel_size: 0.01\n  - stage: normals\n    radius: 0.05\n"
                "  - stage: register\n  - stage: mesh\n    depth: 11\n    max_distance: 0.04\n    radii: [0.02, 0.04]\n"
                "  - stage: write\n")
    spec, _ = load_pipeline(_write(tmp_path, explicit))
    got = {s.stage: {n: getattr(s, n) for n in AUTO_LENGTHS.get(s.stage, ())} for s in spec.stages}
    assert got["flag_outliers"] == {"radius": 0.03} and got["voxel_downsample"] == {"voxel_size": 0.01}
    assert got["normals"] == {"radius": 0.05}
    assert got["mesh"] == {"depth": 11, "max_distance": 0.04, "radii": [0.02, 0.04]}


def test_null_where_null_meant_from_the_data_reads_as_auto(tmp_path):
    text = ("name: x\nstages:\n  - stage: flag_outliers\n    method: radius\n    radius: null\n  - stage: register\n"
            "  - stage: mesh\n    max_distance: null\n    radii: null\n  - stage: write\n")
    spec, _ = load_pipeline(_write(tmp_path, text))
    assert spec.stages[0].radius == "auto" and spec.stages[2].max_distance == "auto" and spec.stages[2].radii == "auto"


@pytest.mark.parametrize("name", ["default", "preview", "high-detail"])
def test_bundled_pipelines_fix_no_length_outside_registration(name):
    """The bundled pipelines leave every length but registration's to the data."""
    spec, _ = load_pipeline(name)
    for stage in spec.stages:
        for field in AUTO_LENGTHS.get(stage.stage, ()):
            if stage.stage == "flag_outliers" and stage.method != "radius":
                continue
            assert getattr(stage, field) == "auto", (name, stage.stage, field)
