"""Robust alignment of a later epoch onto an earlier one, on the parts that did not move.

Two surveys of a building are each registered on their own; before comparing them the
later one is fine-aligned onto the earlier one. Some of the building did move (that is
what the comparison looks for), so the alignment must lean on the stable parts only:

- point-to-plane ICP (open3d) with Tukey's biweight as robust kernel: a correspondence
  whose residual exceeds the kernel width ``k`` gets zero weight, so a wall that bulged
  by a few centimetres pulls nothing;
- the kernel width follows the data: a first pass with ``k = max_distance / 2``, then
  passes with ``k = 4.685 * sigma`` (Tukey's 95 %-efficiency constant), sigma being the
  robust spread (1.4826 x MAD) of the current point-to-plane residuals;
- optionally a mask of points known to be stable (e.g. the elements a conservator marks
  as sound) restricts the moving side further.

The result's ``residual`` is the RMS point-to-plane residual of the correspondences the
kernel keeps (the stable parts): the registration error that Lague et al. (2013) add to
M3C2's level of detection (``M3C2Params.registration_error``). It includes the scan noise,
which makes it a conservative figure.

Everything runs in float64 about the reference's centre, so UTM-sized coordinates never
reach the solver; the returned transform acts on the input coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import ProcessingError, UsageError
from twin.ops.icp import TUKEY_C, robust_spread


@dataclass
class AlignResult:
    transform: np.ndarray  # (4, 4) maps moving-epoch coordinates into the reference frame
    residual: float  # RMS point-to-plane residual over the kept (stable) correspondences, metres
    sigma: float  # robust spread (1.4826 x MAD) of the point-to-plane residuals
    kernel: float  # final Tukey kernel width
    fitness: float  # share of the moving points used that found a reference point within max_distance
    stable_share: float  # share of those correspondences inside the kernel (not moved)
    correspondences: int  # correspondences kept

    @property
    def translation(self) -> float:
        return float(np.linalg.norm(self.transform[:3, 3]))

    @property
    def rotation_deg(self) -> float:
        c = (np.trace(self.transform[:3, :3]) - 1.0) / 2.0
        return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))

    def apply(self, xyz: np.ndarray) -> np.ndarray:
        """The points moved by the transform."""
        xyz = np.asarray(xyz, dtype=np.float64)
        return xyz @ self.transform[:3, :3].T + self.transform[:3, 3]


def _residuals(tree, ref_normals, ref_xyz, moved, max_distance):
    dist, j = tree.query(moved, k=1, distance_upper_bound=max_distance, workers=-1)
    found = np.isfinite(dist)
    j = j[found]
    r = np.einsum("ij,ij->i", moved[found] - ref_xyz[j], ref_normals[j])
    return r, found


def align_epochs(
    reference_xyz: np.ndarray,
    moving_xyz: np.ndarray,
    *,
    max_distance: float = 0.05,
    voxel: float | None = None,
    normal_radius: float | None = None,
    stable: np.ndarray | None = None,
    init: np.ndarray | None = None,
    passes: int = 3,
    max_iterations: int = 50,
    min_fitness: float = 0.2,
) -> AlignResult:
    """Robust point-to-plane ICP of ``moving_xyz`` onto ``reference_xyz``.

    ``max_distance``: largest correspondence distance (the epochs must already be
    registered to within about this). ``voxel``: downsample both clouds first (faster on
    millions of points). ``normal_radius``: for the reference normals (default: 3 x voxel,
    or max_distance). ``stable``: boolean mask of moving points allowed to take part.
    ``init``: initial 4x4 guess (default identity). Raises ProcessingError when too few
    correspondences are found, or when fewer than ``min_fitness`` of the moving points
    find a reference point within ``max_distance`` after alignment (the epochs barely
    overlap, or are not registered closely enough).
    """
    from scipy.spatial import cKDTree  # noqa: PLC0415

    from twin._deps import open3d  # noqa: PLC0415

    ref = np.asarray(reference_xyz, dtype=np.float64)
    mov = np.asarray(moving_xyz, dtype=np.float64)
    for name, arr in (("reference", ref), ("moving", mov)):
        if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) < 3:
            raise UsageError(f"align: the {name} epoch must be an (n, 3) array of at least 3 points")
        if not np.isfinite(arr).all():
            raise UsageError(f"align: the {name} epoch holds NaN or infinite coordinates")
    for name, value in (("max_distance", max_distance), ("voxel", voxel), ("normal_radius", normal_radius)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise UsageError(f"align: {name} must be a positive number, got {value}")
    if not 0.0 <= min_fitness <= 1.0:
        raise UsageError(f"align: min_fitness must lie in [0, 1], got {min_fitness}")
    if passes < 1 or max_iterations < 1:
        raise UsageError("align: passes and max_iterations must be at least 1")
    if stable is not None:
        stable = np.asarray(stable, dtype=bool)
        if stable.shape != (len(mov),):
            raise UsageError("align: the stable mask must hold one flag per moving point")
        mov = mov[stable]
        if len(mov) < 3:
            raise UsageError("align: the stable mask leaves fewer than 3 moving points")
    init = np.eye(4) if init is None else np.asarray(init, dtype=np.float64)
    if init.shape != (4, 4):
        raise UsageError("align: init must be a 4x4 matrix")

    o3d = open3d()
    reg = o3d.pipelines.registration
    shift = 0.5 * (ref.min(axis=0) + ref.max(axis=0))
    to_local = np.eye(4)
    to_local[:3, 3] = -shift
    from_local = np.eye(4)
    from_local[:3, 3] = shift

    target = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(ref - shift))
    source = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(mov - shift))
    if voxel:
        target = target.voxel_down_sample(voxel)
        source = source.voxel_down_sample(voxel)
    radius = normal_radius or (3.0 * voxel if voxel else max_distance)
    target.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=30))
    ref_xyz = np.asarray(target.points)
    ref_normals = np.asarray(target.normals)
    src_xyz = np.asarray(source.points)
    tree = cKDTree(ref_xyz)

    current = to_local @ init @ from_local
    kernel = max_distance / 2.0
    sigma = float("nan")
    criteria = reg.ICPConvergenceCriteria(
        relative_fitness=1e-9, relative_rmse=1e-9, max_iteration=max_iterations
    )
    for _ in range(passes):
        estimation = reg.TransformationEstimationPointToPlane(reg.TukeyLoss(k=kernel))
        result = reg.registration_icp(source, target, max_distance, current, estimation, criteria)
        current = np.asarray(result.transformation)
        moved = src_xyz @ current[:3, :3].T + current[:3, 3]
        r, _ = _residuals(tree, ref_normals, ref_xyz, moved, max_distance)
        if len(r) < 6:
            raise ProcessingError(
                f"align: only {len(r)} correspondences within {max_distance} m; the epochs are not "
                "registered closely enough (give an initial transform or a larger max_distance)"
            )
        sigma = robust_spread(r)
        kernel = min(max_distance, max(TUKEY_C * sigma, 1e-6))

    moved = src_xyz @ current[:3, :3].T + current[:3, 3]
    r, found = _residuals(tree, ref_normals, ref_xyz, moved, max_distance)
    kept = np.abs(r) <= kernel
    if found.mean() < min_fitness:
        raise ProcessingError(
            f"align: only {found.mean():.0%} of the moving points lie within {max_distance} m of the "
            f"reference after alignment (at least {min_fitness:.0%} needed); the epochs barely overlap "
            "or are not registered closely enough"
        )
    if kept.sum() < 6:
        raise ProcessingError("align: too few stable correspondences after robust ICP; the epochs differ too much")
    transform = from_local @ current @ to_local
    return AlignResult(
        transform=transform,
        residual=float(np.sqrt(np.mean(r[kept] ** 2))),
        sigma=sigma,
        kernel=float(kernel),
        fitness=float(found.mean()),
        stable_share=float(kept.mean()),
        correspondences=int(kept.sum()),
    )
