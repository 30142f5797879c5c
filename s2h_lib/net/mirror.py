"""Left <-> right: a crop mirrored left-right, and a prediction mirrored back.

The hand model's left hand is the right one reflected in x (mano_data.mirror_model), and the
fitter's joint-angle limits are those of the right hand. So a left hand can be handled as the
right hand in the mirrored crop, then mirrored back: `mirror_sample`, fit or predict,
`mirror_prediction`. The camera-frame reflection is S = diag(-1, 1, 1); the image flip it
causes maps pixel u to W - 1 - u (pixel centres at integers, DESIGN.md).
"""

from __future__ import annotations

import torch
from torch import Tensor

from s2h_lib.data.sample import HandSample
from s2h_lib.hand.rotations import mirror_axis_angle
from s2h_lib.net.prediction import HandPrediction

REFLECTION = (-1.0, 1.0, 1.0)  # S, the camera-frame reflection x -> -x


def _flip_pixels(points: Tensor, width: int) -> Tensor:
    """(..., 2) pixels u -> width - 1 - u."""
    return points * points.new_tensor([-1.0, 1.0]) + points.new_tensor([width - 1.0, 0.0])


def mirror_intrinsics(K: Tensor, width: int) -> Tensor:
    """K' = F K S (..., 3, 3): a point X seen with K at u is seen at the flipped u when S X is
    seen with K'. F is the pixel flip of an image `width` pixels wide."""
    flip = K.new_tensor([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return flip @ K @ torch.diag(K.new_tensor(REFLECTION))


def mirror_sample(sample: HandSample) -> HandSample:
    """The crop(s) flipped left-right with keypoints and K to match; the truth is dropped.

    image (..., 3, H, W), K (..., 3, 3), keypoints (..., 21, 2); confidence and name are kept.
    """
    width = sample.image.shape[-1]
    return HandSample(
        image=sample.image.flip(-1),
        K=mirror_intrinsics(sample.K, width),
        keypoints=_flip_pixels(sample.keypoints, width),
        confidence=sample.confidence,
        name=sample.name,
    )


def mirror_prediction(pred: HandPrediction, width: int) -> HandPrediction:
    """A prediction made on a mirrored crop `width` pixels wide, mirrored back: the hand of the
    other side in the original crop. 3D points and the translation get x negated, every
    axis-angle is mirrored (`rotations.mirror_axis_angle`), 2D points are flipped; the image
    pose head's model-frame joints get x negated too (the left hand model is the right one
    reflected in x); pose coefficients, betas, scale and appearance are unchanged."""
    reflection = pred.joints.new_tensor(REFLECTION)
    heatmaps, articulation = pred.heatmap_keypoints, pred.image_articulation
    return HandPrediction(
        pose_coeffs=pred.pose_coeffs,
        global_rot=mirror_axis_angle(pred.global_rot),
        joint_angles=mirror_axis_angle(pred.joint_angles),
        betas=pred.betas,
        scale=pred.scale,
        trans=pred.trans * reflection,
        verts=pred.verts * reflection,
        joints=pred.joints * reflection,
        keypoints2d=_flip_pixels(pred.keypoints2d, width),
        texture=pred.texture,
        texture_raw=pred.texture_raw,
        lights=pred.lights,
        heatmap_keypoints=None if heatmaps is None else _flip_pixels(heatmaps, width),
        image_articulation=None if articulation is None else articulation * reflection,
    )
