"""Rendering throughput: orthographic elevations of a large cloud and of a mesh.

    .venv/bin/python bench/bench_render.py                      # 10M points, 50 px/m
    .venv/bin/python bench/bench_render.py --points 20000000 --ppm 100 --repeat 3

The cloud: points on the facades, floor and roof of a 40 x 30 x 15 m building near Hue
(float64 local coordinates about a UTM origin, as the readers give them), coloured by an
element label (categorical) and by a change value (diverging, half of it masked). The
mesh: a grid of small triangles over the same box. Prints the median seconds of
``--repeat`` runs per picture (projection, z-buffer, colours, annotation; PNG encoding
reported apart) and the picture's size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.render import Categories, Scalar, elevation, render_mesh, render_points  # noqa: E402

ORIGIN = np.array([749000.0, 1821000.0, 0.0])
SIZE = np.array([40.0, 30.0, 15.0])


def building(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xyz = rng.random((n, 3)) * SIZE
    face = rng.integers(0, 6, n)
    xyz[face == 0, 1] = 0.0
    xyz[face == 1, 1] = SIZE[1]
    xyz[face == 2, 0] = 0.0
    xyz[face == 3, 0] = SIZE[0]
    xyz[face == 4, 2] = 0.0
    xyz[face == 5, 2] = SIZE[2]
    xyz += rng.normal(0.0, 0.002, xyz.shape)
    return xyz + [10.0, 20.0, 5.0]


def box_mesh(step: float) -> tuple[np.ndarray, np.ndarray]:
    """The building's six faces as grids of triangles ``step`` metres apart."""
    verts, faces = [], []
    count = 0
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        nu, nv = int(SIZE[u] / step), int(SIZE[v] / step)
        gu, gv = np.meshgrid(np.linspace(0, SIZE[u], nu + 1), np.linspace(0, SIZE[v], nv + 1), indexing="ij")
        for side in (0.0, SIZE[axis]):
            p = np.zeros((gu.size, 3))
            p[:, u], p[:, v], p[:, axis] = gu.ravel(), gv.ravel(), side
            i, j = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
            a = (i * (nv + 1) + j).ravel() + count
            faces.append(np.c_[a, a + nv + 1, a + nv + 2])
            faces.append(np.c_[a, a + nv + 2, a + 1])
            verts.append(p)
            count += len(p)
    return np.concatenate(verts) + [10.0, 20.0, 5.0], np.concatenate(faces)


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--ppm", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mesh-step", type=float, default=0.05, help="mesh grid spacing, metres")
    args = parser.parse_args()

    t = time.perf_counter()
    xyz = building(args.points)
    rng = np.random.default_rng(1)
    labels = rng.integers(-1, 12, len(xyz))
    change = rng.normal(0.0, 0.01, len(xyz))
    mask = rng.random(len(xyz)) < 0.5
    print(f"{len(xyz):,} points made in {time.perf_counter() - t:.1f} s; {args.ppm:g} px/m")
    render_points(xyz[:1000], elevation("front"), args.ppm, origin=ORIGIN)  # imports, fonts: not timed

    categories = Categories(labels, [f"element-{i}" for i in range(12)], "element")
    scalar = Scalar(change, mask=mask)
    for name, colouring in (("front", categories), ("left", categories), ("plan", scalar)):
        seconds, picture = timed(lambda: render_points(xyz, elevation(name), args.ppm, colouring, origin=ORIGIN),
                                 args.repeat)
        png = timed(picture.png_bytes, 1)[0]
        print(f"cloud {name:6s} {seconds:6.2f} s  ({len(xyz) / seconds / 1e6:5.1f} M points/s)  "
              f"{picture.image.size[0]} x {picture.image.size[1]} px, PNG {png:.2f} s")

    verts, faces = box_mesh(args.mesh_step)
    face_labels = np.random.default_rng(2).integers(0, 12, len(faces))
    categories = Categories(face_labels, [f"element-{i}" for i in range(12)], "element")
    for name in ("front", "plan"):
        seconds, picture = timed(lambda: render_mesh(verts, faces, elevation(name), args.ppm, categories,
                                                     origin=ORIGIN), args.repeat)
        print(f"mesh  {name:6s} {seconds:6.2f} s  ({len(faces) / seconds / 1e6:5.1f} M faces/s)  "
              f"{len(faces):,} faces, {picture.image.size[0]} x {picture.image.size[1]} px")


if __name__ == "__main__":
    main()
