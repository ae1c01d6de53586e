"""The content-addressed store: raw files kept under their SHA-256, read-only, never rewritten."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from twin.io.atomic import atomic_target, atomic_write_bytes

__all__ = ["READ_ONLY", "RawStore", "atomic_target", "atomic_write_bytes", "file_digest"]

_BLOCK = 4 * 1024 * 1024
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH

Progress = Callable[[int], None]  # called with the number of bytes just processed


def file_digest(path: Path, algorithm: str = "sha256", progress: Progress | None = None) -> str:
    """Hex digest of a file, read in blocks."""
    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


class RawStore:
    """Raw scans under ``<root>/raw/<aa>/<sha256><ext>``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def relative_path(self, sha256: str, suffix: str) -> Path:
        return Path("raw") / sha256[:2] / f"{sha256}{suffix.lower()}"

    def path_for(self, sha256: str, suffix: str) -> Path:
        return self.root / self.relative_path(sha256, suffix)

    def add(self, source: Path, sha256: str, progress: Progress | None = None) -> tuple[Path, bool]:
        """Copy ``source`` in under its hash; returns (stored path, whether it was new).

        The copy goes to a temporary file that is hashed as it is written, checked, made
        read-only and only then renamed into place, so a crash never leaves a partial
        blob under a valid name.
        """
        target = self.path_for(sha256, Path(source).suffix)
        if target.exists():
            return target, False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".tmp")
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, Path(source).open("rb") as src:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
                    if progress:
                        progress(len(block))
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise OSError(f"{source}: the file changed while it was being ingested; try again")
            os.chmod(tmp, READ_ONLY)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target, True

    def remove(self, path: Path) -> None:
        """Undo an add that its catalog transaction did not commit."""
        path = Path(path)
        if path.exists():
            os.chmod(path, READ_ONLY | stat.S_IWUSR)
            path.unlink()

