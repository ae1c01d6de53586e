"""A station without a scanner position has its normals oriented by propagation, outward
or inward by chance. FPFH changes when every normal turns over, so the 6-DoF search also
tries the source with its normals reversed (twin.ops.registration.coarse.ransac_hypotheses)."""

from __future__ import annotations

import numpy as np

from twin._deps import open3d
from twin.models.pointcloud import PointCloud
from twin.ops.registration import coarse
from twin.ops.registration.results import rotation_angle_deg, translation
from twin.ops.registration.settings import RegistrationSettings, measure_scale, resolve
from twin.ops.registration.station import level, make_station
from twin.sample.scenes import generate_scene


def _nearest_deg(hypotheses: list[np.ndarray], truth: np.ndarray) -> float:
    return min((rotation_angle_deg(np.linalg.inv(truth) @ h) for h in hypotheses), default=180.0)


def test_a_station_whose_normals_face_inward_is_still_matched():
    scene = generate_scene("statue", 1, points_per_station=20_000)
    plain, both = [], []
    for i, j in ((1, 2), (2, 3)):
        a, b = scene.stations[i], scene.stations[j]
        sa, sb = make_station("a", PointCloud(a.xyz), None), make_station("b", PointCloud(b.xyz), None)
        settings = resolve(RegistrationSettings(), measure_scale([sa.spacing, sb.spacing], [sa.extent, sb.extent]))
        for station in (sa, sb):
            level(station, settings.coarse_voxel)  # oriented toward the scanner, then the scanner forgotten
            station.scanner = None
        inward = level(sb, settings.coarse_voxel)
        inward.normals = open3d().utility.Vector3dVector(-np.asarray(inward.normals))
        true = np.linalg.inv(b.true_pose) @ a.true_pose
        centred = translation(-sb.centre) @ true @ translation(sa.centre)
        plain.append(_nearest_deg(coarse._ransac_runs(sa, sb, settings, 0, flipped=False), centred))
        both.append(_nearest_deg(coarse.ransac_hypotheses(sa, sb, settings, 0), centred))
    # Measured: with the normals as found, the nearest hypotheses lie 15 and 123 degrees
    # off; with the source reversed too, 2.2 and 3.7 degrees (as when both face out), close
    # enough for ICP to settle.
    assert max(plain) > 10.0, plain
    assert max(both) < 5.0, both
