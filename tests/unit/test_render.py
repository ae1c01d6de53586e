"""Rendering: views, z-buffers for points and triangles, colourings, the finished picture."""

from __future__ import annotations

import io

import numpy as np
import pytest

from twin.errors import UsageError
from twin.render import (
    ELEVATIONS,
    RGB,
    Categories,
    Scalar,
    Uniform,
    elevation,
    render_mesh,
    render_points,
    section_at_height,
    section_plane,
)
from twin.render.annotate import nice_length, north_direction
from twin.render.colours import MUTED_COLOUR, NONE_COLOUR, diverging, nice_ceiling
from twin.render.draw import auto_point_radius
from twin.render.raster import Frame, zbuffer_points, zbuffer_triangles

UTM = np.array([749_000.0, 1_821_000.0, 5.0])


def wall(n=40_000, seed=0, size=(4.0, 3.0), y=0.0) -> np.ndarray:
    """Points on the plane y = const, x in [0, 4], z in [0, 3]."""
    rng = np.random.default_rng(seed)
    xz = rng.random((n, 2)) * size
    return np.c_[xz[:, 0], np.full(n, y), xz[:, 1]]


def cube(lo=(0.0, 0.0, 0.0), size=1.0) -> tuple[np.ndarray, np.ndarray]:
    """A closed, outward-facing unit cube (8 vertices, 12 triangles)."""
    v = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], dtype=float) * size + lo
    f = np.array([[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
                  [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]])  # fmt: skip
    return v, f


def pixels(picture) -> np.ndarray:
    return np.asarray(picture.image.convert("RGB"))


# ------------------------------------------------------------------------------- views


@pytest.mark.parametrize("name", ELEVATIONS)
def test_views_are_orthonormal_and_right_handed(name):
    m = elevation(name).matrix
    assert np.allclose(m @ m.T, np.eye(3))
    assert np.allclose(np.cross(m[0], m[1]), -m[2])  # right x up points at the viewer


def test_projection_of_the_named_views():
    p = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(elevation("front").project(p), [[1, 3, 2]])  # looking north: depth is y
    assert np.allclose(elevation("back").project(p), [[-1, 3, -2]])
    assert np.allclose(elevation("left").project(p), [[-2, 3, 1]])  # looking east: south is right
    assert np.allclose(elevation("right").project(p), [[2, 3, -1]])
    assert np.allclose(elevation("plan").project(p), [[1, 2, -3]])  # from above: the top is nearest
    # an origin is added exactly (local coordinates about UTM)
    assert np.allclose(elevation("front").project(p, origin=UTM), [[1 + UTM[0], 3 + UTM[2], 2 + UTM[1]]])


def test_north_arrow_follows_the_view():
    assert north_direction(elevation("plan")) == pytest.approx((0.0, 1.0))
    assert north_direction(elevation("front")) == pytest.approx((0.0, 1.0))  # looking north: north ahead
    assert north_direction(elevation("back")) == pytest.approx((0.0, -1.0))
    assert north_direction(elevation("left")) == pytest.approx((-1.0, 0.0))  # looking east: north on the left
    assert north_direction(elevation("right")) == pytest.approx((1.0, 0.0))


def test_bad_views_are_refused():
    with pytest.raises(UsageError, match="unknown view 'top'"):
        elevation("top")
    with pytest.raises(UsageError, match="thickness must be a positive"):
        section_at_height(2.0, thickness=-0.1)
    with pytest.raises(UsageError, match="zero vector"):
        section_plane((0, 0, 0), (0, 0, 0))
    with pytest.raises(UsageError, match="three finite numbers"):
        section_plane((0, 0), (1, 0, 0))


# ---------------------------------------------------------------------------- z-buffers


def frame(width=10, height=10, ppm=1.0) -> Frame:
    return Frame(u0=0.0, v1=float(height) / ppm, ppm=ppm, width=width, height=height, depth_lo=0.0, depth_hi=10.0)


def test_nearest_point_wins_and_ties_go_to_the_lower_index():
    uvd = np.array([[2.5, 7.5, 5.0], [2.5, 7.5, 1.0], [2.6, 7.6, 1.0], [8.5, 1.5, 3.0]])
    zb = zbuffer_points(uvd, frame())
    assert zb.index[2, 2] == 1  # depth 1 beats 5; index 1 beats 2 at equal depth
    assert zb.index[8, 8] == 3
    assert zb.covered.sum() == 2


def test_splats_are_z_buffered_discs():
    uvd = np.array([[5.5, 5.5, 2.0], [6.5, 5.5, 1.0]])
    zb = zbuffer_points(uvd, frame(), radius=1)
    assert zb.index[4, 5] == 1 and zb.index[4, 6] == 1  # the nearer splat covers its neighbour's centre
    assert zb.index[4, 4] == 0  # beyond the nearer splat, the farther one shows
    assert zb.covered.sum() == 12  # two overlapping discs of radius 1 (3 x 3 pixels each)


def test_points_outside_the_frame_are_dropped():
    uvd = np.array([[-1.0, 5.0, 0.0], [5.0, 11.0, 0.0], [5.0, 5.0, 0.0]])
    zb = zbuffer_points(uvd, frame())
    assert zb.covered.sum() == 1


def test_triangles_cover_their_area_and_the_nearer_occludes():
    fr = frame(100, 100, 1.0)
    v = np.array([[10, 10, 5], [90, 10, 5], [90, 90, 5], [10, 90, 5], [0, 0, 1], [50, 0, 1], [0, 50, 1]], float)
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6]])
    zb = zbuffer_triangles(v, f, fr)
    covered = zb.covered
    back = np.isin(zb.index, [0, 1])
    front = zb.index == 2
    assert abs(covered.sum() - (80 * 80 + 50 * 50 / 2 - 30 * 30 / 2)) < 60  # union of square and triangle
    assert abs(front.sum() - 50 * 50 / 2) < 60
    assert back.sum() > 0 and not front[5, 80]  # v grows upward: row 5 is near the top


def test_tiny_triangles_leave_no_holes():
    # a 2 x 2 m square as 20,000 triangles much smaller than a pixel at 10 px/m
    n = 100
    g = np.linspace(0, 2, n + 1)
    xx, zz = np.meshgrid(g, g)
    verts = np.c_[xx.ravel(), np.zeros(xx.size), zz.ravel()]
    i = np.arange(n)
    a = (i[:, None] * (n + 1) + i[None, :]).ravel()
    faces = np.concatenate([np.c_[a, a + 1, a + n + 2], np.c_[a, a + n + 2, a + n + 1]])
    picture = render_mesh(verts, faces, elevation("front"), 10, Uniform((200, 0, 0)))
    fr = picture.frame
    assert (fr.u0, fr.v1, fr.width, fr.height) == pytest.approx((-0.04, 2.04, 22, 22))  # 4 cm margin each side
    # the square spans pixel edges -0.04 + k / 10 from k = 0 (u = -0.04 .. 0.06) to k = 20 (1.96 .. 2.06):
    # it touches 21 x 21 pixels, 20 x 20 of them at their centres. Every touched pixel is drawn (each
    # triangle marks its centroid's pixel) and nothing else: a solid 21 x 21 block, 441 pixels, no hole.
    # Margin: none (measured exactly 441; 400, i.e. 9 % holes, without the centroid marks).
    img = pixels(picture)
    red = (img[..., 0] == 200) & (img[..., 1] == 0)
    rows, cols = np.nonzero(red)
    block = red[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert block.shape == (21, 21) and block.all(), f"{block.size - block.sum()} holes in {block.shape}"
    assert red.sum() == 21 * 21
    assert picture.coverage == pytest.approx(21 * 21 / (22 * 22), abs=1e-12)


# ---------------------------------------------------------------------------- pictures


def test_point_elevation_scale_coverage_and_png():
    xyz = wall()
    picture = render_points(xyz, elevation("front"), 50, Uniform((0, 0, 255)), origin=UTM, title="wall")
    assert picture.frame.ppm == 50
    margin = 0.02 * 4.0  # 2 % of the longer side, each side
    assert picture.frame.width == pytest.approx((4.0 + 2 * margin) * 50, abs=2)
    assert picture.frame.height == pytest.approx((3.0 + 2 * margin) * 50, abs=2)
    assert picture.coverage > 0.85  # 40k points on 4 x 3 m at 50 px/m: the splats close the gaps
    png = picture.png_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    decoded = Image.open(io.BytesIO(png))
    assert decoded.size == picture.image.size
    assert decoded.size[0] >= picture.frame.width and decoded.size[1] > picture.frame.height


def test_frame_from_bounds_is_shared_between_pictures():
    bounds = np.array([UTM - 1.0, UTM + [5.0, 5.0, 4.0]])
    a = render_points(wall(5000), elevation("front"), 20, origin=UTM, bounds=bounds)
    b = render_points(wall(5000, y=2.0)[:2000], elevation("front"), 20, origin=UTM, bounds=bounds)
    assert (a.frame.width, a.frame.height, a.frame.u0) == (b.frame.width, b.frame.height, b.frame.u0)


def test_categories_colour_and_legend():
    xyz = wall(20_000)
    labels = np.where(xyz[:, 0] < 2.0, 0, -1)
    labels[xyz[:, 0] > 3.0] = 2
    col = Categories(labels, ["stone", "brick", "tile"], "material")
    picture = render_points(xyz, elevation("front"), 30, col, origin=UTM)
    legend = col.legend(np.arange(len(xyz)))
    assert [name for name, _ in legend.entries] == ["stone", "tile", "none"]  # brick absent
    img = pixels(picture).reshape(-1, 3)
    colours = {tuple(c) for c in img}
    assert NONE_COLOUR in colours and tuple(col._table()[0]) in colours and tuple(col._table()[2]) in colours


def test_rgb_colouring_and_shading_by_normals():
    xyz = wall(20_000)
    rgb = np.tile(np.array([[200, 100, 50]], dtype=np.uint8), (len(xyz), 1))
    normals = np.tile([0.0, 1.0, 0.0], (len(xyz), 1))  # facing the viewer: full brightness
    img = pixels(render_points(xyz, elevation("front"), 30, RGB(rgb), normals=normals))
    assert ((img == [200, 100, 50]).all(axis=2)).sum() > 1000
    with pytest.raises(UsageError, match="need"):
        render_points(xyz, elevation("front"), 30, RGB(rgb[:10]))


def test_scalar_diverging_map_and_mask():
    assert tuple(diverging(np.array([0.0]))[0]) == (255, 255, 191)
    blue, red = diverging(np.array([-1.0, 1.0]))
    assert blue[2] > blue[0] and red[0] > red[2]
    values = np.array([-0.02, 0.0, 0.02, np.nan])
    s = Scalar(values, limit=0.02, mask=np.array([True, False, True, True]))
    c = s.colours(np.arange(4))
    assert c[0][2] > c[0][0] and c[2][0] > c[2][2]  # negative blue, positive red
    assert tuple(c[1]) == MUTED_COLOUR and tuple(c[3]) == MUTED_COLOUR  # not significant, no value
    legend = s.legend(np.arange(4))
    assert legend.limit == pytest.approx(20.0) and legend.unit == "mm"
    assert [n for n, _ in legend.notes] == ["not significant", "no value"]
    assert Scalar(np.array([0.003, -0.011, 0.004])).resolved_limit() == pytest.approx(0.02)  # nice ceiling
    assert nice_ceiling(0.031) == pytest.approx(0.05) and nice_length(7.3) == 5.0


def test_horizontal_section_draws_only_the_slab():
    xyz = np.concatenate([wall(10_000), wall(10_000, seed=1) + [0, 0, 5]])  # z in [0, 3] and [5, 8]
    plane = np.c_[np.random.default_rng(2).random((5000, 2)) * 4, np.full(5000, 6.5)]  # a slab at z = 6.5
    xyz = np.concatenate([xyz, plane])
    section = section_at_height(UTM[2] + 6.5, thickness=0.1)
    picture = render_points(xyz, section, 20, Uniform((0, 128, 0)), origin=UTM)
    assert "horizontal section at z = 11.50 m" in section.describe()
    img = pixels(picture)
    green = (img == [0, 128, 0]).all(axis=2).sum()
    assert green > 0.5 * 4 * 4 * 20 * 20  # the plane at 6.5 fills its 4 x 4 m
    with pytest.raises(UsageError, match="nothing to draw"):
        render_points(xyz, section_at_height(UTM[2] + 20.0), 20, origin=UTM)


def test_vertical_section_plane_and_mesh_section():
    v, f = cube(size=2.0)
    labels = np.arange(len(f)) % 2
    col = Categories(labels, ["a", "b"], "element")
    plan = render_mesh(v, f, section_at_height(1.0, 0.05), 50, col)
    img = pixels(plan)
    full = {tuple(int(x * 0.8) for x in col._table()[i]) for i in range(2)}  # the cut, a touch darker
    cut = np.isin(img.reshape(-1, 3).view([("", img.dtype)] * 3).ravel(),
                  np.array(sorted(full), dtype=img.dtype).view([("", img.dtype)] * 3).ravel())
    assert cut.sum() > 4 * 2 * 50  # the square outline of the cut, 2 m a side
    side = render_mesh(v, f, section_plane((1.0, 1.0, 1.0), (0.0, -1.0, 0.0), 0.05), 50, col)
    assert "looking north" in side.view.describe()


def test_mesh_elevation_shades_and_fits():
    v, f = cube(lo=UTM, size=3.0)
    picture = render_mesh(v - UTM, f, elevation("front"), 20, Uniform((100, 150, 200)), origin=UTM)
    img = pixels(picture)
    facing = (img == [100, 150, 200]).all(axis=2).sum()  # the face toward the viewer, fully lit
    assert abs(facing - 60 * 60) < 200
    assert picture.coverage > 0.8


def test_bad_render_input():
    xyz = wall(1000)
    with pytest.raises(UsageError, match="positive number of pixels per metre"):
        render_points(xyz, elevation("front"), 0)
    with pytest.raises(UsageError, match="lower the scale"):
        render_points(xyz, elevation("front"), 100_000)
    with pytest.raises(UsageError, match="point size"):
        render_points(xyz, elevation("front"), 10, point_size=-1)
    with pytest.raises(UsageError, match=r"\(n, 3\)"):
        render_points(xyz[:, :2], elevation("front"), 10)
    v, f = cube()
    with pytest.raises(UsageError, match="index its vertices"):
        render_mesh(v, f + 10, elevation("front"), 10)
    with pytest.raises(UsageError, match="labels must index"):
        render_points(xyz, elevation("front"), 10, Categories(np.full(len(xyz), 5), ["a"], "element"))


def test_auto_point_radius_follows_the_spacing():
    sparse = wall(1200)  # 100 points per m2: 10 cm apart
    assert auto_point_radius(sparse, 100) >= 3  # 10 px apart at 100 px/m
    assert auto_point_radius(sparse, 10) <= 1  # 1 px apart at 10 px/m
