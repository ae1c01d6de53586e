"""Per-label statistics of a comparison: how each element (or phase, or material) changed.

Given one label per core point (an element id from the layers, say) and the per-core-point
distances, significance flags, levels of detection and positions of an M3C2 run (or any
distances), each label gets: the number of core points, how many have a distance and how
many a trusted one (``trusted``: M3C2's reason "ok"; edges and split cylinders are left
out), the mean, median and spread (interquartile range, 5th and 95th percentiles) of the
trusted distances, the share of significant change, and the peak change.

A single core point never makes the headline. The peak (``max_change``) is a *supported*
figure: a significant core point counts as changed only inside a region of significant
core points that agree with each other, and the peak is where such a neighbourhood is
largest:

- two significant core points of one label are *linked* when they lie within
  ``SUPPORT_RADIUS`` core spacings (2.5: the ring of neighbours of a regular sampling and
  the next) and their distances agree within their levels of detection,
  ``|d_i - d_j| <= sqrt(lod_i**2 + lod_j**2)`` (the difference is not itself a detectable
  change; two agreeing significant points always have the same sign);
- a core point with at least ``MIN_SUPPORT - 1`` links (5 points with itself) has a
  figure: the median distance of itself and its ``MIN_SUPPORT - 1`` nearest linked
  neighbours (a small, local neighbourhood: on a raised-cosine bulge of radius R at
  spacing s it reads the peak low by about ``peak * (pi * s / R)**2 / 4``, 0.5 mm for
  30 mm, R = 1.2 m, s = 0.1 m). It is a *supported* point when that figure is also
  clear of the neighbourhood's median LoD by ``CLEAR_OF_LOD`` (2): neighbouring
  cylinders overlap (core spacing under the cylinder's diameter), so a few neighbours
  crossing their 95 % level together by chance are one exceedance, not five (on a still,
  noisy wall with no registration error about 4 % of the core points pass their LoD and
  a handful of neighbours agree on a fraction of a millimetre);
- significant core points of one label and one sign within the same radius form regions
  (connected components; agreement is not asked there, since a bulge's flank varies by
  more than the LoD from one core point to the next); a region holding a supported point
  is *changed*: ``changed``, ``changed_share`` (of all the label's core
  points: the share of the surface that changed significantly) and ``changed_area``
  (core points times the core spacing squared) count them;
- the peak is the supported point whose figure is largest in magnitude, with its
  location and its region's core points and area (``max_change_points``,
  ``max_change_area``). No supported point: NaN and "no significant change".

The largest single significant core point stays as ``raw_max_change`` (and its
``raw_max_change_xyz``), for inspection only.

Everything is vectorised over the labels (sorts, ``np.bincount``, one KD-tree of the
significant core points), so thousands of elements and millions of core points cost a
fraction of a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from twin.errors import UsageError

SUPPORT_RADIUS = 2.5  # core spacings within which significant core points support each other
MIN_SUPPORT = 5  # core points (the point itself included) that make a supported figure
CLEAR_OF_LOD = 2.0  # a supported figure exceeds this many times its neighbourhood's median LoD


@dataclass(frozen=True)
class LabelStats:
    """Change statistics of one label (see the module notes).

    ``significant_share`` is over the core points with a trusted distance (NaN if none: a
    core point left out can be no change, so it does not dilute the share either);
    ``changed_share`` over all the label's core points. ``max_change`` is the supported
    peak (NaN, with ``max_change_xyz`` None, when no region of significant change is
    supported); ``raw_max_change`` the single significant core point of largest magnitude.
    Mean, median and spread are over the trusted distances.
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
    trusted: int = 0
    distance_iqr: float = float("nan")
    distance_p05: float = float("nan")
    distance_p95: float = float("nan")
    changed: int = 0
    changed_share: float = float("nan")
    changed_area: float = float("nan")
    max_change_points: int = 0
    max_change_area: float = float("nan")
    raw_max_change: float = float("nan")
    raw_max_change_xyz: tuple[float, float, float] | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["label"] = self.label.item() if isinstance(self.label, np.generic) else self.label
        return out


def _quantiles_by_group(group: np.ndarray, values: np.ndarray, groups: int, qs: tuple[float, ...]
                        ) -> list[np.ndarray]:
    """Quantiles ``qs`` of ``values`` per group index, linear between order statistics as
    ``np.quantile``'s default (the median is the mid-point of an even count); NaN for an
    empty group."""
    out = [np.full(groups, np.nan) for _ in qs]
    if len(values) == 0:
        return out
    order = np.lexsort((values, group))
    v = values[order]
    count = np.bincount(group, minlength=groups)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    ok = count > 0
    s, c = start[ok], count[ok]
    for q, column in zip(qs, out, strict=True):
        pos = q * (c - 1)
        low = np.floor(pos).astype(np.int64)
        high = np.minimum(low + 1, c - 1)
        frac = pos - low
        column[ok] = v[s + low] * (1.0 - frac) + v[s + high] * frac
    return out


def core_spacing(core_xyz: np.ndarray, neighbours: int = 12) -> float:
    """The core points' spacing, as the side of the surface each stands for: the median
    over the core points of ``pi * r**2 / (neighbours + 1)``, ``r`` the distance to the
    ``neighbours``-th nearest other one (the disc holding it and its neighbours), square
    rooted. Within 5 % of the spacing a grid subsampling was made at (the distance to the
    nearest one alone reads 10 to 20 % short there); NaN for too few points."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    xyz = np.asarray(core_xyz, dtype=np.float64)
    if len(xyz) <= neighbours:
        return float("nan")
    reach = cKDTree(xyz).query(xyz, k=neighbours + 1)[0][:, neighbours]
    return float(np.sqrt(np.median(np.pi * reach * reach / (neighbours + 1))))


@dataclass(frozen=True)
class SupportedChange:
    """Per significant core point (``index`` into the core points): its supported figure
    (NaN unless at least MIN_SUPPORT agreeing points hold it), its region (component) and
    whether that region is changed; and per region its core point count."""

    index: np.ndarray
    figure: np.ndarray
    region: np.ndarray
    changed: np.ndarray
    region_size: np.ndarray


def supported_change(group: np.ndarray, xyz: np.ndarray, distance: np.ndarray, lod: np.ndarray,
                     significant: np.ndarray, radius: float, min_support: int = MIN_SUPPORT) -> SupportedChange:
    """Supported figures and changed regions of the significant core points (see
    the module notes); ``group``: the label index per core point (no link crosses labels);
    ``radius``: the support radius in the coordinates' unit."""
    from scipy.sparse import coo_matrix  # noqa: PLC0415
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415
    from scipy.spatial import cKDTree  # noqa: PLC0415

    index = np.flatnonzero(significant & np.isfinite(distance) & np.isfinite(lod))
    n = len(index)
    d, lo, g = distance[index], lod[index], group[index]
    if n == 0 or not (np.isfinite(radius) and radius > 0):
        return SupportedChange(index, np.full(n, np.nan), np.arange(n), np.zeros(n, dtype=bool), np.ones(n, np.int64))
    pairs = cKDTree(xyz[index]).query_pairs(radius, output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    near = (g[a] == g[b]) & (np.sign(d[a]) == np.sign(d[b]))  # one region: same label, same sign
    a, b = a[near], b[near]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, region = connected_components(graph, directed=False)
    agree = np.abs(d[a] - d[b]) <= np.sqrt(lo[a] ** 2 + lo[b] ** 2)
    a, b = a[agree], b[agree]
    links = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    supported = links >= min_support - 1
    changed = np.zeros(len(region_size := np.bincount(region)), dtype=bool)

    # each supported point's nearest min_support - 1 linked neighbours: the links both
    # ways, sorted by (point, separation), the first few of each run
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    separation = np.linalg.norm(xyz[index[src]] - xyz[index[dst]], axis=1)
    order = np.lexsort((separation, src))
    src, dst = src[order], dst[order]
    rank = np.arange(len(src)) - np.searchsorted(src, src)
    take = (rank < min_support - 1) & supported[src]
    rows = np.flatnonzero(supported)  # nearest's rows, in increasing point order
    nearest = dst[take].reshape(-1, min_support - 1)
    neighbourhood = np.column_stack([rows, nearest])
    value = np.median(d[neighbourhood], axis=1)
    clear = np.abs(value) > CLEAR_OF_LOD * np.median(lo[neighbourhood], axis=1)
    figure = np.full(n, np.nan)
    figure[rows[clear]] = value[clear]
    changed[region[rows[clear]]] = True
    return SupportedChange(index, figure, region, changed[region], region_size)


def label_statistics(
    labels: np.ndarray,
    distance: np.ndarray,
    significant: np.ndarray | None = None,
    core_xyz: np.ndarray | None = None,
    lod: np.ndarray | None = None,
    *,
    ignore: object | tuple = (),
    trusted: np.ndarray | None = None,
    spacing: float | None = None,
) -> list[LabelStats]:
    """Statistics per distinct label, in sorted label order.

    ``labels``: one label per core point (ints or strings). ``distance``: NaN where a core
    point has none. ``significant``: bool per core point (default: none significant).
    ``core_xyz``: positions, for the peak's location and its support. ``lod``: level of
    detection per core point, averaged per label (without it, significant points agree
    only when equal). ``ignore``: label value(s) to leave out (e.g. -1 or "" for
    unlabelled points). ``trusted``: core points whose distance counts (default: every
    finite one); the others never count as significant or in the mean, median and spread.
    ``spacing``: the core points' spacing (default: measured from ``core_xyz``), for the
    support radius and the areas.
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
    trusted = np.isfinite(distance) if trusted is None else np.asarray(trusted, dtype=bool) & np.isfinite(distance)
    if trusted.shape != (m,):
        raise UsageError("label statistics: the trusted flags do not match the core points")
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
    ok = trusted[index]
    sig = significant[index] & ok
    count = np.bincount(group, minlength=k)
    with_d = np.bincount(group[has], minlength=k)
    n_ok = np.bincount(group[ok], minlength=k)
    n_sig = np.bincount(group[sig], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(group[ok], weights=d[ok], minlength=k) / n_ok
        share = n_sig / n_ok
        if lod is not None:
            lod_ok = np.isfinite(lod[index])
            mean_lod = np.bincount(group[lod_ok], weights=lod[index][lod_ok], minlength=k) / np.bincount(
                group[lod_ok], minlength=k
            )
        else:
            mean_lod = np.full(k, np.nan)
    p05, q1, median, q3, p95 = _quantiles_by_group(group[ok], d[ok], k, (0.05, 0.25, 0.5, 0.75, 0.95))
    raw = _largest_per_group(np.flatnonzero(sig), d, group, k)  # the single largest, unsupported

    # the supported peak: over the significant core points of each label
    peak = np.full(k, -1, dtype=np.int64)
    peak_figure = np.full(k, np.nan)
    peak_points = np.zeros(k, dtype=np.int64)
    changed = np.zeros(k, dtype=np.int64)
    if spacing is None:
        spacing = core_spacing(core_xyz[index]) if core_xyz is not None else float("nan")
    if core_xyz is not None and lod is not None and sig.any():
        sc = supported_change(group, core_xyz[index], d, lod[index], sig, SUPPORT_RADIUS * spacing)
        changed = np.bincount(group[sc.index[sc.changed]], minlength=k)
        candidates = np.flatnonzero(np.isfinite(sc.figure))
        best = _largest_per_group(candidates, sc.figure, group[sc.index], k)
        for gi in np.flatnonzero(best >= 0):
            j = best[gi]
            peak[gi] = sc.index[j]
            peak_figure[gi] = sc.figure[j]
            peak_points[gi] = sc.region_size[sc.region[j]]
    cell = spacing * spacing if spacing is not None and np.isfinite(spacing) else float("nan")

    def where(j: int) -> tuple[float, float, float] | None:
        return tuple(float(v) for v in core_xyz[index[j]]) if j >= 0 and core_xyz is not None else None

    out = []
    for g in range(k):
        j = raw[g]
        out.append(
            LabelStats(
                label=names[g].item() if isinstance(names[g], np.generic) else names[g],
                core_points=int(count[g]),
                with_distance=int(with_d[g]),
                mean_distance=float(mean[g]),
                median_distance=float(median[g]),
                significant=int(n_sig[g]),
                significant_share=float(share[g]),
                max_change=float(peak_figure[g]),
                max_change_xyz=where(peak[g]),
                mean_lod=float(mean_lod[g]),
                trusted=int(n_ok[g]),
                distance_iqr=float(q3[g] - q1[g]),
                distance_p05=float(p05[g]),
                distance_p95=float(p95[g]),
                changed=int(changed[g]),
                changed_share=float(changed[g] / count[g]),
                changed_area=float(changed[g] * cell),
                max_change_points=int(peak_points[g]),
                max_change_area=float(peak_points[g] * cell) if peak[g] >= 0 else float("nan"),
                raw_max_change=float(d[j]) if j >= 0 else float("nan"),
                raw_max_change_xyz=where(j),
            )
        )
    return out


def _largest_per_group(where: np.ndarray, values: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """Per group, the index (among ``where``) of the value of largest magnitude; -1 if none."""
    largest = np.full(k, -1, dtype=np.int64)
    if len(where):
        order = where[np.lexsort((np.abs(values[where]), group[where]))]
        last = np.flatnonzero(np.diff(np.append(group[order], k)) != 0)
        largest[group[order[last]]] = order[last]
    return largest


def m3c2_label_statistics(result, labels: np.ndarray, *, ignore: object | tuple = ()) -> list[LabelStats]:
    """:func:`label_statistics` of an :class:`~twin.compare.m3c2.M3C2Result`."""
    trusted = None if result.reason is None else result.reason == 0
    return label_statistics(
        labels, result.distance, result.significant, result.core, result.lod, ignore=ignore, trusted=trusted
    )
