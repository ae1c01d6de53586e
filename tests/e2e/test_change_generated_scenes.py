"""Issue 21: change found where the truth moved and nowhere else, on generated buildings
unlike the pavilion (gate, hall, tower), each with a known bulge and lean
(twin.sample.scenes.change), compared as `twin compare` does by default: the later epoch
aligned onto the earlier by the robust ICP, its residual taken as the registration error
in the level of detection, M3C2 with the product's options. Both epochs start in their
true poses, so what is measured is the comparison, not registration. The truth at a core
point is how far the true surface moved along its normal (twin.sample.scenes.change.
surface_shift).

Per element, against the truth at every trusted core point:
- core points flagged significant where the true change is below their level of
  detection: under 1 %;
- the element's headline (its supported peak) within 2 mm of the largest true change of
  the same sign over its core points and within 15 cm of where it is, where that change
  is clear (over twice the element's mean LoD): a wall that bows moves both its faces,
  one toward the normal and the other away, by the same amount;
- no headline where nothing moved.

The bulging walls and every element that did not move meet these; the leaning elements
of these scenes (the gate's square posts, the hall's colonnade, the tower's annex) do not
yet: see test_a_leaning_post_is_measured_within_its_level_of_detection.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from twin.compare.align import align_epochs
from twin.compare.inputs import core_points
from twin.compare.methods import run_m3c2
from twin.compare.options import m3c2_params, make_options
from twin.compare.stats import core_spacing, label_statistics
from twin.models.pointcloud import PointCloud
from twin.pipeline.spec import load_pipeline
from twin.pipeline.stages import prepare_stations
from twin.sample.deform import Lean, apply_deformations
from twin.sample.scanner import MeshScene
from twin.sample.scenes import generate_scene
from twin.sample.scenes.change import second_epoch, surface_shift

POINTS = 40_000
KINDS = ("gate", "hall", "tower")
STILL_SHARE_OF_LOD = 0.25  # a true change under this share of the LoD: still, as far as the detector can tell


def _site_cloud(scene, stations: list[np.ndarray]) -> np.ndarray:
    """The stations cleaned as the default pipeline cleans them, in the site frame."""
    pipeline, _ = load_pipeline("default")
    names = [st.name for st in scene.stations]
    clean = prepare_stations({n: PointCloud(x) for n, x in zip(names, stations, strict=True)}, pipeline)
    return np.concatenate([clean[n].xyz @ st.true_pose[:3, :3].T + st.true_pose[:3, 3]
                           for n, st in zip(names, scene.stations, strict=True)])


def _labels(scene: MeshScene, points: np.ndarray) -> np.ndarray:
    """The element id of the nearest triangle of the reference mesh ('' beyond 5 cm)."""
    from twin._deps import open3d

    ans = scene.scene.compute_closest_points(open3d().core.Tensor(points.astype(np.float32)))
    near = np.linalg.norm(ans["points"].numpy() - points, axis=1) < 0.05
    ids = np.array(scene.mesh.element_ids, dtype=object)[scene.mesh.element_index[ans["primitive_ids"].numpy()]]
    return np.where(near, ids, "").astype(str)


@cache
def _figures(kind: str) -> dict[str, dict]:
    """Per element of the scene: what moved (bulge, lean or nothing) and the checks' figures."""
    scene = generate_scene(kind, 0, points_per_station=POINTS)
    mesh, deformations, later = second_epoch(scene, seed=101)
    epoch1 = _site_cloud(scene, [st.xyz for st in scene.stations])
    epoch2 = _site_cloud(scene, later)
    options = make_options(method="m3c2")
    aligned = align_epochs(epoch1, epoch2, max_distance=options.align_max_distance, voxel=options.align_voxel)
    moved = epoch2 @ aligned.transform[:3, :3].T + aligned.transform[:3, 3]
    scanners = [list(map(float, st.true_pose[:3, 3])) for st in scene.stations]
    core, _ = core_points(options, epoch1, np.zeros(3), "epoch 1")
    params = m3c2_params(options, registration_error=aligned.residual, stations=scanners)
    result = run_m3c2(epoch1, moved, core, params)
    reference = MeshScene(mesh)
    labels = _labels(reference, core)
    expected = surface_shift(reference, MeshScene(apply_deformations(mesh, deformations)), core, result.normal)
    trusted = result.trusted & np.isfinite(expected)
    stats = {s.label: s for s in label_statistics(labels, result.distance, result.significant, core, result.lod,
                                                  ignore="", trusted=trusted, spacing=core_spacing(core))}
    how = {d.element: "lean" if isinstance(d, Lean) else "bulge" for d in deformations}
    out = {}
    for element in sorted(set(labels) - {""}):
        on = (labels == element) & trusted
        if on.sum() < 20:
            continue
        row = stats[element]
        below = on & (np.abs(expected) < result.lod)
        still = on & (np.abs(expected) < STILL_SHARE_OF_LOD * result.lod)
        figures = {"moved": how.get(element, ""), "core_points": int(on.sum()),
                   "false_share": float(result.significant[below].mean()) if below.any() else 0.0,
                   "still_flagged": float(result.significant[still].mean()) if still.any() else 0.0,
                   "covered": float(np.mean(np.abs(result.distance[on] - expected[on]) <= result.lod[on])),
                   "headline": row.max_change, "mean_lod": row.mean_lod}
        if np.isfinite(row.max_change):
            same = on & (np.sign(expected) == np.sign(row.max_change))
            k = np.flatnonzero(same)[np.argmax(np.abs(expected[same]))] if same.any() else -1
            figures["true_peak"] = float(expected[k]) if k >= 0 else float("nan")
            figures["peak_offset"] = float(np.linalg.norm(np.asarray(row.max_change_xyz) - core[k])) if k >= 0 else np.inf
        else:
            figures["true_peak"] = float(expected[on][np.argmax(np.abs(expected[on]))])
        print(f"{kind} {element} ({figures['moved'] or 'still'}): {figures['core_points']} core points, "
              f"{figures['false_share']:.2%} flagged below their LoD, headline {row.max_change * 1000:+.1f} mm, "
              f"true {figures['true_peak'] * 1000:+.1f} mm, mean LoD {row.mean_lod * 1000:.1f} mm")
        out[element] = figures
    return out


def _problems(element: str, f: dict) -> list[str]:
    problems = []
    if f["false_share"] >= 0.01:
        problems.append(f"{element}: {f['false_share']:.1%} of its core points below their LoD flagged significant")
    if f["moved"] and abs(f["true_peak"]) > 2 * f["mean_lod"]:
        if not abs(f["headline"] - f["true_peak"]) < 0.002:
            problems.append(f"{element}: headline {f['headline'] * 1000:+.1f} mm, true {f['true_peak'] * 1000:+.1f} mm")
        elif not f["peak_offset"] < 0.15:
            problems.append(f"{element}: headline {f['peak_offset']:.2f} m from the true peak")
    if not f["moved"] and np.isfinite(f["headline"]):
        problems.append(f"{element}: nothing moved, headline {f['headline'] * 1000:+.1f} mm")
    return problems


@pytest.mark.parametrize("kind", KINDS)
def test_a_bulge_is_found_and_nothing_else_moves(kind):
    figures = _figures(kind)
    bulges = [e for e, f in figures.items() if f["moved"] == "bulge" and abs(f["true_peak"]) > 2 * f["mean_lod"]]
    assert bulges, "no bulge clear enough to check: the test would prove nothing"
    problems = [p for e, f in figures.items() if f["moved"] != "lean" for p in _problems(e, f)]
    assert not problems, problems


@pytest.mark.xfail(strict=True, reason="issue 21, open: leaning 1 degree, the gate's square posts and the hall's "
                   "colonnade have 9.6 % and 11.1 % of the core points whose true change is under their LoD flagged, "
                   "and headlines miss by 2.1 mm (posts: -55.1 vs -53.0) and 9.4 mm (tower annex: +70.1 vs +79.5). "
                   "The measurement is calibrated (test_the_level_of_detection_bounds_the_error_everywhere): a true "
                   "change that runs smoothly through the LoD is flagged near the LoD by noise alone, and a headline "
                   "is as accurate as the LoD where it stands (about 30 mm at the posts' tops), not 2 mm")
def test_a_leaning_post_is_measured_within_its_level_of_detection():
    problems = [p for kind in KINDS for e, f in _figures(kind).items() if f["moved"] == "lean"
                for p in _problems(e, f)]
    assert not problems, problems


def test_the_level_of_detection_bounds_the_error_everywhere():
    """What the strict test above asks of a leaning element cannot hold for an unbiased
    detector: where the true change varies smoothly through the LoD (a post leaning 1
    degree, 0 at its foot, 55 mm at its top), a core point whose true change is 0.9 times
    its LoD is flagged about as often as not, by noise alone. Measured on these scenes: of
    the gate's posts' core points with a true change of 0.75-1.0 LoD, 59 of 166 are flagged;
    0.25-0.5 LoD, 3 of 243; under 0.25 LoD, 0 of 139. What can be asked, and is asked here
    of every element: the LoD bounds the error (|measured - true| <= LoD) at 95 % of the
    trusted core points or more, as a 95 % level should (measured 98.8-100 %); and where
    the true change is under a quarter of the LoD, under 1 % are flagged (measured at most
    0.4 %, the hall's colonnade)."""
    problems = []
    for kind in KINDS:
        for element, f in _figures(kind).items():
            if f["covered"] < 0.95:
                problems.append(f"{kind} {element}: the LoD bounds the error at {f['covered']:.1%} of its core points")
            if f["still_flagged"] >= 0.01:
                problems.append(f"{kind} {element}: {f['still_flagged']:.1%} flagged where the truth is under "
                                f"{STILL_SHARE_OF_LOD:.0%} of the LoD")
    assert not problems, problems
