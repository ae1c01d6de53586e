"""Labelling throughput: points → element, phase and material, on a synthetic pavilion.

    .venv/bin/python bench/bench_labelling.py                   # 10M points, ~30 elements
    .venv/bin/python bench/bench_labelling.py --points 50000000 --repeat 3 --workers 1

The structure is a 40 x 30 x 15 m building near Hue (UTM 48N): a platform, walls as
polygon footprints, a grid of columns as oriented boxes, beams, a roof and a few unions.
Points are float64 local coordinates about a round UTM origin, as the readers produce
them. Prints the median time of --repeat runs (compile included) and points per second.
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

from twin.models.layers import LayerFile  # noqa: E402
from twin.ops.labelling import compile_layers, label_counts, label_points  # noqa: E402

X0, Y0, Z0 = 749010.0, 1821020.0, 5.0
ORIGIN = np.array([749000.0, 1821000.0, 0.0])


def synthetic_layers() -> LayerFile:
    elements = [
        _el("platform", {"box": {"min": [X0 - 1, Y0 - 1, Z0 - 1], "max": [X0 + 41, Y0 + 31, Z0]}}),
        _el("floor", {"box": {"min": [X0, Y0, Z0], "max": [X0 + 40, Y0 + 30, Z0 + 0.3]}}),
        _el("roof", {"polygon": [[X0 - 2, Y0 - 2], [X0 + 42, Y0 - 2], [X0 + 42, Y0 + 32], [X0 - 2, Y0 + 32]],
                     "z_min": Z0 + 11, "z_max": Z0 + 15}),
    ]
    walls = {
        "wall-s": [[X0, Y0], [X0 + 40, Y0], [X0 + 40, Y0 + 0.6], [X0, Y0 + 0.6]],
        "wall-n": [[X0, Y0 + 29.4], [X0 + 40, Y0 + 29.4], [X0 + 40, Y0 + 30], [X0, Y0 + 30]],
        "wall-w": [[X0, Y0], [X0 + 0.6, Y0], [X0 + 0.6, Y0 + 30], [X0, Y0 + 30]],
        "wall-e": [[X0 + 39.4, Y0], [X0 + 40, Y0], [X0 + 40, Y0 + 30], [X0 + 39.4, Y0 + 30]],
    }
    elements += [_el(k, {"polygon": v, "z_min": Z0, "z_max": Z0 + 11}) for k, v in walls.items()]
    columns = []
    for i, cx in enumerate(np.linspace(X0 + 5, X0 + 35, 4)):
        for j, cy in enumerate(np.linspace(Y0 + 5, Y0 + 25, 4)):
            cid = f"column-{i}{j}"
            columns.append(cid)
            elements.append(_el(cid, {"oriented_box": {"center": [cx, cy, Z0 + 5.5], "extent": [0.6, 0.6, 11],
                                                        "yaw_deg": 10.0 * (i + j)}}))
    for k, cy in enumerate((Y0 + 5, Y0 + 15, Y0 + 25)):
        elements.append(_el(f"beam-{k}", {"box": {"min": [X0, cy - 0.3, Z0 + 10.2], "max": [X0 + 40, cy + 0.3, Z0 + 11]}}))
    elements.append(_el("stair-s", {"box": {"min": [X0 + 17, Y0 - 3, Z0 - 1], "max": [X0 + 23, Y0, Z0]}}))
    elements.append(_el("stair-n", {"box": {"min": [X0 + 17, Y0 + 30, Z0 - 1], "max": [X0 + 23, Y0 + 33, Z0]}}))
    elements.append(_el("columns", {"union": columns}))
    elements.append(_el("structure", {"union": ["columns", "beam-0", "beam-1", "beam-2"]}))
    return LayerFile.model_validate({
        "metadata": {"title": "benchmark pavilion"},
        "elements": elements,
        "phases": [{"id": "built", "type": "construction", "date": "1805"}],
        "materials": [{"id": "wood", "label": "wood", "aat": "http://vocab.getty.edu/aat/300011914"}],
    })


def _el(eid: str, region: dict) -> dict:
    return {"id": eid, "name": eid, "class": "B2_Morphological_Building_Section", "region": region,
            "knowledge": {"status": "measured"}, "phases": ["built"], "materials": ["wood"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="threads (default: up to 8)")
    args = parser.parse_args()

    layers = synthetic_layers()
    rng = np.random.default_rng(0)
    world_lo = np.array([X0 - 3, Y0 - 3, Z0 - 2])
    world_size = np.array([46.0, 36.0, 19.0])
    xyz = rng.random((args.points, 3)) * world_size + (world_lo - ORIGIN)  # local, float64

    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        compiled = compile_layers(layers)
        labels = label_points(compiled, xyz, ORIGIN, workers=args.workers)
        phase = compiled.phase_of(labels)
        material = compiled.material_of(labels)
        times.append(time.perf_counter() - t)
    counts = label_counts(compiled, labels)
    seconds = statistics.median(times)
    leaves = len(compiled.regions)
    print(f"labelling: {args.points:,} points, {len(compiled.element_ids)} elements ({leaves} with regions), "
          f"{os.cpu_count()} CPUs, workers={args.workers or 'auto'}")
    print(f"  {seconds:.2f} s median of {args.repeat} ({args.points / seconds / 1e6:.1f} M points/s); "
          f"runs: {', '.join(f'{t:.2f}' for t in times)}")
    print(f"  labelled {args.points - counts[None]:,} points; unlabelled {counts[None]:,}; "
          f"phase/material set on {(phase >= 0).sum():,}/{(material >= 0).sum():,}")


if __name__ == "__main__":
    main()
