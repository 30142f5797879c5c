"""2D keypoints as network inputs: in a frame that ignores where the hand is, how large and how
rolled it is in the image.

The frame of a set of keypoints (B, 21, 2) with confidences (B, 21): origin at their
confidence-weighted centroid, turned so that the wrist -> middle MCP direction points up the
image, unit = their weighted RMS distance from the centroid. The 3D branch reads the anchor
keypoints in it (`ModelConfig.keypoint_input`) and the pose feedback reads its own reprojection
error in it (`ModelConfig.feedback_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from s2h_lib.hand_model import NUM_KEYPOINTS

# the wrist -> middle MCP direction is turned to point up the image
CANONICAL_BONE = (0, 9)
KEYPOINT_FEATURES = NUM_KEYPOINTS * 3  # canonical (x, y) and confidence per keypoint
TINY = 1e-6


@dataclass
class KeypointFrame:
    """centre (B, 1, 2) pixels, cos and sin (B, 1, 1) of the turn, spread (B, 1, 1) pixels."""

    centre: Tensor
    cos: Tensor
    sin: Tensor
    spread: Tensor

    def vectors(self, offsets: Tensor) -> Tensor:
        """Image-plane vectors (B, N, 2) in pixels -> turned and divided by the spread."""
        x, y = offsets[..., :1], offsets[..., 1:]
        turned = torch.cat([self.cos * x - self.sin * y, self.sin * x + self.cos * y], dim=-1)
        return turned / self.spread

    def points(self, points: Tensor) -> Tensor:
        """Image points (B, N, 2) in pixels -> their coordinates in this frame."""
        return self.vectors(points - self.centre)


def keypoint_frame(keypoints: Tensor, confidence: Tensor) -> KeypointFrame:
    """The frame (module docstring) of keypoints (B, 21, 2) with confidences (B, 21)."""
    weights = confidence.clamp_min(0.0)
    total = weights.sum(-1).clamp_min(TINY)[:, None, None]
    centre = (weights[..., None] * keypoints).sum(-2, keepdim=True) / total
    centred = keypoints - centre
    spread = ((weights[..., None] * centred.square()).sum((-2, -1), keepdim=True) / total).sqrt()
    start, end = CANONICAL_BONE
    bone = centred[:, end] - centred[:, start]
    # the turn from the bone to image-up (0, -1): cos = -b_y / |b|, sin = -b_x / |b|
    length = torch.linalg.vector_norm(bone, dim=-1, keepdim=True).clamp_min(TINY)
    cos, sin = (-bone[:, 1:] / length)[..., None], (-bone[:, :1] / length)[..., None]
    return KeypointFrame(centre, cos, sin, spread.clamp_min(TINY))


def canonical_keypoints(keypoints: Tensor, confidence: Tensor) -> Tensor:
    """Keypoints (B, 21, 2) and confidences (B, 21) -> features (B, 63): the keypoints in their
    own frame, flattened, then the confidences."""
    frame = keypoint_frame(keypoints, confidence)
    return torch.cat([frame.points(keypoints).flatten(1), confidence.clamp_min(0.0)], dim=-1)
