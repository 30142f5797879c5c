"""Training configs as dataclasses, loadable from YAML, and the named presets.

A run is fully described by one `TrainConfig`; it is saved beside every checkpoint, so a reported
number can always be traced to the config and seed that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from s2h_lib.config_io import ConfigError, from_dict, load_yaml, to_dict
from s2h_lib.data.factory import DataConfig
from s2h_lib.losses.loss_config import STAGES, LossConfig
from s2h_lib.losses.objective import Supervision
from s2h_lib.net.model import GROUP_NAMES
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.render import RenderSettings

SCHEDULES = ("steps", "cosine")
# Which parameter groups each stage trains (method notes section 4): the shape stage trains the
# 3D branch only, the kp stage the 2D branch only, later stages everything.
STAGE_TRAINABLE: dict[str, frozenset[str]] = {
    "shape": frozenset({"encoder3d", "regressor"}),
    "kp": frozenset({"keypoints2d"}),
    "finetune": frozenset(GROUP_NAMES),
    "e2e": frozenset(GROUP_NAMES),
    "video": frozenset(GROUP_NAMES),
}


@dataclass(frozen=True)
class StageConfig:
    """One stage of the schedule: which losses (by stage name), how long, how fast.

    name: a key of `loss_config.STAGES` ("shape", "kp", "finetune", "e2e", "video"); it picks
        the loss terms and, by default, the trained parameter groups (`STAGE_TRAINABLE`).
    milestones: steps (within the stage) where the learning rate halves (MultiStepLR, gamma 0.5).
    schedule: "steps" (halve at the milestones, the original's) or "cosine" (a half cosine from
        lr to 0 over the stage; no milestones).
    """

    name: str
    steps: int
    lr: float = 1e-3
    milestones: tuple[int, ...] = ()
    batch_size: int = 32
    trainable: tuple[str, ...] | None = None
    schedule: Literal["steps", "cosine"] = "steps"

    def __post_init__(self) -> None:
        if self.name not in STAGES:
            raise ValueError(f"unknown stage {self.name!r}; known: {sorted(STAGES)}")
        if self.steps < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"stage {self.name}: steps >= 0, batch_size >= 1, lr > 0 required")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"stage {self.name}: schedule must be one of {SCHEDULES}")
        if self.schedule == "cosine" and self.milestones:
            raise ValueError(f"stage {self.name}: a cosine schedule takes no milestones")
        if self.trainable is not None and not set(self.trainable) <= set(GROUP_NAMES):
            raise ValueError(f"stage {self.name}: trainable groups must be among {GROUP_NAMES}")

    @property
    def groups(self) -> frozenset[str]:
        """The parameter groups this stage trains."""
        return frozenset(self.trainable) if self.trainable else STAGE_TRAINABLE[self.name]

    @property
    def uses_clips(self) -> bool:
        return self.name == "video"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs.

    supervision: "self" (images + detector keypoints only, the method), "weak" (ground-truth 2D
        keypoints instead of detections), "full" (3D labels: the upper bound). Only "weak" and
        "full" runs ever load ground truth.
    amp: mixed precision, used on CUDA only.
    max_bad_steps: stop (checkpoint intact) after this many non-finite steps in a row.
    init_from: a `model.pt` whose weights the network starts from instead of its initialisation
        (fine-tuning); the file's network must have this config's parameters. A resumed run
        takes its weights from its own checkpoint.
    render: the renderer of the photometric terms (its image size is the batch's);
        `backend="pytorch3d"` rasterizes with pytorch3d where it is installed.
    """

    name: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    stages: tuple[StageConfig, ...] = ()
    supervision: Supervision = "self"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    grad_clip: float = 10.0
    max_bad_steps: int = 20
    log_every: int = 10
    checkpoint_every: int = 200
    overlay_every: int = 500
    ablate: tuple[str, ...] = ()
    render: RenderSettings = field(default_factory=lambda: RenderSettings(mode="soft"))
    init_from: str | None = None

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a training config needs at least one stage")

    @property
    def effective_losses(self) -> LossConfig:
        """The loss config with the `ablate` groups turned off."""
        return self.losses.without(*self.ablate) if self.ablate else self.losses

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)


def _stage(name: str, steps: int, lr: float, batch: int, decays: int = 0) -> StageConfig:
    """A stage whose learning rate halves `decays` times at even intervals."""
    milestones = tuple(steps * (i + 1) // (decays + 1) for i in range(decays))
    return StageConfig(name, steps, lr, milestones, batch)


def _presets() -> dict[str, TrainConfig]:
    # The ImageNet-pretrained EfficientNet-Lite0 (the default encoder) with the camera anchored
    # on the detector's keypoints and those keypoints as a second input (ModelConfig).
    anchored = ModelConfig(camera="keypoints", keypoint_input=True)
    synth = DataConfig(dataset="synth", root="data/s2h_synth", image_size=128)
    return {
        # About 6 minutes on 2 CPU cores: the 3D branch on keypoints and priors, trained on the
        # images where the detector found the hand (the others carry no keypoint signal). Its
        # regressor reads the keypoints alone: on a few thousand images,
        # each with one draw of the detector's noise, reading the image let it recognise the
        # image and learn that noise (1.5 mm worse). It chooses the side of the hand that faces
        # the camera among four turns of the head's guess, and its hand among four pose
        # hypotheses (each seed of the benchmark 0.14-0.25 mm better). No rotation
        # augmentation: the regressor's input and the anchored camera do not change when the
        # image turns, and the turned principal point only hides where the hand sits against
        # the optical axis. Where the detector finds no hand, the image pose head answers: it
        # reads the ImageNet encoder's features (not trained: only the regressor group is) and
        # learns the anchored answers; the mean hand there is 1 mm worse on those images.
        # No 2D branch: the anchors and the refinement's targets are the detector's keypoints.
        # No video stage: the demo scores single images, and 40 steps of it cost 0.27 mm.
        "synth-cpu-demo": TrainConfig(
            name="synth-cpu-demo",
            model=replace(
                anchored,
                keypoint_branch=False,
                freeze_stem=True,
                without_anchors="image",
                view_hypotheses=4,
                pose_hypotheses=4,
                regressor_image_width=0,
            ),
            losses=LossConfig().without("branch2d"),
            data=replace(synth, workers=2, image_size=96, detected_only=True, rotation_deg=0.0),
            stages=(
                StageConfig(
                    "shape",
                    1600,
                    1e-3,
                    batch_size=32,
                    trainable=("regressor",),
                    schedule="cosine",
                ),
            ),
        ),
        "synth-full": TrainConfig(
            name="synth-full",
            model=anchored,
            data=synth,
            stages=(
                _stage("shape", 12000, 1e-3, 64, decays=3),
                _stage("kp", 6000, 1e-3, 64, decays=3),
                _stage("finetune", 6000, 2.5e-4, 64, decays=2),
                _stage("video", 2000, 1e-4, 8),
            ),
        ),
        # FreiHAND: 32,560 images, batch 64 -> 509 steps per epoch; 120/120/60 epochs (section 4).
        "freihand-gpu": TrainConfig(
            name="freihand-gpu",
            model=anchored,
            data=DataConfig(
                dataset="freihand",
                root="data/FreiHAND",
                image_size=224,
                keypoints="detections",
                workers=8,
            ),
            stages=(
                _stage("shape", 61000, 1e-3, 64, decays=3),
                _stage("kp", 61000, 1e-3, 64, decays=3),
                _stage("finetune", 30500, 2.5e-4, 64, decays=2),
            ),
        ),
        # HO3D v2: 66,034 training images, batch 64 -> 1032 steps per epoch.
        "ho3d-gpu": TrainConfig(
            name="ho3d-gpu",
            model=anchored,
            data=DataConfig(
                dataset="ho3d",
                root="data/HO3D_v2",
                image_size=224,
                keypoints="detections",
                rotation_deg=0.0,
                workers=8,
            ),
            stages=(
                _stage("shape", 124000, 1e-3, 64, decays=3),
                _stage("kp", 124000, 1e-3, 64, decays=3),
                _stage("finetune", 62000, 2.5e-4, 64, decays=2),
            ),
        ),
    }


PRESETS: dict[str, TrainConfig] = _presets()


def merge_nested(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict update: nested mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_nested(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(source: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A preset name or a YAML file path, with optional nested `overrides` applied on top.

    A YAML file may start from a preset with a `preset: NAME` key and override the rest.
    """
    if str(source) in PRESETS:
        data = to_dict(PRESETS[str(source)])
    else:
        data = load_yaml(source)
        preset = data.pop("preset", None)
        if preset is not None:
            if preset not in PRESETS:
                raise ConfigError(f"{source}: unknown preset {preset!r}; known: {sorted(PRESETS)}")
            data = merge_nested(to_dict(PRESETS[preset]), data)
    return from_dict(TrainConfig, merge_nested(data, overrides or {}), "train")
