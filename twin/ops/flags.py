"""Bits of the per-point ``flags`` attribute (uint8) that cleaning stages set.

Cleaning stages flag points instead of deleting them so that the raw evidence stays
inspectable; :func:`drop_flagged` removes flagged points in a later, explicit stage.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud

FLAG_STAT_OUTLIER = 1  # statistical outlier: mean distance to k neighbours too large
FLAG_RADIUS_OUTLIER = 2  # too few neighbours within a radius
FLAG_CROPPED = 4  # outside the crop region
FLAG_NOISE = 8  # noise flagged by hand or by a classifier
ALL_FLAGS = 0xFF

FLAG_BITS: dict[str, int] = {
    "stat_outlier": FLAG_STAT_OUTLIER,
    "radius_outlier": FLAG_RADIUS_OUTLIER,
    "cropped": FLAG_CROPPED,
    "noise": FLAG_NOISE,
}


def flag_bits(names: Iterable[str] | str | int | None) -> int:
    """The bit mask for flag names (``"stat_outlier"``, ``"all"``...) or an int passed through."""
    if names is None:
        return ALL_FLAGS
    if isinstance(names, (int, np.integer)):
        if not 0 <= int(names) <= ALL_FLAGS:
            raise UsageError(f"flag mask {names} is outside 0..255")
        return int(names)
    if isinstance(names, str):
        names = [names]
    bits = 0
    for name in names:
        if name == "all":
            bits |= ALL_FLAGS
        elif name in FLAG_BITS:
            bits |= FLAG_BITS[name]
        else:
            raise UsageError(f"unknown flag {name!r}; known: all, {', '.join(FLAG_BITS)}")
    return bits


def flags_of(cloud: PointCloud) -> np.ndarray:
    """The cloud's flags, or zeros when no stage has flagged anything yet (not a copy if present)."""
    flags = cloud.attrs.get("flags")
    if flags is None:
        return np.zeros(len(cloud), dtype=np.uint8)
    return np.asarray(flags, dtype=np.uint8)


def unflagged_mask(cloud: PointCloud, bits: int) -> np.ndarray:
    """Points that carry none of ``bits``."""
    if bits == 0 or "flags" not in cloud.attrs:
        return np.ones(len(cloud), dtype=bool)
    return (flags_of(cloud) & np.uint8(bits)) == 0


def with_flag(cloud: PointCloud, mask: np.ndarray, bit: int) -> PointCloud:
    """A new cloud (sharing xyz and other attributes) with ``bit`` set where ``mask`` is true."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (len(cloud),):
        raise ValueError(f"mask has shape {mask.shape} for {len(cloud)} points")
    flags = flags_of(cloud).copy()
    flags[mask] |= np.uint8(bit)
    attrs = dict(cloud.attrs)
    attrs["flags"] = flags
    return PointCloud(cloud.xyz, cloud.origin.copy(), attrs)


def drop_flagged(cloud: PointCloud, mask_bits: int | str | Iterable[str] | None = ALL_FLAGS) -> PointCloud:
    """Remove the points that carry any of ``mask_bits`` (names or an int; default: any flag)."""
    bits = flag_bits(mask_bits)
    if "flags" not in cloud.attrs:
        return cloud.subset(slice(None))
    return cloud.subset(unflagged_mask(cloud, bits))
