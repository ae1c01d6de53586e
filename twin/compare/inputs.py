"""Inputs of a comparison: clouds and meshes read into one local frame, core points, the
stable parts, and the software versions for provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.compare.corepoints import read_core_points, subsample
from twin.compare.options import CompareOptions
from twin.errors import ScanReadError, UsageError
from twin.models.layers import LayerFile
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud

MESH_SUFFIXES = (".ply", ".obj", ".stl", ".off", ".glb", ".gltf")


def read_cloud(path: Path) -> PointCloud:
    from twin.io.registry import read_scan  # noqa: PLC0415

    return read_scan(Path(path))


def read_mesh(path: Path) -> TriMesh:
    """A triangle mesh file (PLY with twin's origin comment, or anything trimesh reads)."""
    path = Path(path)
    if not path.is_file():
        raise ScanReadError(f"{path}: no such file")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise UsageError(f"{path}: c2m needs a mesh file ({', '.join(MESH_SUFFIXES)}) as the reference")
    try:
        if path.suffix.lower() == ".ply":
            from twin.io.ply_write import read_mesh_ply  # noqa: PLC0415

            mesh = read_mesh_ply(path)
        else:
            import trimesh  # noqa: PLC0415

            loaded = trimesh.load(str(path), process=False, force="mesh")
            mesh = TriMesh(np.asarray(loaded.vertices, dtype=np.float64), np.asarray(loaded.faces))
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise ScanReadError(f"{path}: cannot read the mesh ({type(exc).__name__}: {exc})") from exc
    if mesh.n_faces == 0:
        raise UsageError(f"{path}: holds no triangles; c2m needs a mesh as the reference (the first file)")
    return mesh


def mesh_in(mesh: TriMesh, origin: np.ndarray) -> np.ndarray:
    """The mesh's vertices relative to ``origin``."""
    return mesh.vertices + (mesh.origin - np.asarray(origin, dtype=np.float64))


def subsample_unbiased(xyz: np.ndarray, spacing: float, seed: int = 0) -> np.ndarray:
    """One point per occupied cube of side ``spacing``, drawn at random (reproducibly).

    For c2c and c2m, whose distances are measured at the core points themselves: taking the
    point nearest each cube's centre (:func:`~twin.compare.corepoints.subsample`, right for
    M3C2, which averages a cylinder) would prefer the noise that leans toward the centres
    and bias every distance by up to the noise.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if not len(xyz):
        return xyz.reshape(0, 3)
    subsample(xyz[:1], spacing)  # the same checks of the spacing
    cell = np.floor((xyz - xyz.min(axis=0)) / spacing).astype(np.int64)
    dims = cell.max(axis=0) + 1
    key = (cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2]
    draw = np.random.default_rng(seed).random(len(xyz))
    order = np.lexsort((draw, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return xyz[np.sort(order[first])]


def core_points(options: CompareOptions, source: np.ndarray, origin: np.ndarray, source_name: str
                ) -> tuple[np.ndarray, str]:
    """Core points in the local frame and a phrase saying where they come from: the given
    file, or ``source`` subsampled (M3C2: the point nearest each cell's centre; c2c and
    c2m: a random point per cell, see :func:`subsample_unbiased`)."""
    if options.core_file is not None:
        core = read_core_points(options.core_file, origin=origin)
        what = f"read from {options.core_file}"
    elif options.method == "m3c2":
        core = subsample(source, options.core_spacing)
        what = f"{source_name} subsampled at {options.core_spacing:g} m"
    else:
        core = subsample_unbiased(source, options.core_spacing)
        what = f"{source_name} subsampled at {options.core_spacing:g} m (a random point per cell)"
    if not len(core):
        raise UsageError(f"no core points ({what})")
    return core, what


def stable_mask(layers: LayerFile | None, xyz: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray | None, list[str]]:
    """The points allowed to steer the alignment: all but those in elements the layers
    mark ``stable: false`` (None when every point may). Also the unstable element ids."""
    if layers is None:
        return None, []
    unstable = [e.id for e in layers.elements if not e.stable]
    if not unstable:
        return None, []
    from twin.compare.element_stats import union_members  # noqa: PLC0415
    from twin.ops.labelling import compile_layers, label_points  # noqa: PLC0415

    compiled = compile_layers(layers)
    groups = union_members(layers)
    leaves = set()
    for eid in unstable:
        leaves |= groups.get(eid, {eid})
    index = [compiled.element_index(e) for e in sorted(leaves)]
    labels = label_points(compiled, xyz, origin)
    return ~np.isin(labels, index), unstable


