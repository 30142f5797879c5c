"""The network's heads on the pooled and the stride-4 image features: `PoseRegressor` (pose,
shape and camera, the original's "MyPoseHand" MLP) and `AppearanceHead` (texture and lights).

Their last layers start as the original's: N(0, 0.001) weights, biases at the initial camera
(`initial_pose`), the mean skin colour and a white head-light.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s2h_lib.hand.mano_data import NUM_BETAS
from s2h_lib.hand.rotations import matrix_to_axis_angle, matrix_to_rotation_6d
from s2h_lib.net.hand_in_camera import ROTATION_SIZES, CameraPose, rotation_from_parameters
from s2h_lib.net.initial_pose import INITIAL_SCALE
from s2h_lib.net.keypoint_features import KEYPOINT_FEATURES
from s2h_lib.net.pose_hypotheses import per_hypothesis

HEAD_INIT_STD = 1e-3  # the original's N(0, 0.001) for the camera heads and the appearance head
MEAN_SKIN_COLOUR = (200 / 256, 150 / 256, 150 / 256)  # the original's mean texture colour
# I_a, I_d, ambient RGB, directional RGB, direction (travelling from the camera into the scene)
INITIAL_LIGHTS = (0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0)


def _small_init(layer: nn.Linear, bias: Tensor | None = None) -> nn.Linear:
    """N(0, HEAD_INIT_STD) weights and the given bias (zero if None), as the original's heads."""
    nn.init.normal_(layer.weight, std=HEAD_INIT_STD)
    with torch.no_grad():
        layer.bias.copy_(bias if bias is not None else torch.zeros_like(layer.bias))
    return layer


def _mlp_head(width: int, out: int) -> nn.Sequential:
    """512 -> 128 -> out (pose and shape heads)."""
    return nn.Sequential(nn.Linear(width, 128), nn.ReLU(inplace=True), nn.Linear(128, out))


def _camera_head(width: int, out: int, bias: Tensor) -> nn.Sequential:
    """512 -> 128 -> 32 -> out, no activation between the last two (the original's rot, trans
    and scale heads), last layer N(0, 0.001) with the given bias."""
    return nn.Sequential(
        nn.Linear(width, 128),
        nn.ReLU(inplace=True),
        nn.Linear(128, 32),
        _small_init(nn.Linear(32, out), bias),
    )


def _image_input(feature_dim: int, image_width: int | None) -> nn.Module | None:
    """What the regressor makes of the pooled image features: all of them (None), a
    zero-initialised projection to `image_width` values (the regressor starts by reading the
    keypoints alone and takes in the image as it learns to), or nothing (0)."""
    if image_width is None:
        return nn.Identity()
    if image_width == 0:
        return None
    projection = nn.Linear(feature_dim, image_width)
    nn.init.zeros_(projection.weight)
    nn.init.zeros_(projection.bias)
    return projection


class PoseRegressor(nn.Module):
    """Pooled features (B, D) -> `CameraPose` (the original's "MyPoseHand" MLP). Without
    `camera_heads` it predicts no scale and translation (the keypoint-anchored camera);
    `image_width` (`ModelConfig.regressor_image_width`) says how much of the image it reads.
    With `hypotheses` H > 1 it proposes H articulations and rotations, each from its own pose and
    rotation heads on the shared trunk (the shape is shared): the `CameraPose` then holds H * B
    rows, hypothesis-major (`pose_hypotheses.py` chooses among them)."""

    def __init__(
        self,
        feature_dim: int,
        ncomps: int,
        predict_shape: bool,
        rotation_mode: str,
        initial_rotation: Tensor,
        initial_trans: Tensor,
        camera_heads: bool = True,
        keypoint_input: bool = False,
        image_width: int | None = None,
        hypotheses: int = 1,
    ) -> None:
        super().__init__()
        self.rotation_mode = rotation_mode
        self.keypoint_input = keypoint_input
        self.image = _image_input(feature_dim, image_width)
        width = feature_dim if image_width is None else image_width
        width += KEYPOINT_FEATURES if keypoint_input else 0
        self.trunk = nn.Sequential(
            nn.Linear(width, 1024),
            nn.LayerNorm(1024),
            nn.ReLU(inplace=True),
            nn.Linear(1024, 512),
            nn.LayerNorm(512),
            nn.ReLU(inplace=True),
        )
        self.pose = _mlp_head(512, ncomps)
        self.shape = _mlp_head(512, NUM_BETAS) if predict_shape else None
        rotation_bias = (
            matrix_to_rotation_6d(initial_rotation)
            if rotation_mode == "rot6d"
            else matrix_to_axis_angle(initial_rotation)
        )
        self.rot = _camera_head(512, ROTATION_SIZES[rotation_mode], rotation_bias)
        # the other hypotheses' heads, built after the first's so one hypothesis initialises
        # exactly as before
        self.alternatives = nn.ModuleList(
            nn.ModuleDict(
                {
                    "pose": _mlp_head(512, ncomps),
                    "rot": _camera_head(512, ROTATION_SIZES[rotation_mode], rotation_bias),
                }
            )
            for _ in range(hypotheses - 1)
        )
        self.trans = self.scale = None
        if camera_heads:
            self.trans = _camera_head(512, 3, initial_trans)
            self.scale = _camera_head(512, 1, torch.tensor([INITIAL_SCALE]))

    @property
    def hypotheses(self) -> int:
        """How many articulations and rotations `forward` proposes an image."""
        return 1 + len(self.alternatives)

    @property
    def reads_image(self) -> bool:
        """Whether `forward` needs the pooled image features."""
        return self.image is not None

    def forward(self, features: Tensor | None, keypoints: Tensor | None = None) -> CameraPose:
        """features (B, D) pooled image features, None when the regressor does not
        `reads_image`; keypoints (B, 63) `canonical_keypoints`, given exactly when the regressor
        was built with `keypoint_input`."""
        if (keypoints is None) == self.keypoint_input:
            raise ValueError("keypoints must be given exactly when built with keypoint_input")
        if (features is None) == self.reads_image:
            raise ValueError("image features must be given exactly when the regressor reads them")
        inputs = [] if features is None else [self.image(features)]
        if keypoints is not None:
            inputs.append(keypoints.to(inputs[0].dtype) if inputs else keypoints)
        hidden = self.trunk(torch.cat(inputs, dim=-1))
        pose_heads = [self.pose, *(heads["pose"] for heads in self.alternatives)]
        rot_heads = [self.rot, *(heads["rot"] for heads in self.alternatives)]
        raw_rotation = torch.cat([head(hidden) for head in rot_heads]).float()
        rotation, global_rot = rotation_from_parameters(raw_rotation, self.rotation_mode)
        pose_coeffs = torch.cat([head(hidden) for head in pose_heads]).float()
        if self.shape is None:
            betas = pose_coeffs.new_zeros(hidden.shape[0], NUM_BETAS)
        else:
            betas = self.shape(hidden).float()
        scale = None if self.scale is None else self.scale(hidden).float().squeeze(-1)
        trans = None if self.trans is None else self.trans(hidden).float()
        return CameraPose(
            pose_coeffs=pose_coeffs,
            betas=per_hypothesis(betas, self.hypotheses),
            rotation=rotation,
            global_rot=global_rot,
            scale=None if scale is None else per_hypothesis(scale, self.hypotheses),
            trans=None if trans is None else per_hypothesis(trans, self.hypotheses),
        )


class AppearanceHead(nn.Module):
    """Stride-4 encoder features (B, C, h, w) -> texture_raw (B, N, 3), lights (B, 11).

    The original's conv part (two conv + pool stages to a 2x2x64 map), then two small MLPs.
    texture_raw is logit(mean skin colour) + offsets; the offsets start at ~0 (N(0, 0.001)).
    """

    def __init__(self, in_channels: int, num_colours: int) -> None:
        super().__init__()
        self.num_colours = num_colours
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 48, 5, stride=2, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(48, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.texture = nn.Sequential(
            _small_init(nn.Linear(256, 64)),
            nn.ReLU(inplace=True),
            _small_init(nn.Linear(64, num_colours * 3)),
        )
        self.light = nn.Sequential(
            _small_init(nn.Linear(256, 64)),
            nn.ReLU(inplace=True),
            _small_init(nn.Linear(64, len(INITIAL_LIGHTS)), torch.tensor(INITIAL_LIGHTS)),
        )
        self.register_buffer("mean_logit", torch.logit(torch.tensor(MEAN_SKIN_COLOUR)), False)

    def forward(self, low: Tensor) -> tuple[Tensor, Tensor]:
        code = self.conv(low)
        offsets = self.texture(code).float().unflatten(-1, (self.num_colours, 3))
        return self.mean_logit + offsets, self.light(code).float()
