"""M3C2 side by side with py4dgeo: wall time and agreement on the same clouds, core points and parameters.

    .venv/bin/python bench/bench_m3c2.py                      # 1M points per epoch, 100k core points
    .venv/bin/python bench/bench_m3c2.py --repeat 5 --workers 2
    .venv/bin/python bench/bench_m3c2.py --sample             # the dense sample surveys (pavilion, 4 x 150k)

Synthetic scene: the surfaces of a 20 x 12 x 8 m building on open ground (walls, roof,
ground), 1M points per epoch with 3 mm Gaussian noise, sampled independently in each
epoch; epoch 2 has a raised-cosine bulge (30 mm peak, 1.5 m radius) on one wall. Core
points are a random 100k of epoch 1. Each parameter set runs twin's M3C2 and py4dgeo's
M3C2 alternately ``--repeat`` times (index/KD-tree building included on both sides) and
prints the best and median wall times, their ratio, and how many core points agree within
2 mm (distances compared along the same normal: py4dgeo's sign is aligned to twin's normal,
since both orient toward +z and a vertical wall's normal is perpendicular to it).

``--sample`` simulates the pavilion's two surveys with the sample scanner (true station
poses, so the epochs are registered; outliers and mixed pixels included; 4 stations x
150k points per survey) and compares both implementations there (100k core points drawn
from survey 1, normal radius 0.25 m, cylinder radius 0.1 m, half length 0.5 m).

twin runs on its default two threads (``--workers`` to change); py4dgeo on its OpenMP
default (all cores). Timings on a shared machine are noisy: compare the medians.

py4dgeo is a test-only reference (``pip install py4dgeo``); it is not a twin dependency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.compare.m3c2 import M3C2Params, M3C2Result, m3c2  # noqa: E402

PARAM_SETS = {
    "A": M3C2Params(normal_radius=0.3, cylinder_radius=0.1, cylinder_half_length=0.5),
    "B": M3C2Params(normal_radius=0.5, cylinder_radius=0.25, cylinder_half_length=1.0),
    "C": M3C2Params(normal_radius=0.2, cylinder_radius=0.05, cylinder_half_length=1.0),
}


def building(n: int, seed: int, bulge: bool) -> np.ndarray:
    """``n`` points on the walls, roof and surrounding ground of a 20 x 12 x 8 m box."""
    rng = np.random.default_rng(seed)
    faces = (  # (axis held fixed, value, (axis, lo, hi), (axis, lo, hi))
        (2, 0.0, (0, -5.0, 25.0), (1, -5.0, 17.0)),
        (0, 0.0, (1, 0.0, 12.0), (2, 0.0, 8.0)),
        (0, 20.0, (1, 0.0, 12.0), (2, 0.0, 8.0)),
        (1, 0.0, (0, 0.0, 20.0), (2, 0.0, 8.0)),
        (1, 12.0, (0, 0.0, 20.0), (2, 0.0, 8.0)),
        (2, 8.0, (0, 0.0, 20.0), (1, 0.0, 12.0)),
    )
    area = np.array([(a[2] - a[1]) * (b[2] - b[1]) for _, _, a, b in faces])
    area[0] -= 20 * 12  # no ground inside the footprint
    face = rng.choice(len(faces), n, p=area / area.sum())
    xyz = np.empty((n, 3))
    for k, (fixed, value, a, b) in enumerate(faces):
        sel = np.flatnonzero(face == k)
        while len(sel):
            xyz[sel, fixed] = value
            xyz[sel, a[0]] = rng.uniform(a[1], a[2], len(sel))
            xyz[sel, b[0]] = rng.uniform(b[1], b[2], len(sel))
            if k == 0:  # resample ground points that fell inside the footprint
                inside = (xyz[sel, 0] > 0) & (xyz[sel, 0] < 20) & (xyz[sel, 1] > 0) & (xyz[sel, 1] < 12)
                sel = sel[inside]
            else:
                sel = sel[:0]
    if bulge:
        wall = face == 3  # y = 0, outward normal -y
        r = np.hypot(xyz[wall, 0] - 10.0, xyz[wall, 2] - 4.0)
        xyz[wall, 1] -= np.where(r < 1.5, 0.015 * (1 + np.cos(np.pi * r / 1.5)), 0.0)
    xyz += rng.normal(0.0, 0.003, xyz.shape)
    return xyz + np.array([749010.0, 1821020.0, 5.0]) - np.array([749000.0, 1821000.0, 0.0])


def simulate_sample(points_per_station: int, stations: int, seed: int):
    """Both surveys of the sample pavilion in the site frame (true station poses, so the
    epochs are registered), and the station positions of each survey."""
    from twin.sample import (
        MeshScene,
        ScannerModel,
        SiteSpec,
        apply_deformations,
        build_pavilion,
        default_deformations,
        scan,
    )
    from twin.sample.generate import SURVEYS, plan_stations

    spec, model = SiteSpec(), ScannerModel()
    reference = build_pavilion(spec)
    deformations = default_deformations(spec)
    clouds, positions = [], []
    for si, plan in enumerate(SURVEYS):
        mesh = apply_deformations(reference, deformations) if plan.deformed else reference
        scene = MeshScene(mesh)
        pts, pos = [], []
        for sp in plan_stations(scene, spec, stations, si, plan, seed, points_per_station, model, False):
            st = sp.setup
            pos.append(st.position)
            for chunk in scan(scene, st, seed=seed, sun=np.array([0.0, 0.0, 1.0]), model=model):
                pts.append(st.position + chunk.xyz @ st.rotation.T)
        clouds.append(np.concatenate(pts))
        positions.append(np.array(pos))
    return clouds, positions


def run_py4dgeo(e1: np.ndarray, e2: np.ndarray, core: np.ndarray, p: M3C2Params, vector=(0.0, 0.0, 1.0)):
    import py4dgeo

    m = py4dgeo.M3C2(
        epochs=(py4dgeo.Epoch(e1), py4dgeo.Epoch(e2)),
        corepoints=core,
        cyl_radius=p.cylinder_radius,
        normal_radii=(p.normal_radius,),
        max_distance=p.cylinder_half_length,
        registration_error=p.registration_error,
        orientation_vector=np.asarray(vector, dtype=np.float64),
    )
    distances, unc = m.run()
    return distances, unc, m.directions()


def agreement(ours: M3C2Result, theirs_d: np.ndarray, theirs_n: np.ndarray, tol: float = 0.002) -> dict:
    """Share of core points whose distances agree within ``tol`` (over all core points:
    a NaN on one side only counts as a disagreement), with py4dgeo's sign aligned to our normal."""
    sign = np.sign(np.einsum("ij,ij->i", ours.normal, theirs_n))  # NaN where we have no normal
    theirs = theirs_d * np.where(sign < 0, -1.0, 1.0)
    both_nan = np.isnan(ours.distance) & np.isnan(theirs)
    close = np.abs(ours.distance - theirs) <= tol
    both = np.isfinite(ours.distance) & np.isfinite(theirs)
    diff = (ours.distance - theirs)[both]
    return {
        "agree": float(np.mean(close | both_nan)),
        "nan_ours": int(np.isnan(ours.distance).sum()),
        "nan_theirs": int(np.isnan(theirs).sum()),
        "normal_flipped": float(np.mean(sign < 0)),
        "median_diff_mm": float(np.median(diff) * 1e3) if len(diff) else float("nan"),
        "p95_abs_diff_mm": float(np.percentile(np.abs(diff), 95) * 1e3) if len(diff) else float("nan"),
    }


def compare(name: str, e1, e2, core, p: M3C2Params, repeat: int, workers: int | None, vector=(0.0, 0.0, 1.0)):
    m3c2(e1[:2000], e2[:2000], core[:20], p, workers=workers)  # warm up: imports, thread pools
    run_py4dgeo(e1[:2000], e2[:2000], core[:20], p, vector)
    ours_t, theirs_t = [], []
    ours = theirs = None
    for _ in range(repeat):
        t = time.perf_counter()
        ours = m3c2(e1, e2, core, p, workers=workers)
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs = run_py4dgeo(e1, e2, core, p, vector)
        theirs_t.append(time.perf_counter() - t)
    stats = agreement(ours, theirs[0], theirs[2])
    lod_theirs = theirs[1]["lodetection"]
    print(
        f"[{name}] normal_radius={p.normal_radius} cylinder_radius={p.cylinder_radius} "
        f"half_length={p.cylinder_half_length}  ({len(e1):,} / {len(e2):,} points, {len(core):,} core points)"
    )
    print(
        f"  twin    best {min(ours_t):6.2f} s  median {statistics.median(ours_t):6.2f} s\n"
        f"  py4dgeo best {min(theirs_t):6.2f} s  median {statistics.median(theirs_t):6.2f} s\n"
        f"  ratio twin/py4dgeo: best {min(ours_t) / min(theirs_t):.2f}, "
        f"median {statistics.median(ours_t) / statistics.median(theirs_t):.2f}"
    )
    print(
        f"  distances within 2 mm: {stats['agree'] * 100:.2f} % of core points; "
        f"|diff| p95 {stats['p95_abs_diff_mm']:.4f} mm, median diff {stats['median_diff_mm']:.4f} mm; "
        f"NaN twin {stats['nan_ours']}, py4dgeo {stats['nan_theirs']}; "
        f"py4dgeo normal opposite to twin's at {stats['normal_flipped'] * 100:.2f} %"
    )
    ok = np.isfinite(ours.lod) & np.isfinite(lod_theirs)
    print(
        f"  LoD median twin {np.median(ours.lod[ok]) * 1e3:.3f} mm, py4dgeo {np.median(lod_theirs[ok]) * 1e3:.3f} mm "
        f"(ratio {np.median(ours.lod[ok] / lod_theirs[ok]):.4f}: population vs sample std); "
        f"significant twin {ours.significant.mean() * 100:.2f} %"
    )
    return ours, theirs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="points per epoch")
    ap.add_argument("--core", type=int, default=100_000, help="core points")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="twin's threads (default: all cores)")
    ap.add_argument("--params", default="ABC", help=f"parameter sets to run, from {''.join(PARAM_SETS)}")
    ap.add_argument("--sample", action="store_true", help="the dense sample surveys instead of the synthetic box")
    ap.add_argument("--points-per-station", type=int, default=150_000)
    args = ap.parse_args()
    try:
        import py4dgeo
    except ImportError:
        print("py4dgeo is not installed: .venv/bin/pip install py4dgeo (a test-only reference)")
        return 1
    print(f"cores: {os.cpu_count()}, py4dgeo threads: {py4dgeo.util.get_num_threads()}")
    rng = np.random.default_rng(0)
    if args.sample:
        t = time.perf_counter()
        (e1, e2), _ = simulate_sample(args.points_per_station, 4, 1805)
        print(f"simulated the sample surveys in {time.perf_counter() - t:.1f} s")
        core = e1[rng.choice(len(e1), min(args.core, len(e1)), replace=False)]
        p = M3C2Params(normal_radius=0.25, cylinder_radius=0.1, cylinder_half_length=0.5)
        compare("sample", e1, e2, core, p, args.repeat, args.workers)
        return 0
    e1 = building(args.points, 1, bulge=False)
    e2 = building(args.points, 2, bulge=True)
    core = e1[rng.choice(len(e1), args.core, replace=False)]
    for key in args.params:
        compare(key, e1, e2, core, PARAM_SETS[key], args.repeat, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
