"""2D keypoints as a network input, in a frame that ignores where the hand is in the image, how
large and how rolled.

The frame of keypoints (B, 21, 2) with confidences (B, 21): origin at their confidence-weighted
centroid, turned so that the wrist -> middle MCP direction points up the image, unit = their
weighted RMS distance from the centroid. The 3D branch reads the anchor keypoints in it
(`ModelConfig.keypoint_input`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from s2h_lib.hand.skeleton import NUM_KEYPOINTS

# the wrist -> middle MCP direction is turned to point up the image
CANONICAL_BONE = (0, 9)
KEYPOINT_FEATURES = NUM_KEYPOINTS * 3  # canonical (x, y) and confidence per keypoint
TINY = 1e-6


def canonical_keypoints(keypoints: Tensor, confidence: Tensor) -> Tensor:
    """Keypoints (B, 21, 2) and confidences (B, 21) -> features (B, 63): the keypoints in their
    own frame (module docstring), flattened, then the confidences."""
    weights = confidence.clamp_min(0.0)
    total = weights.sum(-1).clamp_min(TINY)[:, None, None]
    centred = keypoints - (weights[..., None] * keypoints).sum(-2, keepdim=True) / total
    spread = ((weights[..., None] * centred.square()).sum((-2, -1), keepdim=True) / total).sqrt()
    start, end = CANONICAL_BONE
    bone = centred[:, end] - centred[:, start]
    # the turn from the bone to image-up (0, -1): cos = -b_y / |b|, sin = -b_x / |b|
    length = torch.linalg.vector_norm(bone, dim=-1, keepdim=True).clamp_min(TINY)
    cos, sin = (-bone[:, 1:] / length)[..., None], (-bone[:, :1] / length)[..., None]
    x, y = centred[..., :1], centred[..., 1:]
    turned = torch.cat([cos * x - sin * y, sin * x + cos * y], dim=-1) / spread.clamp_min(TINY)
    return torch.cat([turned.flatten(1), weights], dim=-1)
