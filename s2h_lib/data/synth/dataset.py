"""Torch datasets over a built S2H-Synth benchmark (`layout.py` describes the files).

    SynthDataset(root, "train")                     HandSample per image, truth None
    SynthDataset(root, "test", with_truth=True)     ... with HandTruth, for evaluation
    SynthClips(root)                                HandSample per clip, fields (T, ...)

Keypoints: "noise" (the detector-noise model, the default), "detector" (the real detector's,
when the benchmark was built with `--keypoints detector`) or "truth" (the projected ground truth
with confidence 1: only for the labelled weak-supervision run). The small per-sample arrays are
read once; images are decoded from their shard's zip on demand, each process opening its own
handle so DataLoader workers never share a file position.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from s2h_lib.data.crop import CropBox, apply_affine, update_intrinsics
from s2h_lib.data.image_io import to_tensor
from s2h_lib.data.sample import HandSample, HandTruth, collate_samples
from s2h_lib.data.synth.layout import (
    PACKED_TRUTH,
    SynthDataError,
    build_hint,
    image_name,
    read_manifest,
)

KEYPOINT_CHOICES = ("noise", "detector", "truth")
STILL_SPLITS = ("train", "val", "test")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as arrays:
        return dict(arrays)


class ShardArrays:
    """One split's shards: per-sample arrays in memory, images and truth read on demand.

    entries: the manifest's shard records (`start`, `count`, `files`); image_size: the side of
    the stored images (to unpack the masks).
    """

    def __init__(self, root: Path, entries: list[dict], image_size: int) -> None:
        self.root = root
        self.image_size = image_size
        self.files = [{k: root / v for k, v in e["files"].items()} for e in entries]
        for files in self.files:
            for path in files.values():
                if not path.is_file():
                    raise SynthDataError(
                        f"S2H-Synth shard file missing: {path}; {build_hint(root)}"
                    )
        parts = [_read_npz(files["inputs"]) for files in self.files]
        self.inputs = {
            key: np.concatenate([p[key] for p in parts]) for key in parts[0] if key != "config_hash"
        }
        counts = [len(p["index"]) for p in parts]
        self.shard_of = np.repeat(np.arange(len(counts)), counts)
        self.first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._zips: dict[int, zipfile.ZipFile] = {}
        self._zip_pid = os.getpid()
        self._truth: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.shard_of)

    def _zip(self, shard: int) -> zipfile.ZipFile:
        if self._zip_pid != os.getpid():  # a forked DataLoader worker: open its own handles
            self._zips, self._zip_pid = {}, os.getpid()
        if shard not in self._zips:
            self._zips[shard] = zipfile.ZipFile(self.files[shard]["images"])
        return self._zips[shard]

    def image(self, i: int, frame: int | None = None) -> np.ndarray:
        """`(H, W, 3)` uint8 of sample `i` (frame `frame` of clip `i`)."""
        name = image_name(int(self.inputs["index"][i]), frame)
        data = self._zip(int(self.shard_of[i])).read(name)
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))

    def truth(self, i: int) -> dict[str, np.ndarray]:
        """Truth arrays of sample `i` (masks unpacked to `(..., H, W)` bool)."""
        shard = int(self.shard_of[i])
        if shard not in self._truth:
            self._truth[shard] = _read_npz(self.files[shard]["truth"])
        local = i - int(self.first[shard])
        row = {key: value[local] for key, value in self._truth[shard].items()}
        side = self.image_size
        for key in PACKED_TRUTH:
            bits = np.unpackbits(row[key], axis=-1, count=side * side)
            row[key] = bits.reshape(*bits.shape[:-1], side, side).astype(bool)
        return row

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_zips"] = {}  # open zip handles do not travel to spawned workers
        return state


def _resize(sample: HandSample, size: int) -> HandSample:
    """The sample (or clip) with images of `size` pixels; K, keypoints and truth follow."""
    stored = sample.image.shape[-1]
    if size == stored:
        return sample
    A = CropBox((stored - 1) / 2, (stored - 1) / 2, stored).matrix(size)
    lead = sample.image.shape[:-3]
    images = sample.image.reshape(-1, *sample.image.shape[-3:])
    images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    truth = sample.truth
    if truth is not None:
        masks = truth.mask.reshape(-1, 1, stored, stored)
        masks = F.interpolate(masks, size=(size, size), mode="bilinear", antialias=True)
        truth = replace(
            truth,
            keypoints2d=apply_affine(A, truth.keypoints2d),
            mask=(masks >= 0.5).to(truth.mask.dtype).reshape(*lead, size, size),
        )
    return replace(
        sample,
        image=images.reshape(*lead, 3, size, size),
        K=update_intrinsics(A, sample.K),
        keypoints=apply_affine(A, sample.keypoints),
        truth=truth,
    )


class _SynthBase(Dataset):
    def __init__(
        self, root: str | Path, split: str, with_truth: bool, keypoints: str, size: int | None
    ) -> None:
        if keypoints not in KEYPOINT_CHOICES:
            raise ValueError(f"keypoints must be one of {KEYPOINT_CHOICES}, got {keypoints!r}")
        if size is not None and size < 1:
            raise ValueError(f"size must be a positive number of pixels or None, got {size}")
        self.root = Path(root).expanduser()
        self.manifest = read_manifest(self.root)
        if keypoints == "detector" and "detector" not in self.manifest["keypoints"]:
            raise ValueError(
                f"{self.root} was built without detector keypoints; rebuild with "
                "`s2h data synth --keypoints detector` or use keypoints='noise'"
            )
        self.split = split
        self.with_truth = with_truth
        self.keypoint_source = keypoints
        self.size = size
        self.image_size = int(self.manifest["image_size"])
        self.arrays = ShardArrays(self.root, self.manifest["shards"][split], self.image_size)

    def __len__(self) -> int:
        return len(self.arrays)

    def keypoint_confidences(self) -> np.ndarray:
        """The confidences of every item's keypoints, (N, 21) or (N, T, 21) for clips, read
        without decoding an image."""
        if self.keypoint_source == "truth":
            return np.ones(self.arrays.inputs["confidence_noise"].shape, dtype=np.float32)
        return np.asarray(self.arrays.inputs[f"confidence_{self.keypoint_source}"])

    def _frame(self, i: int, frame: int | None) -> HandSample:
        """Sample `i` (frame `frame` of clip `i`) at the stored size."""
        at = (i,) if frame is None else (i, frame)
        inputs = self.arrays.inputs
        truth = self.arrays.truth(i) if self.with_truth or self.keypoint_source == "truth" else None
        if truth is not None and frame is not None:
            truth = {key: value[frame] for key, value in truth.items()}
        if self.keypoint_source == "truth":
            keypoints = torch.from_numpy(truth["keypoints2d"]).float()
            confidence = torch.ones(keypoints.shape[0])
        else:
            keypoints = torch.from_numpy(inputs[f"keypoints_{self.keypoint_source}"][at]).float()
            confidence = torch.from_numpy(inputs[f"confidence_{self.keypoint_source}"][at]).float()
        return HandSample(
            image=to_tensor(self.arrays.image(i, frame)),
            K=torch.from_numpy(inputs["K"][at]).float(),
            keypoints=keypoints,
            confidence=confidence,
            truth=_hand_truth(truth) if self.with_truth else None,
            name=f"{self.split}/{int(inputs['index'][i]):06d}",
        )

    def _finish(self, sample: HandSample) -> HandSample:
        return sample if self.size is None else _resize(sample, self.size)


def _hand_truth(row: dict[str, np.ndarray]) -> HandTruth:
    def tensor(key: str) -> Tensor:
        return torch.from_numpy(np.asarray(row[key])).float()

    return HandTruth(
        joints3d=tensor("joints3d"),
        verts=tensor("verts"),
        keypoints2d=tensor("keypoints2d"),
        pose=tensor("pose"),
        betas=tensor("betas"),
        mask=tensor("mask"),
        has_mesh=torch.tensor(True),
        visible=torch.from_numpy(np.asarray(row["visible"])),
    )


class SynthDataset(_SynthBase):
    """Single images of an S2H-Synth split ('train', 'val' or 'test') as `HandSample`s.

    with_truth: attach `HandTruth` (evaluation, or the labelled supervision runs only);
    keypoints: "noise" | "detector" | "truth" (see the module docstring);
    size: resize images to this side (K and keypoints follow); None keeps the stored size.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        with_truth: bool = False,
        keypoints: str = "noise",
        size: int | None = None,
    ) -> None:
        if split not in STILL_SPLITS:
            raise ValueError(
                f"split must be one of {STILL_SPLITS} (clips: use SynthClips), got {split!r}"
            )
        super().__init__(root, split, with_truth, keypoints, size)

    def __getitem__(self, i: int) -> HandSample:
        return self._finish(self._frame(i, None))


class SynthClips(_SynthBase):
    """The clips of S2H-Synth: each item a `HandSample` whose fields have a leading T axis
    (`image` (T, 3, H, W), `keypoints` (T, 21, 2), ...). Arguments as for `SynthDataset`."""

    def __init__(
        self,
        root: str | Path,
        *,
        with_truth: bool = False,
        keypoints: str = "noise",
        size: int | None = None,
    ) -> None:
        super().__init__(root, "clips", with_truth, keypoints, size)
        self.clip_length = int(self.manifest["clip_length"])

    def __getitem__(self, i: int) -> HandSample:
        frames = [self._frame(i, t) for t in range(self.clip_length)]
        clip = collate_samples(frames)
        return self._finish(replace(clip, name=frames[0].name))
