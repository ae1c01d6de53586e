"""A small figure (20-40 cm) on a plinth, for close-range scanning from every side.

The body is a stack of overlapping solids (hips, torso, neck, head as wobbled
ellipsoids; legs and arms as tapered capsules): ray casting sees only their outer
envelope, so they need no boolean union. One arm is raised, the other hangs, the head
turns and the torso leans, so no mirror or turn maps the figure onto itself.
"""

from __future__ import annotations

import numpy as np

from twin.sample.geometry import box
from twin.sample.scenes.shapes import capsule, ellipsoid, rotation
from twin.sample.scenes.site import SceneBuilder, Site, Spot, chain


def statue(rng: np.random.Generator, lrng: np.random.Generator, n: int) -> Site:
    h = rng.uniform(0.20, 0.40)  # total height, plinth and raised hand included
    s = h / 0.30  # proportions below are for a 30 cm figure
    pw, pd, ph = s * rng.uniform(0.09, 0.12), s * rng.uniform(0.07, 0.10), s * rng.uniform(0.025, 0.04)
    b = SceneBuilder()
    b.part("plinth", "platform", "stone", box((-pw / 2, -pd / 2, 0.0), (pw / 2, pd / 2, ph)))
    lean = rotation(rng.normal(size=3), np.radians(rng.uniform(4, 12)))
    hip = np.array([rng.uniform(-0.005, 0.005) * s, 0.0, ph + 0.11 * s])
    up = lean @ np.array([0.0, 0.0, 1.0])
    chest = hip + up * 0.07 * s
    neck = chest + up * 0.045 * s
    head = neck + up * 0.03 * s + rng.normal(0, 0.003 * s, 3)
    stance = rng.uniform(0.012, 0.02) * s
    feet = [
        np.array([-stance, rng.uniform(-0.01, 0.01) * s, ph + 0.008 * s]),
        np.array([stance, rng.uniform(-0.01, 0.01) * s, ph + 0.008 * s]),
    ]
    body = [
        ellipsoid(hip, s * np.array([0.03, 0.022, 0.025]), lean, rng, 0.04),
        ellipsoid(
            chest,
            s * np.array([0.034, 0.021, 0.04]) * rng.uniform(0.9, 1.1, 3),
            lean @ rotation([0, 0, 1], rng.uniform(-0.3, 0.3)),
            rng,
            0.05,
        ),
        capsule(chest + up * 0.03 * s, neck + up * 0.01 * s, 0.009 * s, 0.008 * s, 16, 4),
        *[
            capsule(hip + np.array([np.sign(f[0]) * 0.014 * s, 0, -0.01 * s]), f, 0.014 * s, 0.008 * s, 20, 5)
            for f in feet
        ],
        *[ellipsoid(f + [0, 0.01 * s, -0.004 * s], s * np.array([0.01, 0.02, 0.007]), np.eye(3)) for f in feet],
    ]
    b.part("body", "stele", "stele", *body)
    b.part("head", "stele", "stele", ellipsoid(head, s * np.array([0.017, 0.02, 0.023]) * rng.uniform(0.9, 1.1, 3),
                                               rotation([0, 0, 1], rng.uniform(-0.6, 0.6)), rng, 0.06))  # fmt: skip
    side = rng.choice([-1.0, 1.0])
    shoulder = chest + lean @ np.array([side * 0.036 * s, 0.0, 0.028 * s])
    raised = shoulder + s * np.array(
        [side * rng.uniform(0.02, 0.04), rng.uniform(-0.03, 0.01), rng.uniform(0.045, 0.06)]
    )
    hand = raised + s * np.array(
        [side * rng.uniform(-0.01, 0.02), rng.uniform(-0.035, -0.015), rng.uniform(0.02, 0.04)]
    )
    other = chest + lean @ np.array([-side * 0.036 * s, 0.0, 0.028 * s])
    hang = other + s * np.array([-side * 0.012, rng.uniform(-0.01, 0.02), -0.06])
    b.part("arms", "stele", "stele",
           capsule(shoulder, raised, 0.009 * s, 0.007 * s, 16, 4), capsule(raised, hand, 0.007 * s, 0.006 * s, 16, 4),
           ellipsoid(hand, s * np.array([0.007, 0.009, 0.006]), lean),
           capsule(other, hang, 0.009 * s, 0.007 * s, 16, 4),
           capsule(hang, hang + s * np.array([0.008, -0.03, -0.01]), 0.007 * s, 0.006 * s, 16, 4))  # fmt: skip
    mesh = b.build()
    mesh.vertices *= h / mesh.vertices[:, 2].max()  # the raised hand included: the figure is h tall
    centre = (mesh.vertices.min(axis=0) + mesh.vertices.max(axis=0)) / 2
    # stations on a spiral round the figure from below it to above it, each 35-55° round
    # from the last (so consecutive patches overlap); a full turn takes about eight
    az = lrng.uniform(0, 2 * np.pi) + lrng.choice([-1, 1]) * np.cumsum(np.r_[0.0, lrng.uniform(0.6, 0.95, n - 1)])
    el = np.radians(np.linspace(-55.0, 60.0, n) + lrng.uniform(-8, 8, n)) if n > 1 else np.zeros(1)
    d = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1)
    r = np.linalg.norm(mesh.vertices - centre, axis=1).max()
    dist = r + lrng.uniform(0.25, 0.6, n)
    spots = [Spot(centre + dd * ds) for dd, ds in zip(d, dist, strict=True)]
    params = {"height": h, "plinth": [pw, pd, ph], "raised_arm": "right" if side > 0 else "left"}
    return Site(mesh, spots, chain(n, closed=False), params, None)
