"""Lazy access to heavy optional-at-import libraries.

open3d's Linux wheels link against libusb-1.0, which many machines lack. The
`libusb-package` wheel ships the library; loading it globally before open3d lets the
dynamic linker resolve open3d's dependency without root or a system package.
Importing open3d costs ~0.5 s, so it happens only where it is used.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from types import ModuleType


def _preload_libusb() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import libusb_package  # type: ignore[import-untyped]
    except ImportError:
        return
    path = libusb_package.get_library_path()
    if path and os.path.exists(str(path)):
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)


@functools.cache
def open3d() -> ModuleType:
    """Import open3d once, after making its system libraries loadable."""
    _preload_libusb()
    import open3d as o3d  # noqa: PLC0415

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    return o3d
