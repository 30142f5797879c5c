"""`ModelConfig`: everything that defines a `HandNet` (s2h_lib/net/model.py), checked when built."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from s2h_lib.net.encoders import ENCODERS, PACKAGED_WEIGHTS
from s2h_lib.net.hand_in_camera import ROTATION_SIZES

CAMERAS = ("regressed", "keypoints")
VIEW_HYPOTHESES = (1, 2, 4)
WITHOUT_ANCHORS = ("regressed", "mean", "image")
# A key of models saved before `without_anchors` replaced it: True meant "mean".
LEGACY_MEAN_HAND_KEY = "mean_hand_without_anchors"


@dataclass
class ModelConfig:
    """Everything that defines a `HandNet`.

    encoder: one of `ENCODERS` (s2h_lib/net/encoders.py). pretrained_weights: "imagenet" (the
    ImageNet weights that install with the package; efficientnet_lite0 only), a local
    state-dict file for the encoder, or None for random initialisation (the ablation "what
    pretraining buys"). encoder_normalization: "imagenet" (the mean/std the encoder's ImageNet
    weights expect) or "none" ([0, 1] as the original).
    camera: "regressed" (the original: rotation, translation and scale from heads) or
    "keypoints" (amortised fitting: the rotation head's output is rolled about the optical axis
    onto the anchor keypoints, the scale gives the middle proximal phalanx the scale prior's
    length, and the translation is solved by least squares, as the fitter's closed-form start
    does; `camera_solve.anchor_to_keypoints`). view_hypotheses (camera "keypoints" only): 1
    anchors the rotation head's output as it is; 2 also tries it turned to show the other side
    of the hand (palm <-> back), 4 also the two edge-on sides (`camera_solve.VIEWS`), and keeps
    the one that reprojects closest to the anchors (winner-takes-all, `camera_solve.choose_view`),
    in training and inference alike. pose_hypotheses (camera "keypoints" only): how many
    articulations and rotations the regressor proposes, each from its own pair of heads on the
    shared trunk; each is anchored (and its view chosen) and the one whose joints reproject
    closest to the anchors is the answer (winner-takes-all, as the views; `pose_hypotheses.py`).
    Two hands can fit the same 2D keypoints; one answer has to commit to one of them.
    keypoint_input: also feed the regressor the
    anchor keypoints, centred, turned wrist-to-middle-finger up and sized to unit spread, with
    their confidences. The anchors are the keypoints given to `forward` (a detector's), else the
    2D branch's (last stack, confidence 1).
    regressor_image_width: how much of the pooled image features the pose regressor reads:
    None all of them (S2HAND), k > 0 a zero-initialised linear projection to k values (it
    starts from the keypoints alone), 0 none: the pose, shape and view then come from the
    anchor keypoints alone (a lifting network; needs keypoint_input), and the encoder only
    feeds the appearance head, up to stride 4. Trained on a few thousand images, each with
    one fixed draw of the detector's noise, the image lets the regressor recognise the image
    and learn its noise (README method notes).
    without_anchors: what an image gets whose anchors have fewer than
    `MIN_CONFIDENT_KEYPOINTS` confident keypoints (the detector found no hand): "regressed" (the
    regressor's answer from the image, or from empty keypoints), "mean" (the mean hand: pose
    and shape coefficients 0, as the fitter gives the frames it cannot fit) or "image" (the
    image pose head's articulation and shape, `image_pose.py`: learnt by distillation from the
    anchored answers, no 3D label). "mean" and "image" need anchors (camera "keypoints" or
    keypoint_input).
    freeze_stem: keep the encoder's layers up to stride 4 (ImageNet's generic edge and colour
    filters) as they were loaded, BatchNorm statistics included: about a fifth less time a
    step on a CPU.
    ncomps: PCA pose coefficients (the hand mean is added by the MANO layer).
    predict_shape: regress 10 betas; False uses the mean shape (betas zeros, the original's
    default). rotation: "rot6d" or "axisang" for the global rotation head.
    texture: "vertex" (one colour per vertex) or "face" (per face, as the original).
    keypoint_branch: build the 2D hourglass branch; num_stacks, heatmap_stride (image pixels per
    heatmap cell), keypoint_features and hourglass_depth size it.
    mano_root: hand model files (None = the open hand model); side: "right" or "left".
    init_seed: seed of the weight initialisation (the global RNG is left untouched).
    """

    encoder: str = "efficientnet_lite0"
    pretrained_weights: str | None = PACKAGED_WEIGHTS
    encoder_normalization: Literal["imagenet", "none"] = "imagenet"
    ncomps: int = 30
    predict_shape: bool = True
    rotation: Literal["rot6d", "axisang"] = "rot6d"
    camera: Literal["regressed", "keypoints"] = "regressed"
    view_hypotheses: int = 1
    pose_hypotheses: int = 1
    keypoint_input: bool = False
    regressor_image_width: int | None = None
    without_anchors: Literal["regressed", "mean", "image"] = "regressed"
    freeze_stem: bool = False
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
            "camera": CAMERAS,
            "texture": ("vertex", "face"),
            "side": ("right", "left"),
            "without_anchors": WITHOUT_ANCHORS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.view_hypotheses not in VIEW_HYPOTHESES:
            raise ValueError(
                f"view_hypotheses must be one of {VIEW_HYPOTHESES}, got {self.view_hypotheses!r}"
            )
        if self.view_hypotheses > 1 and self.camera != "keypoints":
            raise ValueError(
                "view_hypotheses > 1 needs the keypoint-anchored camera (camera='keypoints')"
            )
        if not (isinstance(self.pose_hypotheses, int) and self.pose_hypotheses >= 1):
            raise ValueError(f"pose_hypotheses must be an int >= 1, got {self.pose_hypotheses!r}")
        if self.pose_hypotheses > 1 and self.camera != "keypoints":
            raise ValueError(
                "pose_hypotheses > 1 chooses by the reprojection onto anchor keypoints: it needs "
                "the keypoint-anchored camera (camera='keypoints')"
            )
        if self.regressor_image_width is not None and self.regressor_image_width < 0:
            raise ValueError(
                f"regressor_image_width must be None or >= 0, got {self.regressor_image_width}"
            )
        if self.regressor_image_width == 0 and not (
            self.keypoint_input and self.camera == "keypoints"
        ):
            raise ValueError(
                "regressor_image_width=0 leaves the regressor only the keypoints, in a frame "
                "without their place and size: set keypoint_input=True and camera='keypoints'"
            )
        if self.without_anchors != "regressed" and not self.reads_anchors:
            raise ValueError(
                f"without_anchors={self.without_anchors!r} needs anchor keypoints to tell the "
                "images without a hand: set camera='keypoints' or keypoint_input=True"
            )

    @property
    def reads_anchors(self) -> bool:
        """Whether the model places or conditions the hand on anchor keypoints."""
        return self.camera == "keypoints" or self.keypoint_input

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build from a plain dict (e.g. read from YAML); unknown keys raise ValueError."""
        if LEGACY_MEAN_HAND_KEY in values:
            values = dict(values)
            mean = values.pop(LEGACY_MEAN_HAND_KEY)
            values.setdefault("without_anchors", "mean" if mean else "regressed")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys {unknown}; known: {sorted(known)}")
        return cls(**values)
