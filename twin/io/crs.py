"""Coordinate reference systems: resolve them from headers or user input, and judge
whether they are plausible for the coordinates they come with.

Real headers are often wrong: an empty WKT record, GeoTIFF keys saying WGS 84 degrees
on projected metres, or two records that disagree. Each problem becomes a warning in
the CRSInfo rather than a failure, because the points are still good evidence; the
user can override with ``--crs``.
"""

from __future__ import annotations

from typing import Any

from twin.errors import CRSError
from twin.models.scan import CRSInfo


def _pyproj_crs(value: Any):
    from pyproj import CRS  # noqa: PLC0415  (pyproj is slow to import)

    return CRS.from_user_input(value)


def describe_crs(crs: Any, source: str) -> CRSInfo:
    """CRSInfo for a pyproj CRS, with the EPSG code where one resolves."""
    epsg = crs.to_epsg()
    if epsg is None:
        epsg = crs.to_epsg(min_confidence=25)
    return CRSInfo(
        name=crs.name,
        epsg=epsg,
        wkt=crs.to_wkt(),
        source=source,
        is_geographic=bool(crs.is_geographic),
    )


def parse_user_crs(text: str) -> CRSInfo:
    """A CRS given on the command line (``EPSG:32648``, ``32648``, WKT, PROJ string)."""
    value = text.strip()
    if value.isdigit():
        value = f"EPSG:{value}"
    try:
        crs = _pyproj_crs(value)
    except Exception as exc:  # pyproj raises CRSError, but also others for odd input
        raise CRSError(f"unknown coordinate system {text!r}: {str(exc).splitlines()[0]}; use e.g. EPSG:32648") from exc
    return describe_crs(crs, "override")


def crs_from_wkt(wkt: str, source: str) -> tuple[CRSInfo | None, str | None]:
    """(CRSInfo, None) for a parseable WKT, or (None, warning) when it is empty or broken."""
    if not wkt or not any(ch.isalpha() for ch in wkt):
        return None, f"the {source} record is empty ({wkt.strip()!r})"
    try:
        return describe_crs(_pyproj_crs(wkt.strip("\x00")), source), None
    except Exception as exc:
        return None, f"the {source} record cannot be parsed ({str(exc).splitlines()[0]})"


def plausibility_warnings(info: CRSInfo, bounds_min, bounds_max) -> list[str]:
    """Warnings when the coordinates cannot be in the CRS they claim (see :func:`crs_contradiction`)."""
    problem = crs_contradiction(info, bounds_min, bounds_max)
    return [f"{problem}; twin ingest refuses it unless --crs gives the right one"] if problem else []


# Projected coordinates count as "far outside" the CRS's area of use when they lie beyond it
# by more than this share of the area's own width or height (areas of use are drawn tight,
# and neighbouring UTM zones are routinely used a little past their edge).
AREA_MARGIN = 0.5


def crs_contradiction(info: CRSInfo, bounds_min, bounds_max) -> str | None:
    """One line when the coordinates cannot be in the CRS they claim, else None.

    A geographic CRS needs longitudes within ±180 and latitudes within ±90. A projected CRS
    needs the coordinates near its area of use (pyproj's area_of_use, transformed into the
    CRS). Anything that cannot be judged (no CRS, no area of use, a failing transform)
    passes: this catches headers that are plainly wrong, not every doubtful one.
    """
    if info.epsg is None and info.wkt is None:
        return None
    xs = (float(bounds_min[0]), float(bounds_max[0]))
    ys = (float(bounds_min[1]), float(bounds_max[1]))
    if info.is_geographic:
        if max(abs(v) for v in xs) > 180 or max(abs(v) for v in ys) > 90:
            return (
                f"the header says {_crs_label(info)}, in degrees, but the coordinates reach "
                f"x={max(xs, key=abs):,.1f}, y={max(ys, key=abs):,.1f}, beyond ±180/±90: they look projected "
                "(metres or feet)"
            )
        return None
    try:
        crs = _pyproj_crs(info.wkt or f"EPSG:{info.epsg}")
        area = crs.area_of_use
        if area is None or not crs.is_projected:
            return None
        from pyproj import Transformer  # noqa: PLC0415

        to_crs = Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
        west, south, east, north = to_crs.transform_bounds(area.west, area.south, area.east, area.north,
                                                           densify_pts=21)
    except Exception:  # noqa: BLE001 - a CRS pyproj cannot judge is not refused for it
        return None
    if not all(map(_finite, (west, south, east, north))) or east <= west or north <= south:
        return None
    mx, my = AREA_MARGIN * (east - west), AREA_MARGIN * (north - south)
    if west - mx <= xs[0] and xs[1] <= east + mx and south - my <= ys[0] and ys[1] <= north + my:
        return None
    return (
        f"the coordinates (x {xs[0]:,.1f}..{xs[1]:,.1f}, y {ys[0]:,.1f}..{ys[1]:,.1f}) lie far outside the "
        f"area of use of {_crs_label(info)} (x {west:,.0f}..{east:,.0f}, y {south:,.0f}..{north:,.0f}: "
        f"{_short(area.name, 40)}); the header's CRS or its units are wrong"
    )


def _crs_label(info: CRSInfo) -> str:
    return f"{info.name} (EPSG:{info.epsg})" if info.epsg else f"{info.name}"


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def choose_crs(candidates: list[CRSInfo], problems: list[str]) -> CRSInfo:
    """The CRS to record from a header's candidate records (first wins), with warnings."""
    if not candidates:
        warnings = problems or ["the header records no coordinate system"]
        return CRSInfo(source="none", warnings=[*warnings, "give one with --crs EPSG:NNNN"] if not problems else warnings)
    chosen = candidates[0].model_copy(update={"warnings": list(problems)})
    for other in candidates[1:]:
        if other.epsg != chosen.epsg or (other.epsg is None and other.name != chosen.name):
            chosen.warnings.append(
                f"the {other.source} record says {other.name} (EPSG:{other.epsg}) but the "
                f"{chosen.source} record says {chosen.name} (EPSG:{chosen.epsg}); using the {chosen.source} record"
            )
    return chosen


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ;,-") + "…"


def pyproj_crs(crs: CRSInfo | None, fallback: str | None = None):
    """The pyproj CRS of ``crs`` (its WKT, else its EPSG code), else of ``fallback`` (e.g. a
    layer file's ``EPSG:32648``); None when there is neither, CRSError when pyproj cannot read it."""
    source = None
    if crs is not None:
        source = crs.wkt or (f"EPSG:{crs.epsg}" if crs.epsg is not None else None)
    source = source or fallback
    if not source:
        return None
    try:
        return _pyproj_crs(source)
    except Exception as exc:
        raise CRSError(f"cannot use the coordinate system {_short(source)!r}: {str(exc).splitlines()[0]}") from exc


def crs_wkt(crs: CRSInfo | None) -> str | None:
    """The WKT a LAS/COPC header records for ``crs``: its own WKT, else its EPSG code's."""
    if crs is None:
        return None
    if crs.wkt:
        return crs.wkt
    if crs.epsg is not None:
        from pyproj import CRS  # noqa: PLC0415  (slow to import)

        return CRS.from_epsg(crs.epsg).to_wkt()
    return None
