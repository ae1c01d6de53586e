"""Registration of the sample pavilion's stations against its ground truth.

Every station starts in its own frame (S1 in UTM, the others in their scanners'
frames) with no initial guess; the target is the issue's: under 0.05° and 5 mm for
every station. The position error is measured at the station's centroid, where its
points are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.io.registry import read_scan
from twin.ops.registration import register_stations, rotation_angle_deg
from twin.sample.truth import load_truth

SAMPLE = Path(__file__).resolve().parents[2] / "sample_scans" / "pavilion"


def _local_to_utm(pose: np.ndarray, origin: np.ndarray) -> np.ndarray:
    shift = np.eye(4)
    shift[:3, 3] = origin
    return pose @ shift


@pytest.mark.slow
def test_sample_survey_registers_within_the_target_without_initial_guess():
    truth = load_truth(SAMPLE / "truth" / "ground_truth.json")
    stations = truth.survey("survey-2024").stations
    clouds = [read_scan(truth.path(st.file)) for st in stations]
    result = register_stations(clouds, names=[st.name for st in stations])
    to_utm = [_local_to_utm(st.pose_matrix(), c.origin) for st, c in zip(stations, clouds, strict=True)]
    for k, pose in enumerate(result.stations):
        true = np.linalg.inv(to_utm[result.reference]) @ to_utm[k]
        centroid = clouds[k].xyz.mean(axis=0)
        rotation = rotation_angle_deg(np.linalg.inv(true) @ pose.transform)
        position = np.linalg.norm(pose.transform[:3, :3] @ centroid + pose.transform[:3, 3]
                                  - true[:3, :3] @ centroid - true[:3, 3])
        assert rotation < 0.05, (pose.name, rotation)
        assert position < 0.005, (pose.name, position)
        # every scanner position is known: from the scanner frames, and S1's from its scan order
        scanner_utm = to_utm[k][:3, :3] @ pose.scanner + to_utm[k][:3, 3]
        assert np.linalg.norm(scanner_utm - np.asarray(stations[k].position_utm)) < 0.03, pose.name
