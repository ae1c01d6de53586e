"""What a scanner saw through: the range image and the plan free space used to reject
symmetric and slid twins of the right alignment."""

from __future__ import annotations

import numpy as np

from twin.ops.registration.coarse import plan_free_space
from twin.ops.registration.visibility import angular_step, range_image, seen_through


def _wall_scan(step_deg: float, distance: float = 10.0, doubled: bool = False) -> np.ndarray:
    """A wall at x = distance, 20 m wide and 6 m tall, sampled on a regular angular grid
    from a scanner at the origin; with every point stored twice when ``doubled``."""
    az = np.radians(np.arange(-45.0, 45.0, step_deg))
    el = np.radians(np.arange(-20.0, 20.0, step_deg))
    a, e = np.meshgrid(az, el)
    rays = np.column_stack([np.cos(e.ravel()) * np.cos(a.ravel()), np.cos(e.ravel()) * np.sin(a.ravel()),
                            np.sin(e.ravel())])
    points = rays * (distance / rays[:, 0])[:, None]
    return np.concatenate([points, points]) if doubled else points


def test_the_angular_step_is_the_scanners_even_when_every_point_is_stored_twice():
    for doubled in (False, True):
        step = np.degrees(angular_step(_wall_scan(0.2, doubled=doubled)))
        assert 0.18 < step < 0.23, (doubled, step)


def test_points_in_front_of_the_wall_are_seen_through_and_points_on_or_behind_it_are_not():
    image = range_image(_wall_scan(0.2), np.zeros(3))
    rng = np.random.default_rng(0)
    y, z = rng.uniform(-5, 5, 500), rng.uniform(-2, 2, 500)
    in_front = np.column_stack([np.full(500, 7.0), y, z])
    on_wall = np.column_stack([np.full(500, 10.0), y, z])
    behind = np.column_stack([np.full(500, 13.0), y, z])
    assert seen_through(image, in_front, 0.1, 0.01) == (500, 500)
    assert seen_through(image, on_wall, 0.1, 0.01)[0] == 0
    assert seen_through(image, behind, 0.1, 0.01)[0] == 0
    # Outside the scan window nothing is known.
    assert seen_through(image, -in_front, 0.1, 0.01) == (0, 0)


def test_a_point_beside_a_silhouette_edge_is_not_counted_as_seen_through():
    """A post in front of the wall: points on the post's edge, where a bin holds both the
    post and the wall behind it, are not in front of the nearest return around them."""
    wall = _wall_scan(0.2)
    post = wall[(np.abs(wall[:, 1]) < 0.3)] * np.array([0.5, 0.5, 0.5])  # a 0.3 m wide post at 5 m
    scan = np.concatenate([wall[np.abs(wall[:, 1]) >= 0.3], post])  # the wall behind it is hidden
    image = range_image(scan, np.zeros(3))
    edge = np.column_stack([np.full(50, 5.0), np.full(50, 0.16), np.linspace(-1, 1, 50)])
    assert seen_through(image, edge, 0.1, 0.01)[0] == 0
    # A bin wide of the post is seen through.
    beside = edge + [0.0, 0.3, 0.0]
    assert seen_through(image, beside, 0.1, 0.01)[0] == 50


def test_plan_free_space_lies_between_the_scanner_and_its_walls():
    # A square room 10 m across around the scanner, walls sampled every 5 cm.
    t = np.arange(-5.0, 5.0, 0.05)
    ring = np.concatenate([np.column_stack([t, np.full_like(t, s)]) for s in (-5.0, 5.0)]
                          + [np.column_stack([np.full_like(t, s), t]) for s in (-5.0, 5.0)])
    walls = np.column_stack([ring, np.zeros(len(ring))])
    free = plan_free_space(walls, np.zeros(2), 0.3)
    assert len(free) > 0.8 * (9.0 / 0.3) ** 2
    assert np.abs(free).max() < 5.0 - 0.3  # two cells short of every wall
    assert len(plan_free_space(walls, None, 0.3)) == 0  # no scanner, no free space
