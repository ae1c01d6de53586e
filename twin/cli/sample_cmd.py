"""`twin sample`: generate the synthetic pavilion with its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import err, out


def sample(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the sample into.")],
    points_per_station: Annotated[
        int, typer.Option(min=1000, help="Points per scanner station (2,500,000 x 4 stations = 10M).")
    ] = 0,
    stations: Annotated[int, typer.Option(min=2, max=12, help="Scanner stations per survey.")] = 0,
    seed: Annotated[int | None, typer.Option(help="Random seed; the same seed gives the same scans.")] = None,
) -> None:
    """Generate the synthetic pavilion: one LAZ per station, two surveys, ground truth.

    Without options it makes the small sample bundled in sample_scans/.

    Example: twin sample --out /tmp/big --points-per-station 2500000 --stations 4
    """
    from twin.sample.generate import DEFAULT_POINTS_PER_STATION, DEFAULT_SEED, DEFAULT_STATIONS, generate  # noqa: PLC0415

    truth = generate(
        out_dir,
        points_per_station=points_per_station or DEFAULT_POINTS_PER_STATION,
        stations=stations or DEFAULT_STATIONS,
        seed=seed if seed is not None else DEFAULT_SEED,
        progress=lambda message: err.print(message, markup=False),
    )
    points = sum(st.point_count for sv in truth.surveys for st in sv.stations)
    out.print(f"wrote {points:,} points of the sample pavilion and its ground truth to {truth.root}")
