"""`twin sample`: generate the synthetic pavilion with its ground truth, a site of
several pavilion-like buildings (--buildings), or a scene for testing registration
(gate, hall, tower, courtyard, statue)."""

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
    buildings: Annotated[
        int, typer.Option(min=1, max=999, help="Pavilion-like buildings on one site, scanned in one survey.")
    ] = 1,
    points: Annotated[
        int | None, typer.Option(min=1000, help="Points in all (instead of --points-per-station), e.g. 200000000.")
    ] = None,
    surveys: Annotated[
        int | None, typer.Option(min=1, max=2, help="The pavilion's surveys: 1 (2024) or 2 (and 2025; default).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate the synthetic pavilion (one LAZ per station, two surveys, ground truth),
    a site of several pavilion-like buildings in one survey (--buildings), or with
    --scene one survey of a generated scene and its truth.json.

    Without options it makes the small sample bundled in sample_scans/.

    Example: twin sample --out /tmp/big --points-per-station 2500000 --stations 4
    (or --buildings 20 --points 200000000 --out /tmp/site for a 200M-point site of 20
    buildings, written station by station in bounded memory; or --scene gate --seed 3
    --out /tmp/scenes for a generated gate)
    """
    from twin.errors import UsageError  # noqa: PLC0415

    if scene not in SCENES:
        raise UsageError(f"--scene {scene}: unknown scene; choose one of {', '.join(SCENES)}")
    if points is not None and points_per_station is not None:
        raise UsageError("give --points or --points-per-station, not both")
    if scene != "pavilion" and (buildings > 1 or points is not None or surveys is not None):
        raise UsageError(f"--buildings, --points and --surveys are for the pavilion, not for the {scene} scene")
    if buildings > 1 and surveys is not None:
        raise UsageError("a site of several buildings has one survey; --surveys is for the pavilion alone")
    if scene != "pavilion":
        _scene(out_dir, scene, points_per_station, stations, seed, as_json)
    elif buildings > 1:
        _site(out_dir, buildings, stations, points, points_per_station, seed, as_json)
    else:
        if points is not None:
            points_per_station = points // (stations or 4)
        _pavilion(out_dir, points_per_station, stations, seed, surveys or 2, as_json)


def _scene(out_dir: Path, scene: str, points_per_station: int | None, stations: int | None, seed: int | None,
           as_json: bool) -> None:
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


def _pavilion(out_dir: Path, points_per_station: int | None, stations: int | None, seed: int | None, surveys: int,
              as_json: bool) -> None:
    from twin.errors import UsageError  # noqa: PLC0415

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
        surveys=surveys,
        progress=_say,
    )
    points = sum(st.point_count for sv in truth.surveys for st in sv.stations)
    if as_json:
        root = Path(truth.root)
        print_json({"scene": "pavilion", "seed": seed if seed is not None else DEFAULT_SEED, "root": str(root),
                    "points": points, "truth": str(root / "truth"),
                    "surveys": [{"id": sv.id, "date": sv.date,
                                 "stations": [{"name": st.name, "file": str(root / st.file), "points": st.point_count}
                                              for st in sv.stations]} for sv in truth.surveys]})
        return
    out.print(f"wrote {points:,} points of the sample pavilion and its ground truth to {truth.root}")


def _say(message: str) -> None:
    err.print(message, markup=False)


def _site(out_dir: Path, buildings: int, stations: int | None, points: int | None, points_per_station: int | None,
          seed: int | None, as_json: bool) -> None:
    from twin.errors import UsageError  # noqa: PLC0415
    from twin.sample.generate import DEFAULT_SEED, DEFAULT_STATIONS  # noqa: PLC0415
    from twin.sample.sites import generate_site  # noqa: PLC0415

    stations = stations or DEFAULT_STATIONS
    if stations > 12:
        raise UsageError(f"--stations {stations}: a building of the site takes 2..12 stations")
    if points_per_station is not None:
        points = points_per_station * stations * buildings
    try:
        site = generate_site(out_dir, buildings=buildings, stations=stations, points=points,
                             seed=seed if seed is not None else DEFAULT_SEED, progress=_say)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        print_json({"site": str(site.root), "survey": site.survey.id, "points": site.point_count,
                    "buildings": [{"id": b.id, "truth": str(site.root / b.truth),
                                   "stations": [{"name": st.name, "file": str(site.root / st.file),
                                                 "points": st.point_count} for st in b.stations]}
                                  for b in site.buildings]})
        return
    out.print(f"wrote {site.point_count:,} points of {buildings} buildings ({len(site.station_files())} stations, one "
              f"survey) and their ground truth to {site.root}")
