"""Per-label statistics of a comparison: how each element (or phase, or material) changed.

Given one label per core point (an element id from the layers, say) and the per-core-point
distances, significance flags and positions of an M3C2 run (or any distances), each label
gets: the number of core points, how many have a distance, the mean and median distance,
the share of significant change, and the largest significant change with its location.
Everything is vectorised over the labels (one sort, a few ``np.bincount``), so thousands of
elements and millions of core points cost a fraction of a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from twin.errors import UsageError


@dataclass(frozen=True)
class LabelStats:
    """Change statistics of one label.

    ``significant_share`` is over the core points that have a distance (NaN if none);
    ``max_change`` is the signed distance of largest magnitude among the significant core
    points (NaN, with ``max_change_xyz`` None, when none is significant).
    """

    label: object
    core_points: int
    with_distance: int
    mean_distance: float
    median_distance: float
    significant: int
    significant_share: float
    max_change: float
    max_change_xyz: tuple[float, float, float] | None
    mean_lod: float

    def as_dict(self) -> dict:
        out = asdict(self)
        out["label"] = self.label.item() if isinstance(self.label, np.generic) else self.label
        return out


def _median_by_group(group: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """Median of ``values`` per group index (NaN for an empty group)."""
    out = np.full(groups, np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, group))
    g, v = group[order], values[order]
    count = np.bincount(g, minlength=groups)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    ok = count > 0
    s, c = start[ok], count[ok]
    upper = v[s + c // 2]
    lower = v[s + np.maximum(c // 2 - 1, 0)]
    out[ok] = np.where(c % 2 == 0, 0.5 * (upper + lower), upper)
    return out


def label_statistics(
    labels: np.ndarray,
    distance: np.ndarray,
    significant: np.ndarray | None = None,
    core_xyz: np.ndarray | None = None,
    lod: np.ndarray | None = None,
    *,
    ignore: object | tuple = (),
) -> list[LabelStats]:
    """Statistics per distinct label, in sorted label order.

    ``labels``: one label per core point (ints or strings). ``distance``: NaN where a core
    point has none. ``significant``: bool per core point (default: none significant).
    ``core_xyz``: positions, for the location of the largest change. ``lod``: level of
    detection per core point, averaged per label. ``ignore``: label value(s) to leave out
    (e.g. -1 or "" for unlabelled points).
    """
    labels = np.asarray(labels)
    distance = np.asarray(distance, dtype=np.float64)
    m = len(distance)
    if labels.shape != (m,):
        raise UsageError(f"label statistics: {labels.shape[0] if labels.ndim else 0} labels for {m} core points")
    significant = np.zeros(m, dtype=bool) if significant is None else np.asarray(significant, dtype=bool)
    if significant.shape != (m,):
        raise UsageError("label statistics: the significance flags do not match the core points")
    if core_xyz is not None:
        core_xyz = np.asarray(core_xyz, dtype=np.float64)
        if core_xyz.shape != (m, 3):
            raise UsageError("label statistics: core_xyz must be (m, 3) for m core points")
    if lod is not None:
        lod = np.asarray(lod, dtype=np.float64)
        if lod.shape != (m,):
            raise UsageError("label statistics: the LoD values do not match the core points")
    ignored = ignore if isinstance(ignore, tuple) else (ignore,)
    keep = np.ones(m, dtype=bool)
    if ignored:
        try:
            keep = ~np.isin(labels, np.asarray(ignored, dtype=labels.dtype))
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"label statistics: ignore={ignore!r} is not of the labels' type ({labels.dtype})"
            ) from exc
    index = np.flatnonzero(keep)
    names, group = np.unique(labels[index], return_inverse=True)
    k = len(names)
    d = distance[index]
    has = np.isfinite(d)
    sig = significant[index] & has
    count = np.bincount(group, minlength=k)
    with_d = np.bincount(group[has], minlength=k)
    n_sig = np.bincount(group[sig], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(group[has], weights=d[has], minlength=k) / with_d
        share = n_sig / with_d
        if lod is not None:
            lod_ok = np.isfinite(lod[index])
            mean_lod = np.bincount(group[lod_ok], weights=lod[index][lod_ok], minlength=k) / np.bincount(
                group[lod_ok], minlength=k
            )
        else:
            mean_lod = np.full(k, np.nan)
    median = _median_by_group(group[has], d[has], k)

    # largest significant |distance| per label: sort by (label, |d|), take each run's last
    where = np.flatnonzero(sig)
    largest = np.full(k, -1, dtype=np.int64)
    if len(where):
        order = where[np.lexsort((np.abs(d[where]), group[where]))]
        last = np.flatnonzero(np.diff(np.append(group[order], k)) != 0)
        largest[group[order[last]]] = order[last]

    out = []
    for g in range(k):
        j = largest[g]
        xyz = None
        if j >= 0 and core_xyz is not None:
            xyz = tuple(float(v) for v in core_xyz[index[j]])
        out.append(
            LabelStats(
                label=names[g].item() if isinstance(names[g], np.generic) else names[g],
                core_points=int(count[g]),
                with_distance=int(with_d[g]),
                mean_distance=float(mean[g]),
                median_distance=float(median[g]),
                significant=int(n_sig[g]),
                significant_share=float(share[g]),
                max_change=float(d[j]) if j >= 0 else float("nan"),
                max_change_xyz=xyz,
                mean_lod=float(mean_lod[g]),
            )
        )
    return out


def m3c2_label_statistics(result, labels: np.ndarray, *, ignore: object | tuple = ()) -> list[LabelStats]:
    """:func:`label_statistics` of an :class:`~twin.compare.m3c2.M3C2Result`."""
    return label_statistics(
        labels, result.distance, result.significant, result.core, result.lod, ignore=ignore
    )
