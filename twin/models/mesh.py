"""The in-memory triangle mesh: float64 local vertices about a float64 origin, like PointCloud."""

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

    @property
    def n_faces(self) -> int:
        return len(self.faces)
