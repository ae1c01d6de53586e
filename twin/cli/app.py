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
    inventory_cmd,
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
    "Start with `twin init`, then `twin ingest`; `twin demo` runs everything on the bundled sample.\n\n"
    "Every command takes --json. Libraries' warnings (Python's, Open3D's) go to the log file, "
    "$TWIN_LOG or else ~/.local/state/twin/twin.log, not to the terminal."
)


def _version(value: bool) -> None:
    if value:
        out.print(f"twin {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks for errors, and let libraries' warnings through to the terminal.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="JSON for scripts from whatever command follows (the same as its own --json).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = {"debug": debug, "json": as_json}


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
app.add_typer(inventory_cmd.app, name="inventory")
app.command()(layers_cmd.query)
app.command()(compare_cmd.compare)
app.command()(report_cmd.report)
app.command()(export_cmd.export)
app.command()(tiles_cmd.tiles)
app.command()(sample_cmd.sample)


def main() -> None:
    app()
