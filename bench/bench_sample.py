"""The main job on a sample dataset, timed per stage and measured against its truth.

    ./run bench sample                                   # the committed sample_scans/
    ./run bench sample --samples /tmp/big                # a larger one from `twin sample --out /tmp/big ...`
    ./run bench sample --workspace twin-demo             # figures of an already processed workspace

Runs `twin demo`'s job (ingest, default pipeline, export, comparison, report) into a
fresh workspace unless one is given, then prints: each station's registration error
against the true pose (degrees; millimetres at the scanner), the mesh of the first
survey against the true surface as Tanks and Temples and DTU measure it (precision over
every face, completeness over the true surface the scans sampled, the F-score at 5 mm
and 1 cm; see twin.sample.evaluate), the mesh's own support figures where provenance
holds them, the older densely-seen accuracy and the faces bridging the openings, the share of each element's points carrying its label (the worst few), and
seconds and peak memory per pipeline stage from the provenance records.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.catalog.models import latest_model  # noqa: E402
from twin.catalog.workspace import Workspace  # noqa: E402
from twin.pipeline.demo import bundled_samples, run_demo, survey_folders  # noqa: E402
from twin.sample import load_truth  # noqa: E402
from twin.sample.evaluate import label_shares, mesh_accuracy, mesh_scores, registration_errors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=None, help="sample folder (default: sample_scans/)")
    parser.add_argument("--workspace", type=Path, default=None, help="an already processed workspace")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    samples = args.samples or bundled_samples()
    if args.workspace is None:
        root = Path(tempfile.mkdtemp(prefix="twin-bench-")) / "ws"
        started = time.perf_counter()
        run_demo(root, samples, workers=args.workers, on_step=lambda m: print(m, file=sys.stderr))
        print(f"main job: {time.perf_counter() - started:.1f} s wall ({args.workers} workers) in {root}")
    else:
        root = args.workspace
    ws = Workspace.open(root)
    for structure, survey, _ in survey_folders(samples):
        truth = load_truth(samples / structure / "truth" / "ground_truth.json")
        model = latest_model(ws, structure, survey)
        folder = Path(model.folder)
        print(f"\n{structure}/{survey}: model {model.key[:16]}")
        stations = model.provenance["registration"]["stations"]
        for e in registration_errors(truth, survey, {n: s["transform"] for n, s in stations.items()}):
            print(f"  registration {e.station}: {e.rotation_deg:.4f} deg, {e.translation_mm:.1f} mm")
        if survey == survey_folders(samples)[0][1]:
            from twin.io.ply_write import read_mesh_ply  # noqa: PLC0415
            from twin.io.registry import read_scan  # noqa: PLC0415

            mesh, cloud = read_mesh_ply(folder / "mesh-full.ply"), read_scan(folder / "cloud.laz")
            scores = mesh_scores(mesh, cloud, truth, survey)
            p, c = scores.precision, scores.completeness
            print(f"  mesh precision (every face, {p.per_m2:g} samples/m² over {p.area_m2:.1f} m²): "
                  f"{p.within_5mm:.1%} within 5 mm of the truth, {p.within_10mm:.1%} within 1 cm; "
                  f"mean {p.mean_mm:.1f} mm, median {p.median_mm:.1f} mm, p95 {p.p95_mm:.1f} mm")
            print(f"  mesh completeness (true surface with >= {scores.min_points} points within "
                  f"{100 * scores.radius_m:g} cm: {scores.sampled_share:.1%} of it, {c.area_m2:.1f} m², "
                  f"{c.per_m2:g} samples/m²): {c.within_5mm:.1%} within 5 mm of the mesh, {c.within_10mm:.1%} "
                  f"within 1 cm; mean {c.mean_mm:.1f} mm, p95 {c.p95_mm:.1f} mm")
            print(f"  mesh F-score: {scores.f_score_5mm:.1%} at 5 mm, {scores.f_score_10mm:.1%} at 1 cm; "
                  f"{scores.bridging_faces} bridging faces")
            support = model.provenance.get("mesh_support")
            if support:
                print("  mesh support (provenance): " + ", ".join(f"{k} {v}" for k, v in support.items()))
            acc = mesh_accuracy(mesh, cloud, truth, survey)
            print(f"  mesh, densely seen surface only: mean {acc.mean_mm:.2f} mm, median {acc.median_mm:.2f} mm, "
                  f"p95 {acc.p95_mm:.2f} mm over {acc.seen_share:.1%} of the true surface")
        worst = sorted((share, e, n) for e, (share, n) in label_shares(folder, truth, survey).items())[:3]
        print("  labels, worst elements: " + ", ".join(f"{e} {s:.2%} of {n}" for s, e, n in worst))
        for stage in model.provenance.get("stages", []):
            print(f"  stage {stage.get('stage'):16s} {stage.get('seconds', 0):7.1f} s  "
                  f"peak {stage.get('peak_rss_mb', 0):6.0f} MB  {'cached' if stage.get('cached') else ''}")


if __name__ == "__main__":
    main()
