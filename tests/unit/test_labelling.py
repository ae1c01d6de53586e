"""Labelling: elements per point and per face, precedence, origins, and phase/material lookups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.layers import load_layers
from twin.models.layers import LayerFile
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.ops.labelling import (
    label_faces_from_points,
    compile_layers,
    label_cloud,
    label_counts,
    label_faces,
    label_mesh,
    label_points,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "layers" / "example.yaml"
ORIGIN = np.array([749000.0, 1821000.0, 0.0])


def layers_with(elements: list[dict], phases=None, materials=None) -> LayerFile:
    for e in elements:
        e.setdefault("name", e["id"])
        e.setdefault("class", "B2_Morphological_Building_Section")
        e.setdefault("knowledge", {"status": "measured"})
    return LayerFile.model_validate(
        {"metadata": {"title": "t"}, "elements": elements, "phases": phases or [], "materials": materials or []}
    )


def box(eid, lo, hi, **kw):
    return {"id": eid, "region": {"box": {"min": list(lo), "max": list(hi)}}, **kw}


def world(*points) -> np.ndarray:
    return np.array(points, dtype=np.float64)


def labels_of(layers, world_points, origin=ORIGIN, **kw):
    compiled = compile_layers(layers)
    local = world_points - origin
    return [compiled.element_ids[i] if i >= 0 else None for i in label_points(compiled, local, origin, **kw)]


def test_boxes_in_utm_with_inclusive_bounds():
    layers = layers_with([box("a", (749010, 1821020, 5), (749020, 1821030, 6))])
    pts = world(
        (749015, 1821025, 5.5),  # inside
        (749010, 1821020, 5),  # on the min corner: inside
        (749020, 1821030, 6),  # on the max corner: inside
        (749020.001, 1821025, 5.5),  # 1 mm outside in x
        (749015, 1821019.999, 5.5),  # 1 mm outside in y
        (749015, 1821025, 6.001),  # 1 mm above
    )
    assert labels_of(layers, pts) == ["a", "a", "a", None, None, None]


def test_millimetres_survive_any_origin():
    layers = layers_with([box("a", (749010.0, 1821020.0, 5.0), (749010.5, 1821020.5, 5.5))])
    pts = world((749010.4995, 1821020.25, 5.25), (749010.5005, 1821020.25, 5.25))
    for origin in (np.zeros(3), ORIGIN, np.array([749010.0, 1821020.0, 5.0]), np.array([-1e6, 3e6, 100.0])):
        assert labels_of(layers, pts, origin=origin) == ["a", None]


def test_smaller_volume_wins_and_ties_go_to_the_first_in_the_file():
    layers = layers_with([
        box("floor", (0, 0, 0), (10, 10, 1)),
        box("tile", (2, 2, 0), (3, 3, 1)),  # inside the floor, smaller
        box("left", (5, 5, 0), (6, 6, 1)),
        box("right", (5.5, 5, 0), (6.5, 6, 1)),  # same volume as left, overlapping it
    ])
    pts = world((1, 1, 0.5), (2.5, 2.5, 0.5), (5.75, 5.5, 0.5), (6.25, 5.5, 0.5), (5.2, 5.5, 0.5))
    assert labels_of(layers, pts, origin=np.zeros(3)) == ["floor", "tile", "left", "right", "left"]
    # the order in the file decides ties, wherever the elements stand
    swapped = layers_with([
        box("right", (5.5, 5, 0), (6.5, 6, 1)),
        box("left", (5, 5, 0), (6, 6, 1)),
    ])
    assert labels_of(swapped, world((5.75, 5.5, 0.5)), origin=np.zeros(3)) == ["right"]


def test_a_boxes_region_is_the_union_of_its_boxes_each_with_its_own_volume():
    # a wall round a door opening: three boxes; the door inside the opening; a floor below both
    wall = {"id": "wall", "region": {"boxes": [
        {"min": [749010, 1821020, 5], "max": [749012, 1821020.3, 8]},
        {"min": [749012, 1821020, 7], "max": [749013, 1821020.3, 8]},
        {"min": [749013, 1821020, 5], "max": [749015, 1821020.3, 8]},
    ]}}
    layers = layers_with([
        box("floor", (749000, 1821000, 4), (749030, 1821030, 5.1)),
        wall,
        box("door", (749012, 1821019.9, 5), (749013, 1821020.4, 7)),
    ])
    pts = world(
        (749011, 1821020.1, 6),  # left of the opening
        (749012.5, 1821020.1, 7.5),  # above it
        (749014, 1821020.1, 6),  # right of it
        (749012.5, 1821020.1, 6),  # in it: the door
        (749011, 1821020.1, 5.05),  # the wall's foot inside the floor's volume: the smaller box wins
        (749012.5, 1821021, 6),  # beyond the wall: nothing
    )
    assert labels_of(layers, pts) == ["wall", "wall", "wall", "door", "wall", None]
    compiled = compile_layers(layers)
    assert [compiled.element_ids[r.element] for r in compiled.regions].count("wall") == 3


def test_oriented_box_by_yaw_and_by_rotation():
    c = (749020.0, 1821020.0, 5.0)
    by_yaw = layers_with([{"id": "beam", "region": {"oriented_box": {"center": list(c), "extent": [10, 1, 1],
                                                                       "yaw_deg": 45}}}])
    s = np.sqrt(0.5)
    by_matrix = layers_with([{"id": "beam", "region": {"oriented_box": {
        "center": list(c), "extent": [10, 1, 1], "rotation": [[s, -s, 0], [s, s, 0], [0, 0, 1]]}}}])
    pts = world(
        (c[0] + 3, c[1] + 3, 5.0),  # along the 45° axis, 4.24 m out: inside
        (c[0] + 3.6, c[1] + 3.6, 5.0),  # 5.09 m out: beyond the half length
        (c[0] + 3, c[1], 5.0),  # along x: outside the turned beam (inside the unturned one)
        (c[0] + 0.3, c[1] - 0.3, 5.4),  # 0.42 m across the beam: inside
        (c[0] + 0.4, c[1] - 0.4, 5.0),  # 0.57 m across: outside
    )
    expected = ["beam", None, None, "beam", None]
    assert labels_of(by_yaw, pts) == expected
    assert labels_of(by_matrix, pts) == expected


def test_concave_polygon_with_height_range():
    # an L-shaped footprint
    x0, y0 = 749000.0, 1821000.0
    poly = [[x0, y0], [x0 + 10, y0], [x0 + 10, y0 + 4], [x0 + 4, y0 + 4], [x0 + 4, y0 + 10], [x0, y0 + 10]]
    layers = layers_with([{"id": "wing", "region": {"polygon": poly, "z_min": 2.0, "z_max": 8.0}}])
    pts = world(
        (x0 + 2, y0 + 8, 5),  # in the upright of the L
        (x0 + 8, y0 + 2, 5),  # in the foot
        (x0 + 8, y0 + 8, 5),  # in the notch: outside
        (x0 + 2, y0 + 8, 1.9),  # below
        (x0 + 2, y0 + 8, 8.1),  # above
    )
    assert labels_of(layers, pts) == ["wing", "wing", None, None, None]


def test_unions_label_nothing_but_pass_on_phases_and_materials():
    layers = load_layers(EXAMPLE)
    compiled = compile_layers(layers)
    assert "columns" in compiled.element_ids
    assert compiled.element_index("columns") not in {r.element for r in compiled.regions}
    ne, sw = compiled.element_index("column-ne"), compiled.element_index("column-sw")
    labels = np.array([ne, sw, -1], dtype=np.int32)
    assert compiled.has_material(labels, "ironwood").tolist() == [True, True, False]
    assert compiled.in_phase(labels, "construction-1805").tolist() == [True, True, False]
    assert compiled.in_phase(labels, "reconstruction-1833").tolist() == [True, False, False]
    # the fabric of column-ne was built by its reconstruction; column-sw's by the construction
    assert [compiled.phase_ids[i] for i in compiled.phase_of(labels)[:2]] == ["reconstruction-1833",
                                                                               "construction-1805"]
    assert compiled.phase_of(labels)[2] == -1 and compiled.material_of(labels)[2] == -1
    roof = compiled.element_index("roof")
    assert compiled.phase_ids[compiled.phase_of(np.array([roof]))[0]] == "construction-1805"
    assert compiled.material_ids[compiled.material_of(np.array([roof]))[0]] == "tile"


def test_primary_phase_without_construction_is_the_earliest():
    layers = layers_with(
        [box("a", (0, 0, 0), (1, 1, 1), phases=["r2", "r1"])],
        phases=[{"id": "r1", "type": "restoration", "date": "1920"}, {"id": "r2", "type": "repair", "date": "1990"}],
    )
    compiled = compile_layers(layers)
    assert compiled.phase_ids[compiled.phase_of(np.array([0]))[0]] == "r1"


def test_example_pavilion_points():
    layers = load_layers(EXAMPLE)
    pts = world(
        (749020.0, 1821026.0, 5.3),  # platform
        (749027.0, 1821029.0, 8.0),  # column-ne centre
        (749013.0, 1821023.0, 6.0),  # column-sw
        (749020.0, 1821025.0, 6.0),  # altar, above the platform
        (749020.0, 1821026.0, 12.0),  # roof
        (749020.0, 1821026.0, 9.0),  # air under the roof
        (749100.0, 1821026.0, 5.3),  # far away
    )
    assert labels_of(layers, pts) == ["platform", "column-ne", "column-sw", "altar", "roof", None, None]


def test_chunks_and_threads_give_the_same_labels_as_a_brute_force_check():
    from twin.ops.crop import AxisAlignedBox, OrientedBox, PolygonPrism

    rng = np.random.default_rng(3)
    elements, shapes = [], []
    for i in range(12):
        c = rng.random(3) * [20, 20, 8] + [749000, 1821000, 0]
        size = rng.random(3) * [6, 6, 3] + 0.5
        kind = i % 3
        if kind == 0:
            elements.append(box(f"b{i}", c - size / 2, c + size / 2))
            shapes.append(AxisAlignedBox(c - size / 2, c + size / 2))
        elif kind == 1:
            yaw = float(rng.random() * 180)
            elements.append({"id": f"o{i}", "region": {"oriented_box": {"center": c.tolist(), "extent": size.tolist(),
                                                                          "yaw_deg": yaw}}})
            a = np.radians(yaw)
            rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
            shapes.append(OrientedBox(c, size, rot))
        else:
            angles = np.sort(rng.random(6)) * 2 * np.pi
            radius = rng.random(6) * 3 + 1
            poly = np.stack([c[0] + radius * np.cos(angles), c[1] + radius * np.sin(angles)], axis=1)
            elements.append({"id": f"p{i}", "region": {"polygon": poly.tolist(), "z_min": c[2] - 1, "z_max": c[2] + 1}})
            shapes.append(PolygonPrism(poly, c[2] - 1, c[2] + 1))
    layers = layers_with(elements)
    compiled = compile_layers(layers)
    pts_world = rng.random((20_000, 3)) * [26, 26, 12] + [748997, 1820997, -2]
    local = pts_world - ORIGIN

    # brute force: every element's own test; the smallest volume (then the first) wins
    volumes = {r.element: r.volume for r in compiled.regions}
    expected = np.full(len(local), -1)
    best = np.full(len(local), np.inf)
    for i, shape in enumerate(shapes):
        inside = shape.contains(pts_world) & (volumes[i] < best)
        expected[inside], best[inside] = i, volumes[i]

    assert (expected >= 0).sum() > 500 and len(set(expected.tolist())) == 13  # every element and none
    default = label_points(compiled, local, ORIGIN)
    np.testing.assert_array_equal(default, expected)
    np.testing.assert_array_equal(label_points(compiled, local, ORIGIN, chunk=777, workers=3), expected)
    np.testing.assert_array_equal(label_points(compiled, local, ORIGIN, chunk=5000, workers=1), expected)
    assert default.dtype == np.int32


def test_label_cloud_sets_attributes():
    layers = load_layers(EXAMPLE)
    cloud = PointCloud(world((749020.0, 1821026.0, 5.3), (749100.0, 1821026.0, 5.3)) - ORIGIN, ORIGIN,
                       {"intensity": np.array([1.0, 2.0], dtype=np.float32)})
    labelled = label_cloud(layers, cloud)
    compiled = compile_layers(layers)
    assert labelled.attrs["element"].tolist() == [compiled.element_index("platform"), -1]
    assert labelled.attrs["material"].tolist() == [compiled.material_index("stone"), -1]
    assert labelled.attrs["phase"].tolist() == [compiled.phase_index("construction-1805"), -1]
    assert labelled.attrs["intensity"].tolist() == [1.0, 2.0] and "element" not in cloud.attrs


def test_faces_by_centroid_and_by_vertices():
    layers = layers_with([box("a", (749000, 1821000, 0), (749001, 1821001, 1))])
    # face 0: all vertices inside; face 1: two inside, centroid outside; face 2: one inside, centroid inside;
    # face 3: three different labels (inside, outside, outside) -> vertex method falls back to the centroid
    v = world(
        (749000.1, 1821000.1, 0.5), (749000.9, 1821000.1, 0.5), (749000.5, 1821000.9, 0.5),
        (749000.9, 1821000.9, 0.5), (749000.95, 1821000.95, 0.5), (749010.0, 1821010.0, 0.5),
        (749000.2, 1821000.2, 0.5), (749001.2, 1821000.2, 0.5), (749000.2, 1821001.2, 0.5),
    ) - ORIGIN
    mesh = TriMesh(v, np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]]), ORIGIN)
    assert label_faces(layers, mesh, "centroid").tolist() == [0, -1, 0]
    assert label_faces(layers, mesh, "vertices").tolist() == [0, 0, -1]
    result = label_mesh(layers, mesh)
    assert set(result) == {"element", "phase", "material"} and result["phase"].tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="unknown face labelling method"):
        label_faces(layers, mesh, "majority")


def test_faces_take_the_label_most_of_their_supporting_points_carry():
    """A paving whose region is 6 cm thick around its points, meshed 4 cm low (Poisson's
    surface off a ground seen at grazing incidence): every centroid lies outside the
    region, but the points under each face lie inside it, and the faces take their
    label. Faces over points outside every region stay unlabelled; where the votes tie,
    the nearest point's label wins."""
    layers = layers_with([box("paving", (749000, 1821000, 4.97), (749002, 1821001, 5.03)),
                          box("kerb", (749002, 1821000, 4.97), (749003, 1821001, 5.03))])
    gx, gy = np.meshgrid(np.arange(749000.05, 749004.0, 0.1), np.arange(1821000.05, 1821001.0, 0.1), indexing="ij")
    points = world(*np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, 5.0)])) - ORIGIN
    cloud = PointCloud(points, ORIGIN.copy())
    centres = np.array([[749000.5, 1821000.5], [749002.5, 1821000.5], [749003.5, 1821000.5]])
    v = np.concatenate([world(*np.column_stack([c[0] + np.array([-0.05, 0.05, 0.0]), c[1] + np.array([-0.05, -0.05, 0.05]),
                                                np.full(3, 4.96)])) for c in centres]) - ORIGIN
    mesh = TriMesh(v, np.arange(9).reshape(3, 3), ORIGIN)
    compiled = compile_layers(layers)
    paving, kerb = compiled.element_index("paving"), compiled.element_index("kerb")
    assert label_faces(layers, mesh, "centroid").tolist() == [-1, -1, -1]
    assert label_faces(layers, mesh, cloud=cloud).tolist() == [paving, kerb, -1]
    element = np.array([0, 0, 1, 1], dtype=np.int32)  # a tie, 2 against 2: the nearest point's label
    square = PointCloud(np.array([[0.0, 0, 0], [1, 1, 0], [0.2, 0, 0], [1, 0, 0]]))
    face = TriMesh(np.array([[0.2, 0.1, 0], [0.3, 0.1, 0], [0.25, 0.2, 0]]), np.array([[0, 1, 2]]))
    assert label_faces_from_points(face, square.xyz, element, k=4).tolist() == [1]
    with pytest.raises(ValueError, match="labels for"):
        label_faces_from_points(face, square.xyz, element[:3])


def test_relabelling_follows_a_changed_layer_file():
    a = layers_with([box("a", (0, 0, 0), (1, 1, 1))])
    b = layers_with([box("a", (0, 0, 0), (2, 1, 1))])
    ca, cb = compile_layers(a), compile_layers(b)
    assert ca.digest != cb.digest and ca.digest == compile_layers(a).digest
    p = world((1.5, 0.5, 0.5))
    assert label_points(ca, p).tolist() == [-1] and label_points(cb, p).tolist() == [0]


def test_edge_cases():
    empty = layers_with([])
    assert label_points(empty, np.zeros((5, 3))).tolist() == [-1] * 5
    layers = layers_with([box("a", (0, 0, 0), (1, 1, 1))])
    assert label_points(layers, np.empty((0, 3))).shape == (0,)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        label_points(layers, np.zeros((4, 2)))
    compiled = compile_layers(layers)
    counts = label_counts(compiled, label_points(compiled, world((0.5, 0.5, 0.5), (5, 5, 5), (0.2, 0.2, 0.2))))
    assert counts == {None: 1, "a": 2}
    assert compiled.names(np.array([0, -1])).tolist() == ["a", None]
    with pytest.raises(KeyError, match="unknown phase 'x'"):
        compiled.in_phase(np.array([0]), "x")
