"""The sample pavilion's layer file (``pavilion/layers.yaml``): its elements, phases,
materials and Dublin Core metadata, derived from the element regions of the ground truth.

``python -m twin.sample`` writes it beside the scans; :func:`write_layers` writes it alone
from an existing ``ground_truth.json`` (same truth, same bytes)::

    from twin.sample import load_truth, write_layers
    write_layers(load_truth("sample_scans/pavilion/truth/ground_truth.json"))

**Regions** are in the structure's coordinates: those of the registered model, whose
reference station (S1, the control station) writes UTM zone 48N (EPSG:32648), the frame
the truth states its element regions in. Each element's region is the truth's boxes with
the margin narrowed from 3 cm to :data:`MARGIN` (a beam passing a column, a floor meeting
a wall: a wide margin hands the neighbour's surface to the wrong element): one box as
``box``, several as ``boxes``. Columns are round, so their region is a 24-sided polygon
round the column rather than its square box (the corners of a square would take in the
sides of the beams that meet the column).

The courtyard's region is a slab round the paving, :data:`GROUND_BELOW` below it and
:data:`GROUND_ABOVE` above. In a registered model the paving's points lie up to 1.5 cm
from the true plane: a station registered a few hundredths of a degree off tilts the far
paving (0.05°, the registration's tolerance, is 1.7 cm at 20 m). A 1 cm slab left 60 % of
them, and 10-13 % of the faces of every mesh level, unlabelled (survey-2025 of the sample,
two stations 0.03-0.05° off). The slab overlaps the platform, the
steps, the annex, the stele, the urn and the shrubs, which stand on the paving; each of
them has its own region down to the paving, and the smaller region wins, so the slab is
kept larger in volume than every region it overlaps (the platform's, 205 m³, is the
largest; 10 cm below the paving makes the slab 271 m³): they keep their points, and the
courtyard takes only what lies outside them. Every element whose true surface comes
within :data:`GROUND_ABOVE` of the paving has such a region.

**History.** The phases are an invented but plausible history in the manner of Thai Hoa
Palace: built in 1805, rebuilt about 1833, restored in the 1920s and again in the 1990s,
the roof damaged in 1968. Their sources are named as such documents would be.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from twin.catalog.store import atomic_write_bytes
from twin.sample.truth import Element, GroundTruth

LAYERS_FILE = "layers.yaml"
MARGIN = 0.01  # m around each part of an element (the truth's regions keep 3 cm)
COLUMN_MARGIN = 0.008  # m round a column: the beams that meet it start right at its surface
GROUND_BELOW = 0.10  # m of the courtyard's slab below the paving: enough to make it larger than the platform
GROUND_ABOVE = 0.03  # m above the paving: a registration's tilt; nothing else stands there outside its own region
COLUMN_SIDES = 24
DECIMALS = 4  # 0.1 mm

AAT = "http://vocab.getty.edu/aat/"

# material id -> (label, Getty AAT concept, properties)
MATERIALS: dict[str, tuple[str, str, dict]] = {
    "brick": ("brick paving (fired clay)", "300010439", {"form": "brick", "fired": True}),
    "stone": ("bluestone (Thanh Hoa stone)", "300011176", {"quarry": "Thanh Hoa", "dressing": "ashlar"}),
    "ironwood": ("ironwood (lim, Erythrophleum fordii)", "300011914", {"species": "Erythrophleum fordii"}),
    "lacquer": ("red lacquer (son)", "300014916", {"colour": "red"}),
    "lacquered-wood": ("lacquered wood, dark red with gilding", "300011914",
                       {"finish": "son lacquer", "colour": "dark red", "gilding": True}),
    "plaster": ("lime plaster, ochre wash", "300014922", {"binder": "lime", "finish": "ochre limewash"}),
    "glazed-tile": ("glazed yin-yang roof tiles, yellow", "300010669",
                    {"glazed": True, "colour": "yellow", "form": "yin-yang tile"}),
    "limestone": ("dark limestone", "300011286", {}),
    "bronze": ("cast bronze, dark patina", "300010957", {}),
    "ceramic": ("glazed ceramic, blue and white", "300235507", {"glazed": True}),
}

# the truth's material names (twin.sample.geometry.MATERIALS) -> material ids, primary first
_TRUTH_MATERIALS = {
    "brick paving": ["brick"],
    "bluestone (Thanh Hoa stone)": ["stone"],
    "lacquered ironwood, red": ["ironwood", "lacquer"],
    "lime plaster, ochre wash": ["plaster"],
    "lacquered timber, dark red with gilding": ["lacquered-wood"],
    "glazed yin-yang roof tiles, yellow": ["glazed-tile"],
    "dark limestone": ["limestone"],
    "cast bronze, dark patina": ["bronze"],
    "glazed ceramic, blue and white": ["ceramic"],
}

PHASES = [
    {
        "id": "construction-1805",
        "type": "construction",
        "name": "Construction under Gia Long",
        "date": "1805",
        "description": "The pavilion is built on a stone platform with two flights of steps, in a paved courtyard.",
        "sources": ["Dai Nam thuc luc (Veritable Records of the Nguyen dynasty), 1805"],
    },
    {
        "id": "reconstruction-1833",
        "type": "reconstruction",
        "name": "Rebuilding under Minh Mang",
        "date": "1833~",
        "description": (
            "The timber hall is taken down and rebuilt on the old platform: new ironwood columns and beams, "
            "plastered walls and a two-tier roof; the stele and the urn are set up in the courtyard. The year "
            "is approximate."
        ),
        "sources": ["Kham dinh Dai Nam hoi dien su le (Official Compendium of Institutions and Usages)"],
    },
    {
        "id": "restoration-1923",
        "type": "restoration",
        "name": "Restoration under Khai Dinh",
        "date": "1920/1925",
        "description": (
            "The roofs are retiled, the walls replastered, the steps reset and a new door hung; the west annex "
            "is added as a store room."
        ),
        "sources": ["restoration report, 1925", "photographs of the Ecole francaise d'Extreme-Orient, 1923"],
    },
    {
        "id": "damage-1968",
        "type": "damage",
        "name": "War damage",
        "date": "1968-02",
        "description": "Roof tiles and parts of both roof tiers are destroyed during the fighting of February 1968.",
        "sources": ["damage survey, 1968"],
    },
    {
        "id": "restoration-199X",
        "type": "restoration",
        "name": "Conservation campaign of the 1990s",
        "date": "199X",
        "description": (
            "Columns, beams and door relacquered and regilded, broken roof tiles replaced, the courtyard paving "
            "relaid."
        ),
        "sources": ["Hue Monuments Conservation Centre, conservation records of the 1990s"],
    },
]

# per truth element kind: (CIDOC-CRM / CRMba class, phases)
_KINDS: dict[str, tuple[str, list[str]]] = {
    "courtyard": ("E25_Human-Made_Feature", ["construction-1805", "restoration-199X"]),
    "platform": ("B3_Filled_Morphological_Building_Section", ["construction-1805"]),
    "steps": ("B3_Filled_Morphological_Building_Section", []),  # through the group "steps"
    "column": ("B5_Stratigraphic_Building_Unit", []),  # through the groups "columns-row-*" and "columns"
    "wall": ("B5_Stratigraphic_Building_Unit", []),  # through the group "walls"
    "door": ("E22_Human-Made_Object", ["restoration-1923", "restoration-199X"]),
    "frame": ("B2_Morphological_Building_Section", ["reconstruction-1833", "restoration-199X"]),
    "roof": ("B2_Morphological_Building_Section", []),  # through the group "roof"
    "stele": ("E22_Human-Made_Object", ["reconstruction-1833"]),
    "annex": ("B1_Built_Work", ["restoration-1923"]),
    "urn": ("E22_Human-Made_Object", []),
    "planter": ("E22_Human-Made_Object", []),
}

# kinds whose phases and materials come from their group
_INHERITS = {"steps", "column", "wall", "roof", "planter"}

# groups (unions), each placed after its last member
_GROUPS: list[dict] = [
    {"id": "steps", "name": "Flights of steps", "class": "B2_Morphological_Building_Section",
     "members": ["steps-south", "steps-east"], "phases": ["construction-1805", "restoration-1923"],
     "materials": ["stone"]},
    *[
        {"id": f"columns-row-{row.lower()}", "name": f"Columns of row {row}",
         "class": "B2_Morphological_Building_Section", "members": f"column-{row}", "phases": [], "materials": []}
        for row in "ABCD"
    ],
    {"id": "columns", "name": "Columns of the veranda (rows A to D, south to north)",
     "class": "B2_Morphological_Building_Section",
     "members": ["columns-row-a", "columns-row-b", "columns-row-c", "columns-row-d"],
     "phases": ["reconstruction-1833", "restoration-199X"], "materials": ["ironwood", "lacquer"]},
    {"id": "walls", "name": "Walls of the hall", "class": "B2_Morphological_Building_Section",
     "members": ["wall-south", "wall-north", "wall-east", "wall-west"],
     "phases": ["reconstruction-1833", "restoration-1923"], "materials": ["plaster"]},
    {"id": "roof", "name": "Two-tier hipped roof", "class": "B2_Morphological_Building_Section",
     "members": ["roof-lower", "roof-upper"],
     "phases": ["reconstruction-1833", "restoration-1923", "damage-1968", "restoration-199X"],
     "materials": ["glazed-tile", "ironwood"]},
    {"id": "planters", "name": "Potted shrubs of the courtyard", "class": "E22_Human-Made_Object",
     "members": "planter-", "phases": [], "materials": ["ceramic"]},
]


def _round(values) -> list[float]:
    return [float(round(float(v), DECIMALS)) + 0.0 for v in values]


def _boxes(element: Element, truth: GroundTruth) -> list[tuple[np.ndarray, np.ndarray]]:
    """The element's boxes with the margin :data:`MARGIN` instead of the truth's, widened
    by any bulge the truth records for it (its boxes hold the wall as built)."""
    margin = truth.generator.region_margin_m
    narrow = np.full(3, margin - MARGIN)
    push = np.zeros(3)
    for d in truth.deformations:
        if d.element == element.id and d.type == "bulge":
            push += np.asarray(d.normal, dtype=np.float64) * d.peak_m
    out = []
    for b in element.regions_utm:
        lo = np.asarray(b.min, dtype=np.float64) + narrow
        hi = np.asarray(b.max, dtype=np.float64) - narrow
        if element.kind == "courtyard":  # the paving's lowest and highest level, then the slab round it
            lo[2], hi[2] = b.min[2] + margin - GROUND_BELOW, b.max[2] - margin + GROUND_ABOVE
        out.append((lo + np.minimum(push, 0.0), hi + np.maximum(push, 0.0)))
    return out


def _region(element: Element, truth: GroundTruth) -> dict:
    boxes = _boxes(element, truth)
    if element.kind == "column":
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
        centre = (lo + hi) / 2
        half = float(max(hi[0] - lo[0], hi[1] - lo[1])) / 2 - MARGIN  # the column's radius (and its lean)
        reach = (half + COLUMN_MARGIN) / math.cos(math.pi / COLUMN_SIDES)  # circumscribed round the circle
        angles = 2 * math.pi * (np.arange(COLUMN_SIDES) + 0.5) / COLUMN_SIDES
        ring = np.column_stack([centre[0] + reach * np.cos(angles), centre[1] + reach * np.sin(angles)])
        return {"polygon": [_round(p) for p in ring], "z_min": _round([lo[2]])[0], "z_max": _round([hi[2]])[0]}
    rounded = [{"min": _round(lo), "max": _round(hi)} for lo, hi in boxes]
    return {"box": rounded[0]} if len(rounded) == 1 else {"boxes": rounded}


def _knowledge(element: Element, surveys: list[str]) -> dict:
    measured = [f"laser scan, {s}" for s in surveys]
    if element.id == "roof-upper":  # its slopes face away from the ground stations
        return {"status": "inferred",
                "sources": [*measured, "roof drawings of the 1923 restoration"],
                "note": "eaves and ridge measured; the upper slopes, unseen from the ground, follow the drawings"}
    return {"status": "measured", "sources": measured}


def _groups(leaf_ids: list[str]) -> list[dict]:
    """The groups with their members resolved (a prefix names every leaf that starts with it)."""
    out = []
    for g in _GROUPS:
        members = g["members"]
        if isinstance(members, str):
            members = [i for i in leaf_ids if i.startswith(members)]
        if not members:
            raise ValueError(f"the sample has no members for the group {g['id']!r}")
        out.append({**g, "members": members})
    return out


def pavilion_layers(truth: GroundTruth) -> dict:
    """The layer file's content (plain data, in file order) for a sample's ground truth.

    Leaf elements come in the truth's order; each group (a union) follows the last of its
    members, groups of groups right after their inner groups.
    """
    surveys = [s.id for s in truth.surveys]
    measured = {"status": "measured", "sources": [f"laser scan, {s}" for s in surveys]}
    leaf_ids = [e.id for e in truth.elements]
    groups = _groups(leaf_ids)
    by_id = {g["id"]: g for g in groups}

    def leaves(group: dict) -> list[str]:
        return [x for m in group["members"] for x in (leaves(by_id[m]) if m in by_id else [m])]

    nested = {m for g in groups for m in g["members"] if m in by_id}
    after: dict[str, list[dict]] = {}
    for g in groups:
        if g["id"] not in nested:
            last = max(leaf_ids.index(x) for x in leaves(g))
            after.setdefault(leaf_ids[last], []).append(g)

    def group_items(group: dict) -> list[dict]:
        inner = [item for m in group["members"] if m in by_id for item in group_items(by_id[m])]
        return [*inner, {"id": group["id"], "name": group["name"], "class": group["class"],
                         "region": {"union": group["members"]}, "knowledge": measured,
                         "phases": group["phases"], "materials": group["materials"]}]

    elements: list[dict] = []
    for e in truth.elements:
        if e.kind not in _KINDS:
            raise ValueError(f"the sample's element kind {e.kind!r} ({e.id}) has no class in twin.sample.layers")
        if e.material not in _TRUTH_MATERIALS:
            raise ValueError(f"the sample's material {e.material!r} ({e.id}) has no entry in twin.sample.layers")
        element_class, phases = _KINDS[e.kind]
        item = {
            "id": e.id,
            "name": e.label[0].upper() + e.label[1:],
            "class": element_class,
            "region": _region(e, truth),
            "knowledge": _knowledge(e, surveys),
        }
        if e.kind == "planter":
            item["stable"] = False  # shrubs grow and pots are moved
        item["phases"] = phases
        item["materials"] = [] if e.kind in _INHERITS else _TRUTH_MATERIALS[e.material]
        elements.append(item)
        for g in after.get(e.id, []):
            elements += group_items(g)

    lon, lat = truth.origin_lonlat
    metadata = {
        "title": "Synthetic heritage pavilion (twin sample): elements, phases and materials",
        "creator": ["twin.sample generator"],
        "contributor": [f"simulated survey team, {', '.join(surveys)}"],
        "date": truth.surveys[0].date,
        "description": truth.structure.description,
        "rights": "Synthetic data made by twin; no rights reserved",
        "license": "https://creativecommons.org/publicdomain/zero/1.0/",
        "source": (
            "Element regions from the sample's ground truth (truth/ground_truth.json); the history is invented in "
            "the manner of Thai Hoa Palace, Hue"
        ),
        "identifier": f"TWIN-SAMPLE-{truth.structure.id.upper()}",
        "spatial": f"Hue Imperial Citadel, Vietnam (synthetic site at {lat:.6f} N, {lon:.6f} E)",
        "temporal": "1805/..",
    }
    materials = [
        {"id": mid, "label": label, "aat": AAT + number, "properties": props}
        for mid, (label, number, props) in MATERIALS.items()
    ]
    return {
        "metadata": metadata,
        "crs": f"EPSG:{truth.crs.epsg}",
        "elements": elements,
        "phases": PHASES,
        "materials": materials,
    }


_HEADER = """\
# Layers of the sample pavilion: elements, phases, materials and Dublin Core metadata.
# Generated by twin.sample (twin.sample.layers) from truth/ground_truth.json; regenerate with
# `python -m twin.sample --out sample_scans` rather than editing by hand.
# Regions are in the structure's coordinates: UTM zone 48N (EPSG:32648), metres, the frame of
# the registered model (the control station S1 writes UTM).
"""


class _Dumper(yaml.SafeDumper):
    """Plain YAML: repeated values written out again, never as anchors and aliases."""

    def ignore_aliases(self, data) -> bool:
        return True


def layers_yaml(truth: GroundTruth, content: dict | None = None) -> str:
    """The layer file's text (``content``, by default ``pavilion_layers(truth)``):
    deterministic, validated before it is returned."""
    from twin.layers.load import parse_layers  # noqa: PLC0415

    content = pavilion_layers(truth) if content is None else content
    body = yaml.dump(content, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110,
                     default_flow_style=None)
    text = _HEADER + body
    parse_layers(text, source=LAYERS_FILE)  # SpecError if the generator and the schema disagree
    return text


def write_layers(truth: GroundTruth, path: str | Path | None = None, content: dict | None = None) -> Path:
    """Write the layer file (default: ``layers.yaml`` in the dataset root), atomically."""
    path = Path(path) if path is not None else truth.root / LAYERS_FILE
    atomic_write_bytes(path, layers_yaml(truth, content).encode("utf-8"))
    return path
