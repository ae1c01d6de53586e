"""Options, output and error handling shared by every command.

Output: ``out`` (stdout) and ``err`` (stderr) are rich consoles. On a terminal, tables fit
its width; piped or redirected (a file, ``| less``, a script), nothing is cut at 80
columns: the width is unbounded unless ``$COLUMNS`` sets one. Library output (Python
warnings, native code's prints) goes to the log file, not the terminal (twin.cli.logs).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from typer.core import TyperGroup

from twin.errors import error_lines, exit_code_for

PIPED_WIDTH = 100_000  # "unbounded": a table or line is never cut when the output is not a terminal


class TwinConsole(Console):
    """A rich console whose width is the terminal's when its own stream is a terminal, and
    unbounded (``PIPED_WIDTH``, or ``$COLUMNS`` when set) when it is piped or redirected.

    rich's default asks every standard descriptor for a terminal size, so ``twin ... | cat``
    run from a terminal got that terminal's width (or 80) and cut long values."""

    def _size(self) -> ConsoleDimensions:
        if self._width is not None or self.is_dumb_terminal:
            return Console.size.fget(self)
        columns = self._environ.get("COLUMNS")
        height = self._height or 25
        if self.is_terminal:
            try:
                width, rows = os.get_terminal_size(self.file.fileno())
            except (AttributeError, ValueError, OSError):
                return Console.size.fget(self)
            if columns and columns.isdigit():
                width = int(columns)
            return ConsoleDimensions(width or 80, self._height or rows or 25)
        if columns and columns.isdigit():
            return ConsoleDimensions(int(columns), height)
        return ConsoleDimensions(PIPED_WIDTH, height)

    size = property(_size, Console.size.fset)

    @property
    def file(self):
        """The stream written to: while a command runs, a copy of the original descriptor
        (standard output and error themselves go to the log then: twin.cli.logs)."""
        if self._file is not None:
            return self._file
        from twin.cli.logs import terminal  # noqa: PLC0415

        stream = terminal(2 if self.stderr else 1)
        if stream is not None:
            return stream
        return sys.stderr if self.stderr else sys.stdout

    @file.setter
    def file(self, new_file) -> None:
        self._file = new_file


out = TwinConsole(highlight=False, soft_wrap=True)
err = TwinConsole(stderr=True, highlight=False, soft_wrap=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $TWIN_WORKSPACE, else the folder you are in or a parent).",
        show_default=False,
    ),
]


def wants_json(ctx: typer.Context | None) -> bool:
    """Whether ``--json`` was given before the command (``twin --json ...``, ``twin layers --json ...``)."""
    while ctx is not None:
        if isinstance(ctx.obj, dict) and ctx.obj.get("json"):
            return True
        ctx = ctx.parent
    return False


def _json_option(ctx: typer.Context, value: bool) -> bool:
    return bool(value) or wants_json(ctx)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.",
                                       callback=_json_option)]


# Typer's own control flow (exit, abort, usage errors) passes through untouched.
_PASS_THROUGH = (typer.Exit, typer.Abort, typer.TyperException)


def _asks_for_help(ctx: typer.Context) -> bool:
    """Whether the command line only asks for help (``-h``/``--help`` anywhere before ``--``,
    or a command group named without a command): Click prints it on standard output, which
    :func:`twin.cli.logs.capture` would send to the log."""
    args = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # Click 8.2 keeps the command name apart
    words = args[: args.index("--")] if "--" in args else args
    if any(w in ("-h", "--help") for w in words):
        return True
    group = ctx.command
    for w in words:
        sub = getattr(group, "commands", {}).get(w)  # typer vendors its own Click: no isinstance
        if sub is None:
            break
        group = sub
    return hasattr(group, "commands") and group is not ctx.command and words[-1:] == [group.name]


class TwinGroup(TyperGroup):
    """Maps exceptions to one clear line and an exit code, in one place for every command."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # keep declaration order in --help
        return list(self.commands)

    def invoke(self, ctx: typer.Context) -> Any:
        if ctx.parent is None and not ctx.params.get("debug") and not _asks_for_help(ctx):
            from twin.cli.logs import capture  # noqa: PLC0415

            with capture(" ".join(sys.argv[1:]) if ctx.info_name == "twin" else ctx.command_path):
                return self._invoke(ctx)
        return self._invoke(ctx)

    def _invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except BrokenPipeError:  # output piped into `head` and the reader left: stop quietly
            from twin.cli.logs import discard_stdout  # noqa: PLC0415

            discard_stdout()
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
    write_stdout(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_stdout(text: str) -> None:
    """Text on twin's standard output as it is (no rich rendering): JSON, a recorded file."""
    from twin.cli.logs import terminal  # noqa: PLC0415

    stream = terminal(1) or sys.stdout
    stream.write(text)
    stream.flush()


def byte_progress():
    """A rich progress bar over bytes, on stderr."""
    from rich.progress import DownloadColumn, TransferSpeedColumn  # noqa: PLC0415

    return _progress(DownloadColumn(), TransferSpeedColumn())


def count_progress():
    """A rich progress bar over items (tiles, stations), with the time left, on stderr."""
    from rich.progress import MofNCompleteColumn  # noqa: PLC0415

    return _progress(MofNCompleteColumn())


def _progress(*counters):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

    return Progress(
        TextColumn("{task.description:>9}"),
        BarColumn(),
        *counters,
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
        redirect_stdout=False,  # what libraries print goes to the log (twin.cli.logs), not above the bar
        redirect_stderr=False,
    )
