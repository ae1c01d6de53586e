"""Random rigid motions, for trying registration on scans moved away from their frames."""

from __future__ import annotations

import numpy as np

from twin.io.e57 import quaternion_matrix


def random_motion(rng: np.random.Generator, reach: float) -> np.ndarray:
    """Any rotation (a uniform random unit quaternion) and a shift within ``reach`` on
    each axis, as a 4x4 matrix."""
    motion = np.eye(4)
    motion[:3, :3] = quaternion_matrix(rng.normal(size=4))
    motion[:3, 3] = rng.uniform(-reach, reach, 3)
    return motion
