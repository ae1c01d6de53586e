"""Four buildings unlike the pavilion, each with its own trap for registration.

- gate: a masonry base with an arched passage under a timber pavilion (columns, a small
  closed room, a hipped roof), a flight of steps up the back, on sloping ground; one
  station stands on the upper floor.
- hall: a long hall behind a colonnade of identical, evenly spaced columns (a repetition
  trap), on a plinth with a flight of steps.
- tower: a tall square or octagonal tower with storey cornices (nearly symmetric: a
  symmetry trap) made decidable by a door, a small annex and window surrounds placed
  differently on every face, on uneven ground.
- courtyard: a walled courtyard with a gate opening, a small building and a well inside;
  stations outside and inside, linked only through the opening.

Site frame, metres, z up; every dimension is drawn from the generator passed in.
"""

from __future__ import annotations

import numpy as np

from twin.sample.geometry import box, cylinder, quad, staircase
from twin.sample.scenes.shapes import (
    Ground,
    _face_toward,
    arch_profile,
    arched_block,
    ground_function,
    hipped_roof,
    prism,
    pyramid,
    regular_polygon,
    terrain,
)
from twin.sample.scenes.site import SceneBuilder, Site, Spot, chain, ring_chain, ring_spots

GROUND_MARGIN = 14.0  # m of ground beyond the outermost station


def _lowest(ground: Ground, x: tuple[float, float], y: tuple[float, float]) -> float:
    xx, yy = np.meshgrid(np.linspace(*x, 12), np.linspace(*y, 12))
    return float(ground(xx, yy).min())


def _add_ground(b: SceneBuilder, ground: Ground, spots: list[Spot], structure: np.ndarray) -> None:
    pts = np.vstack([structure[:, :2], *[s.xyz[None, :2] for s in spots]])
    lo, hi = pts.min(axis=0) - GROUND_MARGIN, pts.max(axis=0) + GROUND_MARGIN
    b.part("ground", "ground", "paving", terrain(ground, (lo[0], hi[0]), (lo[1], hi[1]), 1.5))


def _finish(b: SceneBuilder, ground: Ground, spots: list[Spot], neighbours, params: dict, weak=()) -> Site:
    structure = np.concatenate(b.vertices)
    _add_ground(b, ground, spots, structure)
    return Site(b.build(), spots, neighbours, params, ground, list(weak))


def gate(rng: np.random.Generator, lrng: np.random.Generator, n: int) -> Site:
    W, D, H = rng.uniform(10, 16), rng.uniform(6.5, 9), rng.uniform(4, 6)
    pw, px, spring = rng.uniform(2.6, 3.6), rng.uniform(-1.0, 1.0), rng.uniform(2.2, 2.9)
    ground = ground_function(rng, rng.uniform(0.02, 0.06), 0.15)
    count = int(round(H / 0.18))
    run, sw = count * 0.3, rng.uniform(1.4, 2.0)
    x0, x1, y0, y1 = -W / 2, W / 2, -D / 2, D / 2
    zb = _lowest(ground, (x0, x1), (y0, y1 + run)) - 0.6
    b = SceneBuilder()
    b.part(
        "base",
        "platform",
        "stone",
        arched_block(
            (x0, x1), (y0, y1), (zb, H), arch_profile(px - pw / 2, px + pw / 2, spring, int(rng.integers(8, 13)))
        ),
    )
    sx = x1 - 0.6 - sw if rng.random() < 0.5 else x0 + 0.6
    v, t = staircase(-sx - sw, -sx, -y1, count, H / count, 0.3, zb)  # built descending toward -y ...
    b.part("steps", "steps", "stone", (v * [-1, -1, 1], t))  # ... turned half round to descend the back

    ci, cr, hc = rng.uniform(0.5, 0.9), rng.uniform(0.14, 0.2), rng.uniform(3.0, 3.6)
    xs = np.linspace(x0 + ci, x1 - ci, int(rng.integers(4, 6)))
    ys = np.linspace(y0 + ci, y1 - ci, int(rng.integers(2, 4)))
    cols = [(x, y) for x in xs for y in ys if x in (xs[0], xs[-1]) or y in (ys[0], ys[-1])]
    b.part("columns", "column", "timber", *[cylinder(x, y, cr, H - 0.05, H + hc + 0.05, 24) for x, y in cols])
    ver = rng.uniform(1.6, 2.0)
    cx, cy = (
        (xs[0] + ver, xs[-1] - ver),
        (ys[0] + min(ver, (ys[-1] - ys[0]) / 2 - 0.7), ys[-1] - min(ver, (ys[-1] - ys[0]) / 2 - 0.7)),
    )
    b.part("room", "wall", "plaster", box((cx[0], cy[0], H), (cx[1], cy[1], H + hc), skip=("-z", "+z")))
    b.part(
        "door", "door", "door", box((cx[0] + 0.4, cy[0] - 0.05, H), (cx[0] + 1.4, cy[0], H + 2.3), skip=("+y", "-z"))
    )
    ov = rng.uniform(0.8, 1.5)
    ex, ey = (xs[0] - ov, xs[-1] + ov), (ys[0] - ov, ys[-1] + ov)
    depth = ey[1] - ey[0]
    ridge = H + hc + depth / 2 * np.tan(np.radians(rng.uniform(25, 38)))
    b.part("roof", "roof", "tile", hipped_roof(ex, ey, H + hc, ridge, min(depth / 2, (ex[1] - ex[0]) / 2 - 0.5)))

    gap = np.argsort(np.abs(xs[:-1] + xs[1:]))[0]  # the bay nearest the middle
    upper = Spot(
        np.array([(xs[gap] + xs[gap + 1]) / 2 + lrng.uniform(-0.3, 0.3), ys[0] + lrng.uniform(0.5, 0.8), H]),
        full_dome=True,
    )
    ring = ring_spots(lrng, ground, (0.0, (y0 + y1 + run) / 2), (W / 2, (D + run) / 2), n - 1, (7.0, 12.0))
    spots = [*ring, upper]
    near = int(np.argmin([np.linalg.norm(s.xyz[:2] - upper.xyz[:2]) for s in ring])) if ring else 0
    neighbours = ring_chain(len(ring)) + ([(near, len(ring))] if ring else [])
    params = {"width": W, "depth": D, "base_height": H, "passage_width": pw, "springing": spring, "columns": len(cols),
              "column_height": hc, "ridge": ridge, "steps": count}  # fmt: skip
    return _finish(b, ground, spots, neighbours, params, neighbours[-1:] if ring else [])


def hall(rng: np.random.Generator, lrng: np.random.Generator, n: int) -> Site:
    L, Dp, hp = rng.uniform(22, 34), rng.uniform(10, 14), rng.uniform(0.6, 1.2)
    ground = ground_function(rng, rng.uniform(0.0, 0.01), 0.05)
    count = max(3, int(round(hp / 0.16)))
    run = count * 0.32
    zb = _lowest(ground, (-L / 2, L / 2), (-Dp / 2 - run, Dp / 2)) - 0.5
    b = SceneBuilder()
    b.part("plinth", "platform", "stone", box((-L / 2, -Dp / 2, zb), (L / 2, Dp / 2, hp), skip=("-z",)))
    fw = L * rng.uniform(0.3, 0.7)
    sx = rng.uniform(-1, 1) * (L - fw) / 4
    b.part("steps", "steps", "stone", staircase(sx - fw / 2, sx + fw / 2, -Dp / 2, count, hp / count, 0.32, zb))

    nc, r, hc = int(rng.integers(8, 17)), rng.uniform(0.22, 0.35), rng.uniform(4.0, 6.0)
    cy = -Dp / 2 + rng.uniform(1.0, 1.6)
    xs = np.linspace(-L / 2 + 1.2, L / 2 - 1.2, nc)
    shafts = [cylinder(x, cy, r, hp + 0.25, hp + hc + 0.05, 24) for x in xs]
    bases = [box((x - 1.3 * r, cy - 1.3 * r, hp), (x + 1.3 * r, cy + 1.3 * r, hp + 0.3), skip=("-z",)) for x in xs]
    b.part("colonnade", "column", "timber", *shafts)
    b.part("column-bases", "column", "stone", *bases)
    wx = (-L / 2 + 1.2 + rng.uniform(0.3, 1.0), L / 2 - 1.2 - rng.uniform(0.3, 1.0))
    wy = (cy + rng.uniform(2.5, 3.5), Dp / 2 - rng.uniform(0.6, 1.2))
    b.part("walls", "wall", "plaster", box((wx[0], wy[0], hp), (wx[1], wy[1], hp + hc), skip=("-z", "+z")))
    mids = (xs[:-1] + xs[1:]) / 2
    doors = [box((m - 0.7, wy[0] - 0.06, hp), (m + 0.7, wy[0], hp + 2.8), skip=("-z", "+y")) for m in mids[::2]]
    b.part("doors", "door", "door", *doors)
    ov = rng.uniform(0.6, 1.0)
    ex, ey = (-L / 2 - ov, L / 2 + ov), (cy - r - ov, Dp / 2 + ov)
    depth = ey[1] - ey[0]
    ridge = hp + hc + depth / 2 * np.tan(np.radians(rng.uniform(25, 35)))
    b.part("roof", "roof", "tile", hipped_roof(ex, ey, hp + hc, ridge, depth / 2 * rng.uniform(0.9, 1.1)))

    spots = ring_spots(lrng, ground, (0.0, -run / 2), (L / 2, Dp / 2 + run / 2), n, (9.0, 15.0))
    params = {"length": L, "depth": Dp, "plinth_height": hp, "columns": nc, "column_spacing": float(xs[1] - xs[0]),
              "column_height": hc, "steps": count, "ridge": ridge}  # fmt: skip
    return _finish(b, ground, spots, ring_chain(n), params)


def tower(rng: np.random.Generator, lrng: np.random.Generator, n: int) -> Site:
    sides = int(rng.choice([4, 8]))
    R, Ht, turn = rng.uniform(3, 5), rng.uniform(15, 28), rng.uniform(0, 2 * np.pi / sides)
    ground = ground_function(rng, rng.uniform(0.01, 0.03), rng.uniform(0.4, 0.8), wavelength=12.0)
    zb = _lowest(ground, (-R - 5, R + 5), (-R - 5, R + 5)) - 0.8
    poly = regular_polygon(0.0, 0.0, R, sides, turn)
    b = SceneBuilder()
    b.part("shaft", "wall", "plaster", prism(poly, zb, Ht, top=False))
    storeys = int(rng.integers(3, 6))
    rings = [
        prism(regular_polygon(0, 0, R + 0.25, sides, turn), z - 0.3, z, bottom=True)
        for z in Ht * np.arange(1, storeys + 1) / storeys
    ]
    b.part("cornices", "frame", "stone", *rings)
    b.part(
        "roof", "roof", "tile", pyramid(regular_polygon(0, 0, R + 0.6, sides, turn), Ht, Ht + R * rng.uniform(0.8, 1.6))
    )

    def on_face(k: int, lo, hi, skip=("-z",)) -> tuple[np.ndarray, np.ndarray]:
        """A box in the frame of face k: u along the face, w outward from it, z up."""
        p, q = poly[k], poly[(k + 1) % sides]
        m = (p + q) / 2
        u = (q - p) / np.linalg.norm(q - p)
        w = m / np.linalg.norm(m)
        v, t = box(lo, hi, skip=skip)
        xy = m + v[:, :1] * u + v[:, 1:2] * w
        return np.c_[xy, v[:, 2]], t

    k_door, k_annex = rng.choice(sides, 2, replace=False)
    g = float(ground(*((poly[k_door] + poly[(k_door + 1) % sides]) / 2)))
    b.part("door", "door", "door", on_face(k_door, (-0.7, -0.1, zb), (0.7, 0.22, g + 2.6)))
    aw, ad, ah = rng.uniform(2.5, 4.0), rng.uniform(2.0, 3.5), rng.uniform(2.5, 3.5)
    ga = float(ground(*((poly[k_annex] + poly[(k_annex + 1) % sides]) / 2)))
    b.part("annex", "annex", "plaster", on_face(k_annex, (-aw / 2, -0.1, zb), (aw / 2, ad, ga + ah)))
    p, q = poly[k_annex], poly[(k_annex + 1) % sides]
    m, u = (p + q) / 2, (q - p) / np.linalg.norm(q - p)
    w = m / np.linalg.norm(m)
    corner = lambda s, d, z: (*(m + s * u + d * w), z)  # noqa: E731
    hi, lo, o = ga + ah + 0.6, ga + ah + 0.1, 0.3
    top = quad(
        corner(-aw / 2 - o, -0.1, hi),
        corner(aw / 2 + o, -0.1, hi),
        corner(aw / 2 + o, ad + o, lo),
        corner(-aw / 2 - o, ad + o, lo),
    )
    under = quad(
        corner(-aw / 2 - o, -0.1, hi - 0.15),
        corner(aw / 2 + o, -0.1, hi - 0.15),
        corner(aw / 2 + o, ad + o, lo - 0.15),
        corner(-aw / 2 - o, ad + o, lo - 0.15),
    )
    b.part(
        "annex", "annex", "tile", _face_toward(top, np.array([0, 0, 1.0])), _face_toward(under, np.array([0, 0, -1.0]))
    )

    # Window surrounds drawn afresh for every face and storey, so that no two faces are
    # alike, as on a real tower: a station that sees neither the door nor the annex of a
    # featureless n-fold prism could be turned by a multiple of 360/n degrees and fit the
    # others as well (no registration, and no surveyor without targets, could decide it).
    width = float(np.linalg.norm(poly[1] - poly[0]))
    windows = []
    for k in range(sides):
        for s in range(storeys):
            z0, z1 = Ht * s / storeys, Ht * (s + 1) / storeys - 0.3
            if s == 0 and k in (k_door, k_annex):
                continue
            for _ in range(int(rng.integers(1, 3))):
                c, wz = rng.uniform(-0.3, 0.3) * width, z0 + rng.uniform(0.25, 0.55) * (z1 - z0)
                windows.append(on_face(k, (c - 0.4, -0.05, wz), (c + 0.4, 0.12, wz + 1.2), skip=()))
    b.part("windows", "frame", "stone", *windows)

    spots = ring_spots(
        lrng,
        ground,
        (0.0, 0.0),
        (R + 2.0, R + 2.0),
        n,
        (6.0, 14.0),
        even=True,
        turn=turn - np.pi / sides,
        lean=(1.0, 1.0),
    )
    params = {"sides": sides, "radius": R, "height": Ht, "storeys": storeys, "door_face": int(k_door),
              "annex_face": int(k_annex)}  # fmt: skip
    return _finish(b, ground, spots, ring_chain(n), params)


def courtyard(rng: np.random.Generator, lrng: np.random.Generator, n: int) -> Site:
    Wx, Wy, hw, t = rng.uniform(20, 34), rng.uniform(16, 26), rng.uniform(2.6, 3.8), rng.uniform(0.5, 0.8)
    ground = ground_function(rng, rng.uniform(0.0, 0.015), 0.08)
    zb = _lowest(ground, (-Wx / 2, Wx / 2), (-Wy / 2, Wy / 2)) - 0.5
    gx, gw = rng.uniform(-Wx / 4, Wx / 4), rng.uniform(2.6, 4.0)
    X, Y = Wx / 2, Wy / 2
    b = SceneBuilder()
    b.part("walls", "wall", "stone",
           box((-X, Y - t, zb), (X, Y, hw), skip=("-z",)),
           box((-X, -Y, zb), (-X + t, Y - t, hw), skip=("-z",)),
           box((X - t, -Y, zb), (X, Y - t, hw), skip=("-z",)),
           box((-X + t, -Y, zb), (gx - gw / 2, -Y + t, hw), skip=("-z",)),
           box((gx + gw / 2, -Y, zb), (X - t, -Y + t, hw), skip=("-z",)))  # fmt: skip
    posts = [
        box((x0, -Y - 0.2, zb), (x0 + 0.9, -Y + t + 0.2, hw + 0.7), skip=("-z",))
        for x0 in (gx - gw / 2 - 0.9, gx + gw / 2)
    ]
    b.part("gate-posts", "frame", "stone", *posts)
    bw, bd, bh = rng.uniform(6, 10), rng.uniform(5, 7), rng.uniform(3, 4)
    bx = rng.uniform(-1, 1) * max(0.0, X - t - 4 - bw / 2)
    by = rng.uniform(0.2, 1) * max(0.0, Y - t - 4 - bd / 2)
    b.part(
        "house",
        "wall",
        "plaster",
        box((bx - bw / 2, by - bd / 2, zb), (bx + bw / 2, by + bd / 2, bh), skip=("-z", "+z")),
    )
    ridge = bh + rng.uniform(1.5, 2.5)
    b.part(
        "house-roof",
        "roof",
        "tile",
        hipped_roof(
            (bx - bw / 2 - 0.6, bx + bw / 2 + 0.6), (by - bd / 2 - 0.6, by + bd / 2 + 0.6), bh, ridge, bd / 2 + 0.6
        ),
    )
    wx = bx + (bw / 2 + 2.2) * (1 if gx < bx else -1)
    wy = -Y + t + rng.uniform(2.5, 3.5)
    b.part("well", "urn", "stone", cylinder(wx, wy, 0.7, zb, 0.8, 32, cap_top=True))

    n_in = max(1, (n + 1) // 2)
    n_out = n - n_in
    spots: list[Spot] = []
    gate_out = np.array(
        [gx + lrng.choice([-1, 1]) * lrng.uniform(0.5, 2.5), -Y - lrng.uniform(5, 9)]
    )  # oblique to the opening
    if n_out:  # outside: round the walls counter-clockwise, ending off the south-east corner, then at the gate
        spots += ring_spots(
            lrng, ground, (0.0, 0.0), (X, Y), n_out - 1, (3.0, 6.0), first=(2 - n_out + 1) % 4 if n_out <= 5 else 1
        )
        spots.append(Spot(np.array([*gate_out, 0.0])))
    spots.append(Spot(np.array([gx + lrng.uniform(-0.8, 0.8), -Y + t + lrng.uniform(2.5, 4.0), 0.0])))
    a_gate = np.arctan2(spots[-1].xyz[1] - by, spots[-1].xyz[0] - bx)
    turn = lrng.choice([-1.0, 1.0]) * 2 * np.pi / max(n_in, 4)
    for k in range(1, n_in):  # round the house from the gate side, a quarter turn apart or less
        a = a_gate + turn * (k + lrng.uniform(-0.15, 0.15))
        d = lrng.uniform(1.8, 3.0)
        p = np.array([bx + (bw / 2 + d) * np.cos(a), by + (bd / 2 + d) * np.sin(a)])
        p = np.clip(p, [-X + t + 1.2, -Y + t + 1.2], [X - t - 1.2, Y - t - 1.2])
        if np.hypot(p[0] - wx, p[1] - wy) < 1.6:
            p[1] += 2.0
        spots.append(Spot(np.array([*p, 0.0])))
    for s in spots:
        s.xyz[2] = float(ground(s.xyz[0], s.xyz[1]))
    neighbours = chain(len(spots), closed=False)
    params = {"size_x": Wx, "size_y": Wy, "wall_height": hw, "wall_thickness": t, "gate_x": gx, "gate_width": gw,
              "stations_outside": n_out, "stations_inside": n_in}  # fmt: skip
    return _finish(b, ground, spots, neighbours, params, [(n_out - 1, n_out)] if n_out else [])


BUILDERS = {"gate": gate, "hall": hall, "tower": tower, "courtyard": courtyard}
