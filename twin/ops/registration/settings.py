"""Registration parameters, and the lengths they take from the data.

A survey may be a 20 cm statue scanned at 0.3 mm or a 200 m site scanned at 2 cm, so
no length here is a fixed number. Every length is a multiple of one **working unit**
``u`` measured on the stations: ``u = max(extent / 450, 2.5 x spacing)`` rounded down to
1, 2 or 5 times a power of ten, where the
extent is the diagonal of the box holding 96 % of a station's points (2 % trimmed at
each end, so a far tree or a stray return does not count) and the spacing is the
median nearest-neighbour distance; both are medians over the stations. On the sample
pavilion (about 22 m across at about 2 cm spacing) ``u`` is 5 cm; on a statue 30 cm
across at 0.4 mm it is 1 mm. The coarse search works at a few units, the checks at one,
the finest ICP at a tenth (never under half the point spacing). A length given
explicitly is used as it is; the resolved values are reported with the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError

# The report's "points within" tolerance: 6 mm for buildings (ReCap's figure), three
# point spacings for objects (anything under 2 m across).
BUILDING_TOLERANCE = 0.006
OBJECT_EXTENT = 2.0
EXTENT_PER_UNIT = 450.0  # extent / unit
SPACINGS_PER_UNIT = 2.5  # unit >= this many point spacings

# Multiples of the unit: (voxel, correspondence distance) per ICP stage, coarse to fine.
SETTLE_STAGES = ((1.0, 6.0), (1.0, 3.0), (1.0, 2.0))
MULTIWAY_STAGES = ((1.0, 6.0), (1.0, 3.0), (0.4, 1.6), (0.2, 0.8), (0.1, 0.4), (0.1, 0.2))
PAIR_STAGES = ((1.0, 2.0), (0.4, 1.0), (0.2, 0.6))
JOINT_BELOW_UNITS = 2.0  # multiway stages with a distance up to this many units run jointly (joint.py)


@dataclass(frozen=True)
class RegistrationSettings:
    """Parameters of :func:`twin.ops.registration.register_stations`.

    Lengths are in the stations' units (metres for a building); ``None`` means derived
    from the data (see the module docstring). Shares and angles are scale-free.
    """

    unit: float | None = None  # the working unit; None: measured
    coarse_voxel: float | None = None  # downsampling of the coarse search (1.6 u)
    check_voxel: float | None = None  # scale on which overlap is judged (u); distance 2 x voxel
    plan_cell: float | None = None  # plan-view occupancy cell of the levelled search (3 u)
    plan_fine_cell: float | None = None  # cell of its local refinement (0.6 u)
    settle_schedule: tuple[tuple[float, float], ...] | None = None
    multiway_schedule: tuple[tuple[float, float], ...] | None = None
    icp_schedule: tuple[tuple[float, float], ...] | None = None
    max_station_rmse: float | None = None  # point-to-plane RMSE allowed against the others (0.4 u)
    tolerance: float | None = None  # "points within" tolerance of the report: 6 mm, 3 spacings for objects
    feature_radius_factor: float = 5.0  # FPFH radius = factor x coarse voxel
    ransac_max_iterations: int = 50_000
    ransac_confidence: float = 0.9995
    hypotheses: int = 8  # distinct candidate alignments per pair (symmetric buildings have several)
    yaw_step_deg: float = 2.0  # yaw grid of the levelled (4-DoF) search
    six_dof_hypotheses: bool | None = None  # also try 6-DoF feature RANSAC; None: when not levelled
    conflict_weight: float = 10.0  # hypothesis score = overlap - weight x visibility conflict (at the true
    # alignment a generated survey shows under 1.1 %, its twins 3-16 %; see visibility.py)
    max_conflict: float = 0.12  # share of points seen through by the other scanner, for a link to count (real
    # outdoor scans show 5-11 % at the true alignment: foliage, thin poles between sparse beams, moving objects)
    gicp_below_units: float = 0.0  # ICP stages with a distance under this many units use GICP (0: none; fine.py)
    max_normal_angle_deg: float = 30.0  # ICP pairs only points whose normals agree this well
    min_conditioning: float = 0.0  # > 0: ICP does not move along a direction fixed less than this share of
    # the best-fixed one (twin.ops.icp.conditioned_step). A lone wall and floor leave the slide along the
    # wall at 0.006-0.009. Off by default: at 0.01 in every stage the gate's pair that slid 241 mm from the
    # truth stayed within 61-115 mm, but stations then kept their coarse errors along such directions
    # (generated gate seeds 0 and 2: 72 and 242 mm against 23 and 20 mm without)
    icp_max_points: int = 25_000  # source points per ICP iteration (an even stride through them)
    multiway_max_points: int = 200_000  # ... in the last multiway round, which sets the final poses
    multiway_rounds: int = 4
    icp_max_iterations: int = 60
    min_edge_fitness: float = 0.15  # share of a station's points with a partner, for a link to count
    min_station_fitness: float = 0.2  # a station's final share against all others
    max_candidate_pairs_all: int = 12  # up to this many stations every pair is searched; beyond, neighbours
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("unit", "coarse_voxel", "check_voxel", "plan_cell", "plan_fine_cell", "max_station_rmse",
                     "tolerance", "feature_radius_factor"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value <= 0):
                raise UsageError(f"registration {name} must be positive, got {value}")
        for name in ("multiway_schedule", "icp_schedule", "settle_schedule"):
            value = getattr(self, name)
            if value is None:
                continue
            stages = [tuple(stage) for stage in value]
            if not stages or any(len(st) != 2 or not all(np.isfinite(x) and x > 0 for x in st) for st in stages):
                raise UsageError(f"registration {name} must be (voxel, distance) pairs > 0, got {stages}")
        if self.multiway_rounds < 1:
            raise UsageError("registration multiway_rounds must be at least 1")
        for name in ("min_edge_fitness", "min_station_fitness", "max_conflict", "min_conditioning"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise UsageError(f"registration {name} must lie in [0, 1], got {value}")
        if self.ransac_max_iterations < 1 or self.hypotheses < 1 or self.icp_max_iterations < 1:
            raise UsageError("registration iteration counts must be at least 1")

    def fine_stages(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]], list[tuple[float, float]]]:
        """The multiway schedule split in three: stages run one station at a time (the wide
        ones and the first narrow one), the narrow stages run jointly, and the stages left to
        GICP (``gicp_below_units``), one station at a time again. A stage is narrow where its
        distance is at most JOINT_BELOW_UNITS units: wide stages pull each station into its
        basin against the others held still, where a joint solve that wide let a blob of
        points from another site settle on a building's floor."""
        stages = [(float(v), float(d)) for v, d in self.multiway_schedule]
        gicp = [s for s in stages if s[1] < self.gicp_below_units * self.unit]
        rest = [s for s in stages if s not in gicp]
        narrow = [s for s in rest if s[1] <= JOINT_BELOW_UNITS * self.unit]
        wide = [s for s in rest if s[1] > JOINT_BELOW_UNITS * self.unit]
        return wide + narrow[:1], narrow, gicp

    # Derived lengths, valid once resolved.
    @property
    def finest_distance(self) -> float:
        return float(self.icp_schedule[-1][1])

    @property
    def fine_voxel(self) -> float:
        return float(self.icp_schedule[-1][0])

    @property
    def check_distance(self) -> float:
        return 2.0 * self.check_voxel

    @property
    def rmse_limit(self) -> float:
        return float(self.max_station_rmse)

    def lengths(self) -> dict[str, object]:
        """The resolved lengths, for reports and provenance."""
        names = ("unit", "coarse_voxel", "check_voxel", "plan_cell", "plan_fine_cell", "settle_schedule",
                 "multiway_schedule", "icp_schedule", "max_station_rmse", "tolerance")
        out: dict[str, object] = {}
        for name in names:
            value = getattr(self, name)
            out[name] = [list(map(float, st)) for st in value] if isinstance(value, tuple) else value
        return out


def shares(value: float, limit: float) -> tuple[str, str]:
    """A share and the limit it was compared with, as percentages with just enough
    decimals to show them apart (19.6 % against 20 % must not read "20 % under 20 %")."""
    for decimals in (0, 1, 2):
        a, b = f"{value:.{decimals}%}", f"{limit:.{decimals}%}"
        if a != b:
            return a, b
    return a, b


@dataclass(frozen=True)
class DataScale:
    """What the stations measure: median point spacing and extent (see the module docstring)."""

    spacing: float
    extent: float

    @property
    def unit(self) -> float:
        """Rounded down to 1, 2 or 5 times a power of ten, so that two surveys of one site
        (whose spacing differs by a few per cent) share every length."""
        raw = max(self.extent / EXTENT_PER_UNIT, SPACINGS_PER_UNIT * self.spacing)
        decade = 10.0 ** np.floor(np.log10(raw))
        return float(decade * max(m for m in (1.0, 2.0, 5.0) if m * decade <= raw * (1 + 1e-9)))


def measure_scale(spacings: Sequence[float], extents: Sequence[float]) -> DataScale:
    return DataScale(float(np.median(spacings)), float(np.median(extents)))


def robust_extent(points: np.ndarray, sample: int = 200_000) -> float:
    """Diagonal of the box holding the middle 96 % of the points on every axis."""
    stride = max(1, len(points) // sample)
    sub = points[::stride]
    lo, hi = np.quantile(sub, 0.02, axis=0), np.quantile(sub, 0.98, axis=0)
    return float(np.linalg.norm(hi - lo))


def _stages(multiples, u: float, floor: float) -> tuple[tuple[float, float], ...]:
    return tuple((max(v * u, floor), max(d * u, 2.0 * floor)) for v, d in multiples)


def resolve(settings: RegistrationSettings, scale: DataScale) -> RegistrationSettings:
    """``settings`` with every length that was left to the data filled in."""
    u = settings.unit or scale.unit
    floor = 0.5 * scale.spacing  # no voxel finer than half the spacing: it would change nothing
    auto = {
        "unit": u,
        "coarse_voxel": 1.6 * u,
        "check_voxel": u,
        "plan_cell": 3.0 * u,
        "plan_fine_cell": 0.6 * u,
        "settle_schedule": _stages(SETTLE_STAGES, u, floor),
        "multiway_schedule": _stages(MULTIWAY_STAGES, u, floor),
        "icp_schedule": _stages(PAIR_STAGES, u, floor),
        "max_station_rmse": 0.4 * u,  # 21 mm on the sample, whose cleaned stations reach 17 mm
        "tolerance": BUILDING_TOLERANCE if scale.extent >= OBJECT_EXTENT else 3.0 * scale.spacing,
    }
    filled = {name: value for name, value in auto.items() if getattr(settings, name) is None}
    return dataclasses.replace(settings, **filled)
