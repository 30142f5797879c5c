"""Solutions to notebook 09's exercises."""

import numpy as np


def crop_intrinsics(K: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """Exercise 09.1: K of the square crop (centre (cx, cy), side `side` photo pixels) resized
    to size x size. Pixel centres sit at integers, so the box's centre lands on (size - 1) / 2."""
    scale = size / side
    A = np.array(
        [
            [scale, 0.0, (size - 1) / 2 - scale * cx],
            [0.0, scale, (size - 1) / 2 - scale * cy],
            [0.0, 0.0, 1.0],
        ]
    )
    return A @ K  # a photo pixel p lands at A p in the crop, so K_crop = A K
