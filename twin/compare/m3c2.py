"""M3C2: Multiscale Model to Model Cloud Comparison (Lague, Brodu and Leroux 2013).

The definition followed is the one of CloudCompare's qM3C2 plugin (N. Brodu's original
code), which PDAL's ``filters.m3c2`` and py4dgeo reproduce:

1. **Normal** at each core point: PCA of the points of one cloud (epoch 1 unless told
   otherwise) within ``normal_radius`` of the core point; the eigenvector of the
   smallest eigenvalue. Fewer than 3 points give no normal (NaN, and no distance).
   Normals are then oriented consistently: toward a direction (``+z`` by default, as
   py4dgeo and PDAL's ``up``), toward the nearest of given points (a viewpoint or the
   scanner stations; CloudCompare's "use cloud"), or away from / toward the centroid of
   the core points (CloudCompare's barycentre modes). Given normals are used as they are.
2. **Cylinder** along the normal through the core point, of radius ``cylinder_radius``
   and reaching ``cylinder_half_length`` on both sides (CloudCompare's "max depth",
   py4dgeo's ``max_distance``). Each cloud's points inside it are projected on the axis.
3. **Distance** = position of epoch 2 minus position of epoch 1 along the normal, the
   position being the mean of the projections (or, with ``use_median``, their median).
   Positive means epoch 2 lies on the side the normal points to.
4. **Level of detection** at 95 %, Lague et al. eq. (1)::

       LoD95 = 1.96 * (sqrt(sigma1**2 / n1 + sigma2**2 / n2) + registration_error)

   (the registration error inside the 1.96 factor, as in the paper, CloudCompare, PDAL
   and py4dgeo). sigma is the standard deviation of the projections (population form, as
   CloudCompare and PDAL; py4dgeo divides by n - 1), or with ``use_median`` the
   interquartile range, as CloudCompare does. A change is **significant** when
   ``|distance| > LoD``.

Few points, as in CloudCompare: a distance needs at least one point of each cloud in the
cylinder (NaN otherwise); the LoD and the significance need ``min_points`` (default 5,
CloudCompare's default) on each side, else LoD is NaN and the change is not significant.
py4dgeo has no minimum (one point gives a distance and a NaN LoD, since it divides by
n - 1); PDAL drops the core point below its ``min_points`` (default 1).

Rules of the references, as options (read from qM3C2Process.cpp, qM3C2Tools.cpp,
qM3C2Dialog.ui, CCCoreLib DgmOctree.cpp, and PDAL's M3C2Filter.cpp; tests in
tests/unit/test_m3c2_rules.py): ``normal_radii`` (qM3C2's multi-scale normals, the most
planar scale by :func:`planarity`), ``progressive`` (qM3C2's default multi-pass depth
search), ``positive_only``, ``min_points_gate`` ('lod' as CloudCompare, 'distance' as
PDAL), ``no_normal='ball'`` (both references keep a zero normal, which turns the
cylinder into a ball and the distance into 0), orientations ``none`` and
``away_from_points`` (CloudCompare's "from origin"/"from sensor"). ``M3C2Result.reason``
says why a value is NaN (:data:`REASONS`).

Edges and occlusions (twin's own rules, off by default so that the module stays the
references' M3C2; the ``twin`` preset of ``twin compare`` turns them on). A core point
whose measurement cannot be trusted keeps its distance for inspection but gets no LoD,
is never significant, and carries the reason (:data:`REASON_NAMES`):

- ``rough_normal`` (``rough_normal_ratio``, ``rough_normal_turn_deg``): Lague et al.
  (2013) want the normal scale D (the diameter, ``2 * normal_radius``) at least about 25
  times the roughness sigma(D) (the standard deviation of the neighbourhood about its
  fitted plane, ``sqrt`` of the smallest covariance eigenvalue); below that the normal
  may be wrong. Roughness alone cannot tell an edge from a smooth curve (a 30 cm column
  under a 25 cm normal radius is as "rough" as a wall's top edge, D/sigma about 9 for
  both), so the normal is refit at half the scale: on a curved surface it holds (under
  1 degree), across an edge it turns (5 to 15 degrees where the sphere reaches the
  other face). The rule flags a core point that fails the ratio *and* whose normal turns
  by more than ``rough_normal_turn_deg`` (5 degrees) between the two scales.
- ``multiple_surfaces`` (``surface_depth``): the share of each epoch's points in the
  cylinder that lie farther than ``surface_depth`` along the axis from that epoch's
  median differs between the epochs by ``SURFACE_SHARE`` (10 %) or more (and 2 or more
  such points on one side): the cylinder holds more than the one surface it crosses, in
  different proportions, either a second surface split off along the axis (a wall top's cylinder
  reaching the eaves) or a surface running along the axis (the wall's top face, a slab's
  underside, the side of a pier). One surface crossing the cylinder stays within
  ``radius * tan(tilt)`` plus its roughness and curvature of its median (under 5 cm for a
  tilt up to 26 degrees at the default 10 cm radius and half-radius depth; 3 cm across a
  30 cm column); a real change moves an epoch's median with its points and does not
  trigger it. The centre of a mixed cylinder weighs the surfaces by how densely each
  epoch's stations saw them, which differs between surveys and reads as change (tens of
  millimetres at a wall top under the eaves). This is qM3C2's "max depth" concern (the
  cylinder should reach only as far as the surface's change; its progressive search
  stops once ``|centre| + 2 spread`` is inside the depth searched) made a per-point check.
- ``unseen_epoch1`` / ``unseen_epoch2``: one epoch has no point in the cylinder (occluded
  or not scanned there): no distance, as in every reference. Not reproduced: CloudCompare's quantised
(compressed) normals and float32 coordinates, and PDAL's skipping of the first
neighbour when the core point equals the cloud's first point; these move a point across
a cylinder wall now and then (4 of the 103 core points of PDAL's autzen-bmx pair).

Compared with py4dgeo (``bench/bench_m3c2.py`` and the tests run both on the same
clouds): cylinder counts and distances agree to rounding wherever both define them, with
these systematic differences, all from the definition rather than the arithmetic:

- LoD: py4dgeo's sigma divides by n - 1, so its LoD is larger by about sqrt(n / (n - 1))
  (2.6 % at n = 20).
- A core point with fewer than 3 neighbours within ``normal_radius`` has no normal here
  (NaN distance); py4dgeo leaves that normal unset and still reports a distance.
- When ``ceil(half_length / radius)`` is even, py4dgeo's slices meet at the core point and
  its test is inclusive on both sides: a core point that is itself an epoch-1 point (the
  usual choice) is counted twice in epoch 1 (or, by rounding, not at all), which moves
  the epoch-1 mean toward the core point by up to 1/n of the spread. Here each point
  belongs to exactly one slice.
- With ``half_length <= radius`` py4dgeo lengthens the cylinder to reach ``radius`` on
  each side; here the stated half length holds.
- LoD and significance need ``min_points`` (5) on each side here; py4dgeo reports them
  from 2 points on.

Normal orientation matters for the sign of every distance. ``+z`` (the default, as
py4dgeo) suits terrain and roofs but is blind on vertical walls, whose normals are
perpendicular to it (the sign then follows rounding); for buildings use ``outward`` or
``toward_points`` with the scanner stations.

Speed: the work is neighbour search plus per-cylinder statistics. Both clouds are put in
a spatial (Morton) order, so that neighbours are neighbours in memory, and indexed once
with open3d's KD-tree (one index serves every radius). Normals: one radius search per
core point, then per-run sums of the coordinates and of their products over the flat
result (``np.add.reduceat``) and batched 3x3 eigen-decompositions. Cylinders: the
cylinder is cut into ``ceil(half_length / radius)`` slices along its axis (py4dgeo's
scheme), each searched with the smallest ball that holds it, so a long thin cylinder
costs about what it holds; the flat (slice, point) pairs are filtered by the exact
cylinder test, each point kept in the one slice its projection falls into (so none is
counted twice), and reduced per core point. Epoch 1's cylinder within
``sqrt(normal_radius**2 - radius**2)`` of the core point lies inside the normal
neighbourhood, so that part is taken from the normal search's result and only the rest
is searched. Searches go in batches of about 2M (query, point) pairs (open3d spreads one
search over all cores) and the numpy work in parts of about 200k pairs (temporaries stay
in cache), on two threads: numpy releases the GIL inside its loops, but open3d's search
and tree building hold it, so more threads only contend. The CPU time is below
py4dgeo's; py4dgeo's OpenMP loops scale better with cores. ``bench/bench_m3c2.py``
measures both side by side.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.ops.threads import thread_budget
from twin.errors import UsageError

Z95 = 1.96  # two-sided 95 % quantile of the normal distribution
MIN_NORMAL_POINTS = 3  # fewest points a plane can be fitted to
_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # the distinct entries of a 3x3 covariance
DEFAULT_CHUNK = 65536  # most core points per work item
PAIRS_PER_SEARCH = 2_000_000  # about this many (query, point) pairs per open3d search: its threads share it
PAIRS_PER_CHUNK = 200_000  # about this many pairs per numpy pass: temporaries stay in cache
DEFAULT_WORKERS = 2  # threads by default: open3d's search holds the GIL, so more only contend

Orientation = Literal["vector", "toward_points", "away_from_points", "outward", "inward", "none"]

# why a core point has no distance (or no LoD): ``M3C2Result.reason``
OK, NO_NORMAL, EMPTY1, EMPTY2, FEW_POINTS, ZERO_NORMAL, ROUGH_NORMAL, MULTIPLE_SURFACES = range(8)
SURFACE_SHARE = 0.10  # points away from the median along the axis count as another surface from this share on
REASONS = {
    OK: "ok",
    NO_NORMAL: "no normal: fewer than 3 points within the normal radius (distance NaN)",
    EMPTY1: "no epoch-1 point in the cylinder (distance NaN)",
    EMPTY2: "no epoch-2 point in the cylinder (distance NaN)",
    FEW_POINTS: "fewer than min_points in the cylinder on one side (LoD NaN; distance NaN too with "
    "min_points_gate 'distance')",
    ZERO_NORMAL: "no normal: zero normal, the cylinder became a ball (no_normal 'ball'; distance 0)",
    ROUGH_NORMAL: "normal across an edge: roughness above 1/rough_normal_ratio of the normal scale and the normal "
    "turns at half the scale (LoD NaN, not significant)",
    MULTIPLE_SURFACES: "the cylinder holds more than one surface, in proportions that differ between the epochs by "
    "10 % or more (points farther than surface_depth from each epoch's median along the axis; LoD NaN, not "
    "significant)",
}
REASON_NAMES = {  # short names, for the outputs' reason column
    OK: "ok", NO_NORMAL: "no_normal", EMPTY1: "unseen_epoch1", EMPTY2: "unseen_epoch2", FEW_POINTS: "few_points",
    ZERO_NORMAL: "zero_normal", ROUGH_NORMAL: "rough_normal", MULTIPLE_SURFACES: "multiple_surfaces",
}


def reason_names(codes: np.ndarray) -> np.ndarray:
    """The short name (:data:`REASON_NAMES`) of each reason code."""
    return np.array([REASON_NAMES[k] for k in range(len(REASON_NAMES))], dtype=object)[codes]


class M3C2Params(BaseModel):
    """Parameters of :func:`m3c2`; lengths in the clouds' unit (metres)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    normal_radius: float = Field(gt=0, description="radius of the sphere whose points give the normal (PCA)")
    cylinder_radius: float = Field(gt=0, description="radius of the projection cylinder")
    cylinder_half_length: float = Field(
        gt=0, description="the cylinder reaches this far on each side of the core point (max depth)"
    )
    registration_error: float = Field(default=0.0, ge=0, description="added to the LoD inside the 1.96 factor")
    use_median: bool = Field(default=False, description="median and interquartile range instead of mean and std")
    min_points: int = Field(default=5, ge=1, description="points per cloud in the cylinder for a LoD")
    min_points_gate: Literal["lod", "distance"] = Field(
        default="lod",
        description="'lod': below min_points a side still gets a distance (from 1 point), only LoD and "
        "significance are NaN/False (CloudCompare); 'distance': the core point gets nothing (PDAL)",
    )
    normal_radii: tuple[float, ...] = Field(
        default=(),
        description="multi-scale normals: candidate radii (none: single scale, normal_radius); the scale whose "
        "neighbourhood is most planar by qM3C2's criterion wins; normal_radius must be at least the largest",
    )
    progressive: bool = Field(
        default=False,
        description="CloudCompare's multi-pass depth search: the cylinder grows by cylinder_radius per pass and "
        "stops once |centre| + 2 spread < current half length (qM3C2's default)",
    )
    positive_only: bool = Field(
        default=False, description="only points on the normal's side of the core point (CloudCompare's option)"
    )
    no_normal: Literal["nan", "ball"] = Field(
        default="nan",
        description="a core point without a normal: 'nan' (distance NaN), or 'ball' as CloudCompare and PDAL "
        "(zero normal: the points within cylinder_radius, all projected to 0, distance 0)",
    )
    normal_source: Literal["epoch1", "epoch2", "core"] = Field(
        default="epoch1", description="the cloud whose neighbours give the normals"
    )
    rough_normal_ratio: float = Field(
        default=0.0, ge=0,
        description="twin's edge rule: a core point whose normal diameter is less than this many times the "
        "roughness at that scale, and whose normal turns by more than rough_normal_turn_deg at half the scale, is "
        "'rough_normal' (Lague et al. 2013 advise 25); 0: off (the references)",
    )
    rough_normal_turn_deg: float = Field(default=5.0, gt=0, lt=90, description="see rough_normal_ratio")
    surface_depth: float = Field(
        default=0.0, ge=0,
        description="twin's edge and occlusion rule: 10 % or more of one epoch's cylinder points farther than this "
        "along the axis from that epoch's median make the core point 'multiple_surfaces'; 0: off (the references)",
    )
    orientation: Orientation = Field(default="vector", description="how normal signs are made consistent")
    orientation_vector: tuple[float, float, float] = Field(
        default=(0.0, 0.0, 1.0), description="orientation 'vector': normals make a non-negative angle cosine with it"
    )
    orientation_points: tuple[tuple[float, float, float], ...] = Field(
        default=(), description="orientation 'toward_points': normals face the nearest of these (viewpoint, stations)"
    )

    @model_validator(mode="after")
    def _orientation_inputs(self) -> M3C2Params:
        if not any(self.orientation_vector):
            raise ValueError("orientation_vector must not be the zero vector")
        if self.orientation in ("toward_points", "away_from_points") and not self.orientation_points:
            raise ValueError(f"orientation {self.orientation!r} needs at least one point in orientation_points")
        if any(not (math.isfinite(r) and r > 0) for r in self.normal_radii):
            raise ValueError("normal_radii must be positive numbers")
        if self.normal_radii and max(self.normal_radii) > self.normal_radius * (1.0 + 1e-12):
            raise ValueError("normal_radius (the search radius) must be at least the largest of normal_radii")
        return self

    @property
    def slices(self) -> int:
        """Number of slices the cylinder is cut into for the neighbour search."""
        return max(1, math.ceil(self.cylinder_half_length / self.cylinder_radius))

    @property
    def search_radius(self) -> float:
        """Radius of the ball around a slice's centre that holds the whole slice."""
        half_slice = self.cylinder_half_length / self.slices
        return math.sqrt(self.cylinder_radius**2 + half_slice**2) * (1.0 + 1e-9)


@dataclass
class M3C2Result:
    """Per-core-point M3C2 output; NaN where a value is undefined (see the module notes)."""

    core: np.ndarray  # (m, 3) float64, as given
    normal: np.ndarray  # (m, 3) float64 unit vectors; NaN where no normal could be fitted
    distance: np.ndarray  # (m,) float64, epoch 2 minus epoch 1 along the normal
    lod: np.ndarray  # (m,) float64 level of detection at 95 %
    significant: np.ndarray  # (m,) bool, |distance| > lod
    n1: np.ndarray  # (m,) int64 epoch-1 points in the cylinder
    n2: np.ndarray  # (m,) int64 epoch-2 points in the cylinder
    sigma1: np.ndarray  # (m,) float64 spread of epoch 1 along the normal (std, or IQR with use_median)
    sigma2: np.ndarray  # (m,) float64
    params: M3C2Params
    reason: np.ndarray | None = None  # (m,) uint8: why a value is missing (REASONS); OK where all is defined
    normal_scale: np.ndarray | None = None  # (m,) float64: the radius whose PCA gave the normal; NaN where none
    roughness: np.ndarray | None = None  # (m,) float64: sigma about the fitted plane at that radius; NaN where none

    @property
    def reason_names(self) -> np.ndarray:
        """The short name of each core point's reason (:data:`REASON_NAMES`), "ok" without reasons."""
        if self.reason is None:
            return np.full(len(self), REASON_NAMES[OK], dtype=object)
        return reason_names(self.reason)

    def __len__(self) -> int:
        return len(self.distance)

    @property
    def valid(self) -> np.ndarray:
        """Core points that got a distance."""
        return np.isfinite(self.distance)

    def as_fields(self) -> dict[str, np.ndarray]:
        """Per-core-point arrays under PDAL's ``filters.m3c2`` dimension names (plus the
        normal), for writers that attach them to the core points."""
        return {
            "m3c2_distance": self.distance,
            "m3c2_uncertainty": self.lod,
            "m3c2_significant": self.significant.astype(np.uint8),
            "m3c2_std_dev1": self.sigma1,
            "m3c2_std_dev2": self.sigma2,
            "m3c2_count1": self.n1,
            "m3c2_count2": self.n2,
            "normals": self.normal,
        }

    def reasons(self) -> dict[str, int]:
        """How many core points fall under each reason (only the reasons that occur)."""
        if self.reason is None:
            return {}
        codes, counts = np.unique(self.reason, return_counts=True)
        return {REASONS[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}

    def summary(self) -> dict[str, float | int]:
        """Counts and a few figures for reports and logs."""
        valid = self.valid
        d = self.distance[valid]
        return {
            "core_points": len(self),
            "with_distance": int(valid.sum()),
            "with_lod": int(np.isfinite(self.lod).sum()),
            "significant": int(self.significant.sum()),
            "mean_distance": float(d.mean()) if len(d) else float("nan"),
            "median_distance": float(np.median(d)) if len(d) else float("nan"),
            "median_lod": float(np.nanmedian(self.lod)) if np.isfinite(self.lod).any() else float("nan"),
        }


# ---------------------------------------------------------------------------- search


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Spread the low 10 bits of each value to every third bit (for Morton codes)."""
    v = v & np.uint32(0x3FF)
    v = (v | (v << np.uint32(16))) & np.uint32(0x030000FF)
    v = (v | (v << np.uint32(8))) & np.uint32(0x0300F00F)
    v = (v | (v << np.uint32(4))) & np.uint32(0x030C30C3)
    v = (v | (v << np.uint32(2))) & np.uint32(0x09249249)
    return v


def morton_order(xyz: np.ndarray, cell: float) -> np.ndarray:
    """An ordering of points along a Morton (Z-order) curve over cells of at least ``cell``
    (coarser when the extent needs more than 1024 cells a side).

    Neighbours in space become neighbours in memory, so the gathers after a neighbour
    search stay in cache and the KD-tree builds and searches faster.
    """
    if len(xyz) == 0:
        return np.zeros(0, dtype=np.int64)
    cols = [xyz[:, k] for k in range(3)]
    lo = [float(c.min()) for c in cols]  # per column: far faster than min(axis=0) on (n, 3)
    span = max(float(c.max()) - low for c, low in zip(cols, lo, strict=True))
    inv = 1.0 / max(float(cell), span / 1023.0, 1e-12)
    code = np.zeros(len(xyz), dtype=np.uint32)
    for k, (c, low) in enumerate(zip(cols, lo, strict=True)):
        q = (c - low) * inv
        code |= _spread_bits(q.astype(np.uint32)) << np.uint32(k)
    return np.argsort(code)


class _Index:
    """A point set in Morton order, kept as (n, 3) and as one contiguous array per axis,
    with open3d's KD-tree over it."""

    def __init__(self, xyz: np.ndarray, shift: np.ndarray, cell: float, radius: float) -> None:
        """Index ``xyz - shift`` (float64; one copy of the points in Morton order)."""
        from twin._deps import open3d  # noqa: PLC0415

        o3d = open3d()
        self.xyz = xyz[morton_order(xyz, cell)]
        self.xyz -= shift
        self.axes = tuple(np.ascontiguousarray(self.xyz[:, k]) for k in range(3))
        self._core = o3d.core
        self._nns = o3d.core.nns.NearestNeighborSearch(o3d.core.Tensor.from_numpy(self.xyz))
        self._nns.fixed_radius_index(float(radius))

    def ball(self, queries: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The points within ``radius`` of each query, flat: indices into ``self.xyz``,
        squared distances, and the ``len(queries) + 1`` offsets delimiting each query's run."""
        if len(queries) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(1, dtype=np.int64)
        q = self._core.Tensor.from_numpy(np.ascontiguousarray(queries, dtype=np.float64))
        idx, dist2, splits = self._nns.fixed_radius_search(q, float(radius), sort=False)
        return idx.numpy(), dist2.numpy(), splits.numpy()


Found = tuple[np.ndarray, np.ndarray, np.ndarray]  # a flat search result: indices, squared distances, splits


def _part(found: Found, a: int, b: int) -> Found:
    """The runs of queries ``a:b`` of a flat search result, as a result of its own."""
    idx, dist2, splits = found
    lo, hi = splits[a], splits[b]
    return idx[lo:hi], dist2[lo:hi], splits[a : b + 1] - lo


def _sub_ranges(offsets: np.ndarray, target: int) -> list[tuple[int, int]]:
    """Consecutive ranges ``(a, b)`` of runs (``offsets`` delimiting them) holding about
    ``target`` elements each (at least one run each)."""
    n = len(offsets) - 1
    if n <= 0:
        return []
    cuts = np.searchsorted(offsets, np.arange(target, offsets[-1], target) + offsets[0], side="right") - 1
    cuts = np.unique(np.clip(cuts, 1, n))
    bounds = [0, *[int(c) for c in cuts if 0 < c < n], n]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


# --------------------------------------------------------------------------- normals


@dataclass
class _Neighbourhoods:
    """The flat result of the normal search of a chunk, kept for the inner cylinder."""

    coords: list[np.ndarray]  # x, y, z of each (query, point) pair, local frame
    dist2: np.ndarray  # squared distance from the query (the core point)
    splits: np.ndarray  # run offsets per query


def _covariances(coords: list[np.ndarray], splits: np.ndarray, weight: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Point counts and covariance matrices (1/n form) of the runs delimited by ``splits``,
    counting only the pairs where ``weight`` (0/1) is 1 when given."""
    q = len(splits) - 1
    full = np.diff(splits) > 0
    starts = splits[:-1][full]
    sums = np.zeros((10, q))
    sums[9] = np.diff(splits)
    if len(starts):
        w = weight
        if w is not None:
            sums[9, full] = np.add.reduceat(w, starts)
        for k in range(3):
            sums[k, full] = np.add.reduceat(coords[k] * w if weight is not None else coords[k], starts)
        product = np.empty(len(coords[0]))
        for row, (i, j) in enumerate(_PAIRS, start=3):
            np.multiply(coords[i], coords[j], out=product)
            if weight is not None:
                product *= w
            sums[row, full] = np.add.reduceat(product, starts)
    counts = sums[9].astype(np.int64)
    n = np.maximum(sums[9], 1.0)
    mean = sums[:3] / n
    cov = np.empty((q, 3, 3))
    for row, (i, j) in enumerate(_PAIRS, start=3):
        cov[:, i, j] = cov[:, j, i] = sums[row] / n - mean[i] * mean[j]
    return counts, cov


def planarity(eigenvalues: np.ndarray) -> np.ndarray:
    """qM3C2's criterion for how "2D" a neighbourhood is (Brodu's code, as in CloudCompare's
    ``ComputeCorePointNormal``): the covariance eigenvalues are squared, normalised to sum
    1 and sorted ``s0 >= s1 >= s2``; the criterion is ``b = 2 s0 + 4 s1 - 2`` (1 for a
    plane, 0 for a line or an isotropic blob). ``eigenvalues``: (..., 3) in any order."""
    sq = np.sort(np.asarray(eigenvalues, dtype=np.float64) ** 2, axis=-1)[..., ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        sv = sq / sq.sum(axis=-1, keepdims=True)
    return 2.0 * sv[..., 0] + 4.0 * sv[..., 1] - 2.0


def cloudcompare_scales(start: float, step: float, stop: float) -> tuple[float, ...]:
    """The scales of qM3C2's multi-scale mode, generated as its dialog does
    (``for (scale = start; scale <= stop; scale += step)``, qM3C2Process.cpp); CloudCompare's
    scales are diameters: halve them for ``normal_radii``."""
    stop = max(start, stop)
    out, scale = [], float(start)
    while scale <= stop:
        out.append(scale)
        scale += step
    return tuple(out)


def _normals_from(index: _Index, found: Found, radii: tuple[float, ...] = ()
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Neighbourhoods]:
    """PCA normals (unit, unoriented) from the neighbourhoods ``found`` in ``index`` (one
    run per query); NaN where a run holds fewer than MIN_NORMAL_POINTS points; the radius
    used per query (NaN where none; ``radii``: the multi-scale candidates, none for the
    single scale, whose radius the caller knows); the roughness at that radius (standard
    deviation about the fitted plane, ``sqrt`` of the smallest eigenvalue); and the
    neighbourhoods' coordinates for the inner cylinder.

    The covariance comes from per-query sums of the coordinates and of their products
    (``Cov = E[pp'] - E[p]E[p]'``) in float64 in the local frame (centred on the core
    points): for n points at a distance D from its origin the rounding is of order
    1e-16 * D**2 * sqrt(n) (3e-9 m**2 for 1000 points 1 km away), far below the variance
    of even a millimetre-smooth surface (1e-6 m**2); so no per-pair subtraction is
    needed, and chunking cannot change a bit.

    Multi-scale (qM3C2's ``ComputeCorePointNormal``): the scales are tried from the
    largest down; a scale with fewer than 3 points ends the search (smaller ones hold no
    more); each scale's normal is the smallest eigenvector of its points' covariance and
    its score :func:`planarity`; the first scale tried wins unless a later one scores
    strictly higher (so ties go to the larger scale).
    """
    idx, dist2, splits = found
    q = len(splits) - 1
    coords = [np.take(axis, idx) for axis in index.axes]
    normals = np.full((q, 3), np.nan)
    scale = np.full(q, np.nan)
    roughness = np.full(q, np.nan)
    if not radii:
        counts, cov = _covariances(coords, splits)
        ok = counts >= MIN_NORMAL_POINTS
        if ok.any():
            values, vectors = np.linalg.eigh(cov[ok])
            normals[ok] = vectors[:, :, 0]
            roughness[ok] = np.sqrt(np.maximum(values[:, 0], 0.0))
        return normals, scale, roughness, _Neighbourhoods(coords, dist2, splits)
    best = np.full(q, -np.inf)
    alive = np.ones(q, dtype=bool)  # no scale with fewer than 3 points met yet
    for radius in sorted(radii, reverse=True):
        counts, cov = _covariances(coords, splits, (dist2 <= radius * radius).astype(np.float64))
        alive &= counts >= MIN_NORMAL_POINTS
        sel = np.flatnonzero(alive)
        if not len(sel):
            break
        values, vectors = np.linalg.eigh(cov[sel])
        score = np.nan_to_num(planarity(values), nan=-np.inf)
        first = np.isnan(scale[sel])
        win = first | (score > best[sel])
        w = sel[win]
        best[w] = score[win]
        normals[w] = vectors[win, :, 0]
        scale[w] = radius
        roughness[w] = np.sqrt(np.maximum(values[win, 0], 0.0))
    return normals, scale, roughness, _Neighbourhoods(coords, dist2, splits)


def normal_turn_deg(near: _Neighbourhoods, normals: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Angle in degrees between each (unoriented) normal and the PCA normal of the same
    neighbourhood cut to half its radius (``scale``: the radius per query); NaN where the
    half neighbourhood holds fewer than MIN_NORMAL_POINTS points. Under a degree on a
    plane or a smooth curve; several degrees where the full sphere reaches across an edge
    and the half one does not (see the module notes on ``rough_normal``)."""
    runs = np.diff(near.splits)
    half = np.repeat(0.25 * scale * scale, runs)
    with np.errstate(invalid="ignore"):
        inside = (near.dist2 <= half).astype(np.float64)
    counts, cov = _covariances(near.coords, near.splits, inside)
    turn = np.full(len(normals), np.nan)
    ok = (counts >= MIN_NORMAL_POINTS) & np.isfinite(normals).all(axis=1)
    if ok.any():
        _, vectors = np.linalg.eigh(cov[ok])
        cosine = np.abs(np.einsum("ij,ij->i", vectors[:, :, 0], normals[ok]))
        turn[ok] = np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0)))
    return turn


def orient_normals(
    normals: np.ndarray,
    core: np.ndarray,
    params: M3C2Params,
    *,
    centroid: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> np.ndarray:
    """Flip normals so their signs follow ``params.orientation`` (NaN rows stay NaN).

    ``centroid``: the centre for 'outward'/'inward' (default: the mean of ``core``).
    ``shift``: subtracted from ``params.orientation_points`` when ``core`` is in a local
    frame (``core = original - shift``).
    """
    if params.orientation == "none":
        return normals.copy()
    if params.orientation == "vector":
        toward = np.broadcast_to(np.asarray(params.orientation_vector, dtype=np.float64), normals.shape)
    elif params.orientation in ("toward_points", "away_from_points"):
        pts = np.asarray(params.orientation_points, dtype=np.float64).reshape(-1, 3)
        if shift is not None:
            pts = pts - shift
        d2 = ((core[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2)
        toward = pts[np.argmin(d2, axis=1)] - core
        if params.orientation == "away_from_points":
            toward = -toward
    else:
        centre = centroid if centroid is not None else core.mean(axis=0)
        toward = core - centre if params.orientation == "outward" else centre - core
    flip = np.einsum("ij,ij->i", normals, toward) < 0
    out = normals.copy()
    out[flip] *= -1.0
    return out


# ------------------------------------------------------------------------- cylinders


def _projection(coords: list[np.ndarray], normals: np.ndarray, core: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """t = p.n - c.n for every (core, point) pair, the pairs of core i being ``runs[i]``
    long; the same expression everywhere, so that a point gets the very same t whichever
    search found it (slice and segment tests stay exact)."""
    t = coords[0] * np.repeat(normals[:, 0], runs)
    t += coords[1] * np.repeat(normals[:, 1], runs)
    t += coords[2] * np.repeat(normals[:, 2], runs)
    t -= np.repeat(np.einsum("ij,ij->i", core, normals), runs)
    return t


def _slice_layout(params: M3C2Params, inner: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Lower and upper ends (along the axis) of the cylinder slices to search, and the
    radius of a ball that holds any of them.

    Slice k holds ``lower[k] <= t < upper[k]``; neighbouring slices share the very same
    edge value, so every point falls in exactly one; the far end of the cylinder is
    closed. Without an inner segment the slices cover [-L, L] (``ceil(L / R)`` of them,
    py4dgeo's scheme); with one, [-inner, inner) is left out (it is taken from the normal
    neighbourhood) and each side beyond it is cut in slices at most 2R long.
    """
    length, radius = params.cylinder_half_length, params.cylinder_radius
    if inner >= length:
        return np.zeros(0), np.zeros(0), 0.0
    if inner <= 0.0:
        n = params.slices
        edges = -length + (2.0 * length / n) * np.arange(n + 1)
        lower, upper = edges[:-1].copy(), edges[1:].copy()
    else:
        n = math.ceil((length - inner) / (2.0 * radius))
        right = inner + ((length - inner) / n) * np.arange(n + 1)
        right[-1] = length
        lower = np.concatenate([-right[:0:-1], right[:-1]])
        upper = np.concatenate([-right[-2::-1], right[1:]])
    upper[-1] = np.nextafter(length, np.inf)
    half = float(np.max(upper - lower)) / 2.0
    return lower, upper, math.sqrt(radius * radius + half * half) * (1.0 + 1e-9)


def _inner_pairs(
    near: _Neighbourhoods, core: np.ndarray, normals: np.ndarray, radius: float, length: float, inner: float
) -> tuple[np.ndarray, np.ndarray]:
    """(core index, t) of the normal-neighbourhood points inside the cylinder's inner
    segment ``-inner <= t < inner`` (all of which lie within the normal radius); the whole
    closed cylinder when ``inner >= length``."""
    runs = np.diff(near.splits)
    t = _projection(near.coords, normals, core, runs)
    if inner >= length:
        keep = (t >= -length) & (t <= length)
    else:
        keep = (t >= -inner) & (t < inner)
    keep &= near.dist2 - t * t <= radius * radius
    owner = np.repeat(np.arange(len(core)), runs)[keep]
    return owner, t[keep]


def _slice_pairs(
    index: _Index, core: np.ndarray, normals: np.ndarray, params: M3C2Params, inner: float
) -> tuple[np.ndarray, np.ndarray]:
    """(core index, t) of ``index``'s points inside each core point's cylinder, outside
    the inner segment when ``inner > 0``: one search for all slices of all core points
    (large enough for open3d's threads), then the filtering in cache-sized parts."""
    lower, upper, ball = _slice_layout(params, inner)
    m, slices = len(core), len(lower)
    if slices == 0 or m == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    centres = 0.5 * (lower + upper)
    queries = (core[:, None, :] + centres[None, :, None] * normals[:, None, :]).reshape(-1, 3)
    found = index.ball(queries, ball)
    owners, ts = [], []
    for a, b in _sub_ranges(found[2][::slices], PAIRS_PER_CHUNK):
        idx, dist2, splits = _part(found, a * slices, b * slices)
        k = b - a
        per_core = np.diff(splits[::slices])
        per_query = np.diff(splits)
        t = _projection([np.take(axis, idx) for axis in index.axes], normals[a:b], core[a:b], per_core)
        keep = t >= np.repeat(np.tile(lower, k), per_query)
        keep &= t < np.repeat(np.tile(upper, k), per_query)
        s = t - np.repeat(np.tile(centres, k), per_query)  # along the axis from the slice centre (the query)
        keep &= dist2 - s * s <= params.cylinder_radius**2
        owners.append(np.repeat(np.arange(a, b), per_core)[keep])
        ts.append(t[keep])
    return np.concatenate(owners), np.concatenate(ts)


def _cylinder_stats(
    owner: np.ndarray, t: np.ndarray, m: int, use_median: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, centre (mean or median) and spread (std or IQR) of the projections ``t`` of
    each of ``m`` core points (``owner`` says whose)."""
    count = np.bincount(owner, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        if use_median:
            return (count, *_median_iqr(owner, t, count))
        centre = np.bincount(owner, weights=t, minlength=m) / count
        dev = t - centre[owner]
        spread = np.sqrt(np.bincount(owner, weights=dev * dev, minlength=m) / count)
    return count, centre, spread


def far_share(owner: np.ndarray, t: np.ndarray, m: int, depth: float) -> tuple[np.ndarray, np.ndarray]:
    """Per core point (``owner`` says whose projection each ``t`` is): the share of its
    cylinder's points, and their number, that lie farther than ``depth`` from their median
    along the axis: a second surface in the cylinder (see ``multiple_surfaces``). The
    share is 0 where the cylinder is empty."""
    if len(t) == 0 or depth <= 0:
        return np.zeros(m), np.zeros(m, dtype=np.int64)
    count = np.bincount(owner, minlength=m)
    values = t[np.lexsort((t, owner))]
    median = _median_of_runs(values, np.concatenate(([0], np.cumsum(count)[:-1])), count)
    far = np.abs(t - median[owner]) > depth
    n_far = np.bincount(owner[far], minlength=m)
    return n_far / np.maximum(count, 1), n_far


def mixed_surfaces(share1: np.ndarray, n_far1: np.ndarray, share2: np.ndarray, n_far2: np.ndarray,
                   share: float = SURFACE_SHARE) -> np.ndarray:
    """Core points whose cylinders hold a second surface in a different proportion in the
    two epochs (by at least ``share``, and with 2 or more such points on one side: a stray
    point or two make no surface). A cylinder that reaches the eaves above a wall top in
    one survey and less in the other moves its centre by the difference in how densely
    each survey saw the two; a cylinder through both faces of a column in both surveys
    alike measures the column's movement all the same and is kept."""
    return ((n_far1 >= 2) | (n_far2 >= 2)) & (np.abs(share1 - share2) >= share)


def progressive_half_lengths(radius: float, max_half_length: float) -> list[float]:
    """The half lengths CloudCompare's progressive cylinder search goes through
    (CCCoreLib ``DgmOctree::getPointsInCylindricalNeighbourhoodProgressive``): each pass adds
    ``radius``; a remainder shorter than ``radius / 2`` is swallowed by the last pass, which
    reaches ``max_half_length``."""
    out, current = [], 0.0
    while current < max_half_length:
        current += radius
        if max_half_length - current < radius / 2:
            current = max_half_length
        out.append(current)
    return out


def _progressive_stats(
    owner: np.ndarray, t: np.ndarray, m: int, params: M3C2Params
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_cylinder_stats` with qM3C2's progressive depth search (qM3C2Process.cpp,
    ``ComputeM3C2DistForPoint``): pass k takes the points with ``|t| <= H_k``; at a pass
    whose count differs from the last different one and reaches ``min_points``, the
    statistics are computed and the search stops if ``|centre| + 2 * spread < H_k``;
    otherwise the whole cylinder's figures stand."""
    count, centre, spread = _cylinder_stats(owner, t, m, params.use_median)
    done = np.zeros(m, dtype=bool)
    previous = np.zeros(m, dtype=np.int64)
    a = np.abs(t)
    for h in progressive_half_lengths(params.cylinder_radius, params.cylinder_half_length)[:-1]:
        sel = a <= h
        c_k, centre_k, spread_k = _cylinder_stats(owner[sel], t[sel], m, params.use_median)
        changed = c_k != previous
        with np.errstate(invalid="ignore"):
            stop = ~done & changed & (c_k >= params.min_points) & (np.abs(centre_k) + 2.0 * spread_k < h)
        count = np.where(stop, c_k, count)
        centre = np.where(stop, centre_k, centre)
        spread = np.where(stop, spread_k, spread)
        done |= stop
        previous = np.where(changed, c_k, previous)
    return count, centre, spread


def _median_of_runs(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of sorted runs (mid-point average for even counts, as Brodu's code)."""
    out = np.full(len(counts), np.nan)
    ok = counts > 0
    s, c = starts[ok], counts[ok]
    upper = values[s + c // 2]
    lower = values[s + np.maximum(c // 2 - 1, 0)]
    out[ok] = np.where(c % 2 == 0, 0.5 * (upper + lower), upper)
    return out


def _median_iqr(owner: np.ndarray, t: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and interquartile range (Mathworld's definition, as CloudCompare) per owner."""
    values = t[np.lexsort((t, owner))]  # sorted by owner, then t
    starts = np.concatenate(([0], np.cumsum(count)[:-1]))
    median = _median_of_runs(values, starts, count)
    half = (count + 1) // 2
    q1 = _median_of_runs(values, starts, half)
    q3 = _median_of_runs(values, starts + count // 2, half)
    return median, q3 - q1


# ------------------------------------------------------------------------------ main


def level_of_detection(
    sigma1: np.ndarray, n1: np.ndarray, sigma2: np.ndarray, n2: np.ndarray, registration_error: float = 0.0
) -> np.ndarray:
    """Lague et al. (2013) eq. (1): ``1.96 * (sqrt(sigma1**2/n1 + sigma2**2/n2) + reg)``."""
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return Z95 * (np.sqrt(sigma1 * sigma1 / n1 + sigma2 * sigma2 / n2) + registration_error)


def _points(name: str, xyz: np.ndarray) -> np.ndarray:
    arr = np.asarray(xyz, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise UsageError(f"M3C2: {name} must be an (n, 3) array of x, y, z; got shape {arr.shape}")
    if len(arr) and not np.isfinite(arr).all():
        raise UsageError(f"M3C2: {name} holds NaN or infinite coordinates; drop those points first")
    return arr


def m3c2(
    epoch1_xyz: np.ndarray,
    epoch2_xyz: np.ndarray,
    core_xyz: np.ndarray,
    params: M3C2Params,
    *,
    normals: np.ndarray | None = None,
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> M3C2Result:
    """M3C2 distances from epoch 1 to epoch 2 at the core points.

    The three arrays are (n, 3) coordinates in one frame (local or georeferenced: all is
    shifted to a frame centred on the core points first, which changes no distance).
    ``normals``: optional (m, 3) or (3,) normals to use instead of estimating them (e.g.
    ``(0, 0, 1)`` for vertical change only); used as given, only normalised. ``workers``:
    threads (default 2, see the module notes); the result does not depend on it. Raises
    UsageError for malformed input or an empty epoch.
    """
    p1 = _points("epoch1_xyz", epoch1_xyz)
    p2 = _points("epoch2_xyz", epoch2_xyz)
    core = _points("core_xyz", core_xyz)
    if len(p1) == 0 or len(p2) == 0:
        raise UsageError("M3C2: both epochs need points; one of them is empty")
    if chunk_size < 1:
        raise UsageError(f"M3C2: chunk_size must be at least 1, got {chunk_size}")
    m = len(core)
    given = None
    if normals is not None:
        given = np.asarray(normals, dtype=np.float64)
        if given.shape == (3,):
            given = np.broadcast_to(given, (m, 3))
        if given.shape != (m, 3):
            raise UsageError(f"M3C2: normals must be (3,) or ({m}, 3), got shape {np.shape(normals)}")
        length = np.linalg.norm(given, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            given = np.where(length[:, None] > 0, given / length[:, None], np.nan)

    shift = 0.5 * (core.min(axis=0) + core.max(axis=0)) if m else p1[0].copy()
    core_local = core - shift
    cell = min(params.cylinder_radius, params.normal_radius)
    order = morton_order(core_local, cell)  # chunks of nearby core points share cache lines
    core_sorted = core_local[order]
    centroid = core_sorted.mean(axis=0) if m else np.zeros(3)

    idx1 = _Index(p1, shift, cell, params.search_radius)
    idx2 = _Index(p2, shift, cell, params.search_radius)
    normal_index = None
    if given is None:
        if params.normal_source == "epoch1":
            normal_index = idx1
        elif params.normal_source == "epoch2":
            normal_index = idx2
        else:
            normal_index = _Index(core_local, np.zeros(3), cell, params.normal_radius)
        normal_sorted = np.full((m, 3), np.nan)
    else:
        normal_sorted = np.array(given[order])

    # the inner part of epoch 1's cylinders, |t| < sqrt(normal_radius^2 - radius^2), lies
    # inside the normal neighbourhood: take it from there instead of searching again
    inner = 0.0
    if normal_index is idx1 and params.normal_radius > params.cylinder_radius:
        inner = math.sqrt(params.normal_radius**2 - params.cylinder_radius**2) * (1.0 - 1e-9)
    out = {key: np.full(m, np.nan) for key in ("centre1", "centre2", "spread1", "spread2")}
    n1 = np.zeros(m, dtype=np.int64)
    n2 = np.zeros(m, dtype=np.int64)
    scale_sorted = np.full(m, np.nan)
    rough_sorted = np.full(m, np.nan)
    turn_sorted = np.full(m, np.nan)
    split_sorted = np.zeros(m, dtype=bool)
    stats = _progressive_stats if params.progressive else (
        lambda owner, t, k, p: _cylinder_stats(owner, t, k, p.use_median))

    def work(span: tuple[int, int]) -> None:
        lo, hi = span
        c = core_sorted[lo:hi]
        inner_owner, inner_t = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
        if normal_index is not None:
            found = normal_index.ball(c, params.normal_radius)  # one large search: open3d's threads share it
            for a, b in _sub_ranges(found[2], PAIRS_PER_CHUNK):  # numpy in cache-sized parts
                estimated, scale, rough, near = _normals_from(normal_index, _part(found, a, b), params.normal_radii)
                if not params.normal_radii:
                    scale = np.where(np.isfinite(estimated[:, 0]), params.normal_radius, np.nan)
                scale_sorted[lo + a : lo + b] = scale
                rough_sorted[lo + a : lo + b] = rough
                if params.rough_normal_ratio > 0:
                    turn_sorted[lo + a : lo + b] = normal_turn_deg(near, estimated, scale)
                oriented = orient_normals(estimated, c[a:b], params, centroid=centroid, shift=shift)
                normal_sorted[lo + a : lo + b] = oriented
                if inner > 0.0:
                    owner, t = _inner_pairs(
                        near, c[a:b], oriented, params.cylinder_radius, params.cylinder_half_length, inner
                    )
                    inner_owner.append(owner + a)
                    inner_t.append(t)
            del found
        nrm = normal_sorted[lo:hi]
        finite = np.isfinite(nrm).all(axis=1)
        ok = np.flatnonzero(finite)
        ball = np.flatnonzero(~finite) if params.no_normal == "ball" and normal_index is not None else ok[:0]
        far = {}
        for index, count, key in ((idx1, n1, "1"), (idx2, n2, "2")):
            owner, t = _slice_pairs(index, c[ok], nrm[ok], params, inner if index is idx1 else 0.0)
            owner = ok[owner]
            parts_owner, parts_t = [owner], [t]
            if index is idx1:
                parts_owner += inner_owner
                parts_t += inner_t
            if len(ball):  # a zero normal (CloudCompare, PDAL): the cylinder is the ball, every projection 0
                bidx, bd2, bsplits = index.ball(c[ball], params.cylinder_radius)
                within = bd2 <= params.cylinder_radius**2
                parts_owner.append(np.repeat(ball, np.diff(bsplits))[within])
                parts_t.append(np.zeros(int(within.sum())))
            owner, t = np.concatenate(parts_owner), np.concatenate(parts_t)
            if params.positive_only:
                keep = t >= 0.0
                owner, t = owner[keep], t[keep]
            if params.surface_depth > 0:
                far[key] = far_share(owner, t, hi - lo, params.surface_depth)
            count[lo:hi], out["centre" + key][lo:hi], out["spread" + key][lo:hi] = stats(owner, t, hi - lo, params)
        if far:
            split_sorted[lo:hi] = mixed_surfaces(*far["1"], *far["2"])

    spans = _chunks(core_sorted, normal_index, idx1, params, chunk_size)
    threads = min(workers or min(DEFAULT_WORKERS, thread_budget()), len(spans))
    if threads <= 1:
        for span in spans:
            work(span)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, spans))

    inverse = np.empty(m, dtype=np.int64)
    inverse[order] = np.arange(m)
    n1, n2 = n1[inverse], n2[inverse]
    s1, s2 = out["spread1"][inverse], out["spread2"][inverse]
    normal = normal_sorted[inverse]
    no_normal = ~np.isfinite(normal).all(axis=1)
    ball = no_normal & (params.no_normal == "ball") & (given is None)
    normal[ball] = 0.0
    roughness = rough_sorted[inverse]
    scale = scale_sorted[inverse]
    rough_normal = np.zeros(m, dtype=bool)
    if params.rough_normal_ratio > 0:
        with np.errstate(invalid="ignore"):
            rough_normal = (2.0 * scale < params.rough_normal_ratio * roughness) & (
                turn_sorted[inverse] > params.rough_normal_turn_deg)
    split = split_sorted[inverse]
    enough = (n1 >= params.min_points) & (n2 >= params.min_points)
    trusted = enough & ~rough_normal & ~split
    has_distance = (n1 > 0) & (n2 > 0)
    if params.min_points_gate == "distance":
        has_distance &= enough
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.where(has_distance, out["centre2"][inverse] - out["centre1"][inverse], np.nan)
        lod = np.where(trusted, level_of_detection(s1, n1, s2, n2, params.registration_error), np.nan)
        significant = trusted & (np.abs(distance) > lod)
    reason = np.full(m, OK, dtype=np.uint8)
    reason[rough_normal] = ROUGH_NORMAL
    reason[split] = MULTIPLE_SURFACES
    reason[~enough] = FEW_POINTS
    reason[n2 == 0] = EMPTY2
    reason[n1 == 0] = EMPTY1
    reason[no_normal & ~ball] = NO_NORMAL
    reason[ball] = ZERO_NORMAL
    return M3C2Result(
        core=core.copy(),
        normal=normal,
        distance=distance,
        lod=lod,
        significant=significant,
        n1=n1,
        n2=n2,
        sigma1=s1,
        sigma2=s2,
        params=params,
        reason=reason,
        normal_scale=scale,
        roughness=roughness,
    )


def _chunks(
    core: np.ndarray, normal_index: _Index | None, index: _Index, params: M3C2Params, chunk_size: int
) -> list[tuple[int, int]]:
    """Spans of core points per work item: at most ``chunk_size``, and few enough that a
    search's (query, point) pairs, estimated on a sample of core points, stay near
    PAIRS_PER_SEARCH (memory stays bounded)."""
    m = len(core)
    if m == 0:
        return []
    sample = core[np.linspace(0, m - 1, min(m, 256)).astype(np.int64)]
    pairs = 1.5 * len(index.ball(sample, _slice_layout(params, 0.0)[2])[0]) / len(sample)
    if normal_index is not None:
        pairs = max(pairs, len(normal_index.ball(sample, params.normal_radius)[0]) / len(sample))
    size = int(min(chunk_size, max(1, PAIRS_PER_SEARCH / max(pairs, 1.0))))
    return [(lo, min(lo + size, m)) for lo in range(0, m, size)]
