"""The synthetic sample pavilion: scans from several stations in two surveys, with ground truth.

``python -m twin.sample --out sample_scans`` regenerates the committed sample. Public API:

- ``generate(out, ...)``: write scans, true meshes and ``ground_truth.json``; returns the truth.
- ``load_truth(path)``: read and validate ``ground_truth.json`` (``GroundTruth``).
- ``load_truth_mesh(truth, survey_id)``: the true mesh of a survey (``TruthMesh``: local
  vertices, triangles, element index per face; ``distance``/``closest`` for UTM points).
- ``label_points_by_truth(points_utm, truth, survey_id)``: element id of each point from the
  true mesh; ``label_points_by_region(points_utm, truth)``: the same from the element regions.
- ``true_displacement(points_utm, truth, survey_id)``: the true change at reference points.
- ``write_layers(truth, path=None)``: the pavilion's layer file (``layers.yaml``: elements,
  phases, materials, metadata) from the truth's element regions; ``pavilion_layers(truth)``
  gives its content.
- ``build_pavilion()``, ``MeshScene``, ``scan(...)``: the scene and the scanner, for tests
  that want the simulation without files.

Sites of several pavilion-like buildings in one survey (``twin sample --buildings N``)
are ``twin.sample.sites``; generated scenes for registration are ``twin.sample.scenes``.
"""

from twin.sample.deform import Bulge, Lean, apply_deformations, default_deformations, displacement_field
from twin.sample.generate import DEFAULT_POINTS_PER_STATION, DEFAULT_SEED, DEFAULT_STATIONS, SURVEYS, generate
from twin.sample.geometry import LabelledMesh, SiteSpec, build_pavilion
from twin.sample.layers import LAYERS_FILE, layers_yaml, pavilion_layers, write_layers
from twin.sample.scanner import MeshScene, ScannerModel, StationSetup, scan
from twin.sample.truth import (
    GroundTruth,
    TruthMesh,
    label_points_by_region,
    label_points_by_truth,
    load_truth,
    load_truth_mesh,
    read_truth_mesh,
    true_displacement,
)

__all__ = [
    "DEFAULT_POINTS_PER_STATION",
    "DEFAULT_SEED",
    "DEFAULT_STATIONS",
    "LAYERS_FILE",
    "SURVEYS",
    "Bulge",
    "GroundTruth",
    "LabelledMesh",
    "Lean",
    "MeshScene",
    "ScannerModel",
    "SiteSpec",
    "StationSetup",
    "TruthMesh",
    "apply_deformations",
    "build_pavilion",
    "default_deformations",
    "displacement_field",
    "generate",
    "label_points_by_region",
    "label_points_by_truth",
    "layers_yaml",
    "load_truth",
    "load_truth_mesh",
    "pavilion_layers",
    "read_truth_mesh",
    "scan",
    "true_displacement",
    "write_layers",
]
