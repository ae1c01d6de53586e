"""Write a generated scene: one LAZ per station (its own frame, as the scanner wrote it)
and ``truth.json`` (true poses, the scene's parameters, how each station was set up)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import laspy
import numpy as np

from twin import __version__
from twin.sample.generate import las_header
from twin.sample.scenes.survey import GeneratedScene

TRUTH_FILE = "truth.json"
DATE = dt.date(2026, 3, 1)


def _scale(scene: GeneratedScene) -> float:
    """A tenth of a millimetre for buildings, 10 µm for objects: far below the noise."""
    return 1e-5 if scene.is_object else 1e-4


def _write_las(path: Path, scene: GeneratedScene, index: int) -> None:
    st = scene.stations[index]
    header = las_header(DATE, np.zeros(3), index + 1, None)
    header.scales = np.full(3, _scale(scene))
    n = len(st.xyz)
    rec = laspy.ScaleAwarePointRecord.zeros(n, header=header)
    rec.x, rec.y, rec.z = st.xyz[:, 0], st.xyz[:, 1], st.xyz[:, 2]
    rec.intensity = st.intensity
    rgb16 = st.rgb.astype(np.uint16) << 8
    rec.red, rec.green, rec.blue = rgb16[:, 0], rgb16[:, 1], rgb16[:, 2]
    rec.return_number = np.ones(n, dtype=np.uint8)
    rec.number_of_returns = np.ones(n, dtype=np.uint8)
    rec.point_source_id = np.full(n, index + 1, dtype=np.uint16)
    tmp = path.with_name(path.name + ".tmp")
    with laspy.open(tmp, mode="w", header=header, do_compress=True, laz_backend=laspy.LazBackend.Lazrs) as writer:
        writer.write_points(rec)
    os.replace(tmp, path)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), 9)
    return value


def truth_record(scene: GeneratedScene, files: list[str]) -> dict:
    stations = []
    for st, file in zip(scene.stations, files, strict=True):
        p, s = st.plan, st.plan.setup
        stations.append({
            "name": st.name, "file": file, "points": len(st.xyz), "doubled": st.doubled,
            "true_pose": st.true_pose, "tilt_deg": st.tilt_deg, "heading_deg": p.heading_deg,
            "density_factor": p.density, "noise_factor": p.noise, "window_share": p.window_share,
            "azimuth_window_deg": s.azimuth_window, "elevation_window_deg": s.elevation_window,
            "angular_step_deg": s.step_deg, "spacing_m": st.spacing, "outliers": int(st.outlier.sum()),
            "scanner": p.model.as_dict(),
        })  # fmt: skip
    return _plain({
        "kind": scene.kind, "seed": scene.seed, "is_object": scene.is_object, "frame": "site (metres, z up)",
        "pose_convention": "true_pose maps a station's own coordinates to the site frame (4x4, row-major)",
        "nominal_spacing_m": scene.nominal_spacing, "neighbours": scene.neighbours,
        "params": scene.params, "las_scale": _scale(scene), "generator": f"twin.sample.scenes {__version__}",
        "stations": stations,
    })  # fmt: skip


def write_scene(scene: GeneratedScene, out_dir: Path) -> Path:
    """Write ``out_dir/<kind>-<seed>/S1.laz ...`` and ``truth.json``; returns that folder."""
    root = Path(out_dir) / f"{scene.kind}-{scene.seed}"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("S*.laz"):
        stale.unlink()
    files = []
    for k, st in enumerate(scene.stations):
        files.append(f"{st.name}.laz")
        _write_las(root / files[-1], scene, k)
    tmp = root / (TRUTH_FILE + ".tmp")
    tmp.write_text(json.dumps(truth_record(scene, files), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, root / TRUTH_FILE)
    return root
