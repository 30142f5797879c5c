"""Solutions to notebook 04's exercises."""

import torch

from s2h_lib.lab.exercises import BONE_MOVES
from s2h_lib.losses.terms import bone_direction_loss


def bone_blind_spots(keypoints: torch.Tensor, confidence: torch.Tensor) -> set[str]:
    """Exercise 04.1: the moves of the projected keypoints (B, 21, 2) that leave the
    bone-direction loss where it was (here 0: the prediction starts on the detections)."""
    before = bone_direction_loss(keypoints, keypoints, confidence)
    return {
        name
        for name, move in BONE_MOVES.items()
        if abs(bone_direction_loss(move(keypoints), keypoints, confidence) - before) < 1e-6
    }
