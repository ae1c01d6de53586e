"""A small synthetic structure with two processed surveys and known changes, for the
compare and report tests.

The "pavilion" (site frame, metres; UTM = site + ORIGIN): a floor 8 x 6 m, a hall whose
four walls are 3 m high, and a column outside it. Between survey 2024 and survey 2025:

- the north wall bulges outward (+y) by BULGE at its centre (raised cosine, radius 1 m);
- the column moves COLUMN_SHIFT along +x (it is marked ``stable: false``);
- the whole later survey is off by OFFSET (a registration difference the alignment removes).

Each survey is one georeferenced station; the pipeline estimates normals, meshes (Poisson,
depth 7) and writes the model. Built once per test process (about 10 s), then copied.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tests.conftest import write_las

ORIGIN = np.array([749010.0, 1821020.0, 5.0])
BULGE = 0.030
BULGE_CENTRE = (4.25, 1.5)  # x, z on the north wall (y = 4.5)
COLUMN_SHIFT = 0.025
OFFSET = np.array([0.006, -0.004, 0.003])
NOISE = 0.0015
DENSITY = 500  # points per square metre

PIPELINE = """name: compare-test
stages:
  - stage: register
  - stage: normals
    radius: 0.1
    max_neighbours: 20
  - stage: mesh
    method: poisson
    depth: 7
    density_quantile: 0.02
  - stage: write
    cloud_format: laz
"""


def _rect(rng, p0, u, v) -> np.ndarray:
    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    n = int(DENSITY * np.linalg.norm(u) * np.linalg.norm(v))
    a = rng.random((n, 2))
    return np.asarray(p0, dtype=float) + a[:, :1] * u + a[:, 1:] * v


def scene(seed: int, changed: bool) -> np.ndarray:
    """The pavilion's surfaces, sampled at random with noise (site frame)."""
    rng = np.random.default_rng(seed)
    parts = [
        _rect(rng, (0, 0, 0), (8, 0, 0), (0, 6, 0)),  # floor
        _rect(rng, (2, 1.5, 0), (4.5, 0, 0), (0, 0, 3)),  # wall-south
        _rect(rng, (2, 1.5, 0), (0, 3, 0), (0, 0, 3)),  # wall-west
        _rect(rng, (6.5, 1.5, 0), (0, 3, 0), (0, 0, 3)),  # wall-east
    ]
    north = _rect(rng, (2, 4.5, 0), (4.5, 0, 0), (0, 0, 3))
    if changed:
        r = np.hypot(north[:, 0] - BULGE_CENTRE[0], north[:, 2] - BULGE_CENTRE[1])
        north[:, 1] += np.where(r < 1.0, BULGE * 0.5 * (1 + np.cos(np.pi * r)), 0.0)
    parts.append(north)
    column = np.concatenate([
        _rect(rng, (0.6, 2.8, 0), (0.3, 0, 0), (0, 0, 2.5)),
        _rect(rng, (0.6, 3.1, 0), (0.3, 0, 0), (0, 0, 2.5)),
        _rect(rng, (0.6, 2.8, 0), (0, 0.3, 0), (0, 0, 2.5)),
        _rect(rng, (0.9, 2.8, 0), (0, 0.3, 0), (0, 0, 2.5)),
        _rect(rng, (0.6, 2.8, 2.5), (0.3, 0, 0), (0, 0.3, 0)),
    ])
    if changed:
        column[:, 0] += COLUMN_SHIFT
    parts.append(column)
    xyz = np.concatenate(parts)
    xyz += rng.normal(0.0, NOISE, xyz.shape)
    if changed:
        xyz += OFFSET
    return xyz


def _box(lo, hi) -> str:
    lo = np.asarray(lo, dtype=float) + ORIGIN
    hi = np.asarray(hi, dtype=float) + ORIGIN
    return "{box: {min: [%.3f, %.3f, %.3f], max: [%.3f, %.3f, %.3f]}}" % (*lo, *hi)


def layers_yaml(column_material: str = "ironwood", north_phases: str = "[construction-1805, restoration-1925]") -> str:
    return f"""metadata:
  title: Test pavilion for comparisons
  creator: [Hue Monuments Conservation Centre]
  date: 2025-03
  description: A synthetic pavilion with a bulging wall and a moved column.
  rights: © test
  license: https://creativecommons.org/licenses/by/4.0/
  identifier: HUE-CMP-001
  spatial: Hue Imperial Citadel, Vietnam
crs: EPSG:32648
elements:
  - id: floor
    name: Stone floor
    class: B3_Filled_Morphological_Building_Section
    region: {_box((-0.05, -0.05, -0.05), (8.05, 6.05, 0.04))}
    knowledge: {{status: measured}}
    phases: [construction-1805]
    materials: [stone]
  - id: wall-south
    name: South wall
    class: B2_Morphological_Building_Section
    region: {_box((2.05, 1.4, 0.04), (6.45, 1.6, 3.05))}
    knowledge: {{status: measured}}
  - id: wall-north
    name: North wall
    class: B2_Morphological_Building_Section
    region: {_box((2.05, 4.4, 0.04), (6.45, 4.65, 3.05))}
    knowledge: {{status: measured}}
    phases: {north_phases}
  - id: wall-west
    name: West wall
    class: B2_Morphological_Building_Section
    region: {_box((1.9, 1.4, 0.04), (2.05, 4.6, 3.05))}
    knowledge: {{status: measured}}
  - id: wall-east
    name: East wall
    class: B2_Morphological_Building_Section
    region: {_box((6.45, 1.4, 0.04), (6.6, 4.6, 3.05))}
    knowledge: {{status: measured}}
  - id: walls
    name: Hall walls
    class: B2_Morphological_Building_Section
    region: {{union: [wall-south, wall-north, wall-west, wall-east]}}
    knowledge: {{status: measured}}
    phases: [construction-1805]
    materials: [brick]
  - id: column
    name: Column
    class: B5_Stratigraphic_Building_Unit
    region: {_box((0.5, 2.7, 0.04), (1.0, 3.2, 2.6))}
    knowledge: {{status: measured}}
    stable: false
    phases: [reconstruction-1833]
    materials: [{column_material}]
phases:
  - id: construction-1805
    type: construction
    date: 1805
  - id: reconstruction-1833
    type: reconstruction
    date: 1833~
  - id: restoration-1925
    type: restoration
    date: 1920/1925
materials:
  - id: stone
    label: stone
    aat: http://vocab.getty.edu/aat/300011176
  - id: brick
    label: brick
    aat: http://vocab.getty.edu/aat/300010331
  - id: ironwood
    label: ironwood (lim)
    aat: http://vocab.getty.edu/aat/300011914
  - id: teak
    label: teak
    aat: http://vocab.getty.edu/aat/300012051
"""


def build(root: Path, with_layers: bool = True) -> Path:
    """A workspace at ``root / 'ws'`` with surveys 2024 and 2025 processed (and layers)."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    runner = CliRunner()

    def cli(*args):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result

    ws = root / "ws"
    cli("init", ws)
    for survey, seed, changed in (("2024", 1, False), ("2025", 2, True)):
        folder = root / "scans" / survey
        folder.mkdir(parents=True)
        write_las(folder / "S1.laz", xyz=scene(seed, changed) + ORIGIN, seed=seed)
        cli("ingest", folder, "--structure", "pavilion", "--survey", survey, "-w", ws)
    pipeline = root / "compare-test.yaml"
    pipeline.write_text(PIPELINE)
    cli("process", "pavilion", "-p", pipeline, "-w", ws)
    if with_layers:
        layers = root / "layers.yaml"
        layers.write_text(layers_yaml())
        cli("layers", "set", "pavilion", layers, "-w", ws)
    return ws


@functools.cache
def _built(with_layers: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="twin-compare-ws-"))
    atexit.register(shutil.rmtree, root, True)
    build(root, with_layers)
    return root


def processed_workspace(dest: Path, with_layers: bool = True) -> Path:
    """A fresh copy of the built workspace (and its scans and layer file) under ``dest``."""
    src = _built(with_layers)
    shutil.copytree(src, dest / "built")
    return dest / "built" / "ws"
