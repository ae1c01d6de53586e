"""CityJSON 2.0 validity as the official validator (cjval) judges it, for tests.

``cjio FILE validate`` hands the file to cjval through cjvalpy, which has no wheel for Linux
(and cjio 0.10.1's ``validate`` passes it the list of extensions instead of the file). This
module applies the same criteria in Python: the JSON Schema of CityJSON v2.0.2
(tests/data/cityjson-schema, with date and e-mail formats checked), then cjval's further
checks, by its names: ``parents_children_consistency``, ``wrong_vertex_index`` and
``semantics_arrays`` (errors), ``extra_root_properties``, ``duplicate_vertices`` and
``unused_vertices`` (warnings; cjval runs them only on a file without errors).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "cityjson-schema"
BASE = "https://www.cityjson.org/schemas/2.0.2/"
ROOT_PROPERTIES = {"type", "version", "extensions", "transform", "metadata", "CityObjects", "vertices", "appearance",
                   "geometry-templates"}
ADDRESS_TYPES = {"Building", "BuildingPart", "BuildingUnit", "Bridge", "BridgePart"}


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft7Validator, FormatChecker
    from referencing import Registry, Resource

    resources = [(BASE + p.name, Resource.from_contents(json.loads(p.read_text(encoding="utf-8"))))
                 for p in sorted(SCHEMA.glob("*.schema.json"))]
    registry = Registry().with_resources(resources)
    return Draft7Validator(registry[BASE + "cityjson.schema.json"].contents, registry=registry,
                           format_checker=FormatChecker())


def _indices(boundaries) -> list[int]:
    if isinstance(boundaries, int):
        return [boundaries]
    return [i for b in boundaries for i in _indices(b)]


def _used(doc: dict) -> list[int]:
    out = []
    for obj in doc["CityObjects"].values():
        for g in obj.get("geometry", []):
            out += _indices(g["boundaries"])
        if obj["type"] in ADDRESS_TYPES:
            out += [a["location"]["boundaries"][0] for a in obj.get("address", []) if "location" in a]
    return out


def _semantics(obj_id: str, g: dict) -> list[str]:
    sem = g.get("semantics")
    if sem is None:
        return []
    values, boundaries, n = sem["values"], g["boundaries"], len(sem["surfaces"])
    pairs = []  # (surfaces of one shell or multisurface, their values)
    if g["type"] in ("MultiSurface", "CompositeSurface"):
        pairs = [(boundaries, values)]
    elif g["type"] == "Solid":
        pairs = list(zip(boundaries, values)) if len(boundaries) == len(values) else [(boundaries, [])]
    elif g["type"] in ("MultiSolid", "CompositeSolid"):
        if len(boundaries) != len(values):
            return [f"#{obj_id}: {len(values)} semantic solids for {len(boundaries)} solids"]
        for solid, solid_values in zip(boundaries, values):
            pairs += list(zip(solid, solid_values)) if len(solid) == len(solid_values) else [(solid, [])]
    out = []
    for surfaces, vals in pairs:
        if vals is None:
            continue
        if len(surfaces) != len(vals):
            out.append(f"#{obj_id}: {len(vals)} semantic values for {len(surfaces)} surfaces")
        out += [f"#{obj_id}: semantic value {v} >= {n} surfaces" for v in vals if v is not None and v >= n]
    return out


def problems(doc: dict, schema: bool = True) -> dict[str, list[str]]:
    """Criterion -> what cjval would report; every list empty for a valid file without warnings.
    ``schema=False`` leaves out the schema (seconds for a thousand city objects)."""
    found = {"schema": [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300]
                        for e in _validator().iter_errors(doc)] if schema else []}
    if found["schema"]:
        return found
    objects = doc["CityObjects"]
    pc = []
    for key, obj in objects.items():
        for child in obj.get("children", []):
            if child not in objects:
                pc.append(f"CityObject #{child} doesn't exist (referenced by #{key})")
            elif key not in objects[child].get("parents", []):
                pc.append(f"CityObject #{child} doesn't reference correct parent (#{key})")
        pc += [f"CityObject #{key} is an orphan (parent #{p} doesn't exist)"
               for p in obj.get("parents", []) if p not in objects]
    found["parents_children_consistency"] = pc
    n = len(doc["vertices"])
    used = _used(doc)
    found["wrong_vertex_index"] = [f"Vertices {i} don't exist" for i in sorted(set(used)) if i >= n or i < 0]
    found["semantics_arrays"] = [p for key, obj in objects.items() for g in obj.get("geometry", [])
                                 for p in _semantics(key, g)]
    if any(found.values()):
        return found
    found["extra_root_properties"] = sorted(k for k in doc if not k.startswith("+") and k not in ROOT_PROPERTIES)
    seen, dup = set(), []
    for v in doc["vertices"]:
        key = tuple(v)
        if key in seen:
            dup.append(f"Vertex {key} duplicated")
        seen.add(key)
    found["duplicate_vertices"] = dup
    unused = n - len(set(used))
    found["unused_vertices"] = [f"{unused} vertices are unused"] if unused else []
    return found
