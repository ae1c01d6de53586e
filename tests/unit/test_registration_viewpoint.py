"""An object scanned from outside, in its scanner's own frame: registration recognises the
frame's zero as the scanner (twin.ops.viewpoint only does when the points surround it),
so normals face the scanner and visibility conflicts can be measured."""

from __future__ import annotations

import numpy as np

from twin.models.pointcloud import PointCloud
from twin.ops.registration.station import make_station
from twin.ops.viewpoint import faces_frame_zero


def _ball_scan(step_deg: float = 0.05, noise: float = 1e-4) -> np.ndarray:
    """A ball 20 cm across, 1 m in front of a scanner at the origin, sampled on a regular
    angular grid, with range noise (along each beam, as a scanner's)."""
    az = np.radians(np.arange(-8.0, 8.0, step_deg))
    el = np.radians(np.arange(-8.0, 8.0, step_deg))
    a, e = np.meshgrid(az, el)
    rays = np.column_stack([np.cos(e.ravel()) * np.cos(a.ravel()), np.cos(e.ravel()) * np.sin(a.ravel()),
                            np.sin(e.ravel())])
    centre, radius = np.array([1.0, 0.0, 0.02]), 0.1
    b = rays @ centre
    disc = b**2 - (centre @ centre - radius**2)
    hit = disc > 0
    t = b[hit] - np.sqrt(disc[hit]) + np.random.default_rng(0).normal(0.0, noise, int(hit.sum()))
    return rays[hit] * t[:, None]


def test_the_frame_zero_of_an_object_scanned_from_outside_is_its_scanner():
    points = _ball_scan()
    station = make_station("ball", PointCloud(points), None)
    assert station.scanner is not None
    assert np.allclose(station.scanner + station.centre, 0.0)
    # ... also when the file stores every return twice, and in a shifted (LAS offset) frame.
    doubled = make_station("ball", PointCloud(np.concatenate([points, points])), None)
    assert doubled.scanner is not None and np.allclose(doubled.scanner + doubled.centre, 0.0)
    shifted = make_station("ball", PointCloud(points + [0.0, 100.0, 100.0], origin=[0.0, -100.0, -100.0]), None)
    assert shifted.scanner is not None and np.allclose(shifted.scanner + shifted.centre, [0.0, 100.0, 100.0])


def test_a_zero_anywhere_else_is_not_taken_for_the_scanner():
    points = _ball_scan()
    extent = 0.2
    for elsewhere in ([2.0, 0.0, 0.0],  # as far behind the ball
                      [1.0, 1.0, 0.0],  # beside it
                      [1.0, 0.0, 1.0],  # above it
                      [1.0, 0.0, 0.02],  # inside it
                      [-5e5, -4e6, 0.0]):  # a georeferenced frame's far zero
        assert not faces_frame_zero(points, np.asarray(elsewhere)), elsewhere
    # Points resampled evenly in space (not in angle) are no scanner's returns.
    from twin.ops.voxel import voxel_downsample

    thinned = voxel_downsample(PointCloud(points), 0.004).xyz
    assert not faces_frame_zero(thinned, np.zeros(3))



def test_a_building_station_framed_on_its_structure_has_its_scanner_at_its_zero():
    """A generated gate's stations frame the building only (their points do not surround
    the frame's zero in plan). Before, their scanners came from the scan order, up to
    0.88 m too low; seen from the zero their returns lie on one angular grid."""
    from twin.ops.viewpoint import scanner_position
    from twin.sample.scenes import generate_scene

    scene = generate_scene("gate", 1, points_per_station=3000)
    framed = 0
    for st in scene.stations:
        (a0, a1), _ = st.plan.setup.azimuth_window, None
        framed += a1 - a0 < 360.0
        assert np.allclose(scanner_position(st.xyz, np.zeros(3)), 0.0), st.name
        # a georeferenced copy (the zero a continent away) is no scanner's frame
        far = np.array([7.7e5, 1.82e6, 10.0])
        assert not faces_frame_zero(st.xyz + far, np.zeros(3)), st.name
    assert framed >= 2


def test_a_dense_station_is_recognised_from_whole_sectors_of_its_returns(monkeypatch):
    """Beyond ZERO_POINTS returns only some are searched. A strided sample of them lies on
    no angular grid (a generated statue at 2M points a station lost three of its five
    scanners so, then its normals' orientation, and registered 180 degrees off); whole
    azimuth sectors keep the grid."""
    import twin.ops.viewpoint as viewpoint

    points = _ball_scan()
    monkeypatch.setattr(viewpoint, "ZERO_POINTS", len(points) // 4)
    assert faces_frame_zero(points, np.zeros(3))
    assert not faces_frame_zero(points, np.array([2.0, 0.0, 0.0]))
    # what the stride did: every fourth return of the same scan is no scanner's grid
    assert not faces_frame_zero(points[::4], np.zeros(3))
    station = make_station("ball", PointCloud(points), None)
    assert station.scanner is not None and np.allclose(station.scanner + station.centre, 0.0)


def test_an_object_round_its_frame_zero_was_not_scanned_from_there():
    """Scans of an object pre-aligned on a common zero inside it surround that zero in
    plan, as a terrestrial station surrounds its scanner; but their spacing is even on
    the surface, not in angle from the zero. Taken for a scanner inside the object, the
    zero turned every normal inward."""
    from twin.ops.viewpoint import sampled_in_angle, scanner_position

    front = _ball_scan() - np.array([1.0, 0.0, 0.02])  # the ball's centre is the frame's zero
    inside = np.concatenate([front, front * [-1.0, -1.0, 1.0]])  # ... and seen from behind too
    lo, hi = inside.min(axis=0), inside.max(axis=0)
    assert np.all(lo[:2] < 0) and np.all(hi[:2] > 0)  # it surrounds the zero in plan
    assert not sampled_in_angle(inside, np.zeros(3))
    assert scanner_position(inside, np.zeros(3)) is None
    assert make_station("ball", PointCloud(inside), None).scanner is None
    # a building station framed on its scanner is (the generated hall's)
    from twin.sample.scenes import generate_scene

    for st in generate_scene("hall", 0, points_per_station=3000).stations:
        assert sampled_in_angle(st.xyz, np.zeros(3)), st.name
