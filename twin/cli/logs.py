"""Where the libraries' chatter goes: into twin's log file, not onto the terminal.

While a command runs (``capture()``, entered once per process by the command group):

- Python warnings (``warnings.warn`` in numpy, laspy, dask ...) go through
  ``logging.captureWarnings`` to the log;
- log records of every library that logs through the root logger go to the log;
- whatever else is written to standard output and error, by native code straight to file
  descriptors 1 and 2 (Open3D's PoissonRecon ``[WARNING] ... bad average roots``, which no
  verbosity setting silences), by Python code through ``sys.stdout``/``sys.stderr``
  (Open3D's messages, which it hands to Python's ``print``; progress bars) and by worker
  processes, is read from a pipe into the log, line by line. twin's own output keeps the
  terminal: its consoles (``twin.cli.common.out``/``err``) and ``print_json`` write to
  copies of the original descriptors (:func:`terminal`).

The log is ``$TWIN_LOG`` if set, else ``$XDG_STATE_HOME/twin/twin.log`` (by default
``~/.local/state/twin/twin.log``), rotated at 5 MB with two old copies kept. ``--debug``
turns the capture off: everything reaches the terminal, as it comes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

LOG_ENV = "TWIN_LOG"
MAX_BYTES = 5_000_000
BACKUPS = 2
FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s: %(message)s"

_lock = threading.Lock()
_handler: logging.Handler | None = None
_copies: dict[tuple, io.TextIOWrapper] = {}  # (fd, device, inode) -> a text stream on a copy, kept
_active: dict[int, io.TextIOWrapper] = {}  # the copies twin writes to while capture() runs
_discarded: set[int] = set()
_depth = 0


def log_path() -> Path:
    """The log file (see the module docstring)."""
    env = os.environ.get(LOG_ENV)
    if env:
        return Path(env).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "twin" / "twin.log"


def setup_logging() -> Path | None:
    """Send Python warnings and the root logger to the log file (once per process, and again
    when ``$TWIN_LOG`` changes). Returns the file, or None where no file could be opened (then
    the records are dropped rather than shown)."""
    global _handler
    path = log_path()
    with _lock:
        if _handler is not None and getattr(_handler, "twin_path", None) == path:
            return path
        root = logging.getLogger()
        if _handler is not None:
            root.removeHandler(_handler)
            _handler.close()
        handler: logging.Handler
        fallback = Path(tempfile.gettempdir()) / f"twin-{os.getuid() if hasattr(os, 'getuid') else 0}.log"
        for candidate in (path, fallback):
            try:
                candidate.parent.mkdir(parents=True, exist_ok=True)
                handler = logging.handlers.RotatingFileHandler(candidate, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                               encoding="utf-8", delay=True)
                with open(candidate, "a", encoding="utf-8"):
                    pass
                path = candidate
                break
            except OSError:
                continue
        else:
            handler, path = logging.NullHandler(), None
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_worth_keeping)
        handler.twin_path = log_path()  # type: ignore[attr-defined]
        root.addHandler(handler)  # libraries' records at their own levels (WARNING and up by default)
        logging.getLogger("twin").setLevel(logging.INFO)  # twin's: the command line, native output
        logging.captureWarnings(True)
        _handler = handler
    return path


def _worth_keeping(record: logging.LogRecord) -> bool:
    """twin's records from INFO up (the command, native output); the libraries' from WARNING up
    (dask's scheduler logs every connection at INFO)."""
    return record.levelno >= logging.WARNING or record.name == "twin" or record.name.startswith("twin.")


def _stream_on_copy(fd: int, like) -> io.TextIOWrapper:
    """A text stream on a duplicate of ``fd``, made once per process and never closed (a
    library may keep a reference to it)."""
    st = os.fstat(fd)
    key = (fd, st.st_dev, st.st_ino)  # a new copy when the descriptor now points elsewhere
    stream = _copies.get(key)
    if stream is None:
        raw = io.BufferedWriter(io.FileIO(os.dup(fd), "w", closefd=False))  # lives as long as the process
        stream = io.TextIOWrapper(raw, encoding=getattr(like, "encoding", None) or "utf-8",
                                  errors=getattr(like, "errors", None) or "backslashreplace", line_buffering=True)
        _copies[key] = stream
    return stream


def terminal(fd: int):
    """While :func:`capture` runs: the stream on the original descriptor ``fd`` (1 or 2) for
    twin's own output; None otherwise (write to ``sys.stdout``/``sys.stderr`` as usual)."""
    return _active.get(fd)


def discard_stdout() -> None:
    """The reader of standard output went away (a closed pipe): drop whatever else is written there."""
    null = os.open(os.devnull, os.O_WRONLY)
    stream = _active.get(1)
    if stream is not None:
        os.dup2(null, stream.fileno())
        _discarded.add(1)
    else:
        os.dup2(null, sys.stdout.fileno())
    os.close(null)


def _is_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def _flush_c_stdio() -> None:
    """Flush C's stdio buffers (native code's printf and std::cout) into the pipe before it closes."""
    try:
        import ctypes  # noqa: PLC0415

        ctypes.CDLL(None).fflush(None)
    except Exception:  # noqa: BLE001 - no libc to call: nothing buffered there either
        pass


class _Pump(threading.Thread):
    """Reads the pipe and logs each line it gets, as ``twin.native``."""

    def __init__(self, fd: int):
        super().__init__(name="twin-native-output", daemon=True)
        self.fd = fd
        self.lines = 0
        self.logger = logging.getLogger("twin.native")

    def run(self) -> None:
        pending = b""
        try:
            while chunk := os.read(self.fd, 65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._log(line)
            if pending:
                self._log(pending)
        finally:
            os.close(self.fd)

    def _log(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip()
        if text.strip():
            self.lines += 1
            level = logging.WARNING if "warn" in text.lower() or "error" in text.lower() else logging.INFO
            self.logger.log(level, "%s", text)


@contextlib.contextmanager
def capture(command: str = "") -> Iterator[Path | None]:
    """Route the libraries' output to the log while the block runs (see the module
    docstring); nested uses do nothing more. Yields the log file."""
    global _depth
    path = setup_logging()
    if _depth:
        _depth += 1
        try:
            yield path
        finally:
            _depth -= 1
        return
    logging.getLogger("twin").info("twin %s", command)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    _flush_c_stdio()
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if _is_fd(stream, fd):  # a real descriptor (not a test runner's buffer): keep it for twin
            _active[fd] = _stream_on_copy(fd, stream)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = _Pump(read_end)
    pump.start()
    _depth = 1
    try:
        yield path
    finally:
        _depth = 0
        for stream in (sys.stdout, sys.stderr, *_active.values()):
            with contextlib.suppress(Exception):
                stream.flush()
        _flush_c_stdio()
        _active.clear()
        for fd, copy in saved.items():
            if fd in _discarded:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
            else:
                os.dup2(copy, fd)
            os.close(copy)
        _discarded.clear()
        pump.join(timeout=1.0)  # a child process still holding the pipe must not hold up the exit
