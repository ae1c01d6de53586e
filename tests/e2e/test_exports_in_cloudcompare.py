"""The labelled exports as CloudCompare reads them (issue 15, point 3).

CloudCompare's command line (Debian's ``cloudcompare``, installed by ``./run test`` as
root; Qt's offscreen platform) opens a twin export and saves what it loaded as ASCII with
a header line naming every column::

    CloudCompare -SILENT -AUTO_SAVE OFF -NO_TIMESTAMP -O -GLOBAL_SHIFT AUTO cloud.ply
                 [-EXTRACT_VERTICES] -C_EXPORT_FMT ASC -ADD_HEADER -PREC 6 -SEP SPACE -SAVE_CLOUDS FILE out.asc

and the columns are compared, point by point, with what twin wrote and with what the
labelling gave: the element, phase and material of every point come back as CloudCompare
scalar fields, unchanged, at their georeferenced coordinates (to 0.1 mm). CloudCompare 2.11
loads only PLY vertex properties named ``scalar_*``; before the export named them so, it
kept X Y Z R G B and dropped the labels, and the coordinates came back without their origin.

LAS: Debian's CloudCompare 2.11 is built without its LAS plugin (no PDAL, no libLAS): it
opens neither LAZ nor plain LAS ("unhandled file extension"). The LAS test writes a plain
.las with the export's writer and skips, saying why, where CloudCompare cannot read it;
with a CloudCompare that can, it compares the extra-byte scalar fields the same way. The
LAS records themselves are checked byte by byte against the LAS 1.4 layout in
``tests/unit/test_export_labelled.py``.

The workspace is the small processed one of ``tests/cli/test_cli_export.py``, exported once
for the Blender and QGIS tests too (``tests/e2e/consumers.py``: a few seconds). Without
CloudCompare the tests are skipped, and fail under ``CI=true``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_cli_export import ORIGIN
from tests.e2e.consumers import needed, offscreen_env

CLOUDCOMPARE = shutil.which("CloudCompare") or shutil.which("cloudcompare")


@pytest.fixture(scope="module")
def exported(request):
    """(export folder, model cloud, compiled layers, crs): the small export of pavilion/2024."""
    from twin.catalog.layers import get_layers
    from twin.catalog.models import latest_model, model_crs
    from twin.catalog.workspace import Workspace
    from twin.io.registry import read_scan
    from twin.ops.labelling import compile_layers

    if CLOUDCOMPARE is None:
        needed("CloudCompare's command line is not installed (apt-get install cloudcompare)", "the CloudCompare test")
    small = request.getfixturevalue("small_exported")
    ws = Workspace.open(small.workspace)
    model = latest_model(ws, "pavilion", "2024")
    return small.folder, read_scan(model.cloud), compile_layers(get_layers(ws, "pavilion").layers), model_crs(ws, model)


def cloudcompare_asc(source: Path, out: Path, *, mesh: bool = False) -> dict[str, np.ndarray]:
    """Open ``source`` in CloudCompare, save what it loaded as ASCII with a header; the columns by name."""
    env = offscreen_env(out.parent)
    args = [CLOUDCOMPARE, "-SILENT", "-AUTO_SAVE", "OFF", "-NO_TIMESTAMP", "-O", "-GLOBAL_SHIFT", "AUTO", str(source),
            *(["-EXTRACT_VERTICES"] if mesh else []),
            "-C_EXPORT_FMT", "ASC", "-ADD_HEADER", "-PREC", "6", "-SEP", "SPACE", "-SAVE_CLOUDS", "FILE", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=out.parent, env=env)
    log = done.stdout + done.stderr
    if "unhandled file extension" in log:
        said = next(line for line in log.splitlines() if "unhandled file extension" in line).strip()
        pytest.skip(f"this CloudCompare cannot open {source.suffix} files (Debian's 2.11 has no LAS plugin): {said}")
    assert done.returncode == 0 and out.is_file(), log
    header = out.read_text().splitlines()[0]
    assert header.startswith("//"), header
    names = header[2:].split()
    values = np.loadtxt(out, skiprows=1, ndmin=2)
    assert values.shape[1] == len(names), (names, values.shape)
    return {name: values[:, i] for i, name in enumerate(names)}


def test_cloudcompare_loads_the_cloud_plys_labels_as_scalar_fields(exported, tmp_path):
    from plyfile import PlyData

    from twin.ops.labelling import label_points

    folder, cloud, compiled, _ = exported
    path = folder / "pavilion-2024-cloud.ply"
    columns = cloudcompare_asc(path, tmp_path / "cloud.asc")
    assert {"X", "Y", "Z", "R", "G", "B", "element", "phase", "material", "intensity"} <= set(columns)
    written = PlyData.read(str(path))["vertex"].data
    assert len(columns["X"]) == len(written) == len(cloud)
    # the same points, in the same order, at their georeferenced coordinates
    xyz = np.column_stack([columns["X"], columns["Y"], columns["Z"]])
    assert np.abs(xyz - cloud.world_xyz).max() < 1e-4
    assert xyz[:, 0].min() > ORIGIN[0]  # the origin came with them
    # labels: what twin wrote, and what the labelling gives for these points
    expected = label_points(compiled, cloud.xyz, cloud.origin)
    for name, truth in (("element", expected), ("phase", compiled.phase_of(expected)),
                        ("material", compiled.material_of(expected))):
        assert np.array_equal(columns[name].astype(int), written[f"scalar_{name}"]), name
        assert np.array_equal(columns[name].astype(int), truth), name
    element = columns["element"].astype(int)
    assert set(np.unique(element)) == {compiled.element_index("platform"), compiled.element_index("stele")}
    stele = xyz[:, 0] > ORIGIN[0] + 15.5
    assert np.all(element[stele] == compiled.element_index("stele"))
    assert np.all(element[xyz[:, 0] < ORIGIN[0] + 14.5] == compiled.element_index("platform"))


def test_cloudcompare_loads_the_mesh_vertices_labels(exported, tmp_path):
    from plyfile import PlyData

    folder, _, compiled, _ = exported
    path = folder / "pavilion-2024-mesh-small.ply"
    columns = cloudcompare_asc(path, tmp_path / "mesh.asc", mesh=True)
    vertex = PlyData.read(str(path))["vertex"].data
    assert len(columns["X"]) == len(vertex)
    xyz = np.column_stack([columns["X"], columns["Y"], columns["Z"]])
    assert np.abs(xyz - np.column_stack([vertex["x"], vertex["y"], vertex["z"]])).max() < 1e-4
    for name in ("element", "phase", "material"):
        assert np.array_equal(columns[name].astype(int), vertex[f"scalar_{name}"]), name
    assert {"R", "G", "B"} <= set(columns)  # the scans' colours on the mesh


def test_cloudcompare_loads_the_las_extra_bytes_as_scalar_fields(exported, tmp_path):
    """Plain LAS from the export's writer; skipped where this CloudCompare has no LAS reader."""
    from twin.export.labelled import write_labelled_cloud
    from twin.ops.labelling import label_points

    _, cloud, compiled, crs = exported
    path = write_labelled_cloud(cloud, compiled, tmp_path / "cloud.las", crs=crs)
    columns = cloudcompare_asc(path, tmp_path / "las.asc")
    expected = label_points(compiled, cloud.xyz, cloud.origin)
    xyz = np.column_stack([columns["X"], columns["Y"], columns["Z"]])
    assert np.abs(xyz - cloud.world_xyz).max() < 1e-3
    assert np.array_equal(columns["element"].astype(int), expected)
    assert np.array_equal(columns["phase"].astype(int), compiled.phase_of(expected))
