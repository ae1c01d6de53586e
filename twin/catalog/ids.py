"""Identifiers for structures, surveys and stations: they become folder and file names."""

from __future__ import annotations

import re

from twin.errors import InvalidIdentifierError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def check_identifier(value: str, kind: str) -> str:
    """Return the id unchanged if it is safe as a file name on every common system."""
    if not _ID.match(value) or value.endswith(".") or value.lower().split(".")[0] in _WINDOWS_RESERVED:
        bad = sorted({ch for ch in value if not re.match(r"[A-Za-z0-9._-]", ch)})
        why = f"contains {' '.join(repr(ch) for ch in bad)}" if bad else "is not allowed"
        raise InvalidIdentifierError(
            f"{kind} id {value!r} {why}: ids become file names, so use 1-64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return value
