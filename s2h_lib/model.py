"""The network: image encoder, MANO/camera regressor, texture and lighting head, 2D branch.

`HandNet(config)(images, K)` returns a `HandPrediction` (s2h_lib/prediction.py). The design
follows S2HAND (method notes, section 2) with these choices, each made on purpose:

- Encoder: any of `ENCODERS` from torchvision, built with `weights=None`; optional ImageNet
  weights come from a local .pth file (never downloaded). Its input is ImageNet-normalised by
  default (`encoder_normalization="imagenet"`), which pretrained weights expect; the original fed
  unnormalised [0, 1] images to a randomly initialised encoder, `"none"` reproduces that. The
  2D branch always gets the original's x - 0.5 (s2h_lib/keypoint_net.py).
- Regressor: the original's MLP trunk (-> 1024 -> 512) and heads, with LayerNorm in place of
  BatchNorm1d, so a batch of one trains and the head does not depend on batch statistics.
- Global rotation: 6D (Zhou et al.; continuous, unlike axis-angle) by default, `"axisang"` as
  the original. It is applied after skinning about the hand model's origin, with the model's own
  root rotation kept at zero: X_cam = t + |s| R X_mano (prediction.py). The original instead
  fixed MANO's root at (π, 0, 0) and started R near the identity at random; here the rotation
  head starts at `initial_rotation(side)`, which shows the palm to the camera, fingers up.
- Translation starts so that the initial (mean pose, mean shape) mesh centroid sits on the
  optical axis at 0.65 m, scale at 0.95: the original's biases t = (0, 0, 0.65), s = 0.95 for
  MANO, whose origin is near the hand centre; the open hand model's origin is at the wrist.
  Both heads' last layers start with N(0, 0.001) weights as in the original; so does rotation.
- Texture: per-vertex (default) or per-face RGB, offsets on a mean skin colour as in the
  original, but in logit space: `texture = sigmoid(texture_raw)`, so the initial texture is
  exactly the mean skin colour and stays in [0, 1] without clamping.
- Lighting: the 11 S2HAND numbers (`render.Lights.from_vector`), no output activation as in the
  original, but initialised as a white head-light (ambient 0.5, directional 0.5 along +z)
  rather than the original's N(1, 0.001) last-layer weights, which start all 11 values equal.
- The texture/light head reads the encoder's stride-4 features, as the original's (block 4 of
  EfficientNet); an adaptive pool makes it work at any input size.
- MANO and the projection run in float32 even under autocast; depths are clamped at
  `MIN_DEPTH` before dividing, so no inf or NaN leaves the model for finite inputs.

BatchNorm: the encoders and the hourglass keep theirs. With a batch of one in train mode they
still work for images of at least `MIN_IMAGE_SIZE` pixels (their last feature maps hold more than
one value per channel); batch statistics of one image are poor, so train with batches of >= 8.
Weight initialisation is seeded by `ModelConfig.init_seed`. EfficientNet's stochastic depth
(torchvision's default) is random in train mode and draws from torch's global RNG: seed that.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import torch
import torchvision
from torch import Tensor, nn

from s2h_lib.hand_model import ManoLayer
from s2h_lib.keypoint_net import KeypointNet
from s2h_lib.mano_io import NUM_BETAS
from s2h_lib.prediction import HandPrediction
from s2h_lib.render.rasterize import project
from s2h_lib.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)

ENCODERS = ("resnet18", "resnet34", "resnet50", "efficientnet_b0", "efficientnet_b3")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INITIAL_DEPTH = 0.65  # metres, the original's t_z bias
INITIAL_SCALE = 0.95  # the original's s bias
HEAD_INIT_STD = 1e-3  # the original's N(0, 0.001) for the camera heads and the appearance head
MEAN_SKIN_COLOUR = (200 / 256, 150 / 256, 150 / 256)  # the original's mean texture colour
# I_a, I_d, ambient RGB, directional RGB, direction (travelling from the camera into the scene)
INITIAL_LIGHTS = (0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0)
MIN_DEPTH = 1e-2  # metres; nearer points are projected as if at this depth
MIN_IMAGE_SIZE = 64
# images may overshoot [0, 1] by this much (resampling) before they are refused
IMAGE_RANGE_TOLERANCE = 0.01
ROTATION_SIZES = {"rot6d": 6, "axisang": 3}
GROUP_NAMES = ("encoder3d", "regressor", "appearance", "keypoints2d")
CLASSIFIER_PREFIXES = ("fc.", "classifier.")


@dataclass
class ModelConfig:
    """Everything that defines a `HandNet`.

    encoder: one of `ENCODERS`. pretrained_weights: a local torchvision state_dict (.pth) for
    that encoder, or None for random initialisation. encoder_normalization: "imagenet" (mean/std,
    what pretrained weights expect) or "none" ([0, 1] as the original).
    ncomps: PCA pose coefficients (the hand mean is added by the MANO layer).
    predict_shape: regress 10 betas; False uses the mean shape (betas zeros, the original's
    default). rotation: "rot6d" or "axisang" for the global rotation head.
    texture: "vertex" (one colour per vertex) or "face" (per face, as the original).
    keypoint_branch: build the 2D hourglass branch; num_stacks, heatmap_stride (image pixels per
    heatmap cell), keypoint_features and hourglass_depth size it.
    mano_root: hand model files (None = the open hand model); side: "right" or "left".
    init_seed: seed of the weight initialisation (the global RNG is left untouched).
    """

    encoder: str = "resnet18"
    pretrained_weights: str | None = None
    encoder_normalization: Literal["imagenet", "none"] = "imagenet"
    ncomps: int = 30
    predict_shape: bool = True
    rotation: Literal["rot6d", "axisang"] = "rot6d"
    texture: Literal["vertex", "face"] = "vertex"
    keypoint_branch: bool = True
    num_stacks: int = 2
    heatmap_stride: int = 4
    keypoint_features: int = 128
    hourglass_depth: int = 3
    mano_root: str | None = None
    side: Literal["right", "left"] = "right"
    init_seed: int = 0

    def __post_init__(self) -> None:
        choices = {
            "encoder": ENCODERS,
            "encoder_normalization": ("imagenet", "none"),
            "rotation": tuple(ROTATION_SIZES),
            "texture": ("vertex", "face"),
            "side": ("right", "left"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build from a plain dict (e.g. read from YAML); unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys {unknown}; known: {sorted(known)}")
        return cls(**values)


# ---- encoder ------------------------------------------------------------------------------


def _weights_error(path: Path, name: str, problem: str) -> ValueError:
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return ValueError(
        f"pretrained encoder weights {path}: {problem}. Expected a torchvision '{name}' "
        f"state_dict, e.g. its ImageNet weights {url}, downloaded on a machine with internet "
        "access and copied here (nothing is downloaded at run time)."
    )


def _first_keys(keys: list[str], count: int = 5) -> str:
    return ", ".join(keys[:count]) + (" ..." if len(keys) > count else "")


def load_encoder_weights(network: nn.Module, path: str | Path, name: str) -> None:
    """Load a torchvision state_dict file into the classifier `network` of kind `name`.

    The classifier layer's keys may be absent; every other key must be present with its shape.
    Raises FileNotFoundError / ValueError naming the file and where such files come from.
    """
    path = Path(path)
    if not path.is_file():
        error = _weights_error(path, name, "no such file")
        raise FileNotFoundError(str(error))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise _weights_error(path, name, f"unreadable as a state_dict ({error})") from error
    if not isinstance(state, dict):
        raise _weights_error(path, name, f"holds a {type(state).__name__}, not a state_dict")
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise _weights_error(path, name, f"tensor shapes do not fit ({error})") from error
    missing = [k for k in result.missing_keys if not k.startswith(CLASSIFIER_PREFIXES)]
    if missing or result.unexpected_keys:
        problem = (
            f"keys do not fit: missing [{_first_keys(missing)}], "
            f"unexpected [{_first_keys(result.unexpected_keys)}]"
        )
        raise _weights_error(path, name, problem)


class ImageEncoder(nn.Module):
    """A torchvision classifier without its classifier, split at stride 4.

    forward: images (B, 3, H, W), already normalised -> (low (B, C_low, H/4, W/4),
    pooled (B, feature_dim)).
    """

    def __init__(self, name: str, pretrained_weights: str | None = None) -> None:
        super().__init__()
        network = torchvision.models.get_model(name, weights=None)
        if pretrained_weights is not None:
            load_encoder_weights(network, pretrained_weights, name)
        if name.startswith("resnet"):
            stem = (network.conv1, network.bn1, network.relu, network.maxpool, network.layer1)
            self.early = nn.Sequential(*stem)
            self.late = nn.Sequential(network.layer2, network.layer3, network.layer4)
            self.feature_dim = network.fc.in_features
        else:  # efficientnet: features[:3] end at stride 4
            self.early = network.features[:3]
            self.late = network.features[3:]
            self.feature_dim = network.classifier[-1].in_features
        self.low_channels = self._channels_of(self.early)

    @staticmethod
    def _channels_of(module: nn.Module) -> int:
        was_training = module.training
        with torch.no_grad():
            channels = module.eval()(torch.zeros(1, 3, MIN_IMAGE_SIZE, MIN_IMAGE_SIZE)).shape[1]
        module.train(was_training)
        return channels

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        low = self.early(images)
        return low, self.late(low).mean(dim=(-2, -1))


# ---- heads ----------------------------------------------------------------------------------


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


@dataclass
class CameraPose:
    """What the regressor predicts for B images: pose_coeffs (B, P), betas (B, 10),
    rotation (B, 3, 3), global_rot (B, 3) axis-angle of it, scale (B,), trans (B, 3)."""

    pose_coeffs: Tensor
    betas: Tensor
    rotation: Tensor
    global_rot: Tensor
    scale: Tensor
    trans: Tensor


class PoseRegressor(nn.Module):
    """Pooled features (B, D) -> `CameraPose` (the original's "MyPoseHand" MLP)."""

    def __init__(
        self,
        feature_dim: int,
        ncomps: int,
        predict_shape: bool,
        rotation_mode: str,
        initial_rotation: Tensor,
        initial_trans: Tensor,
    ) -> None:
        super().__init__()
        self.rotation_mode = rotation_mode
        self.trunk = nn.Sequential(
            nn.Linear(feature_dim, 1024),
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
        self.trans = _camera_head(512, 3, initial_trans)
        self.scale = _camera_head(512, 1, torch.tensor([INITIAL_SCALE]))

    def forward(self, features: Tensor) -> CameraPose:
        hidden = self.trunk(features)
        raw_rot = self.rot(hidden).float()
        if self.rotation_mode == "rot6d":
            rotation = rotation_6d_to_matrix(raw_rot)
            global_rot = matrix_to_axis_angle(rotation)
        else:
            global_rot = raw_rot
            rotation = axis_angle_to_matrix(raw_rot)
        pose_coeffs = self.pose(hidden).float()
        if self.shape is None:
            betas = pose_coeffs.new_zeros(pose_coeffs.shape[0], NUM_BETAS)
        else:
            betas = self.shape(hidden).float()
        return CameraPose(
            pose_coeffs=pose_coeffs,
            betas=betas,
            rotation=rotation,
            global_rot=global_rot,
            scale=self.scale(hidden).float().squeeze(-1),
            trans=self.trans(hidden).float(),
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


# ---- geometry -------------------------------------------------------------------------------

# The hand models' rest frame (hand_poses.py): the four fingers point along -x for the right
# hand (+x for its mirror image, the left), the palm faces -y, the thumb is towards +z.
FINGER_DIRECTION = {"right": (-1.0, 0.0, 0.0), "left": (1.0, 0.0, 0.0)}
PALM_NORMAL = (0.0, -1.0, 0.0)
IMAGE_UP = (0.0, -1.0, 0.0)  # camera frame: y points down
TOWARDS_CAMERA = (0.0, 0.0, -1.0)


def initial_rotation(side: str) -> Tensor:
    """The rotation (3, 3) that turns the rest hand to face the camera: fingers up in the image,
    palm towards the camera (so the thumb is on the image's right for a right hand).

    R maps the orthonormal frame (fingers, palm normal, their cross product) onto
    (image up, towards camera, their cross product): R = B Aᵀ.
    """
    fingers, palm = torch.tensor(FINGER_DIRECTION[side]), torch.tensor(PALM_NORMAL)
    up, towards = torch.tensor(IMAGE_UP), torch.tensor(TOWARDS_CAMERA)
    source = torch.stack([fingers, palm, torch.linalg.cross(fingers, palm)], dim=-1)
    target = torch.stack([up, towards, torch.linalg.cross(up, towards)], dim=-1)
    return target @ source.T


def place_in_camera(points: Tensor, camera: CameraPose) -> Tensor:
    """X_cam = t + |s| R X for model-frame points (B, N, 3) -> (B, N, 3)."""
    rotated = points @ camera.rotation.transpose(-1, -2)
    return camera.trans[:, None] + camera.scale.abs()[:, None, None] * rotated


# ---- the network ----------------------------------------------------------------------------


def _check_inputs(images: Tensor, K: Tensor) -> None:
    """Raise ValueError for inputs outside the contract (DESIGN.md): shapes, size, range, NaN."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    if min(images.shape[-2:]) < MIN_IMAGE_SIZE:
        raise ValueError(
            f"images must be at least {MIN_IMAGE_SIZE} x {MIN_IMAGE_SIZE} pixels, "
            f"got {tuple(images.shape[-2:])}"
        )
    if K.shape != (images.shape[0], 3, 3):
        raise ValueError(f"K must be ({images.shape[0]}, 3, 3) like images, got {tuple(K.shape)}")
    low, high = -IMAGE_RANGE_TOLERANCE, 1.0 + IMAGE_RANGE_TOLERANCE
    # one device sync for all checks; the details only when something is wrong
    in_range = torch.isfinite(K).all() & ((images >= low) & (images <= high)).all()
    if bool(in_range):
        return
    if not bool(torch.isfinite(K).all()):
        raise ValueError("K contains NaN or inf")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contain NaN or inf")
    raise ValueError(
        f"images must be in [0, 1], got values in [{float(images.min()):.4g}, "
        f"{float(images.max()):.4g}] (0-255 images: divide by 255, see image_io.to_tensor)"
    )


class HandNet(nn.Module):
    """Image crop and its intrinsics -> `HandPrediction` (see the module docstring).

    forward(images (B, 3, H, W) in [0, 1], K (B, 3, 3) of the crop) -> HandPrediction.
    Parameter groups for stage-wise training: `GROUP_NAMES`; see `parameter_groups` and
    `set_trainable`.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        self._frozen: set[str] = set()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.init_seed)
            self.hand_model = ManoLayer(
                ncomps=config.ncomps,
                flat_hand_mean=False,
                side=config.side,
                mano_root=config.mano_root,
                use_pca=True,
                units="m",
            )
            self.encoder = ImageEncoder(config.encoder, config.pretrained_weights)
            rotation = initial_rotation(config.side)
            self.regressor = PoseRegressor(
                self.encoder.feature_dim,
                config.ncomps,
                config.predict_shape,
                config.rotation,
                rotation,
                self._initial_trans(rotation),
            )
            num_colours = self.hand_model.num_verts
            if config.texture == "face":
                num_colours = self.hand_model.faces.shape[0]
            self.appearance = AppearanceHead(self.encoder.low_channels, num_colours)
            self.keypoint_net = None
            if config.keypoint_branch:
                self.keypoint_net = KeypointNet(
                    num_stacks=config.num_stacks,
                    features=config.keypoint_features,
                    depth=config.hourglass_depth,
                    stride=config.heatmap_stride,
                )
        normalization = config.encoder_normalization == "imagenet"
        mean = IMAGENET_MEAN if normalization else (0.0, 0.0, 0.0)
        std = IMAGENET_STD if normalization else (1.0, 1.0, 1.0)
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, 3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, 3, 1, 1), False)

    def _initial_trans(self, rotation: Tensor) -> Tensor:
        """t that puts the rest mesh's centroid at (0, 0, INITIAL_DEPTH) under rotation and
        INITIAL_SCALE: t = (0, 0, d) - s R c."""
        coeffs = torch.zeros(1, 3 + self.config.ncomps)
        with torch.no_grad():
            verts, _ = self.hand_model(coeffs)
        centroid = verts[0].mean(0)
        return torch.tensor([0.0, 0.0, INITIAL_DEPTH]) - INITIAL_SCALE * rotation @ centroid

    @property
    def faces(self) -> Tensor:
        """Mesh triangles (F, 3), int64, for the renderer."""
        return self.hand_model.faces

    # ---- stage-wise training ----------------------------------------------------------------

    def _group_modules(self) -> dict[str, nn.Module]:
        modules = {
            "encoder3d": self.encoder,
            "regressor": self.regressor,
            "appearance": self.appearance,
        }
        if self.keypoint_net is not None:
            modules["keypoints2d"] = self.keypoint_net
        return modules

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by group: "encoder3d", "regressor", "appearance", and "keypoints2d" when
        the 2D branch is built. Every parameter is in exactly one group."""
        return {name: list(module.parameters()) for name, module in self._group_modules().items()}

    def set_trainable(self, groups: set[str] | frozenset[str]) -> None:
        """Train exactly `groups`; freeze the others (no gradients, and their BatchNorm layers
        stay in eval mode so their running statistics do not drift). Names of groups this
        network lacks (keypoints2d without the 2D branch) are accepted and ignored; unknown
        names raise ValueError."""
        unknown = set(groups) - set(GROUP_NAMES)
        if unknown:
            raise ValueError(f"unknown parameter groups {sorted(unknown)}; known: {GROUP_NAMES}")
        modules = self._group_modules()
        self._frozen = set(modules) - set(groups)
        for name, module in modules.items():
            module.requires_grad_(name in groups)
        self.train(self.training)

    def train(self, mode: bool = True) -> HandNet:
        super().train(mode)
        for name, module in self._group_modules().items():
            if name in self._frozen:
                module.eval()
        return self

    # ---- forward ------------------------------------------------------------------------------

    def _mesh(self, camera: CameraPose) -> tuple[Tensor, Tensor, Tensor]:
        """Posed verts (B, V, 3) and joints (B, 21, 3) in the camera frame, and the per-joint
        axis-angles (B, 16, 3), root row = the global rotation. Float32, autocast off."""
        batch = camera.pose_coeffs.shape[0]
        root = camera.pose_coeffs.new_zeros(batch, 3)
        mano = self.hand_model.forward_full(
            torch.cat([root, camera.pose_coeffs], dim=1), camera.betas
        )
        verts = place_in_camera(mano.verts, camera)
        joints = place_in_camera(mano.joints, camera)
        joint_angles = torch.cat([camera.global_rot[:, None], mano.axis_angle[:, 1:]], dim=1)
        return verts, joints, joint_angles

    def forward(self, images: Tensor, K: Tensor) -> HandPrediction:
        _check_inputs(images, K)
        if self.keypoint_net is not None:
            self.keypoint_net.check_image_size(*images.shape[-2:])
        low, pooled = self.encoder((images - self.pixel_mean) / self.pixel_std)
        camera = self.regressor(pooled)
        texture_raw, lights = self.appearance(low)
        with torch.autocast(images.device.type, enabled=False):
            verts, joints, joint_angles = self._mesh(camera)
            keypoints2d, _ = project(joints, K.float(), MIN_DEPTH)
        heatmap_keypoints = None
        if self.keypoint_net is not None:
            heatmap_keypoints = self.keypoint_net(images).keypoints
        return HandPrediction(
            pose_coeffs=camera.pose_coeffs,
            global_rot=camera.global_rot,
            joint_angles=joint_angles,
            betas=camera.betas,
            scale=camera.scale,
            trans=camera.trans,
            verts=verts,
            joints=joints,
            keypoints2d=keypoints2d,
            texture=torch.sigmoid(texture_raw),
            texture_raw=texture_raw,
            lights=lights,
            heatmap_keypoints=heatmap_keypoints,
        )
