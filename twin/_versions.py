"""The versions of the software that made an output, for provenance records."""

from __future__ import annotations

import importlib.metadata
import platform

_PACKAGES = ("twin", "open3d-cpu", "open3d", "numpy", "laspy", "lazrs", "trimesh", "scipy", "pyproj", "pillow",
             "small-gicp")


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
