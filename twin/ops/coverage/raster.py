"""Helpers shared by the wall and roof rasters: closing a mask of sampled cells, and
labelling connected regions on a raster whose columns may wrap round a ring."""

from __future__ import annotations

import numpy as np


def disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius + radius  # a round disk, no lone corner cells


def close(mask: np.ndarray, radius: int, wrap: bool = False) -> np.ndarray:
    """Morphological closing by a disk: gaps narrower than about ``2 * radius`` cells filled,
    regions wider kept at their size. Outside the raster counts as set (rows); columns wrap
    round with ``wrap`` (a ring's unrolled walls), else they are set too."""
    from scipy import ndimage  # noqa: PLC0415

    if radius <= 0 or mask.size == 0:
        return mask.copy()
    p = 2 * radius
    padded = np.pad(mask, ((p, p), (0, 0)), constant_values=True)
    if wrap and mask.shape[1] > 1:
        reps = -(-p // mask.shape[1])  # a ring narrower than the padding wraps more than once
        tiled = np.tile(padded, (1, 2 * reps + 1))
        start = reps * mask.shape[1] - p
        padded = tiled[:, start:start + mask.shape[1] + 2 * p]
    else:
        padded = np.pad(padded, ((0, 0), (p, p)), constant_values=True)
    closed = ndimage.binary_erosion(ndimage.binary_dilation(padded, disk(radius)), disk(radius), border_value=1)
    return closed[p:-p, p:-p]


def label(mask: np.ndarray, wrap_ranges: list[tuple[int, int]] | None = None) -> tuple[np.ndarray, int]:
    """8-connected regions of ``mask`` (labels 1..n, 0 outside); with ``wrap_ranges`` the
    columns [start, stop) of each range are a ring: its last column touches its first."""
    from scipy import ndimage, sparse  # noqa: PLC0415
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if not n or not wrap_ranges:
        return labels, n
    pairs = [np.zeros((0, 2), dtype=np.int64)]
    for start, stop in wrap_ranges:
        if stop - start < 2:
            continue
        last, first = labels[:, stop - 1], labels[:, start]
        for shift in (-1, 0, 1):  # a cell of the last column touches three of the first
            other = np.roll(first, shift)
            if shift:
                other[0 if shift == 1 else -1] = 0  # no wrapping round from the top row to the bottom one
            both = (last > 0) & (other > 0)
            pairs.append(np.column_stack([last[both], other[both]]))
    pairs = np.concatenate(pairs)
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n + 1, n + 1))
    _, component = connected_components(graph, directed=False)
    # renumber so that the background stays 0 and regions count from 1
    _, compact = np.unique(np.where(np.arange(n + 1) == 0, -1, component), return_inverse=True)
    return compact.reshape(-1)[labels], len(np.unique(component[1:]))


def edges_to(region: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(R, C) how many of each region cell's four neighbours are ``other`` cells."""
    out = np.zeros(region.shape, dtype=np.int64)
    for axis in (0, 1):
        for shift in (1, -1):
            nb = np.roll(other, shift, axis=axis)
            edge = [slice(None)] * 2
            edge[axis] = 0 if shift == 1 else -1
            nb[tuple(edge)] = False
            out += region & nb
    return out
