"""A generated, Hue-like inventory for tests and benchmarks: monuments with Vietnamese names
(with their diacritics) and English ones, complexes nested up to three deep (the Capital
Citadel holds the Imperial City, which holds the Forbidden City), points in EPSG:32648 and,
for about two in five, a rectangular footprint; written as CSV, GeoJSON or GeoPackage.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

EPSG = 32648

# (inventory number, Vietnamese name, English name, type, parent number, lon, lat, footprint size m)
COMPLEXES = [
    ("HUE-0001", "Kinh thành Huế", "Hue Capital Citadel", "citadel", None, 107.5770, 16.4700, None),
    ("HUE-0002", "Hoàng thành", "Imperial City", "complex", "HUE-0001", 107.5787, 16.4685, None),
    ("HUE-0003", "Tử Cấm Thành", "Forbidden Purple City", "complex", "HUE-0002", 107.5790, 16.4710, None),
    ("HUE-0004", "Lăng Tự Đức", "Tomb of Tu Duc", "tomb complex", None, 107.5680, 16.4330, None),
    ("HUE-0005", "Lăng Minh Mạng", "Tomb of Minh Mang", "tomb complex", None, 107.5670, 16.3860, None),
    ("HUE-0006", "Lăng Khải Định", "Tomb of Khai Dinh", "tomb complex", None, 107.5930, 16.3990, None),
    ("HUE-0007", "Chùa Thiên Mụ", "Thien Mu Pagoda", "pagoda complex", None, 107.5450, 16.4530, None),
]
FAMOUS = [
    ("Điện Thái Hòa", "Thai Hoa Palace", "palace", "HUE-0002", 44, 30),
    ("Ngọ Môn", "Noon Gate", "gate", "HUE-0002", 58, 27),
    ("Hiển Lâm Các", "Hien Lam Pavilion", "pavilion", "HUE-0002", 14, 12),
    ("Thế Miếu", "The Mieu Temple", "temple", "HUE-0002", 55, 18),
    ("Cửu Đỉnh", "Nine Dynastic Urns", "monument", "HUE-0002", 30, 6),
    ("Duyệt Thị Đường", "Duyet Thi Duong Theatre", "theatre", "HUE-0003", 38, 20),
    ("Điện Kiến Trung", "Kien Trung Palace", "palace", "HUE-0003", 40, 28),
    ("Thái Bình Lâu", "Thai Binh Pavilion", "pavilion", "HUE-0003", 18, 14),
    ("Phu Văn Lâu", "Phu Van Pavilion", "pavilion", "HUE-0001", 16, 12),
    ("Kỳ Đài", "Flag Tower", "tower", "HUE-0001", 30, 30),
    ("Tháp Phước Duyên", "Phuoc Duyen Tower", "tower", "HUE-0007", 9, 9),
    ("Khiêm Cung Môn", "Khiem Cung Gate", "gate", "HUE-0004", 12, 6),
    ("Minh Lâu", "Minh Lau Pavilion", "pavilion", "HUE-0005", 15, 15),
    ("Cung Thiên Định", "Thien Dinh Palace", "palace", "HUE-0006", 36, 20),
]
KINDS = [  # Vietnamese prefix, English word, type
    ("Đình làng", "communal house", "communal house"),
    ("Chùa", "pagoda", "pagoda"),
    ("Miếu", "temple", "temple"),
    ("Nhà rường", "garden house", "garden house"),
    ("Lăng", "tomb", "tomb"),
    ("Am", "shrine", "shrine"),
    ("Cầu ngói", "tiled bridge", "bridge"),
    ("Nhà thờ họ", "clan house", "clan house"),
    ("Phủ thờ", "worship hall", "temple"),
    ("Đàn", "altar", "altar"),
]
PLACES = ["Kim Long", "Vỹ Dạ", "Phú Hậu", "Thủy Biều", "Hương Long", "An Cựu", "Phú Cát", "Thuận Hòa",
          "Tây Lộc", "Phước Vĩnh", "Thủy Xuân", "Hương Sơ", "Gia Hội", "Xuân Phú", "Phú Hiệp", "Đông Ba",
          "Thuận Lộc", "Phú Bình", "Hương Vinh", "Thủy Dương", "Trường An", "Vĩnh Ninh", "Phú Nhuận", "Đúc"]


def _plain(text: str) -> str:
    """Without diacritics: Vỹ Dạ -> Vy Da."""
    import unicodedata  # noqa: PLC0415

    text = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


PLACES_EN = {p: _plain(p) for p in PLACES}
DESIGNATIONS = ["Di tích quốc gia đặc biệt", "Di tích quốc gia", "Di tích cấp tỉnh", "Chưa xếp hạng"]
CREATOR = "Trung tâm Bảo tồn Di tích Cố đô Huế"


def generate(n: int = 850, seed: int = 0) -> list[dict]:
    """``n`` monuments (n >= 21): the seven complexes, fourteen famous buildings, and villages'
    temples, pagodas and garden houses around Hue. Each row: inventory_number, name_vi, name_en,
    type, designation, address, site, parent (an inventory number or None), x, y (EPSG:32648),
    footprint (WKT of a rectangle, or None), dc:creator, dc:date."""
    import numpy as np  # noqa: PLC0415
    from pyproj import Transformer  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    to_utm = Transformer.from_crs(4326, EPSG, always_xy=True)
    rows: list[dict] = []

    def add(number, vi, en, kind, parent, lon, lat, size, site, designation, year):
        x, y = to_utm.transform(lon, lat)
        footprint = None
        if size is not None:
            w, d = size
            a = math.radians(rng.uniform(-20, 20))
            c, s = math.cos(a), math.sin(a)
            corners = [(-w / 2, -d / 2), (w / 2, -d / 2), (w / 2, d / 2), (-w / 2, d / 2), (-w / 2, -d / 2)]
            footprint = "POLYGON ((" + ", ".join(f"{x + c * u - s * v:.3f} {y + s * u + c * v:.3f}"
                                                 for u, v in corners) + "))"
        rows.append({
            "inventory_number": number, "name_vi": vi, "name_en": en, "type": kind, "designation": designation,
            "address": f"{site}, thành phố Huế, Thừa Thiên Huế", "site": site, "parent": parent,
            "x": round(x, 3), "y": round(y, 3), "footprint": footprint,
            "dc:creator": CREATOR, "dc:date": year,
        })

    for number, vi, en, kind, parent, lon, lat, _ in COMPLEXES:
        add(number, vi, en, kind, parent, lon, lat, None, "Thuận Thành" if parent or number == "HUE-0001" else vi,
            DESIGNATIONS[0], "1805/1832")
    centre = {c[0]: (c[5], c[6]) for c in COMPLEXES}
    for i, (vi, en, kind, parent, w, d) in enumerate(FAMOUS, start=len(rows) + 1):
        lon, lat = centre[parent]
        add(f"HUE-{i:04d}", vi, en, kind, parent, lon + rng.uniform(-0.002, 0.002), lat + rng.uniform(-0.002, 0.002),
            (w, d), "Thuận Thành", DESIGNATIONS[0], f"{int(rng.integers(1804, 1930))}")
    counts: dict[tuple[str, str], int] = {}
    while len(rows) < n:
        i = len(rows) + 1
        vi_kind, en_kind, kind = KINDS[int(rng.integers(len(KINDS)))]
        place = PLACES[int(rng.integers(len(PLACES)))]
        counts[(vi_kind, place)] = counts.get((vi_kind, place), 0) + 1
        k = counts[(vi_kind, place)]
        suffix_vi = "" if k == 1 else f" {k}"
        lon, lat = 107.50 + rng.uniform(0, 0.15), 16.38 + rng.uniform(0, 0.14)
        parent = None
        if rng.random() < 0.15:  # some belong to a complex
            parent = COMPLEXES[int(rng.integers(len(COMPLEXES)))][0]
            lon, lat = centre[parent][0] + rng.uniform(-0.003, 0.003), centre[parent][1] + rng.uniform(-0.003, 0.003)
        size = (float(rng.uniform(6, 40)), float(rng.uniform(5, 25))) if rng.random() < 0.4 else None
        add(f"HUE-{i:04d}", f"{vi_kind} {place}{suffix_vi}", f"{PLACES_EN[place]} {en_kind}{suffix_vi}", kind, parent,
            lon, lat, size, place, DESIGNATIONS[int(rng.integers(1, 4))],
            f"{int(rng.integers(1700, 1945))}{'~' if rng.random() < 0.3 else ''}")
    return rows


def write_csv(rows: list[dict], path: Path, columns: dict[str, str] | None = None, bom: bool = True) -> Path:
    """A CSV as a spreadsheet saves it (UTF-8 with BOM by default); ``columns`` renames the
    header (twin field -> header)."""
    columns = columns or {}
    keys = list(rows[0])
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow([columns.get(k, k) for k in keys])
        for r in rows:
            w.writerow(["" if r[k] is None else r[k] for k in keys])
    return Path(path)


def _features(rows: list[dict]):
    import shapely  # noqa: PLC0415
    from shapely.geometry import Point  # noqa: PLC0415

    for r in rows:
        props = {k: v for k, v in r.items() if k not in ("footprint", "x", "y")}
        if r["footprint"]:
            props["x"], props["y"] = r["x"], r["y"]
            yield shapely.from_wkt(r["footprint"]), props
        else:
            yield Point(r["x"], r["y"]), props


def write_geojson(rows: list[dict], path: Path) -> Path:
    """Polygons where a footprint is known (the point then in x and y), points elsewhere,
    in EPSG:32648 (named in the legacy "crs" member, as GDAL writes it)."""
    import shapely  # noqa: PLC0415

    features = [{"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(geom))}
                for geom, props in _features(rows)]
    doc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{EPSG}"}},
           "features": features}
    Path(path).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return Path(path)


def write_gpkg(rows: list[dict], path: Path, layer: str = "monuments") -> Path:
    import numpy as np  # noqa: PLC0415
    import pyogrio.raw  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    features = list(_features(rows))
    names = [k for k in rows[0] if k != "footprint"]
    geometry = np.array([shapely.to_wkb(g) for g, _ in features], dtype=object)
    arrays, masks = [], []
    for name in names:
        values = [p.get(name) for _, p in features]
        missing = np.array([v is None for v in values])
        if name in ("x", "y"):
            arrays.append(np.array([np.nan if v is None else v for v in values], dtype=float))
        else:
            arrays.append(np.array(["" if v is None else str(v) for v in values], dtype=object))
        masks.append(missing if missing.any() else None)
    Path(path).unlink(missing_ok=True)
    pyogrio.raw.write(str(path), geometry, arrays, names, field_mask=masks, layer=layer, driver="GPKG",
                      geometry_type="Unknown", crs=f"EPSG:{EPSG}", encoding="UTF-8")
    return Path(path)
