"""Build the dataset a `DataConfig` names, with training augmentation that follows the epoch.

The only place that maps config names ("synth", "freihand", "ho3d") to dataset classes, so the
trainer, evaluation and notebooks all get identical samples for identical configs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from s2h_lib.data.augment import AugmentConfig, augment, generator_for
from s2h_lib.data.sample import HandSample


@dataclass(frozen=True)
class DataConfig:
    """Where the training images come from and how they are prepared.

    dataset: "synth" (S2H-Synth, `s2h data synth`), "freihand" or "ho3d" (your own copy).
    keypoints: the 2D keypoints training sees: "noise" (S2H-Synth's calibrated detector-noise
        model), "detector" (stored mediapipe detections), or "detections" (a detection file given
        in `detections`, for FreiHAND/HO3D). Supervision "weak" replaces them with the GT 2D.
    rotation_deg: in-plane rotation augmentation range, +-degrees (the original: 180).
    scale_jitter: relative scale augmentation range (0 = off, as the original).
    colour_jitter: brightness/contrast/saturation jitter strength (0 = off).
    detected_only: train only on the images where the detector found the hand (a joint with
        positive confidence); the others carry no keypoint signal, only the priors. Evaluation
        always scores every image.
    """

    dataset: Literal["synth", "freihand", "ho3d"] = "synth"
    root: str = "data/s2h_synth"
    image_size: int = 128
    keypoints: Literal["noise", "detector", "detections"] = "noise"
    detections: str | None = None
    mano_root: str | None = None
    workers: int = 2
    rotation_deg: float = 180.0
    scale_jitter: float = 0.0
    colour_jitter: float = 0.0
    detected_only: bool = False


# Split names per dataset: the trainer says "train" / "val" / "test"; each dataset's are (its
# split, the part of it). Validation is held out of the training set so settings are not chosen
# on the test set: FreiHAND's by hand (data/freihand.py), HO3D's by recording (data/ho3d.py).
FREIHAND_SPLITS = {
    "train": ("training", "train"),
    "val": ("training", "val"),
    "test": ("evaluation", "all"),
}
HO3D_SPLITS = {
    "train": ("train", "train"),
    "val": ("train", "val"),
    "test": ("evaluation", "all"),
}


class EpochDataset(Dataset):
    """A dataset view whose augmentation draws depend on (seed, epoch, index) only.

    `set_epoch` must be called before each epoch's DataLoader iterator is created (workers get a
    copy of the dataset when the iterator starts), which is what the trainer does.
    """

    def __init__(self, base: Dataset, augmentation: AugmentConfig | None) -> None:
        self.base = base
        self.augmentation = augmentation
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> HandSample:
        sample = self.base[index]
        if self.augmentation is None:
            return sample
        generator = generator_for(self.augmentation, index, self.epoch)
        return augment(sample, self.augmentation, generator)


class DetectedOnly(Dataset):
    """The items of `base` whose keypoints have a positive confidence in some joint (of some
    frame, for clips): the images where the detector found the hand."""

    def __init__(self, base: Dataset) -> None:
        detected = _confidences(base).reshape(len(base), -1).max(axis=1) > 0
        if not detected.any():
            raise ValueError(
                f"the detector found a hand in none of the {len(base)} training images; "
                "check the keypoints the dataset reads, or set DataConfig.detected_only=False"
            )
        self.base = base
        self.indices = np.flatnonzero(detected)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> HandSample:
        return self.base[int(self.indices[index])]


def _confidences(base: Dataset) -> np.ndarray:
    """(N, ...) keypoint confidences: from the dataset's own table where it has one, else read
    item by item (which decodes every image once)."""
    if hasattr(base, "keypoint_confidences"):
        return base.keypoint_confidences()
    items = tqdm(range(len(base)), desc="find detected hands", unit="image", leave=False)
    return np.stack([base[i].confidence.numpy() for i in items])


def augmentation_for(data: DataConfig, seed: int) -> AugmentConfig | None:
    """The training augmentation a `DataConfig` asks for (None when everything is off)."""
    if data.rotation_deg == 0 and data.scale_jitter == 0 and data.colour_jitter == 0:
        return None
    angle = math.radians(data.rotation_deg)
    jitter = data.colour_jitter
    return AugmentConfig(
        rotation=(-angle, angle),
        scale=(1 - data.scale_jitter, 1 + data.scale_jitter),
        brightness=jitter,
        contrast=jitter,
        saturation=jitter,
        seed=seed,
    )


def _base_dataset(data: DataConfig, split: str, with_truth: bool, clips: bool) -> Dataset:
    keypoints = data.keypoints
    if data.dataset == "synth":
        from s2h_lib.data.synth.dataset import SynthClips, SynthDataset

        if clips:
            return SynthClips(
                data.root, with_truth=with_truth, keypoints=keypoints, size=data.image_size
            )
        return SynthDataset(
            data.root, split, with_truth=with_truth, keypoints=keypoints, size=data.image_size
        )
    if clips:
        raise ValueError(f"dataset {data.dataset!r} has no clips; the video stage needs 'synth'")
    if data.dataset == "freihand":
        from s2h_lib.data.freihand import FreiHAND

        labelled, splits = FreiHAND, FREIHAND_SPLITS
    else:
        from s2h_lib.data.ho3d import HO3D

        labelled, splits = HO3D, HO3D_SPLITS
    dataset_split, part = splits[split]
    return labelled(
        data.root,
        dataset_split,
        part=part,
        size=data.image_size,
        with_truth=with_truth,
        keypoints="detections",
        detections=data.detections,
        mano_root=data.mano_root,
    )


def make_dataset(
    data: DataConfig,
    split: str,
    *,
    with_truth: bool,
    clips: bool = False,
    augment: bool = False,
    seed: int = 0,
    detected_only: bool = False,
) -> EpochDataset:
    """The dataset for `split` ("train", "val", "test"); augmented when `augment` is set, and
    only the images where the detector found the hand with `detected_only` (`DetectedOnly`).

    with_truth=False (every self-supervised training run) builds the dataset without ground
    truth, so no sample the trainer sees carries a 3D label, a GT mask or GT 2D keypoints.
    """
    if split not in FREIHAND_SPLITS:
        raise ValueError(f"split must be one of {sorted(FREIHAND_SPLITS)}, got {split!r}")
    base = _base_dataset(data, split, with_truth, clips)
    if detected_only:
        base = DetectedOnly(base)
    return EpochDataset(base, augmentation_for(data, seed) if augment else None)
