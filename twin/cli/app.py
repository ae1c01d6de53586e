"""The `twin` application: global options and the command list."""

from __future__ import annotations

from typing import Annotated

import typer

from twin import __version__
from twin.cli import (
    compare_cmd,
    demo_cmd,
    export_cmd,
    inspect_cmd,
    layers_cmd,
    process_cmd,
    registration_cmd,
    report_cmd,
    sample_cmd,
    tiles_cmd,
    workspace_cmd,
)
from twin.cli.common import new_app, out

app = new_app(
    "twin turns laser scans of heritage buildings into annotated 3D digital twins.\n\n"
    "Start with `twin init`, then `twin ingest`; `twin demo` runs everything on the bundled sample."
)


def _version(value: bool) -> None:
    if value:
        out.print(f"twin {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = {"debug": debug}


app.command()(demo_cmd.demo)
app.command()(inspect_cmd.inspect)
app.command()(workspace_cmd.init)
app.command()(workspace_cmd.ingest)
app.command()(workspace_cmd.structures)
app.command()(workspace_cmd.surveys)
app.command()(workspace_cmd.scans)
app.command()(workspace_cmd.verify)
app.command()(process_cmd.process)
app.command()(registration_cmd.registration)
app.add_typer(layers_cmd.app, name="layers")
app.command()(layers_cmd.query)
app.command()(compare_cmd.compare)
app.command()(report_cmd.report)
app.command()(export_cmd.export)
app.command()(tiles_cmd.tiles)
app.command()(sample_cmd.sample)


def main() -> None:
    app()
