"""What the network (or the per-image fitter) predicts for a batch, for every consumer.

Everything is in the camera frame of the input crop, in metres (DESIGN.md); 2D in crop pixels.
The camera model is S2HAND's (method notes section 2.4): `X_cam = trans + |scale| R(global_rot)
X_mano`, projected with the sample's K.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from s2h_lib.data.sample import HandSample
from s2h_lib.net.camera_solve import mean_pixel_distance


@dataclass
class HandPrediction:
    """Predicted hand, camera, appearance and 2D keypoints for B images.

    pose_coeffs:   (B, P)     PCA pose coefficients (P = ncomps), before the hand mean is added
    global_rot:    (B, 3)     axis-angle of the whole hand
    joint_angles:  (B, 16, 3) per-joint axis-angle in the model's rest frame, hand mean included,
                              root row first (what the joint-angle-limit prior reads)
    betas:         (B, 10)    shape coefficients (zeros when the mean shape is chosen)
    scale:         (B,)       the camera scale s (used as |s|)
    trans:         (B, 3)     the camera translation t, metres
    verts:         (B, V, 3)  posed mesh, camera frame, metres
    joints:        (B, 21, 3) FreiHAND order, camera frame, metres
    keypoints2d:   (B, 21, 2) `joints` projected with K, crop pixels
    texture:       (B, V, 3) per-vertex or (B, F, 3) per-face RGB in [0, 1]
    lights:        (B, 11)    ambient intensity, directional intensity, ambient RGB, directional
                              RGB, direction (the S2HAND lighting model)
    heatmap_keypoints: (B, S, 21, 2) the 2D branch's keypoints for each of its S stacks (last
                       stack last), crop pixels; None when the 2D branch is off
    texture_raw:   (B, V|F, 3) texture before squashing to [0, 1] (what the outlier term reads)
    image_articulation: (B, 21, 3) the image pose head's hand (`ModelConfig.without_anchors`
                       "image"): wrist-relative joints in the hand model's frame (zero root
                       rotation), metres; the answer where no hand was found, and what the
                       `image_pose` term teaches where one was. None without the head
    """

    pose_coeffs: Tensor
    global_rot: Tensor
    joint_angles: Tensor
    betas: Tensor
    scale: Tensor
    trans: Tensor
    verts: Tensor
    joints: Tensor
    keypoints2d: Tensor
    texture: Tensor | None = None
    texture_raw: Tensor | None = None
    lights: Tensor | None = None
    heatmap_keypoints: Tensor | None = None
    image_articulation: Tensor | None = None

    @property
    def texture_per_face(self) -> bool:
        """True when `texture` has one colour per face rather than per vertex."""
        return self.texture is not None and self.texture.shape[-2] != self.verts.shape[-2]

    def map(self, fn: Callable[[Tensor], Tensor]) -> HandPrediction:
        """`fn` applied to every tensor field (None stays None): `pred.map(Tensor.detach)`,
        `pred.map(lambda t: t[index])`."""
        return HandPrediction(**{k: None if v is None else fn(v) for k, v in vars(self).items()})

    @staticmethod
    def combine(
        predictions: Sequence[HandPrediction], fn: Callable[[list[Tensor]], Tensor]
    ) -> HandPrediction:
        """Field by field, `fn` of the predictions' tensors of that field (None where the first
        prediction has None): `HandPrediction.combine(preds, torch.cat)`."""
        first = vars(predictions[0])
        return HandPrediction(
            **{
                k: None if v is None else fn([getattr(p, k) for p in predictions])
                for k, v in first.items()
            }
        )


def reprojection_px(prediction: HandPrediction, keypoints: Tensor, confidence: Tensor) -> Tensor:
    """(N,) the confidence-weighted mean pixel distance between the prediction's projected
    joints (N, 21, 2) and `keypoints` (N, 21, 2); 0 where no keypoint is confident."""
    return mean_pixel_distance(prediction.keypoints2d, keypoints, confidence)


# Anything that predicts the hand of a batch: a trained network, a fitter, a baseline.
Predictor = Callable[[HandSample], HandPrediction]
