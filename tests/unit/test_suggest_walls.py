"""Suggested walls (issue 17): a wall scanned from both sides is one wall, the two sides of a
corridor are not.

Two scenes whose truth is known face by face:

- two parallel walls 0.8 m thick with a corridor 0.7 m wide between them (narrower than
  either wall is thick, so pairing the nearest parallel faces would pair the corridor's),
  every surface sampled uniformly; once with the corridor's floor seen and once without;
- a generated courtyard (``twin.sample.scenes``, seed 1): walls 0.72 m thick scanned by
  stations outside and inside, a gate between two wall pieces, a house inside whose walls
  are seen from outside only.

The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

CORRIDOR = (-0.6, 0.1)  # y between the walls
WALLS = {"A": (-1.4, -0.6), "B": (0.1, 0.9)}  # y of each wall's two faces
WALL_X, WALL_HEIGHT = (-4.0, 4.0), 3.0


def _rectangle(rng, corner, u, v, normal, density=250.0, noise=0.002) -> np.ndarray:
    corner, u, v, normal = (np.asarray(a, dtype=np.float64) for a in (corner, u, v, normal))
    st = rng.random((rng.poisson(np.linalg.norm(np.cross(u, v)) * density), 2))
    return corner + st[:, :1] * u + st[:, 1:] * v + rng.normal(0.0, noise, (len(st), 1)) * normal


@functools.cache
def _corridor(floor_seen: bool):
    """Walls A and B with the corridor between them, on a floor; each point's face."""
    from twin.models.pointcloud import PointCloud
    from twin.ops.suggest import suggest_elements

    rng = np.random.default_rng(7)
    (x0, x1), h = WALL_X, WALL_HEIGHT
    parts = []
    for name, (y0, y1) in WALLS.items():
        parts.append((_rectangle(rng, (x0, y0, 0), (x1 - x0, 0, 0), (0, 0, h), (0, 1, 0)), f"{name}@{y0}"))
        parts.append((_rectangle(rng, (x0, y1, 0), (x1 - x0, 0, 0), (0, 0, h), (0, 1, 0)), f"{name}@{y1}"))
        for x in WALL_X:
            parts.append((_rectangle(rng, (x, y0, 0), (0, y1 - y0, 0), (0, 0, h), (1, 0, 0)), f"{name}-end"))
    floor = _rectangle(rng, (-7, -5, 0), (14, 0, 0), (0, 10, 0), (0, 0, 1))

    def over(y0, y1):
        return (np.abs(floor[:, 0]) < x1) & (floor[:, 1] > y0) & (floor[:, 1] < y1)

    keep = ~over(*WALLS["A"]) & ~over(*WALLS["B"]) & (floor_seen | ~over(*CORRIDOR))
    parts.append((floor[keep], "floor"))
    xyz = np.vstack([p for p, _ in parts])
    face = np.concatenate([np.full(len(p), name, dtype=object) for p, name in parts])
    origin = xyz.min(axis=0)
    suggestion = suggest_elements(PointCloud(xyz - origin, origin))
    return suggestion, _truth_of_thinned(suggestion, xyz, face)


def _truth_of_thinned(suggestion, xyz_world: np.ndarray, truth: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(xyz_world).query(suggestion.thinned.xyz + suggestion.thinned.origin)
    return truth[nearest]


def _shares(candidate, truth: np.ndarray, walls) -> dict[str, float]:
    """Of each truth label's points that the walls hold, the share this wall holds."""
    values, counts = np.unique(truth[candidate.index], return_counts=True)
    found = truth[np.concatenate([w.index for w in walls])]
    totals = dict(zip(*np.unique(found, return_counts=True), strict=True))
    return {str(v): float(c / totals[v]) for v, c in zip(values, counts, strict=True)}


@pytest.mark.parametrize("floor_seen", [True, False], ids=["corridor-floor-seen", "corridor-floor-unseen"])
def test_each_wall_is_its_two_faces_and_the_corridor_between_them_is_not_a_wall(floor_seen):
    suggestion, face = _corridor(floor_seen)
    walls = [c for c in suggestion.candidates if c.kind == "wall"]
    print(f"\ncorridor floor {'seen' if floor_seen else 'unseen'}: {len(walls)} walls")
    for c in walls:
        print(f"  {c.id}: {c.figures['faces']} face(s), thickness {c.figures.get('thickness_m')}, "
              f"holds {_shares(c, face, walls)}")
    for name, (y0, y1) in WALLS.items():
        sides = (f"{name}@{y0}", f"{name}@{y1}")
        holder = [c for c in walls if _shares(c, face, walls).get(sides[0], 0) > 0.5]
        assert len(holder) == 1, name
        wall = holder[0]
        assert all(_shares(wall, face, walls).get(s, 0) > 0.99 for s in sides), (name, _shares(wall, face, walls))
        assert wall.figures["faces"] == 2
        assert wall.figures["thickness_m"] == pytest.approx(y1 - y0, abs=suggestion.voxel)
        centre = wall.region["oriented_box"]["center"]
        assert centre[1] == pytest.approx((y0 + y1) / 2, abs=suggestion.voxel)  # the box spans the thickness
    corridor_sides = (f"A@{CORRIDOR[0]}", f"B@{CORRIDOR[1]}")
    for c in walls:
        shares = _shares(c, face, walls)
        assert not all(shares.get(s, 0) > 0.05 for s in corridor_sides), (c.id, shares)


# -- the generated courtyard -----------------------------------------------------------


@functools.cache
def _courtyard():
    """The courtyard's suggestion, and each thinned point's truth: element, part and face."""
    from twin.models.pointcloud import PointCloud
    from twin.ops.suggest import suggest_elements
    from twin.sample.scanner import MeshScene
    from twin.sample.scenes import generate_scene

    scene = generate_scene("courtyard", 1, points_per_station=100_000)
    xyz = np.vstack([scene.site_points(i) for i in range(len(scene.stations))])
    scanner_z = float(np.median([st.true_pose[2, 3] for st in scene.stations]))
    origin = np.floor(xyz.min(axis=0))
    suggestion = suggest_elements(PointCloud(xyz - origin, origin), scanner_z=scanner_z - origin[2])
    mesh = scene.truth_mesh
    from twin._deps import open3d

    points = open3d().core.Tensor((suggestion.thinned.xyz + origin).astype(np.float32))
    triangle = MeshScene(mesh).scene.compute_closest_points(points)["primitive_ids"].numpy().astype(np.int64)
    part = np.searchsorted([p.start for p in mesh.parts], mesh.triangles[triangle, 0], side="right") - 1
    normal = np.round(mesh.triangle_normals()[triangle]).astype(int)
    element = np.array([mesh.elements[k].id for k in mesh.element_index[triangle]], dtype=object)
    face = np.array([f"{e}/{p}/{n[0]:+d}{n[1]:+d}{n[2]:+d}" for e, p, n in zip(element, part, normal, strict=True)],
                    dtype=object)
    kind = np.array([{"ground": "floor"}.get(mesh.elements[k].kind, mesh.elements[k].kind)
                     for k in mesh.element_index[triangle]], dtype=object)
    return scene, suggestion, face, kind


def _long_faces(scene) -> dict[int, tuple[str, str]]:
    """The courtyard walls' boxes (mesh parts of element ``walls``) and their two long faces'
    labels (as ``_courtyard`` gives them)."""
    mesh = scene.truth_mesh
    walls = mesh.element_ids.index("walls")
    out = {}
    for k, part in enumerate(mesh.parts):
        if part.element == walls:
            v = mesh.vertices[part.start : part.stop]
            across = int(np.argmin(np.ptp(v[:, :2], axis=0)))  # the long faces face across the thin side
            out[k] = tuple(f"walls/{k}/{n}" for n in (("+1+0+0", "-1+0+0"), ("+0+1+0", "+0-1+0"))[across])
    return out


def test_the_courtyard_walls_seen_inside_and_outside_are_one_wall_each():
    from twin.ops.suggest.evaluate import draft_ious

    scene, suggestion, face, kind = _courtyard()
    walls = [c for c in suggestion.candidates if c.kind == "wall"]
    long_faces = _long_faces(scene)
    seen = {k: fs for k, fs in long_faces.items() if all(np.count_nonzero(face == f) > 1000 for f in fs)}
    ious = draft_ious(suggestion, suggestion.thinned.xyz + suggestion.thinned.origin, kind)
    print(f"\ncourtyard seed 1: {len(walls)} walls, {sum(c.figures['faces'] == 2 for c in walls)} of them two-faced; "
          f"true thickness {scene.params['wall_thickness']:.3f} m; wall IoU {ious['wall']['iou']:.3f}")
    for c in walls:
        print(f"  {c.id}: {c.figures['faces']} face(s), thickness {c.figures.get('thickness_m')}, "
              f"length {c.figures['length_m']} m, {len(c.index)} points")
    assert len(seen) >= 3  # boxes whose outer and inner faces were both scanned
    for k, (a, b) in seen.items():
        holder = max(walls, key=lambda c: _shares(c, face, walls).get(a, 0))
        shares = _shares(holder, face, walls)
        assert shares.get(a, 0) > 0.9 and shares.get(b, 0) > 0.9, (k, holder.id, shares)
        assert holder.figures["faces"] == 2
        assert holder.figures["thickness_m"] == pytest.approx(scene.params["wall_thickness"], abs=suggestion.voxel)
    every_long_face = {f for fs in long_faces.values() for f in fs}
    for c in walls:  # a wall's faces are one box's: never two boxes', nor the house's and a wall's
        on = face[c.index]
        boxes = {f.split("/")[1] for f in every_long_face if np.mean(on == f) > 0.05}  # of the wall's points
        assert len(boxes) <= 1, (c.id, _shares(c, face, walls))
        if c.figures["faces"] == 2:
            assert not c.figures["openings"], (c.id, c.figures["openings"])  # no openings in these walls
    for c in ("floor", "wall"):
        assert ious[c]["iou"] >= 0.9, (c, ious[c])
