"""Flights of steps on their own (twin.ops.suggest.stairs): a staircase of known rise and
going is found with its figures; a ramp, a dome of the same height and a single step are
not flights."""

from __future__ import annotations

import numpy as np
import pytest

from twin.ops.suggest.stairs import find_flights

BAND = 0.01
MARGIN = 0.02


def _surface(rng, height, x_range, y_range, density=2500.0):
    """Points over a plan rectangle at ``height(x, y)`` (2 mm noise)."""
    (x0, x1), (y0, y1) = x_range, y_range
    n = int((x1 - x0) * (y1 - y0) * density)
    xy = np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
    return np.column_stack([xy, height(xy[:, 0], xy[:, 1]) + rng.normal(0, 0.002, n)])


def _riser(rng, x, y_range, z_range, density=2500.0):
    (y0, y1), (z0, z1) = y_range, z_range
    n = int((y1 - y0) * (z1 - z0) * density)
    return np.column_stack([np.full(n, x) + rng.normal(0, 0.002, n), rng.uniform(y0, y1, n), rng.uniform(z0, z1, n)])


def _side(rng, y, x_range, z_range, density=2500.0):
    (x0, x1), (z0, z1) = x_range, z_range
    n = int((x1 - x0) * (z1 - z0) * density)
    return np.column_stack([rng.uniform(x0, x1, n), np.full(n, y) + rng.normal(0, 0.002, n), rng.uniform(z0, z1, n)])


def _staircase(rng, count=5, rise=0.17, going=0.3, width=1.6):
    """A flight going up toward +x from x = 0 (treads, risers and the faces of its two
    sides) on a floor at z = 0, up to a landing at count x rise (the top step level with
    it). Also which points the plane search would give the landing's piece: its own, and
    the top step's tread in its plane."""
    parts = [_surface(rng, lambda x, y: np.zeros_like(x), (-2.0, 0.0), (-1.0, width + 1.0))]
    in_landing = [False]
    for k in range(count):
        top = (k + 1) * rise
        parts.append(_surface(rng, lambda x, y, t=top: np.full_like(x, t), (k * going, (k + 1) * going), (0.0, width)))
        in_landing.append(k == count - 1)
        parts.append(_riser(rng, k * going, (0.0, width), (k * rise, top)))
        for y in (0.0, width):
            parts.append(_side(rng, y, (k * going, (k + 1) * going), (0.0, top)))
        in_landing += [False, False, False]
    landing_z = count * rise
    parts.append(_surface(rng, lambda x, y: np.full_like(x, landing_z), (count * going, count * going + 2.0),
                          (-1.0, width + 1.0)))
    in_landing.append(True)
    return np.vstack(parts), np.concatenate([np.full(len(p), f) for p, f in zip(parts, in_landing, strict=True)])


def _find(xyz, landing=None):
    """Flights among the points the large pieces leave: the floor's, and the landing's."""
    held = np.abs(xyz[:, 2]) < 3 * BAND
    if landing is not None:
        held |= landing
    return find_flights(xyz, np.flatnonzero(~held), 0.0, 2.0, MARGIN, BAND)


def test_a_staircase_is_found_with_its_figures():
    rng = np.random.default_rng(5)
    xyz, landing = _staircase(rng)
    flights = _find(xyz, landing)
    assert len(flights) == 1
    f = flights[0]
    assert f.steps == 5
    assert f.rise == pytest.approx(0.17, abs=0.005)
    assert f.going == pytest.approx(0.3, abs=0.03)
    assert f.width == pytest.approx(1.6, abs=0.1)
    assert f.up @ np.array([1.0, 0.0]) > np.cos(np.radians(2.0))
    # the prism holds every tread and riser point, and none of the landing beyond the top step
    inside = np.zeros(len(xyz), dtype=bool)
    inside[f.index] = True
    steps = (xyz[:, 0] > 0.01) & (xyz[:, 0] < 5 * 0.3 - 0.01) & (xyz[:, 1] > 0.01) & (xyz[:, 1] < 1.59)
    assert inside[steps].mean() > 0.99
    assert not inside[xyz[:, 0] > 5 * 0.3 + 0.1].any()


def test_a_ramp_a_dome_and_a_single_step_are_not_flights():
    rng = np.random.default_rng(6)
    floor = _surface(rng, lambda x, y: np.zeros_like(x), (-2.0, 4.0), (-2.0, 4.0), 1000.0)
    ramp = _surface(rng, lambda x, y: 0.85 * x / 3.0, (0.0, 3.0), (0.0, 1.6))
    assert _find(np.vstack([floor, ramp])) == []
    dome = _surface(rng, lambda x, y: np.clip(0.85 - 0.5 * ((x - 1) ** 2 + (y - 1) ** 2), 0.0, None), (0.0, 2.0), (0.0, 2.0))
    assert _find(np.vstack([floor, dome])) == []
    assert _find(*_staircase(rng, count=1)) == []
