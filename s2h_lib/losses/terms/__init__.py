"""Every loss term of S2HAND (CVPR 2021) and of its video extension, one function per term.

Each function takes plain tensors and returns an unweighted scalar; the weights, the on/off
switches and the stage presets live in `loss_config.py`, and `objective.py` assembles the terms
from a `HandPrediction` and a `HandSample` batch. The formulas follow s2hand_method.md
(section 3); each docstring says what the released code did differently and why.

Conventions: B samples, 21 keypoints in FreiHAND order, pixels of the crop for 2D, metres for
3D, images (B, 3, H, W) in [0, 1]. `confidence` is the detector's per-joint confidence c_bj.
Every reduction divides by a clamped sum of weights, so an all-zero weight gives 0, not NaN.

One module a family, each name exported here:
- `skeleton`: keypoint reprojection, bone directions, the 2D branch, the 2D-3D consistency, the
  scale prior and the joint-angle limits, on the 21 joints;
- `skin`: the paper constrains the skin model, not only the skeleton, and so do these terms:
  the Laplacian keeps the posed MANO surface smooth (cotangent weights), the shape prior keeps
  the skin's shape coefficients near the mean hand, the photometric, SSIM and mean-colour terms
  compare the rendered, textured and lit skin surface (its silhouette edges included) with the
  image, and the texture-outlier term regularises the skin colour;
- `distillation`: the image pose head taught by the anchored answers (no 3D label);
- `supervised`: the fully supervised bound (3D joints, and a per-vertex L1 on the skin);
- `video`: motion smoothness, 2D motion, and shape, bone-length and texture consistency on clips;
- `reduce`: the weighted means every term shares.
"""

from s2h_lib.losses.terms.distillation import hand_frame_joints, image_pose_loss
from s2h_lib.losses.terms.skeleton import (
    bone_direction_loss,
    detected_bone_length_weights,
    heatmap_keypoint_loss,
    huber_distance,
    joint_limit_loss,
    keypoint_consistency_loss,
    keypoint_joint_weights,
    keypoint_reprojection_loss,
    scale_prior_loss,
)
from s2h_lib.losses.terms.skin import (
    composite_over_image,
    laplacian_loss,
    mean_colour_loss,
    photometric_l1_loss,
    photometric_sample_weights,
    photometric_ssim_loss,
    shape_prior_loss,
    ssim_map,
    texture_outlier_loss,
    texture_outlier_penalty,
)
from s2h_lib.losses.terms.supervised import joints3d_loss, verts3d_loss
from s2h_lib.losses.terms.video import (
    bone_length_consistency_loss,
    bone_lengths,
    joint_acceleration_loss,
    keypoint_motion_loss,
    shape_consistency_loss,
    texture_consistency_loss,
)

__all__ = [
    "bone_direction_loss",
    "bone_length_consistency_loss",
    "bone_lengths",
    "composite_over_image",
    "detected_bone_length_weights",
    "hand_frame_joints",
    "heatmap_keypoint_loss",
    "huber_distance",
    "image_pose_loss",
    "joint_acceleration_loss",
    "joint_limit_loss",
    "joints3d_loss",
    "keypoint_consistency_loss",
    "keypoint_joint_weights",
    "keypoint_motion_loss",
    "keypoint_reprojection_loss",
    "laplacian_loss",
    "mean_colour_loss",
    "photometric_l1_loss",
    "photometric_sample_weights",
    "photometric_ssim_loss",
    "scale_prior_loss",
    "shape_consistency_loss",
    "shape_prior_loss",
    "ssim_map",
    "texture_consistency_loss",
    "texture_outlier_loss",
    "texture_outlier_penalty",
    "verts3d_loss",
]
