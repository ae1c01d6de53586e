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
    """Warnings when the coordinates cannot be in the CRS they claim."""
    if info.epsg is None and info.wkt is None:
        return []
    xs = (float(bounds_min[0]), float(bounds_max[0]))
    ys = (float(bounds_min[1]), float(bounds_max[1]))
    if info.is_geographic:
        if max(abs(v) for v in xs) > 360 or max(abs(v) for v in ys) > 90:
            return [
                f"the header says {info.name} (degrees) but the coordinates reach "
                f"x={max(xs, key=abs):,.1f}, y={max(ys, key=abs):,.1f}: they look projected (metres or feet); "
                "give the right CRS with --crs"
            ]
        return []
    try:
        crs = _pyproj_crs(info.wkt or f"EPSG:{info.epsg}")
        area = crs.area_of_use
        if area is None:
            return []
        from pyproj import Transformer  # noqa: PLC0415

        to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
        lon, lat = to_lonlat.transform((xs[0] + xs[1]) / 2, (ys[0] + ys[1]) / 2)
    except Exception:
        return []
    margin = 2.0  # degrees: areas of use are drawn tight
    if not (area.west - margin <= lon <= area.east + margin and area.south - margin <= lat <= area.north + margin):
        return [
            f"the coordinates fall at lon {lon:.3f}, lat {lat:.3f}, outside the area of use of "
            f"{info.name} ({_short(area.name)}); the header's CRS or its units may be wrong"
        ]
    return []


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
