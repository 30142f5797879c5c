"""The hand in the camera: the pose, shape and camera of B hands (`CameraPose`), and the
`HandPrediction` they make. The network's regressor and the fitter's unknowns both end here.

The camera model is S2HAND's: the hand model is posed with a zero root rotation, then
X_cam = t + |s| R X_model, projected with the sample's K.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from s2h_lib.hand.hand_model import ManoLayer, ManoOutput
from s2h_lib.hand.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    rotation_6d_to_matrix,
)
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.render.rasterize import project

MIN_DEPTH = 1e-2  # metres; nearer points are projected as if at this depth
ROTATION_SIZES = {"rot6d": 6, "axisang": 3}  # numbers per global rotation, by parameterisation


@dataclass
class CameraPose:
    """The pose, shape and camera of B hands: pose_coeffs (B, P), betas (B, 10), rotation
    (B, 3, 3), global_rot (B, 3) axis-angle of it, scale (B,), trans (B, 3); scale and trans are
    None until the keypoint-anchored camera solves them."""

    pose_coeffs: Tensor
    betas: Tensor
    rotation: Tensor
    global_rot: Tensor
    scale: Tensor | None
    trans: Tensor | None


def network_hand_model(ncomps: int, side: str, mano_root: str | None) -> ManoLayer:
    """The hand model as the network (and the fitter) poses it: `ncomps` PCA pose coefficients
    plus the hand mean, metres."""
    return ManoLayer(
        ncomps=ncomps,
        flat_hand_mean=False,
        side=side,
        mano_root=mano_root,
        use_pca=True,
        units="m",
    )


def rotation_from_parameters(
    raw: Tensor, mode: str, angle_gradient: bool = True
) -> tuple[Tensor, Tensor]:
    """The global rotation (B, 3, 3) and its axis-angle (B, 3) from `raw` (B, 6) for "rot6d" or
    (B, 3) for "axisang". angle_gradient=False detaches the axis-angle of a 6D rotation: for a
    caller whose losses never read the root angle, its backward near an angle of pi cannot put
    NaN into the rotation's gradient."""
    if mode == "rot6d":
        rotation = rotation_6d_to_matrix(raw)
        return rotation, matrix_to_axis_angle(rotation if angle_gradient else rotation.detach())
    return axis_angle_to_matrix(raw), raw


def place_in_camera(points: Tensor, camera: CameraPose) -> Tensor:
    """X_cam = t + |s| R X for model-frame points (B, N, 3) -> (B, N, 3)."""
    rotated = points @ camera.rotation.transpose(-1, -2)
    return camera.trans[:, None] + camera.scale.abs()[:, None, None] * rotated


def hand_in_model_frame(pose_coeffs: Tensor, betas: Tensor, hand_model: ManoLayer) -> ManoOutput:
    """The hand model posed with PCA `pose_coeffs` (B, P) and `betas` (B, 10) and a zero root
    rotation, model frame."""
    root = pose_coeffs.new_zeros(pose_coeffs.shape[0], 3)
    return hand_model.forward_full(torch.cat([root, pose_coeffs], dim=1), betas)


def posed_hand(camera: CameraPose, hand_model: ManoLayer) -> ManoOutput:
    """The hand model with `camera`'s pose and shape and a zero root rotation, model frame."""
    return hand_in_model_frame(camera.pose_coeffs, camera.betas, hand_model)


def prediction_in_camera(camera: CameraPose, hand: ManoOutput, K: Tensor) -> HandPrediction:
    """The `HandPrediction` (no appearance) of the posed `hand` placed by `camera` and
    projected with K (B, 3, 3); the joint angles' root row is the global rotation."""
    joints = place_in_camera(hand.joints, camera)
    keypoints2d, _ = project(joints, K, MIN_DEPTH)
    return HandPrediction(
        pose_coeffs=camera.pose_coeffs,
        global_rot=camera.global_rot,
        joint_angles=torch.cat([camera.global_rot[:, None], hand.axis_angle[:, 1:]], dim=1),
        betas=camera.betas,
        scale=camera.scale,
        trans=camera.trans,
        verts=place_in_camera(hand.verts, camera),
        joints=joints,
        keypoints2d=keypoints2d,
    )


def predict_from_camera(camera: CameraPose, hand_model: ManoLayer, K: Tensor) -> HandPrediction:
    """The `HandPrediction` (no appearance) of B hands' `CameraPose`, as the network makes it."""
    return prediction_in_camera(camera, posed_hand(camera, hand_model), K)
