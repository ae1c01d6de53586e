"""Suggested elements (twin.ops.suggest's candidates) as a layer file: the draft an archivist reviews, renames, merges and completes.

The draft is an ordinary layer file (the schema of ``twin layers set``): elements with
suggested ids and names, a region each, knowledge ``measured`` from the survey, no phases
and no materials; the figures (fit residual, confidence, a column's axis, lean and
diameters, a wall's deviation) are summed up in each element's ``description`` and given
in full in a JSON file beside it. With an existing layer file (``--merge-into``) its
metadata, elements, phases and materials are kept as they are and only the candidates its
regions do not already cover are added.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from twin.io.atomic import atomic_write_bytes
from twin.models.layers import LayerFile

TOOL = "twin layers suggest"


def describe(c: Candidate, points: int | None = None) -> str:
    """The element's figures in one paragraph, for its ``description``."""
    f = c.figures
    head = f"Suggested by {TOOL}"
    count = f"{points} points" if points is not None else f"{len(c.index)} points of the thinned cloud"
    fit = f"fit RMS {c.rms_mm:.1f} mm; " if fit_rms(c.rms_mm, 1) is not None else ""
    common = f"{count}; {fit}confidence {c.confidence:.2f}"
    if c.kind == "column":
        slices = ", ".join(f"{s['diameter_m'] * 1000:.0f}" for s in f["diameter_by_slice"])
        body = (f"vertical cylinder, radius {f['radius_m'] * 1000:.1f} mm (diameter {f['diameter_m'] * 1000:.1f} mm), "
                f"height {f['height_m']:.3f} m, axis from {_xyz(f['axis_bottom'])} to {_xyz(f['axis_top'])}, "
                f"lean {f['lean_deg']:.2f}° toward azimuth {f['lean_azimuth_deg']:.0f}° "
                f"({f['lean_offset_mm']:.0f} mm over its height), diameter by 0.5 m slice from the bottom (mm): {slices}")
    elif c.kind == "wall":
        body = (f"vertical plane facing {f['direction']} (azimuth {f['facing_azimuth_deg']:.0f}°), "
                f"{f['length_m']:.2f} m long, {f['height_m']:.2f} m high from {f['base_m']:.2f} m, "
                f"{f['tilt_from_vertical_deg']:.2f}° from vertical; out-of-plane deviation RMS "
                f"{f['deviation_rms_mm']:.1f} mm, max {f['deviation_max_mm']:.1f} mm")
        if f.get("thickness_m") is not None:
            body += f"; both faces seen, {f['thickness_m']:.3f} m thick"
        for o in f.get("openings") or []:
            body += (f"; {o['kind']} {o['width_m']:.2f} m wide and {o['height_m']:.2f} m high, "
                     f"{o['from_left_m']:.2f} m from its left end, sill {o['sill_m']:.2f} m"
                     + (" (from its outline alone: one face seen)" if o.get("evidence", "").startswith("shape") else ""))
    elif c.kind == "roof-plane":
        body = (f"inclined plane facing {f['direction']} (azimuth {f['facing_azimuth_deg']:.0f}°), pitch "
                f"{f['pitch_deg']:.1f}°, from {f['eave_m']:.2f} m to {f['top_m']:.2f} m")
    elif c.kind in ("door", "window"):
        body = (f"{c.kind} in {f['wall']}, {f['width_m']:.2f} m wide and {f['height_m']:.2f} m high, "
                f"{f['from_left_m']:.2f} m from the wall's left end, sill {f['sill_m']:.2f} m; "
                + ("read through the wall's body, both faces seen" if f["evidence"].startswith("body")
                   else "read from its outline alone, one face seen"))
    elif c.kind == "stairs":
        body = (f"flight of {f['steps']} steps facing {f['direction']} (going up toward azimuth "
                f"{f['up_azimuth_deg']:.0f}°), rise {f['rise_m'] * 1000:.0f} mm, going {f['going_m'] * 1000:.0f} mm, "
                f"pitch {f['pitch_deg']:.1f}°, {f['width_m']:.2f} m wide, from {f['foot_m']:.2f} m to {f['top_m']:.2f} m"
                + (", its top step level with the landing" if f["to_landing"] else "")
                + f"; {f['levels_seen']} steps seen")
    elif c.kind == "roof":
        body = (f"roof zone of {f['pieces']} plane pieces ({f['inclined']} inclined) from {f['base_m']:.2f} m "
                f"to {f['top_m']:.2f} m")
        for e in f.get("edges") or []:
            body += (f"; {e['kind']} between {' and '.join(e['between'])}, {e['length_m']:.2f} m long, "
                     f"up to {e['height_m']:.2f} m")
    else:
        body = (f"horizontal plane at {f['level_m']:.3f} m ({f['height_above_floor_m']:.2f} m above the floor), "
                f"{f['area_m2']:.1f} m²" + (f", {f['sides']} vertical sides" if f.get("sides") else ""))
    return f"{head}: {body}; {common}. Review, rename, and add phases and materials."


def fit_rms(rms_mm: float, digits: int) -> float | None:
    """A candidate's fit residual for the draft, rounded; None where nothing was fitted."""
    return round(rms_mm, digits) if math.isfinite(rms_mm) else None


def _xyz(p) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in p) + ")"


def draft_layers(candidates: list[Candidate], *, title: str, sources: list[str], crs: str | None = None,
                 existing: LayerFile | None = None, points: dict[str, int] | None = None) -> dict:
    """The draft as plain layer-file data (file order: existing elements, then candidates)."""
    if existing is not None:
        data = existing.model_dump(mode="json", by_alias=True, exclude_unset=True)  # as authored
        for section in ("elements", "phases", "materials"):
            data.setdefault(section, [])
        taken = {e["id"] for e in data["elements"]}
    else:
        data = {"metadata": {"title": title, "creator": [TOOL], "description": (
            "Elements suggested from the processed cloud for review: no phases or materials yet.")},
            "elements": [], "phases": [], "materials": []}
        if crs:
            data["crs"] = crs
        taken = set()
    for c in candidates:
        ident = c.id
        k = 2
        while ident in taken:
            ident = f"{c.id}-{k}"
            k += 1
        taken.add(ident)
        c.id = ident
        data["elements"].append({
            "id": ident, "name": c.name, "class": c.element_class, "region": c.region,
            "knowledge": {"status": "measured", "sources": list(sources),
                          "note": f"suggested by {TOOL}; not yet reviewed"},
            "phases": [], "materials": [],
            "description": describe(c, (points or {}).get(ident)),
        })
    members = [c.id for c in candidates if c.kind == "column"]
    if len(members) > 1 and "columns" not in taken:
        data["elements"].append({
            "id": "columns", "name": "Columns (suggested group)", "class": "B2_Morphological_Building_Section",
            "region": {"union": members}, "knowledge": {"status": "measured", "sources": list(sources)},
            "phases": [], "materials": []})
    return data


def figures(candidates: list[Candidate], points: dict[str, int] | None = None) -> dict:
    """Every candidate's figures (JSON-ready), by element id."""
    return {c.id: {"kind": c.kind, "points": (points or {}).get(c.id), "fit_rms_mm": fit_rms(c.rms_mm, 2),
                   "confidence": c.confidence, **c.figures} for c in candidates}


def write_draft(data: dict, path: Path, figure_data: dict | None = None) -> Path | None:
    """Write the draft YAML (and its figures as ``<stem>.figures.json``); validate it first."""
    from twin.layers.load import parse_layers  # noqa: PLC0415

    text = "# Suggested by twin layers suggest: review, rename, merge, then add phases and materials.\n"
    text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    parse_layers(text, source=str(path))  # the draft must be a valid layer file as it stands
    atomic_write_bytes(Path(path), text.encode("utf-8"))
    if figure_data is None:
        return None
    side = Path(path).with_suffix(".figures.json")
    atomic_write_bytes(side, (json.dumps(figure_data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return side
