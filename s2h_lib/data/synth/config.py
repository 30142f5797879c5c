"""What decides an S2H-Synth benchmark: its `SynthConfig`, splits and the seed of each sample.

A sample is decided by one integer seed (base seed + the sample's global index), so any sample
can be regenerated alone and any number of workers gives the same benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

from s2h_lib.data.synth import occluders

GENERATOR_VERSION = "s2h-synth/2"
SPLITS = ("train", "val", "test", "clips")
# Global index of a split's first sample: fixed offsets, so resizing one split leaves the
# others' samples unchanged.
SPLIT_OFFSETS = {"train": 0, "val": 1_000_000, "test": 2_000_000, "clips": 3_000_000}
KEYPOINT_SOURCES = ("noise", "detector")


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides the benchmark's content (not where or how fast it is built).

    counts are samples for train/val/test and clips of `clip_length` frames for clips;
    `keypoints` picks the stored detector keypoints besides the noise model's: "noise" (noise
    model only) or "detector" (also run the real detector on every image); `shard_size` is
    images per shard file; `mano_root` None renders the open hand model; `noise_file` None
    uses the package's calibrated detector-noise parameters.
    """

    image_size: int = 128
    train: int = 4000
    val: int = 500
    test: int = 500
    clips: int = 200
    clip_length: int = 8
    seed: int = 0
    mano_root: str | None = None
    keypoints: str = "noise"
    occluder_probability: float = occluders.OCCLUDER_PROBABILITY
    supersample: int = 2
    shard_size: int = 250
    noise_file: str | None = None

    def __post_init__(self) -> None:
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {self.image_size}")
        for split in SPLITS:
            if getattr(self, split) < 0:
                raise ValueError(f"the {split} count must be >= 0, got {getattr(self, split)}")
        if self.clip_length < 2:
            raise ValueError(f"clip_length must be at least 2, got {self.clip_length}")
        if self.keypoints not in KEYPOINT_SOURCES:
            raise ValueError(f"keypoints must be one of {KEYPOINT_SOURCES}, got {self.keypoints!r}")
        if self.shard_size < 1 or self.supersample < 1:
            raise ValueError("shard_size and supersample must be positive")
        if not 0.0 <= self.occluder_probability <= 1.0:
            raise ValueError(
                f"occluder_probability must be in [0, 1], got {self.occluder_probability}"
            )

    def count(self, split: str) -> int:
        """Samples in `split` (clips for 'clips')."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return getattr(self, split)


def sample_seed(config: SynthConfig, split: str, index: int) -> int:
    """The one integer that decides sample (or clip) `index` of `split`."""
    return config.seed + SPLIT_OFFSETS[split] + index
