"""What every LAS 1.4 file twin writes says about itself, the same in the labelled LAS/LAZ
export (:mod:`twin.export.labelled`) and in COPC (:mod:`twin.io.copc`):

- the labels ``element``, ``phase`` and ``material`` as int32 extra bytes with a
  description and ``-1`` declared as their no-data value (the Extra Bytes record's
  options bit 0 and its ``no_data`` field), normals as described float extra bytes;
- the CRS as an OGC WKT1 record (``WKT1_GDAL``, what LAS 1.4 readers expect; WKT2 only
  for a CRS that WKT1 cannot express), the global encoding's WKT bit set;
- the generating software ``twin <version>`` and the system identifier ``EXTRACTION``
  (LAS 1.4: points taken out of other data, not a sensor's).

It lives in :mod:`twin.io` because the COPC writer needs it and io sits below export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import twin
from twin.io.crs import crs_wkt
from twin.models.scan import CRSInfo

if TYPE_CHECKING:
    import laspy

LABEL_ATTRIBUTES = ("element", "phase", "material")
NO_DATA = -1  # the labels' "none" (twin.ops.labelling.NO_LABEL), declared as the extra bytes' no-data value
LAS_DESCRIPTIONS = {  # at most 32 characters each (the Extra Bytes record's field)
    "element": "element; legend.json; -1 = none",
    "phase": "phase; legend.json; -1 = none",
    "material": "material; legend.json; -1 = none",
    "normal_x": "surface normal, x (unit)",
    "normal_y": "surface normal, y (unit)",
    "normal_z": "surface normal, z (unit)",
}
SYSTEM_IDENTIFIER = "EXTRACTION"


def generating_software() -> str:
    """``twin <version>``, within the header's 32 bytes."""
    return f"twin {twin.__version__}"[:32]


def extra_bytes_params(name: str, dtype) -> laspy.ExtraBytesParams:
    """The extra dimension ``name``: its description (:data:`LAS_DESCRIPTIONS`, else its
    name) and, for a label, ``-1`` as its no-data value."""
    import laspy  # noqa: PLC0415

    return laspy.ExtraBytesParams(name=name, type=np.dtype(dtype), description=LAS_DESCRIPTIONS.get(name, name)[:32],
                                  no_data=[NO_DATA] if name in LABEL_ATTRIBUTES else None)


def wkt1(wkt: str) -> str:
    """``wkt`` (any WKT or CRS text pyproj reads) as OGC WKT1 (GDAL's flavour); WKT2 only
    for a CRS that WKT1 cannot express. Raises pyproj's CRSError when pyproj cannot read it."""
    from pyproj import CRS  # noqa: PLC0415  (slow to import)

    crs = CRS.from_user_input(wkt)
    try:
        return crs.to_wkt("WKT1_GDAL") or crs.to_wkt()
    except Exception:  # a CRS that WKT1 cannot express
        return crs.to_wkt()


def las_wkt(crs: CRSInfo | None) -> str | None:
    """The CRS as the WKT1 a LAS 1.4 WKT record holds (its own text when pyproj cannot read it)."""
    wkt = crs_wkt(crs)
    if wkt is None:
        return None
    try:
        return wkt1(wkt)
    except Exception:  # pyproj raises CRSError
        return wkt


def stamp_header(header: laspy.LasHeader, wkt: str | None) -> None:
    """Set who wrote a new header's file and, with ``wkt``, add the WKT record and set the
    global encoding's WKT bit."""
    from laspy.vlrs.known import WktCoordinateSystemVlr  # noqa: PLC0415

    header.generating_software = generating_software()
    header.system_identifier = SYSTEM_IDENTIFIER
    if wkt:
        header.vlrs.append(WktCoordinateSystemVlr(wkt))
        header.global_encoding.wkt = True


__all__ = ["LABEL_ATTRIBUTES", "LAS_DESCRIPTIONS", "NO_DATA", "SYSTEM_IDENTIFIER", "extra_bytes_params",
           "generating_software", "las_wkt", "stamp_header", "wkt1"]
