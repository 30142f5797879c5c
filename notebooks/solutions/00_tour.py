"""Solutions to notebook 00's exercises."""

import numpy as np


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Exercise 00.1: camera-frame points (N, 3) to pixels (N, 2), u = K X / Z."""
    uvw = points @ K.T  # each row is (fx X + cx Z, fy Y + cy Z, Z)
    return uvw[:, :2] / uvw[:, 2:]
