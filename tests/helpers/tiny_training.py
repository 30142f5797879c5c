"""A tiny S2H-Synth folder and training config shared by the trainer, eval and CLI tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from s2h_lib.data.factory import DataConfig
from s2h_lib.data.synth.config import SynthConfig
from s2h_lib.data.synth.noise import NoiseParams
from s2h_lib.data.synth.store import build_synth
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.train.train_config import StageConfig, TrainConfig

IMAGE_SIZE = 64


def build_tiny_synth(root: Path) -> Path:
    """16 train, 8 val, 8 test images and 4 clips of 4 frames at 64 px (a few seconds)."""
    noise_file = root.parent / "noise.json"
    NoiseParams(joint_sigma=[0.02] * 21).save(noise_file)
    config = SynthConfig(
        image_size=IMAGE_SIZE,
        train=16,
        val=8,
        test=8,
        clips=4,
        clip_length=4,
        shard_size=16,
        supersample=1,
        noise_file=str(noise_file),
    )
    build_synth(root, config, workers=0, progress=False, contact_sheet=False)
    return root


def tiny_config(data_root: Path, **changes) -> TrainConfig:
    """Two short stages, batch 4, a small network; `changes` replace TrainConfig fields."""
    config = TrainConfig(
        name="tiny",
        model=ModelConfig(
            encoder="resnet18",
            pretrained_weights=None,
            num_stacks=1,
            keypoint_features=16,
            hourglass_depth=2,
        ),
        data=DataConfig(root=str(data_root), image_size=IMAGE_SIZE, workers=0, rotation_deg=30),
        stages=(
            StageConfig("shape", 3, lr=1e-3, batch_size=4),
            StageConfig("finetune", 2, lr=1e-4, batch_size=4),
        ),
        log_every=1,
        checkpoint_every=1,
        overlay_every=0,
        device="cpu",
    )
    return replace(config, **changes)
