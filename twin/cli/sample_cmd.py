"""`twin sample`: generate the synthetic pavilion with its ground truth, or a scene for
testing registration (gate, hall, tower, courtyard, statue)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import JsonOpt, err, out, print_json

SCENES = ("pavilion", "gate", "hall", "tower", "courtyard", "statue")


def sample(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the sample into.")],
    points_per_station: Annotated[
        int | None, typer.Option(min=100, help="Points per scanner station (2,500,000 x 4 stations = 10M).")
    ] = None,
    stations: Annotated[
        int | None, typer.Option(min=2, max=40, help="Scanner stations per survey (pavilion: up to 12).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; the same seed gives the same scans.")] = None,
    scene: Annotated[
        str, typer.Option(help=f"What to scan: {'|'.join(SCENES)}; the others than the pavilion vary with --seed.")
    ] = "pavilion",
    as_json: JsonOpt = False,
) -> None:
    """Generate the synthetic pavilion (one LAZ per station, two surveys, ground truth),
    or with --scene one survey of a generated scene and its truth.json.

    Without options it makes the small sample bundled in sample_scans/.

    Example: twin sample --out /tmp/big --points-per-station 2500000 --stations 4
    (or --scene gate --seed 3 --out /tmp/scenes for a generated gate)
    """
    from twin.errors import UsageError  # noqa: PLC0415

    if scene not in SCENES:
        raise UsageError(f"--scene {scene}: unknown scene; choose one of {', '.join(SCENES)}")
    if scene != "pavilion":
        from twin.sample.scenes import generate_scene, write_scene  # noqa: PLC0415

        made = generate_scene(
            scene, seed if seed is not None else 0, points_per_station=points_per_station or 30_000, stations=stations
        )
        root = write_scene(made, out_dir)
        points = sum(len(st.xyz) for st in made.stations)
        if as_json:
            print_json({"scene": scene, "seed": made.seed, "root": str(root), "points": points,
                        "truth": str(root / "truth.json"),
                        "stations": [{"name": st.name, "file": str(root / f"{st.name}.laz"), "points": len(st.xyz)}
                                     for st in made.stations]})
            return
        out.print(
            f"wrote {points:,} points of the {scene} scene (seed {made.seed}, {len(made.stations)} stations) to {root}"
        )
        return
    if stations is not None and stations > 12:
        raise UsageError(f"--stations {stations}: the pavilion takes 2..12 stations")
    if points_per_station is not None and points_per_station < 1000:
        raise UsageError(f"--points-per-station {points_per_station}: the pavilion takes at least 1000")
    from twin.sample.generate import DEFAULT_POINTS_PER_STATION, DEFAULT_SEED, DEFAULT_STATIONS, generate  # noqa: PLC0415

    truth = generate(
        out_dir,
        points_per_station=points_per_station or DEFAULT_POINTS_PER_STATION,
        stations=stations or DEFAULT_STATIONS,
        seed=seed if seed is not None else DEFAULT_SEED,
        progress=lambda message: err.print(message, markup=False),
    )
    points = sum(st.point_count for sv in truth.surveys for st in sv.stations)
    if as_json:
        root = Path(truth.root)
        print_json({"scene": scene, "seed": seed if seed is not None else DEFAULT_SEED, "root": str(root),
                    "points": points, "truth": str(root / "truth"),
                    "surveys": [{"id": sv.id, "date": sv.date,
                                 "stations": [{"name": st.name, "file": str(root / st.file), "points": st.point_count}
                                              for st in sv.stations]} for sv in truth.surveys]})
        return
    out.print(f"wrote {points:,} points of the sample pavilion and its ground truth to {truth.root}")
