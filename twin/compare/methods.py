"""The three comparison methods behind one per-core-point result.

- ``m3c2``: core points from the earlier epoch (subsampled, or given), M3C2 from the
  earlier to the later epoch (:func:`twin.compare.m3c2.m3c2`), with the level of
  detection and significance per core point.
- ``c2c``: core points from the later epoch; the nearest neighbour in the earlier epoch
  and the distance to it along that neighbour's normal (PCA at ``normal_radius``, oriented
  like M3C2's): the point-to-plane distance, CloudCompare's C2C with a plane as local
  model, signed, and free of most of the bias the plain nearest-neighbour distance takes
  from the point spacing. No level of detection: a distance is a change where it exceeds
  the threshold (default 1.96 x the registration error, when one is known).
- ``c2m``: core points from the later epoch; distance to the earlier epoch's mesh, signed
  by the closest triangle's winding (a Poisson mesh's faces look outward).

All coordinates are float64 in one local frame (both epochs share one origin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.compare.m3c2 import OK, REASON_NAMES, Z95, M3C2Params, m3c2, orient_normals, reason_names
from twin.compare.options import CompareOptions
from twin.errors import UsageError


@dataclass
class CoreResult:
    """Per core point: NaN where a value is undefined; ``n1``/``n2``/``sigma`` only for M3C2."""

    method: str
    core: np.ndarray  # (m, 3) local
    distance: np.ndarray
    lod: np.ndarray  # M3C2: level of detection; c2c/c2m: the threshold (or NaN)
    significant: np.ndarray  # bool
    normal: np.ndarray  # (m, 3); NaN where unknown
    n1: np.ndarray | None = None
    n2: np.ndarray | None = None
    sigma1: np.ndarray | None = None
    sigma2: np.ndarray | None = None
    reason: np.ndarray | None = None  # M3C2: uint8 code per core point (twin.compare.m3c2.REASON_NAMES)

    def __len__(self) -> int:
        return len(self.distance)

    @property
    def trusted(self) -> np.ndarray:
        """Core points whose distance counts as a measurement: a finite distance and, for
        M3C2, the reason "ok" (edges, split cylinders and thin cylinders are left out)."""
        ok = np.isfinite(self.distance)
        if self.reason is not None:
            ok &= self.reason == OK
        return ok

    def reason_names(self) -> np.ndarray | None:
        """The short reason name per core point (M3C2 only)."""
        if self.reason is None:
            return None
        return reason_names(self.reason)

    def reason_counts(self) -> dict[str, int] | None:
        """How many core points carry each reason (M3C2 only; the reasons that occur)."""
        if self.reason is None:
            return None
        codes, counts = np.unique(self.reason, return_counts=True)
        return {REASON_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}

    def fields(self) -> dict[str, np.ndarray]:
        """Per-core-point columns for the LAZ extra bytes and the CSV, in order."""
        out = {
            "distance": self.distance.astype(np.float64),
            "lod": self.lod.astype(np.float64),
            "significant": self.significant.astype(np.uint8),
        }
        if self.n1 is not None:
            out.update(n1=self.n1.astype(np.uint32), n2=self.n2.astype(np.uint32),
                       sigma1=self.sigma1.astype(np.float64), sigma2=self.sigma2.astype(np.float64))
        if self.reason is not None:
            out["reason"] = self.reason.astype(np.uint8)
        return out

    def summary(self) -> dict:
        valid = np.isfinite(self.distance)
        d = self.distance[valid]
        lod = self.lod[np.isfinite(self.lod)]
        return {
            "core_points": len(self),
            "with_distance": int(valid.sum()),
            "significant": int(self.significant.sum()),
            "significant_share": float(self.significant.sum() / valid.sum()) if valid.any() else None,
            "mean_distance": float(d.mean()) if len(d) else None,
            "median_distance": float(np.median(d)) if len(d) else None,
            "max_abs_distance": float(np.abs(d).max()) if len(d) else None,
            "median_lod": float(np.median(lod)) if len(lod) else None,
            "trusted": int(self.trusted.sum()),
            "reasons": self.reason_counts(),
        }


def run_m3c2(epoch1: np.ndarray, epoch2: np.ndarray, core: np.ndarray, params: M3C2Params) -> CoreResult:
    r = m3c2(epoch1, epoch2, core, params)
    return CoreResult("m3c2", core, r.distance, r.lod, r.significant, r.normal, r.n1, r.n2, r.sigma1, r.sigma2,
                      r.reason)


def _threshold(options: CompareOptions, registration_error: float) -> float:
    if options.threshold is not None:
        return float(options.threshold)
    return Z95 * registration_error if registration_error > 0 else float("nan")


def _significance(distance: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    lod = np.full(len(distance), threshold)
    with np.errstate(invalid="ignore"):
        significant = np.isfinite(distance) & (np.abs(distance) > threshold) if np.isfinite(threshold) \
            else np.zeros(len(distance), dtype=bool)
    return lod, significant


def run_c2c(reference: np.ndarray, compared_core: np.ndarray, options: CompareOptions, params: M3C2Params,
            registration_error: float) -> CoreResult:
    from twin.compare.distances import cloud_to_cloud  # noqa: PLC0415
    from twin.ops.normals import estimate_normal_vectors  # noqa: PLC0415

    if len(reference) < 3:
        raise UsageError("c2c: the reference cloud needs at least 3 points")
    first = cloud_to_cloud(compared_core, reference)
    nearest = first.nearest
    found = nearest >= 0
    normals = np.full((len(compared_core), 3), np.nan)
    if found.any():
        ref_normals = estimate_normal_vectors(reference, radius=options.normal_radius, max_nn=30).astype(np.float64)
        picked = ref_normals[nearest[found]]
        normals[found] = orient_normals(picked, reference[nearest[found]], params,
                                        centroid=compared_core.mean(axis=0))
    distance = np.full(len(compared_core), np.nan)
    distance[found] = np.einsum("ij,ij->i", compared_core[found] - reference[nearest[found]], normals[found])
    lod, significant = _significance(distance, _threshold(options, registration_error))
    return CoreResult("c2c", compared_core, distance, lod, significant, normals)


def run_c2m(vertices: np.ndarray, faces: np.ndarray, compared_core: np.ndarray, options: CompareOptions,
            registration_error: float) -> CoreResult:
    from twin.compare.distances import cloud_to_mesh  # noqa: PLC0415

    r = cloud_to_mesh(compared_core, vertices, faces, sign="normal")
    tri = np.asarray(faces, dtype=np.int64)[r.triangle]
    a, b, c = vertices[tri[:, 0]], vertices[tri[:, 1]], vertices[tri[:, 2]]
    normals = np.cross(b - a, c - a)
    with np.errstate(invalid="ignore", divide="ignore"):
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    lod, significant = _significance(r.distance, _threshold(options, registration_error))
    return CoreResult("c2m", compared_core, r.distance, lod, significant, normals)
