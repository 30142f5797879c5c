"""A 64 px crop's intrinsics and an open hand's worth of detector keypoints in it, for the
network tests that anchor a hand (pose hypotheses, the image pose head)."""

from __future__ import annotations

import torch

SIZE, FOCAL = 64, 150.0


def intrinsics(count: int) -> torch.Tensor:
    """(count, 3, 3) the crop's K."""
    K = torch.tensor([[FOCAL, 0.0, SIZE / 2], [0.0, FOCAL, SIZE / 2], [0.0, 0.0, 1.0]])
    return K.expand(count, 3, 3).clone()


def keypoints(count: int) -> torch.Tensor:
    """(count, 21, 2) an open hand's worth of detector keypoints in the crop."""
    return torch.tensor([[[20.0 + 1.2 * i, 50.0 - 1.5 * i] for i in range(21)]] * count)
