"""A building's mesh turned and moved into place, the names of its sides turned with it
(the north wall of a building turned a quarter turn faces west), and the buildings of a
site joined into the one mesh the scanner sees."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from twin.sample.geometry import LabelledMesh, Part
from twin.sample.sites.plan import quarter_turn

COMPASS = ("east", "north", "west", "south")  # counter-clockwise
_WORD = re.compile(r"\b(east|north|west|south)\b", re.IGNORECASE)


def turn_words(text: str, turns: int) -> str:
    """``text`` with every compass word turned ``turns`` quarter turns counter-clockwise
    (one turn: the north wall becomes the west wall), keeping its capital."""

    def turned(m: re.Match) -> str:
        word = COMPASS[(COMPASS.index(m.group(0).lower()) + turns) % 4]
        return word.capitalize() if m.group(0)[0].isupper() else word

    return _WORD.sub(turned, text) if turns % 4 else text


def _turn_box(box, rotation: np.ndarray, shift: np.ndarray):
    corners = np.array([[x, y, z] for x in (box[0][0], box[1][0]) for y in (box[0][1], box[1][1])
                        for z in (box[0][2], box[1][2])]) @ rotation.T + shift  # fmt: skip
    return tuple(float(v) for v in corners.min(axis=0)), tuple(float(v) for v in corners.max(axis=0))


def turned_strings(value, turns: int):
    """Plain data (dicts, lists, strings) with :func:`turn_words` applied to every string."""
    if isinstance(value, str):
        return turn_words(value, turns)
    if isinstance(value, dict):
        return {turned_strings(k, turns): turned_strings(v, turns) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(turned_strings(v, turns) for v in value)
    return value


def placed(mesh: LabelledMesh, turns: int, shift=(0.0, 0.0, 0.0)) -> LabelledMesh:
    """The mesh turned by quarter turns about z, then moved by ``shift``. Quarter turns
    keep every part's region an axis-aligned box."""
    rotation, shift = quarter_turn(turns), np.asarray(shift, dtype=np.float64)
    parts = [
        p if p.boxes is None else dataclasses.replace(p, boxes=tuple(_turn_box(b, rotation, shift) for b in p.boxes))
        for p in mesh.parts
    ]
    material = None if mesh.material is None else mesh.material.copy()
    return LabelledMesh(mesh.vertices @ rotation.T + shift, mesh.triangles.copy(), mesh.element_index.copy(),
                        list(mesh.elements), parts, material)  # fmt: skip


def joined(meshes: list[LabelledMesh], prefixes: list[str]) -> LabelledMesh:
    """One mesh of many: each mesh's element ids prefixed (``b03/column-A1``)."""
    vertices, triangles, index, materials, elements, parts = [], [], [], [], [], []
    nv = ne = 0
    for mesh, prefix in zip(meshes, prefixes, strict=True):
        vertices.append(mesh.vertices)
        triangles.append(mesh.triangles + nv)
        index.append(mesh.element_index + ne)
        materials.append(mesh.triangle_material())
        elements += [dataclasses.replace(e, id=f"{prefix}/{e.id}") for e in mesh.elements]
        parts += [Part(p.element + ne, p.start + nv, p.stop + nv, p.clip_z, p.boxes) for p in mesh.parts]
        nv += len(mesh.vertices)
        ne += len(mesh.elements)
    return LabelledMesh(np.concatenate(vertices), np.concatenate(triangles).astype(np.int32),
                        np.concatenate(index).astype(np.int32), elements, parts, np.concatenate(materials))  # fmt: skip
