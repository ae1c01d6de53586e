"""`twin sample`: generate the synthetic pavilion with its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import out


def sample(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the sample into.")],
    points_per_station: Annotated[
        int, typer.Option(min=1000, help="Points per scanner station (2,500,000 x 4 stations = 10M).")
    ] = 0,
    stations: Annotated[int, typer.Option(min=2, max=12, help="Scanner stations per survey.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same scans.")] = 0,
) -> None:
    """Generate the synthetic pavilion: one LAZ per station, two surveys, ground truth.

    Without options it makes the small sample bundled in sample_scans/.

    Example: twin sample --out /tmp/big --points-per-station 2500000 --stations 4
    """
    from twin.sample.generate import SampleConfig, generate  # noqa: PLC0415

    overrides = {"seed": seed}
    if points_per_station:
        overrides["points_per_station"] = points_per_station
    if stations:
        overrides["stations"] = stations
    result = generate(out_dir, SampleConfig(**overrides))
    out.print(f"wrote the sample pavilion to {out_dir} ({result})")
