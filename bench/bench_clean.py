"""Cleaning benchmark: twin vs plain open3d on the same PLY.

    python bench/bench_clean.py                      # 1M points, scan order and shuffled
    python bench/bench_clean.py --points 10000000 --runs 3
    python bench/bench_clean.py --order scan --backend scipy

Both sides read one binary PLY, run a statistical outlier filter (20 neighbours,
2 sigma) and then a 1 cm voxel downsampling:

- open3d: ``read_point_cloud`` → ``remove_statistical_outlier(20, 2.0)`` → ``voxel_down_sample(0.01)``
- twin:   ``read_scan`` → ``flag_statistical_outliers(20, 2.0)`` → ``drop_flagged`` → ``voxel_downsample(0.01)``

The test cloud is generated: a small site (hall, annex, columns, dome) ray-cast from one
station at 2 mm range noise, 0.5 % of returns thrown along their ray. ``scan`` keeps the
scanner's order (what a scanner writes), ``shuffled`` permutes it (what merged or
resampled clouds look like). Each variant runs in its own process (peak memory is that
process's max RSS, open3d's import included); the sides take turns and times are
the median of ``--runs``, with the median of the paired runs' ratios beside them.
CloudCompare is added as a column when its command line is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_cloud(n: int, seed: int = 0) -> np.ndarray:
    """About ``n`` points ray-cast from one station, in scan order."""
    from twin._deps import open3d

    o3d = open3d()
    rng = np.random.default_rng(seed)
    parts = []
    for size, at in (((40, 30, 0.1), (-20, -15, -0.1)), ((12, 8, 6), (-6, -4, 0)), ((5, 4, 3), (6, -4, 0))):
        m = o3d.geometry.TriangleMesh.create_box(*size)
        m.translate(at)
        parts.append(m)
    for i in range(6):
        c = o3d.geometry.TriangleMesh.create_cylinder(0.3, 5, resolution=40)
        c.translate((-6 + i * 2.4, -5.5, 2.5))
        parts.append(c)
    dome = o3d.geometry.TriangleMesh.create_sphere(3, resolution=40)
    dome.translate((0, 0, 6))
    parts.append(dome)
    mesh = parts[0]
    for p in parts[1:]:
        mesh += p
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    station = np.array([0.0, -12.0, 1.6])
    out, total, batch = [], 0, 0
    n_rays = int(n * 3.0)
    cols = int(np.sqrt(n_rays * 2.2))
    rows = n_rays // cols
    az = np.linspace(0, 2 * np.pi, cols, endpoint=False)
    el = np.linspace(-np.pi / 3, np.pi / 2.2, rows)
    for a0 in range(0, cols, max(1, cols // 16)):  # column batches bound memory
        a, e = np.meshgrid(az[a0 : a0 + max(1, cols // 16)], el, indexing="ij")
        d = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], -1).reshape(-1, 3)
        rays = np.hstack([np.broadcast_to(station, d.shape), d]).astype(np.float32)
        t = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy().astype(np.float64)
        ok = np.isfinite(t) & (t < 60)
        t = t[ok] + rng.normal(0, 0.002, ok.sum())
        thrown = rng.random(len(t)) < 0.005
        t[thrown] += rng.normal(0, 0.5, thrown.sum())
        out.append(station + d[ok] * t[:, None])
        total += len(t)
        batch += 1
        if total >= n:
            break
    xyz = np.concatenate(out)
    if len(xyz) < n:
        raise SystemExit(f"the scene gave only {len(xyz)} points; ask for fewer")
    return xyz[:n]


def write_ply(path: Path, xyz: np.ndarray) -> None:
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment bench_clean\n"
        f"element vertex {len(xyz)}\nproperty double x\nproperty double y\nproperty double z\nend_header\n"
    )
    with path.open("wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(np.ascontiguousarray(xyz, dtype="<f8").tobytes())


# --------------------------------------------------------------------------- workers


def run_open3d(ply: Path) -> dict:
    from twin._deps import open3d

    o3d = open3d()
    t0 = time.perf_counter()
    pcd = o3d.io.read_point_cloud(str(ply))
    t1 = time.perf_counter()
    kept, _ = pcd.remove_statistical_outlier(20, 2.0)
    down = kept.voxel_down_sample(0.01)
    t2 = time.perf_counter()
    return {"read_s": t1 - t0, "clean_s": t2 - t1, "total_s": t2 - t0, "kept": len(kept.points),
            "out": len(down.points)}


def _twin_reader():
    """twin's scan reader, imported before the clock starts (as open3d is on its side)."""
    try:
        from twin.io.registry import read_scan

        return read_scan
    except ImportError:  # no PLY reader in this checkout: read the bench's own layout
        from twin.models.pointcloud import PointCloud

        def read_bench_ply(ply: Path):
            raw = ply.read_bytes()
            start = raw.index(b"end_header\n") + len(b"end_header\n")
            return PointCloud(np.frombuffer(raw, dtype="<f8", offset=start).reshape(-1, 3))

        return read_bench_ply


def run_twin(ply: Path, backend: str) -> dict:
    from twin.ops.flags import drop_flagged
    from twin.ops.outliers import flag_statistical_outliers
    from twin.ops.voxel import voxel_downsample

    read = _twin_reader()
    t0 = time.perf_counter()
    cloud = read(ply)
    t1 = time.perf_counter()
    kept = drop_flagged(flag_statistical_outliers(cloud, 20, 2.0, backend=backend))
    down = voxel_downsample(kept, 0.01)
    t2 = time.perf_counter()
    return {"read_s": t1 - t0, "clean_s": t2 - t1, "total_s": t2 - t0, "kept": len(kept), "out": len(down)}


CC_TIMEOUT_S = 900


def run_cloudcompare(ply: Path) -> dict:
    """CloudCompare's SOR + spatial subsampling from its command line, headless.

    Qt's offscreen platform lets it start without a display (Debian's build otherwise aborts
    with "could not connect to display"). A run that still fails comes back as
    ``{"failed": reason}`` so that the table shows the column as failed, with why.
    """
    exe = shutil.which("CloudCompare") or shutil.which("cloudcompare")
    cmd = [exe, "-SILENT", "-AUTO_SAVE", "OFF", "-O", str(ply), "-SOR", "20", "2", "-SS", "SPATIAL", "0.01"]
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env, timeout=CC_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"failed": f"no answer within {CC_TIMEOUT_S} s"}
    except OSError as exc:
        return {"failed": f"cannot start {exe}: {exc.strerror or exc}"}
    if done.returncode != 0:
        return {"failed": f"exit {done.returncode}: {_last_line(done.stderr or done.stdout)}"}
    return {"read_s": float("nan"), "clean_s": float("nan"), "total_s": time.perf_counter() - t0,
            "kept": -1, "out": -1}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no message"


def worker(args: argparse.Namespace) -> None:
    if args.worker == "open3d":
        result = run_open3d(Path(args.ply))
    elif args.worker == "cloudcompare":
        result = run_cloudcompare(Path(args.ply))
    else:
        result = run_twin(Path(args.ply), args.backend)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(result))


def measure(kinds: list[str], ply: Path, runs: int, backend: str) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Median figures per kind, and every run's figures; the kinds take turns run by run,
    so that a machine slowing down or speeding up mid-bench weighs on every side alike."""
    results: dict[str, list[dict]] = {kind: [] for kind in kinds}
    failed: dict[str, str] = {}
    for _ in range(runs):
        for kind in kinds:
            if kind in failed:
                continue
            cmd = [sys.executable, __file__, "--worker", kind, "--ply", str(ply), "--backend", backend]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                failed[kind] = f"worker exit {done.returncode}: {_last_line(done.stderr)}"
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            if "failed" in row:
                failed[kind] = row["failed"]
                continue
            results[kind].append(row)
    keys = ("read_s", "clean_s", "total_s", "peak_rss_mb")
    summaries: dict[str, dict] = {}
    for kind, rows in results.items():
        if kind in failed:
            summaries[kind] = {"failed": failed[kind]}
            continue
        summaries[kind] = {k: statistics.median(r[k] for r in rows) for k in keys}
        summaries[kind].update(kept=rows[0]["kept"], out=rows[0]["out"])
    return summaries, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--order", choices=("scan", "shuffled", "both"), default="both")
    parser.add_argument("--backend", default="auto", help="twin's neighbour search: auto, pykdtree, open3d, scipy")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--ply", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from twin.ops.outliers import resolve_backend

    backend = resolve_backend(args.backend)
    have_cc = bool(shutil.which("CloudCompare") or shutil.which("cloudcompare"))
    orders = ("scan", "shuffled") if args.order == "both" else (args.order,)
    print(f"{args.points:,} points, median of {args.runs} runs, {os.cpu_count()} cores, twin backend {backend}")
    if not have_cc:
        print("CloudCompare: not installed (apt-get install cloudcompare), column left out")
    xyz = make_cloud(args.points)
    with tempfile.TemporaryDirectory() as tmp:
        for order in orders:
            pts = xyz if order == "scan" else xyz[np.random.default_rng(1).permutation(len(xyz))]
            ply = Path(tmp) / f"cloud_{order}.ply"
            write_ply(ply, pts)
            rows, runs = measure(["open3d", "twin", *(["cloudcompare"] if have_cc else [])], ply, args.runs, backend)
            print(f"\n[{order} order]")
            print(f"{'':14}{'read s':>9}{'clean s':>9}{'total s':>9}{'Mpts/s':>9}{'peak MB':>9}{'kept':>10}{'out':>10}")
            for name, r in rows.items():
                if "failed" in r:
                    print(f"{name:14}failed: {r['failed']}")
                    continue
                print(f"{name:14}{r['read_s']:9.3f}{r['clean_s']:9.3f}{r['total_s']:9.3f}"
                      f"{args.points / r['total_s'] / 1e6:9.2f}{r['peak_rss_mb']:9.0f}{r['kept']:10d}{r['out']:10d}")
            o, t = rows["open3d"], rows["twin"]
            if "failed" in o or "failed" in t:
                continue
            paired = statistics.median(a["total_s"] / b["total_s"] for a, b in zip(runs["open3d"], runs["twin"]))
            print(f"open3d / twin: total {o['total_s'] / t['total_s']:.2f}x (median of paired runs {paired:.2f}x), "
                  f"SOR + voxel alone {o['clean_s'] / t['clean_s']:.2f}x, "
                  f"peak memory {t['peak_rss_mb'] / o['peak_rss_mb']:.2f}x of open3d's")


if __name__ == "__main__":
    main()
