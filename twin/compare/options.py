"""The settings of a comparison, checked before anything is read or written.

The M3C2 parameters mirror CloudCompare's M3C2 parameter file and PDAL's
``filters.m3c2``: normal radius (``NormalScale``), cylinder radius (``SearchScale``),
cylinder half length (``SearchDepth``), registration error (``RegistrationError``),
median or mean (``UseMedian``), core points from a file or by subsampling at a spacing
(``SubsampleRadius``). Lengths in metres.

Normal orientation decides the sign of every distance. The default, ``outward`` (away
from the centre of the core points), suits a building: positive means the surface moved
away from the building's centre (a bulging wall, a column leaning out), whichever face
was scanned. ``up`` is py4dgeo's and PDAL's default (+z; right for terrain and roofs, but
blind on vertical walls); ``stations`` turns normals toward the nearest scanner station
(CloudCompare's "use cloud"; workspace mode, from the registration's record); ``X,Y,Z``
gives a direction.

Reference presets (``preset``; each fills only what is not given explicitly):

- ``twin`` (default): median and IQR, ``outward`` normals, LoD from 5 points a side,
  single-pass cylinder, a core point without a normal gets NaN, and the edge rules
  (``edge_rules``; :mod:`twin.compare.m3c2`): a normal across an edge (normal diameter
  under 25 times the roughness, Lague et al. 2013, and a turn of more than 5 degrees at
  half the scale) or a cylinder where 10 % of one epoch's points lie more than half the
  cylinder radius from its median along the axis (a second surface) gives no LoD and no
  significance, with the reason ``rough_normal`` or ``multiple_surfaces``.
- ``cloudcompare``: qM3C2's dialog defaults (qM3C2Dialog.ui, qM3C2Process.cpp): mean and
  std, normals toward +Z, "min points for statistics" 5 (the distance needs one point a
  side, the LoD five), progressive depth search, a core point without a normal gets the
  zero normal's ball (distance 0), no edge rules. CloudCompare's "normal scale" and
  "projection scale" are diameters: give half of each as ``normal_radius`` /
  ``cylinder_radius``.
- ``pdal``: ``filters.m3c2`` (M3C2Filter.cpp): mean and std, ``up``, ``min_points`` 1
  gating the whole core point, single pass, zero normal's ball, no edge rules.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from twin.compare.m3c2 import M3C2Params
from twin.errors import UsageError

METHODS = ("m3c2", "c2c", "c2m")
Method = Literal["m3c2", "c2c", "c2m"]

DEFAULT_NORMAL_RADIUS = 0.25
DEFAULT_CYLINDER_RADIUS = 0.1
DEFAULT_HALF_LENGTH = 0.15  # short: a 0.3 m column or wall must not fall inside one cylinder
DEFAULT_CORE_SPACING = 0.1
DEFAULT_ALIGN_MAX_DISTANCE = 0.1
DEFAULT_ALIGN_VOXEL = 0.02
ROUGH_NORMAL_RATIO = 25.0  # Lague et al. (2013): the normal scale (a diameter) at least ~25 times the roughness
# ... and the normal turning by more than this between the full and the half scale. Measured on the sample's two
# surveys (66,381 core points): at 5 degrees the rule left out 20,403 (the half-scale normal of noisy columns,
# balustrades and tiles turns that much), at 15 degrees 10,225; from 5 to 15 degrees every element's supported
# peak stays within 1.2 mm of the truth's, and the false -61 mm on the east steps' nosings (normals across the
# step edge) is gone at any of them; without the rule, or at a ratio of 12, it stays.
ROUGH_NORMAL_TURN_DEG = 15.0
SURFACE_DEPTH_OF_RADIUS = 0.5  # farther than half the cylinder radius from the median: another surface


Preset = Literal["twin", "cloudcompare", "pdal"]
PRESETS: dict[str, dict] = {
    "twin": {},
    "cloudcompare": {"median": False, "orientation": "up", "min_points": 5, "min_points_gate": "lod",
                     "progressive": True, "no_normal": "ball", "edge_rules": False},
    "pdal": {"median": False, "orientation": "up", "min_points": 1, "min_points_gate": "distance",
             "progressive": False, "no_normal": "ball", "edge_rules": False},
}
ORIENTATION_WORDS = {  # word -> (M3C2Params.orientation, vector or points)
    "up": ("vector", (0.0, 0.0, 1.0)), "+z": ("vector", (0.0, 0.0, 1.0)),
    "down": ("vector", (0.0, 0.0, -1.0)), "-z": ("vector", (0.0, 0.0, -1.0)),
    "+x": ("vector", (1.0, 0.0, 0.0)), "-x": ("vector", (-1.0, 0.0, 0.0)),
    "+y": ("vector", (0.0, 1.0, 0.0)), "-y": ("vector", (0.0, -1.0, 0.0)),
    "none": ("none", None),
    "from-origin": ("away_from_points", ((0.0, 0.0, 0.0),)),
    "toward-origin": ("toward_points", ((0.0, 0.0, 0.0),)),
}


class CompareOptions(BaseModel):
    """Everything a comparison needs besides its inputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = "m3c2"
    normal_radius: float = DEFAULT_NORMAL_RADIUS
    cylinder_radius: float = DEFAULT_CYLINDER_RADIUS
    cylinder_half_length: float = DEFAULT_HALF_LENGTH
    registration_error: float | None = None  # None: the alignment's residual (workspace), else 0
    median: bool = True  # robust to the mixed pixels at edges; mean and std with --mean
    preset: Preset = "twin"  # the reference whose rules fill what is not given (module notes)
    min_points: int = 5  # points a side for a LoD (and, with min_points_gate 'distance', a distance)
    min_points_gate: Literal["lod", "distance"] = "lod"
    normal_radii: tuple[float, ...] = ()  # multi-scale normals (radii); normal_radius becomes the largest
    progressive: bool = False  # CloudCompare's multi-pass depth search
    positive_only: bool = False
    no_normal: Literal["nan", "ball"] = "nan"
    edge_rules: bool = True  # rough_normal and multiple_surfaces (module notes); off in the reference presets
    core_file: Path | None = None
    core_spacing: float = DEFAULT_CORE_SPACING
    orientation: str = "outward"
    threshold: float | None = None  # c2c/c2m: |distance| beyond this is a change (default 1.96 x reg. error)
    align: bool = True  # workspace mode: robust ICP of the later survey onto the earlier one
    align_max_distance: float = DEFAULT_ALIGN_MAX_DISTANCE
    align_voxel: float = DEFAULT_ALIGN_VOXEL

    def params_dict(self) -> dict:
        """The settings as recorded in provenance and the catalog."""
        data = self.model_dump(mode="json")
        data["core_file"] = str(self.core_file) if self.core_file else None
        return data


def _positive(option: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} must be a positive number of metres, got {value}")


def make_options(**values) -> CompareOptions:
    """CompareOptions from command-line values (None = default), checked: an impossible
    value raises UsageError naming the option."""
    values = {k: v for k, v in values.items() if v is not None}
    preset = values.get("preset", "twin")
    if preset not in PRESETS:
        raise UsageError(f"--preset: unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **values}
    if values.get("normal_radii"):
        radii = tuple(float(r) for r in values["normal_radii"])
        for r in radii:
            _positive("--normal-radii", r)
        values["normal_radii"] = radii
        values.setdefault("normal_radius", max(radii))
        if values["normal_radius"] < max(radii):
            raise UsageError("--normal-radius must be at least the largest of --normal-radii")
    if "min_points" in values and not (isinstance(values["min_points"], int) and values["min_points"] >= 1):
        raise UsageError(f"--min-points must be a whole number of at least 1, got {values['min_points']}")
    method = values.get("method", "m3c2")
    if method not in METHODS:
        raise UsageError(f"--method: unknown method {method!r}; use one of {', '.join(METHODS)}")
    for key, option in (
        ("normal_radius", "--normal-radius"),
        ("cylinder_radius", "--cylinder-radius"),
        ("cylinder_half_length", "--cylinder-half-length"),
        ("core_spacing", "--core-spacing"),
        ("threshold", "--threshold"),
        ("align_max_distance", "--align-max-distance"),
        ("align_voxel", "--align-voxel"),
    ):
        _positive(option, values.get(key))
    reg = values.get("registration_error")
    if reg is not None and not (math.isfinite(reg) and reg >= 0):
        raise UsageError(f"--registration-error must be zero or a positive number of metres, got {reg}")
    if "core_file" in values and "core_spacing" in values:
        raise UsageError("give core points as --core FILE or by --core-spacing, not both")
    if "core_file" in values:
        core = Path(values["core_file"])
        if not core.is_file():
            raise UsageError(f"--core {core}: no such file")
    parse_orientation(values.get("orientation", "outward"))
    try:
        options = CompareOptions(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    m3c2_params(options, registration_error=options.registration_error or 0.0, stations=[[0.0, 0.0, 0.0]])
    return options


def parse_orientation(text: str) -> tuple[str, tuple | None]:
    """('outward'|'inward'|'up'|'stations'|'vector'|'none'|'toward_points'|'away_from_points',
    vector, points or None). Words: outward, inward, up, stations, down, none, +x .. -z,
    from-origin, toward-origin (CloudCompare's preferred orientations; PDAL's up/down/none)."""
    word = text.strip().lower()
    if word in ("outward", "inward", "up", "stations"):
        return word, (0.0, 0.0, 1.0) if word == "up" else None
    if word in ORIENTATION_WORDS:
        return ORIENTATION_WORDS[word]
    parts = [p for p in word.replace(" ", "").split(",") if p]
    try:
        vector = tuple(float(p) for p in parts)
    except ValueError:
        vector = ()
    if len(vector) != 3 or not all(math.isfinite(v) for v in vector) or not any(vector):
        raise UsageError(
            f"--orientation {text!r}: use outward, inward, up, down, stations, none, +x..-z, from-origin, "
            "toward-origin, or a direction X,Y,Z (e.g. 0,0,1)"
        )
    return "vector", vector  # type: ignore[return-value]


def m3c2_params(options: CompareOptions, *, registration_error: float,
                stations: list[list[float]] | None = None) -> M3C2Params:
    """The M3C2Params of these options. ``stations``: scanner positions in the clouds'
    frame, for the ``stations`` orientation."""
    kind, vector = parse_orientation(options.orientation)
    extra: dict = {}
    if kind in ("outward", "inward"):
        extra["orientation"] = kind
    elif kind == "stations":
        if not stations:
            raise UsageError(
                "--orientation stations needs the scanner positions, which only registered workspace models "
                "record; use outward, inward, up or X,Y,Z"
            )
        extra["orientation"] = "toward_points"
        extra["orientation_points"] = tuple(tuple(map(float, p)) for p in stations)
    elif kind == "none":
        extra["orientation"] = "none"
    elif kind in ("toward_points", "away_from_points"):
        extra["orientation"] = kind
        extra["orientation_points"] = vector
    else:
        extra["orientation"] = "vector"
        extra["orientation_vector"] = vector
    try:
        return M3C2Params(
            normal_radius=options.normal_radius,
            cylinder_radius=options.cylinder_radius,
            cylinder_half_length=options.cylinder_half_length,
            registration_error=registration_error,
            use_median=options.median,
            min_points=options.min_points,
            min_points_gate=options.min_points_gate,
            normal_radii=options.normal_radii,
            progressive=options.progressive,
            positive_only=options.positive_only,
            no_normal=options.no_normal,
            rough_normal_ratio=ROUGH_NORMAL_RATIO if options.edge_rules else 0.0,
            rough_normal_turn_deg=ROUGH_NORMAL_TURN_DEG,
            surface_depth=SURFACE_DEPTH_OF_RADIUS * options.cylinder_radius if options.edge_rules else 0.0,
            **extra,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"M3C2 parameters: {'.'.join(map(str, first['loc'])) or 'value'}: {first['msg']}") from None
