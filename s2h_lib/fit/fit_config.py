"""What a fit is asked to do: `FitConfig` (steps, learning rates, restarts, the loss weights) and
the fitting weights `fit_loss_config`, and the hand model a fit builds (`default_hand_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.net.camera_solve import VIEWS
from s2h_lib.net.hand_in_camera import ROTATION_SIZES, network_hand_model
from s2h_lib.render import RenderSettings

# The method notes' test-time refinement (section 5) scales the training weights: bone
# direction x 0.2, angle limits x 3. The Laplacian is off as there (the hand model's surface is
# smooth already). There is no 2D branch, and the appearance terms need `photometric`.
FIT_WEIGHTS = {"bone_direction": 0.02, "joint_limits": 0.3, "laplacian": 0.0}
NO_NETWORK_TERMS = ("branch2d",)
APPEARANCE_TERMS = ("texture",)


def fit_loss_config(photometric: bool = False) -> LossConfig:
    """The fitting weights: `FIT_WEIGHTS` over the training defaults, no 2D-branch terms, and
    the appearance terms (photometric L1, mean colour, texture outliers and consistency) only
    when `photometric`."""
    off = NO_NETWORK_TERMS if photometric else NO_NETWORK_TERMS + APPEARANCE_TERMS
    return LossConfig(weights=FIT_WEIGHTS).without(*off)


@dataclass
class FitConfig:
    """How `fit_batch` / `fit_clips` optimise.

    steps: Adam steps. lr: learning rate of pose, rotation, betas (texture, lights), decayed by a
    cosine to lr * final_lr_fraction; the translation (metres) and scale get lr *
    camera_lr_factor, as their start is solved rather than guessed.
    loss: the term weights; None means `fit_loss_config(photometric)`.
    rotation: "rot6d" or "axisang", the network's global rotation parameterisations.
    views: the restarts, names of `camera_solve.VIEWS`; random_restarts: that many more, from
    rotations drawn with `seed`. Every restart costs a full fit.
    photometric: also fit a per-vertex texture and the lighting to the image (slow on CPU);
    render: the renderer of those terms (None: soft, at the image's size).
    ncomps, side, mano_root: the hand model `default_hand_model` builds.
    progress: a tqdm bar over the steps.
    warn_unfitted: name the frames with too few confident keypoints to fit in a warning.
        Refinement and `fit_predictor` turn it off: the first keeps the network's answer there,
        an evaluation scores those images as their own group.
    """

    steps: int = 200
    lr: float = 0.05
    final_lr_fraction: float = 0.05
    camera_lr_factor: float = 0.1
    loss: LossConfig | None = None
    rotation: Literal["rot6d", "axisang"] = "rot6d"
    views: tuple[str, ...] = ("palm", "back", "thumb_side")
    random_restarts: int = 0
    seed: int = 0
    photometric: bool = False
    render: RenderSettings | None = None
    ncomps: int = 30
    side: Literal["right", "left"] = "right"
    mano_root: str | None = None
    progress: bool = False
    warn_unfitted: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not (self.lr > 0 and self.camera_lr_factor > 0 and 0 < self.final_lr_fraction <= 1):
            raise ValueError(
                "need lr > 0, camera_lr_factor > 0 and 0 < final_lr_fraction <= 1, got "
                f"{self.lr}, {self.camera_lr_factor}, {self.final_lr_fraction}"
            )
        if self.rotation not in ROTATION_SIZES:
            raise ValueError(f"rotation must be one of {tuple(ROTATION_SIZES)}")
        unknown = [view for view in self.views if view not in VIEWS]
        if unknown:
            raise ValueError(f"unknown views {unknown}; known: {list(VIEWS)}")
        if self.random_restarts < 0:
            raise ValueError(f"random_restarts must be >= 0, got {self.random_restarts}")

    @property
    def losses(self) -> LossConfig:
        """The loss config in use."""
        return self.loss if self.loss is not None else fit_loss_config(self.photometric)

    @property
    def restart_names(self) -> list[str]:
        """The restarts' names, in the order they run: the views, then "random0", ..."""
        return [*self.views, *(f"random{i}" for i in range(self.random_restarts))]


def default_hand_model(config: FitConfig) -> ManoLayer:
    """The hand model as the network builds it: PCA pose plus the hand mean, metres."""
    return network_hand_model(config.ncomps, config.side, config.mano_root)
