"""`twin tiles`: a survey at full resolution through the tile store, out as one COPC file."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import JsonOpt, WorkspaceOpt, count_progress, err, out, print_json


def tiles(
    structure: Annotated[str, typer.Argument(help="Structure id.")],
    survey: Annotated[str, typer.Option("--survey", help="Survey whose latest model gives the poses.")],
    tile_size: Annotated[
        float | None, typer.Option("--tile-size", min=0.5, help="Tile side in metres (default: from the memory limit).")
    ] = None,
    memory_limit: Annotated[
        float | None, typer.Option("--memory-limit", min=0.01,
                                   help="GiB a tile's work may use (default: 60 % of this machine's memory, "
                                        "shared by the workers).")
    ] = None,
    halo: Annotated[float, typer.Option(min=0.0, help="Halo width in metres (neighbours read around a tile).")] = 0.5,
    copc: Annotated[bool, typer.Option("--copc/--no-copc", help="Write <model>/cloud-full.copc.laz.")] = True,
    workers: Annotated[int, typer.Option(help="Dask worker processes on this machine (1: in this process).")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler; the workspace must be on a path "
                                      "every worker sees.")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stream a survey's raw stations, every point, through the poses of its latest model
    into tiles in the model folder, flag outliers tile by tile, and write the clean cloud
    as one COPC file, in bounded memory.

    Example: twin tiles pavilion --survey survey-2024 --tile-size 10 --workers 2
    """
    from twin.catalog.workspace import Workspace  # noqa: PLC0415
    from twin.tiles.survey import default_memory_budget, survey_tiles  # noqa: PLC0415

    ws = Workspace.open(workspace)
    client = None
    if scheduler or workers > 1:
        from distributed import Client  # noqa: PLC0415

        from twin.pipeline.batch import local_cluster  # noqa: PLC0415

        client = Client(scheduler) if scheduler else Client(local_cluster(workers))
    budget = memory_limit * 2**30 if memory_limit is not None else default_memory_budget(max(1, workers))
    tasks: dict[str, int] = {}
    with count_progress() as bar:

        def on_tile(step: str, done: int, total: int) -> None:
            if as_json:  # as the step lines: nothing but the JSON
                return
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done)

        try:
            result = survey_tiles(ws, structure, survey, tile_size=tile_size, halo=halo, memory_bytes=budget,
                                  copc=copc, client=client, on_tile=on_tile,
                                  on_step=(lambda m: None) if as_json else (lambda m: err.print(m, markup=False)))
        except KeyboardInterrupt:
            err.print("interrupted: run the same command again to resume from the tiles already done", markup=False)
            raise typer.Exit(130) from None
        finally:
            if client is not None:
                client.close()
    if as_json:
        print_json(result)
        return
    out.print(f"{structure}/{survey}: {result.points:,} points of {result.stations} station(s) in {result.tiles} "
              f"tiles of {result.tile_size:.1f} m ({result.store}); {result.flagged:,} flagged as outliers"
              + (f" ({result.widened:,} measured again past the halo)" if result.widened else "")
              + (f"; {result.resumed} tile step(s) resumed from an interrupted run" if result.resumed else ""),
              markup=False)
    if result.copc:
        out.print(f"wrote {result.written:,} points to {result.copc}", markup=False)
