"""The hand's skeleton: the 21 keypoints in FreiHAND order, their bones and fingers, and the
MANO <-> FreiHAND (and HO3D) joint orders. Joint-order converters live here and nowhere else in
the package.

MANO's 16 joints: 0 wrist, then index 1-3, middle 4-6, pinky 7-9, ring 10-12, thumb 13-15,
each finger from the palm outwards. FreiHAND's 21 keypoints: 0 wrist, thumb 1-4, index 5-8,
middle 9-12, ring 13-16, pinky 17-20, each ending with the fingertip.
"""

import torch
from torch import Tensor

from s2h_lib.hand.mano_data import NUM_JOINTS

NUM_KEYPOINTS = 21
NUM_FINGERS = 5
JOINTS_PER_FINGER = 3
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
# One colour per finger, thumb to pinky, in every drawing of a hand.
FINGER_COLOURS = ("#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd")
# Keypoint k of the 21 is entry FREIHAND_FROM_MANO[k] of cat(16 MANO joints, 5 tips thumb..pinky).
FREIHAND_FROM_MANO = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
# The inverse permutation: where each of the 16 joints + 5 tips lands among the 21 keypoints.
MANO_TO_FREIHAND = tuple(FREIHAND_FROM_MANO.index(i) for i in range(NUM_KEYPOINTS))
FREIHAND_TIPS = (4, 8, 12, 16, 20)
FREIHAND_PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
FREIHAND_BONES = tuple(
    (parent, child) for child, parent in enumerate(FREIHAND_PARENTS) if parent >= 0
)
# FreiHAND 9 -> 10 is the middle finger's MCP -> PIP: the proximal phalanx.
MIDDLE_PROXIMAL_BONE = (9, 10)
# Dataset-average proximal phalanx of the middle finger (S2HAND's mscale target). The open hand
# model's bone is 0.0285 m at betas = 0, i.e. 1 % longer.
MIDDLE_PROXIMAL_LENGTH_M = 0.0282


def mano_to_freihand(joints16: Tensor, tips: Tensor) -> Tensor:
    """MANO's 16 joints (..., 16, D) and 5 fingertips (..., 5, D), thumb to pinky, to the
    21 FreiHAND keypoints (..., 21, D)."""
    stacked = torch.cat([joints16, tips], dim=-2)
    index = torch.tensor(FREIHAND_FROM_MANO, device=stacked.device)
    return stacked.index_select(-2, index)


def freihand_to_mano(joints21: Tensor) -> tuple[Tensor, Tensor]:
    """21 FreiHAND keypoints (..., 21, D) to MANO's 16 joints (..., 16, D) and the 5
    fingertips (..., 5, D), thumb to pinky."""
    index = torch.tensor(MANO_TO_FREIHAND, device=joints21.device)
    stacked = joints21.index_select(-2, index)
    return stacked[..., :NUM_JOINTS, :], stacked[..., NUM_JOINTS:, :]


# HO3D stores 21 joints as MANO's 16 followed by the 5 tips thumb..pinky (its vis_HO3D.py maps
# them to FreiHAND order with the same table), so its permutations are MANO's.
# FreiHAND keypoint k is HO3D joint FREIHAND_FROM_HO3D[k]; HO3D joint j is FreiHAND keypoint
# HO3D_FROM_FREIHAND[j].
FREIHAND_FROM_HO3D = FREIHAND_FROM_MANO
HO3D_FROM_FREIHAND = MANO_TO_FREIHAND


def ho3d_to_freihand(joints21: Tensor) -> Tensor:
    """21 joints in HO3D order (..., 21, D) to FreiHAND order (..., 21, D)."""
    return joints21.index_select(-2, torch.tensor(FREIHAND_FROM_HO3D, device=joints21.device))


def freihand_to_ho3d(joints21: Tensor) -> Tensor:
    """21 keypoints in FreiHAND order (..., 21, D) to HO3D order (..., 21, D), e.g. for a
    HO3D submission."""
    return joints21.index_select(-2, torch.tensor(HO3D_FROM_FREIHAND, device=joints21.device))


def middle_proximal_length(joints: Tensor) -> Tensor:
    """Length of the middle finger's proximal phalanx (FreiHAND 9 -> 10). (..., 21, 3) -> (...)."""
    start, end = MIDDLE_PROXIMAL_BONE
    return torch.linalg.vector_norm(joints[..., end, :] - joints[..., start, :], dim=-1)
