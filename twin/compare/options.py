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


class CompareOptions(BaseModel):
    """Everything a comparison needs besides its inputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = "m3c2"
    normal_radius: float = DEFAULT_NORMAL_RADIUS
    cylinder_radius: float = DEFAULT_CYLINDER_RADIUS
    cylinder_half_length: float = DEFAULT_HALF_LENGTH
    registration_error: float | None = None  # None: the alignment's residual (workspace), else 0
    median: bool = True  # robust to the mixed pixels at edges; mean and std with --mean
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


def parse_orientation(text: str) -> tuple[str, tuple[float, float, float] | None]:
    """('outward'|'inward'|'up'|'stations'|'vector', vector or None)."""
    word = text.strip().lower()
    if word in ("outward", "inward", "up", "stations"):
        return word, (0.0, 0.0, 1.0) if word == "up" else None
    parts = [p for p in word.replace(" ", "").split(",") if p]
    try:
        vector = tuple(float(p) for p in parts)
    except ValueError:
        vector = ()
    if len(vector) != 3 or not all(math.isfinite(v) for v in vector) or not any(vector):
        raise UsageError(
            f"--orientation {text!r}: use outward, inward, up, stations, or a direction X,Y,Z (e.g. 0,0,1)"
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
            **extra,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"M3C2 parameters: {'.'.join(map(str, first['loc'])) or 'value'}: {first['msg']}") from None
