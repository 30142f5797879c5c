"""Where the fitter starts: a closed-form camera for the mean hand, per frame and restart view.

For each frame, given 2D keypoints with confidences and K:
1. rotation: one of the named `VIEWS` (the network's `initial_rotation`, palm to the camera and
   fingers up, turned about the image's vertical axis), then rolled in the image plane so that
   the rest skeleton lines up with the keypoints (2D Procrustes, rotation only);
2. scale: the one that gives the scale prior's bone length (the mean hand's middle proximal
   phalanx times |s| = `reference_bone_m`);
3. translation: linear least squares of the reprojection error in the normalised image plane.

A frame with fewer than `MIN_CONFIDENT_KEYPOINTS` keypoints of positive confidence (or whose
solution lands behind the camera) starts from the network's initial camera instead: the view's
rotation, the mean hand's centroid on the optical axis at `INITIAL_DEPTH`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from s2h_lib.hand.rotations import quaternion_to_matrix
from s2h_lib.hand.skeleton import middle_proximal_length
from s2h_lib.net.camera_solve import (
    CAMERA_Y,
    CAMERA_Z,
    VIEWS,
    about_axis,
    enough_keypoints,
    in_plane_roll,
    solve_translation,
)
from s2h_lib.net.hand_in_camera import MIN_DEPTH
from s2h_lib.net.initial_pose import initial_rotation, on_axis_translation


@dataclass
class Start:
    """The start of M (restart, frame) pairs, restart-major: rotation (M, 3, 3), scale (M,),
    trans (M, 3); usable (N,) the frames with enough confident keypoints; pose_coeffs (M, C)
    and betas (M, 10), None for the mean pose and shape."""

    rotation: Tensor
    scale: Tensor
    trans: Tensor
    usable: Tensor
    pose_coeffs: Tensor | None = None
    betas: Tensor | None = None


def random_rotations(count: int, seed: int) -> Tensor:
    """(count, 3, 3) rotations uniform over SO(3) (normalised Gaussian quaternions)."""
    generator = torch.Generator().manual_seed(seed)
    return quaternion_to_matrix(torch.randn(count, 4, generator=generator))


def restart_rotations(
    views: Sequence[str], random_count: int, seed: int, side: str = "right"
) -> Tensor:
    """(R, 3, 3) the rotation each restart starts from, before the roll: the named views, then
    `random_count` random ones drawn with `seed`."""
    unknown = [view for view in views if view not in VIEWS]
    if unknown:
        raise ValueError(f"unknown views {unknown}; known: {list(VIEWS)}")
    yaws = torch.tensor([VIEWS[view] for view in views])
    named = about_axis(yaws, CAMERA_Y) @ initial_rotation(side)
    return torch.cat([named, random_rotations(random_count, seed)])


def closed_form_start(
    keypoints: Tensor,
    confidence: Tensor,
    K: Tensor,
    views: Tensor,
    rest_joints: Tensor,
    rest_centroid: Tensor,
    reference_bone_m: float,
) -> Start:
    """The start (module docstring) of every restart view and frame.

    keypoints (N, 21, 2), confidence (N, 21), K (N, 3, 3): the frames; views (R, 3, 3) from
    `restart_rotations`; rest_joints (21, 3) and rest_centroid (3,): the mean hand (mean pose,
    mean shape) in its model frame.
    """
    restarts, frames = views.shape[0], keypoints.shape[0]
    weights = confidence.repeat(restarts, 1)
    view = views.repeat_interleave(frames, dim=0)
    turned = rest_joints @ view.transpose(-1, -2)
    roll = in_plane_roll(turned, keypoints.repeat(restarts, 1, 1), weights)
    rotation = about_axis(roll, CAMERA_Z) @ view
    bone = middle_proximal_length(rest_joints[None])[0]
    scale = (reference_bone_m / bone).expand(restarts * frames).clone()
    offsets = scale[:, None, None] * rest_joints @ rotation.transpose(-1, -2)
    trans = solve_translation(
        offsets, keypoints.repeat(restarts, 1, 1), K.repeat(restarts, 1, 1), weights
    )

    initial_trans = on_axis_translation(view, rest_centroid, scale)
    depth = trans[:, 2] + scale * (rotation @ rest_centroid)[:, 2]
    usable = enough_keypoints(confidence)
    good = usable.repeat(restarts) & (depth > MIN_DEPTH) & torch.isfinite(trans).all(-1)
    return Start(
        rotation=torch.where(good[:, None, None], rotation, view),
        scale=scale,
        trans=torch.where(good[:, None], trans, initial_trans),
        usable=usable,
    )
