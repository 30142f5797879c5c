"""The image pose head (`ModelConfig.without_anchors="image"`): the articulation and shape of a
hand read from the image alone, for the images where the detector found no hand.

A keypoint-anchored network has nothing to lift there, and the per-image fitter nothing to fit:
both used to answer the mean hand. This head reads the encoder's pooled features and proposes
PCA pose and shape coefficients. It learns by distillation, with no 3D label: on the images that
do have anchors its hand is pulled towards the one the anchored network answers (the loss term
`image_pose`, s2h_lib/losses/terms/distillation.py). It reads the features without gradient,
so it never changes what the encoder learns for the rest of the network, and it is regularised
hard (dropout 0.7 on its input and hidden layer) because it learns from a few thousand images:
on the demo's features a frozen-feature probe scored 12.7-12.9 mm PA-MPJPE on the hands the
detector missed with dropout 0.7, 13.1-13.5 with 0.3, against 14.07 for the mean hand (README
method notes).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s2h_lib.hand.mano_data import NUM_BETAS

IMAGE_POSE_HIDDEN = 256
IMAGE_POSE_DROPOUT = 0.7


class ImagePoseHead(nn.Module):
    """Pooled image features (B, C) -> PCA pose coefficients (B, ncomps) and betas (B, 10).

    Its last layer starts at zero, so an untrained head answers the mean hand; betas stay zero
    when `predict_shape` is False (the mean shape, as the regressor's).
    """

    def __init__(self, feature_dim: int, ncomps: int, predict_shape: bool) -> None:
        super().__init__()
        self.ncomps = ncomps
        self.predict_shape = predict_shape
        last = nn.Linear(IMAGE_POSE_HIDDEN, ncomps + NUM_BETAS)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.layers = nn.Sequential(
            nn.LayerNorm(feature_dim),
            nn.Dropout(IMAGE_POSE_DROPOUT),
            nn.Linear(feature_dim, IMAGE_POSE_HIDDEN),
            nn.ReLU(inplace=True),
            nn.Dropout(IMAGE_POSE_DROPOUT),
            last,
        )

    def forward(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        out = self.layers(pooled.detach())
        pose_coeffs, betas = out.split([self.ncomps, NUM_BETAS], dim=-1)
        if not self.predict_shape:
            betas = torch.zeros_like(betas)
        return pose_coeffs, betas
