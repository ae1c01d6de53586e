"""The in-memory triangle mesh: float64 local vertices about a float64 origin, like PointCloud.

One container from meshing to export: the ops build and trim it, the pipeline state
stores it, the writers and exporters read it. Per-vertex arrays (``normals`` float32,
``rgb`` uint8, labels) live in ``vertex_attrs``, per-face arrays in ``face_attrs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TriMesh:
    vertices: np.ndarray  # (n, 3) float64, local
    faces: np.ndarray  # (m, 3) int32
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    vertex_attrs: dict[str, np.ndarray] = field(default_factory=dict)  # normals, rgb, labels ...
    face_attrs: dict[str, np.ndarray] = field(default_factory=dict)  # one value per face: labels ...

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32).reshape(-1, 3)
        self.origin = np.asarray(self.origin, dtype=np.float64).reshape(3)
        if len(self.faces) and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError("mesh faces index vertices that do not exist")
        for kind, attrs, rows in (("vertex", self.vertex_attrs, len(self.vertices)), ("face", self.face_attrs, len(self.faces))):
            for name, values in attrs.items():
                if len(values) != rows:
                    raise ValueError(f"{kind} attribute {name!r} has {len(values)} rows for {rows} {kind}s")

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def world_vertices(self) -> np.ndarray:
        return self.vertices + self.origin

    def face_areas(self, which: np.ndarray | None = None) -> np.ndarray:
        """The area of every face, or of the faces ``which`` indexes."""
        faces = self.faces if which is None else self.faces[which]
        a, b, c = (self.vertices[faces[:, k]] for k in range(3))
        return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)

    def area(self) -> float:
        return float(self.face_areas().sum())

    def vertex_normals_from_faces(self) -> np.ndarray:
        """Unit vertex normals: the sum of the adjacent faces' area-weighted normals (float32)."""
        a, b, c = (self.vertices[self.faces[:, k]] for k in range(3))
        face = np.cross(b - a, c - a)  # length: twice the area
        normals = np.column_stack([
            np.bincount(self.faces.ravel(), weights=np.repeat(face[:, k], 3), minlength=self.n_vertices)
            for k in range(3)
        ])
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        return (normals / np.where(length > 0, length, 1.0)).astype(np.float32)

    def keep_faces(self, keep: np.ndarray) -> TriMesh:
        """The mesh with only the selected faces (mask or indices), unreferenced vertices dropped."""
        faces = self.faces[keep]
        referenced = np.zeros(len(self.vertices), dtype=bool)
        referenced[faces.ravel()] = True
        used = np.flatnonzero(referenced)
        remap = np.full(len(self.vertices), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return TriMesh(self.vertices[used], remap[faces], self.origin.copy(),
                       {name: values[used] for name, values in self.vertex_attrs.items()},
                       {name: values[keep] for name, values in self.face_attrs.items()})

    def keep_vertices(self, keep: np.ndarray, faces: np.ndarray) -> TriMesh:
        """The mesh on the vertices the mask ``keep`` selects, with ``faces`` already
        indexing them; per-vertex arrays follow the vertices, per-face arrays the faces."""
        return TriMesh(self.vertices[keep], faces, self.origin.copy(),
                       {name: values[keep] for name, values in self.vertex_attrs.items()}, dict(self.face_attrs))
