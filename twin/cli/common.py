"""Options, output and error handling shared by every command."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from twin.errors import error_lines, exit_code_for

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $TWIN_WORKSPACE, else the folder you are in or a parent).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]


# Typer's own control flow (exit, abort, usage errors) passes through untouched.
_PASS_THROUGH = (typer.Exit, typer.Abort, typer.TyperException)


class TwinGroup(TyperGroup):
    """Maps exceptions to one clear line and an exit code, in one place for every command."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # keep declaration order in --help
        return list(self.commands)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except BrokenPipeError:  # output piped into `head` and the reader left: stop quietly
            import os  # noqa: PLC0415

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _debug(ctx):
                raise
            lines = error_lines(exc)
            if lines is not None:  # twin's own errors, and the foreign ones errors.translate knows
                for line in lines:
                    err.print(f"error: {line}", markup=False)
                raise typer.Exit(exit_code_for(exc)) from None
            where = traceback.extract_tb(exc.__traceback__)[-1]
            err.print(
                f"internal error: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno}); "
                "rerun with --debug for the traceback and report it",
                markup=False,
            )
            raise typer.Exit(1) from None


def _debug(ctx: typer.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("debug"))


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=TwinGroup,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def print_json(data: Any) -> None:
    """JSON on stdout, never wrapped or coloured, so scripts can parse it."""
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if hasattr(d, "model_dump") else d for d in data]
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def byte_progress():
    """A rich progress bar over bytes, on stderr."""
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description:>9}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
