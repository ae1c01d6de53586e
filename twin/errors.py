"""The error hierarchy. Every error twin raises on purpose derives from TwinError
and from the builtin that best describes it, so callers can catch either.

Exit codes live here, in one place, so the CLI maps exceptions to codes without
knowing the domain.
"""

from __future__ import annotations


class TwinError(Exception):
    """Root of every deliberate twin error. The message is one line: what, where, what to do."""

    exit_code = 1


class UsageError(TwinError, ValueError):
    """An impossible parameter or option combination."""

    exit_code = 2


class ScanReadError(TwinError, OSError):
    """A scan file is missing, unreadable, truncated, corrupt or of the wrong format."""

    exit_code = 3

    def __str__(self) -> str:  # OSError's str() would format (errno, strerror)
        return self.args[0] if self.args else "scan read error"


class ScanContentError(ScanReadError, ValueError):
    """A scan parses but its content is unusable: zero points, NaN or infinite coordinates."""


class UnsupportedFormatError(ScanReadError):
    """No reader is registered for the file's extension or content."""


class CRSError(TwinError, ValueError):
    """A coordinate reference system cannot be resolved."""

    exit_code = 2


class InvalidIdentifierError(TwinError, ValueError):
    """A structure, survey or station id that cannot be used as a file name."""

    exit_code = 2


class WorkspaceError(TwinError, FileNotFoundError):
    """The folder is not a twin workspace, or the workspace is damaged."""

    exit_code = 4

    def __str__(self) -> str:
        return self.args[0] if self.args else "workspace error"


class NotFoundError(TwinError, LookupError):
    """A structure, survey, scan or model that the catalog does not hold."""

    exit_code = 4


class IntegrityError(TwinError, RuntimeError):
    """Stored bytes no longer match their recorded hash."""

    exit_code = 5


class SpecError(TwinError, ValueError):
    """A pipeline or layer file that does not validate."""

    exit_code = 2


class ProcessingError(TwinError, RuntimeError):
    """A processing stage could not produce a trustworthy result (e.g. a station that does not align)."""

    exit_code = 6


def exit_code_for(exc: BaseException) -> int:
    """The process exit code for an exception reaching the CLI."""
    if isinstance(exc, TwinError):
        return exc.exit_code
    known = translate(exc)
    return known.exit_code if known is not None else 1


def error_lines(exc: BaseException) -> list[str] | None:
    """The lines (without "error: ") the CLI prints for ``exc``; None for an internal error.

    The one place where an exception becomes what the user reads: twin's own errors as
    they are (an ingest refusal has one line per file), a few foreign ones that are about
    the user's machine rather than a bug (see :func:`translate`), and nothing else.
    """
    known = exc if isinstance(exc, TwinError) else translate(exc)
    if known is None:
        return None
    return list(getattr(known, "problems", None) or [str(known)])


def translate(exc: BaseException) -> TwinError | None:
    """A TwinError for a foreign exception whose cause is the machine or the input, not twin:
    a full disk, a file or folder without permission, a catalog locked by another process
    for longer than the busy timeout. None for anything else (a bug: an internal error)."""
    import errno  # noqa: PLC0415

    if isinstance(exc, OSError) and not isinstance(exc, TwinError):
        where = exc.filename or "a file"
        if exc.errno == errno.ENOSPC:
            return WorkspaceError(f"{where}: no space left on the device; free some space and run the command again")
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return WorkspaceError(f"{where}: permission denied ({exc.strerror}); check who owns it, or use another folder")
    original = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's exception
    if type(exc).__module__.startswith("sqlalchemy") and original is not None:
        text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
        if "locked" in text or "busy" in text or "lock timeout" in text:
            return WorkspaceError(
                f"the catalog is busy: another twin process has held it for over a minute ({text}); "
                "wait for it to finish and run the command again"
            )
        if type(original).__name__ == "DatabaseError" and "malformed" in text:
            return WorkspaceError(f"the catalog is damaged ({text}); restore catalog.sqlite from a backup")
        if type(original).__module__.startswith("psycopg") and _is_psycopg_operational(original):
            return WorkspaceError(f"the catalog's PostgreSQL server stopped answering ({' '.join(text.split())}); "
                                  "check that it runs and the network, then run the command again")
    return None


def _is_psycopg_operational(exc: BaseException) -> bool:
    """The PostgreSQL server went away or cannot be reached (psycopg.OperationalError and its kin)."""
    import psycopg  # noqa: PLC0415 - only ever asked about one of its own exceptions

    return isinstance(exc, psycopg.OperationalError)

