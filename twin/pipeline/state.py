"""What flows between stages, and how a stage's output is kept in the cache.

Before registration the model is a set of station clouds, each in its own frame; the
register stage merges them into one cloud; meshing adds a mesh; decimation adds levels
of detail. A state is saved as one uncompressed .npz (fast to write and read back) plus
its JSON metrics, written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.io.atomic import atomic_open
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud


@dataclass
class ModelState:
    stations: dict[str, PointCloud] = field(default_factory=dict)  # before registration
    cloud: PointCloud | None = None  # merged, after registration
    mesh: TriMesh | None = None
    lods: dict[str, TriMesh] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)  # JSON-able facts stages report (registration ...)

    @property
    def registered(self) -> bool:
        return self.cloud is not None

    def point_count(self) -> int:
        if self.cloud is not None:
            return len(self.cloud)
        return sum(len(c) for c in self.stations.values())


def _put_cloud(arrays: dict, prefix: str, cloud: PointCloud) -> None:
    arrays[f"{prefix}/xyz"] = cloud.xyz
    arrays[f"{prefix}/origin"] = cloud.origin
    for name, values in cloud.attrs.items():
        arrays[f"{prefix}/attr/{name}"] = values


def _put_mesh(arrays: dict, prefix: str, mesh: TriMesh) -> None:
    arrays[f"{prefix}/vertices"] = mesh.vertices
    arrays[f"{prefix}/faces"] = mesh.faces
    arrays[f"{prefix}/origin"] = mesh.origin
    for name, values in mesh.vertex_attrs.items():
        arrays[f"{prefix}/attr/{name}"] = values
    for name, values in mesh.face_attrs.items():
        arrays[f"{prefix}/face/{name}"] = values


def _get_attrs(data, prefix: str, kind: str = "attr") -> dict[str, np.ndarray]:
    head = f"{prefix}/{kind}/"
    return {k[len(head):]: data[k] for k in data.files if k.startswith(head)}


def save_state(state: ModelState, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, cloud in state.stations.items():
        _put_cloud(arrays, f"station/{name}", cloud)
    if state.cloud is not None:
        _put_cloud(arrays, "cloud", state.cloud)
    if state.mesh is not None:
        _put_mesh(arrays, "mesh", state.mesh)
    for name, mesh in state.lods.items():
        _put_mesh(arrays, f"lod/{name}", mesh)
    arrays["metrics"] = np.frombuffer(json.dumps(state.metrics).encode("utf-8"), dtype=np.uint8)
    arrays["stations"] = np.frombuffer(json.dumps(list(state.stations)).encode("utf-8"), dtype=np.uint8)
    arrays["lods"] = np.frombuffer(json.dumps(list(state.lods)).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path) as fh:
        np.savez(fh, **arrays)


def load_state(path: Path) -> ModelState:
    with np.load(path, allow_pickle=False) as data:
        def text(key):
            return json.loads(bytes(data[key]).decode("utf-8"))

        state = ModelState(metrics=text("metrics"))
        for name in text("stations"):
            p = f"station/{name}"
            state.stations[name] = PointCloud(data[f"{p}/xyz"], data[f"{p}/origin"], _get_attrs(data, p))
        if "cloud/xyz" in data.files:
            state.cloud = PointCloud(data["cloud/xyz"], data["cloud/origin"], _get_attrs(data, "cloud"))
        if "mesh/vertices" in data.files:
            state.mesh = TriMesh(data["mesh/vertices"], data["mesh/faces"], data["mesh/origin"],
                                 _get_attrs(data, "mesh"), _get_attrs(data, "mesh", "face"))
        for name in text("lods"):
            p = f"lod/{name}"
            state.lods[name] = TriMesh(data[f"{p}/vertices"], data[f"{p}/faces"], data[f"{p}/origin"],
                                       _get_attrs(data, p), _get_attrs(data, p, "face"))
    return state

