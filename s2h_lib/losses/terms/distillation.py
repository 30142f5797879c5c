"""Distillation: the network's image pose head learns the hands its anchored answers give (no
3D label), so that it has an answer where the detector finds no hand (s2h_lib/net/image_pose.py)."""

from __future__ import annotations

import torch
from torch import Tensor

from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.losses.terms.reduce import weighted_mean

MIN_SCALE = 1e-6  # floor of |s| when a camera-frame hand is taken back to the model frame


def hand_frame_joints(joints: Tensor, scale: Tensor, global_rot: Tensor) -> Tensor:
    """Camera-frame joints (B, 21, 3) taken back into the hand model's frame, wrist-relative:
    the inverse of X_cam = t + |s| R X for the camera's `scale` (B,) and `global_rot` (B, 3)
    axis-angle of R, i.e. X - X_wrist = R^T (X_cam - X_cam,wrist) / |s|."""
    rotation = axis_angle_to_matrix(global_rot)
    relative = joints - joints[:, :1]
    return relative @ rotation / scale.abs().clamp_min(MIN_SCALE)[:, None, None]


def image_pose_loss(image_articulation: Tensor, teacher: Tensor, anchored: Tensor) -> Tensor:
    """Mean joint distance (metres) between the image head's wrist-relative joints and the
    `teacher`'s (B, 21, 3) each, over the `anchored` (B,) bool rows; the teacher gets no
    gradient, so the term teaches the head only."""
    distance = torch.linalg.vector_norm(image_articulation - teacher.detach(), dim=-1).mean(-1)
    return weighted_mean(distance, anchored.to(distance))
