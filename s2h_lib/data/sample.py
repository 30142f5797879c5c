"""The one sample structure every dataset returns and every consumer reads.

What training may see (`HandSample`) is kept apart from what only evaluation may read
(`HandTruth`): a self-supervised run builds its datasets with `with_truth=False`, so the truth is
`None` and no code path can reach it. A clip has an extra leading time axis on every field
(`(T, 3, H, W)`, `(T, 21, 2)`, ...); a batch adds a leading batch axis in front of that.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import Tensor


def _map_tensors(obj: Any, fn) -> Any:
    """Apply `fn` to every tensor field of a dataclass instance; recurse into nested ones."""
    changes = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Tensor):
            changes[f.name] = fn(value)
        elif hasattr(value, "__dataclass_fields__"):
            changes[f.name] = _map_tensors(value, fn)
    return replace(obj, **changes)


def _stack_field(values: list[Any], name: str) -> Any:
    first = values[0]
    if first is None:
        if any(v is not None for v in values):
            raise ValueError(f"cannot batch samples where only some have '{name}'")
        return None
    if isinstance(first, Tensor):
        return torch.stack(values)
    if hasattr(first, "__dataclass_fields__"):
        return _stack_dataclasses(values)
    return list(values)


def _stack_dataclasses(items: list[Any]) -> Any:
    cls = type(items[0])
    return cls(
        **{f.name: _stack_field([getattr(i, f.name) for i in items], f.name) for f in fields(cls)}
    )


@dataclass(frozen=True)
class HandTruth:
    """Ground truth, read by evaluation and by the labelled `weak` / `full` supervision runs only.

    joints3d:    (21, 3) metres, camera frame, FreiHAND order
    verts:       (V, 3)  metres, camera frame (V = the hand model's vertex count)
    keypoints2d: (21, 2) pixels of this crop (projection of joints3d with the sample's K)
    pose:        (48,)   axis-angle, MANO joint order, root first, hand mean included
                         (i.e. `ManoLayer(flat_hand_mean=True, use_pca=False)` input)
    betas:       (10,)   shape coefficients
    mask:        (H, W)  float {0, 1} hand silhouette; zeros where the dataset has none
    has_mesh:    ()      bool: False when the dataset gives joints but no mesh/pose (verts, pose
                         and betas are then zeros and must not be scored)
    visible:     (21,)   bool: False where a joint is hidden (by the hand itself, another object
                         or the crop border); None when the dataset does not say
    """

    joints3d: Tensor
    verts: Tensor
    keypoints2d: Tensor
    pose: Tensor
    betas: Tensor
    mask: Tensor
    has_mesh: Tensor
    visible: Tensor | None = None

    def to(self, device: torch.device | str) -> HandTruth:
        return _map_tensors(self, lambda t: t.to(device))


@dataclass(frozen=True)
class HandSample:
    """What a model may be trained on: an image crop, its camera and detector keypoints.

    image:      (3, H, W) float in [0, 1], RGB
    K:          (3, 3)    intrinsics of this crop in pixels (OpenCV; pixel centres at integers)
    keypoints:  (21, 2)   2D keypoints from a detector (or the noise model), pixels, FreiHAND order
    confidence: (21,)     per-joint confidence in [0, 1]; 0 means "not detected"
    truth:      `HandTruth` or None (always None when the dataset was built without truth)
    name:       a string that identifies the sample in its dataset (file stem, clip/frame id)
    """

    image: Tensor
    K: Tensor
    keypoints: Tensor
    confidence: Tensor
    truth: HandTruth | None = None
    name: str | list[str] = field(default="")

    def to(self, device: torch.device | str) -> HandSample:
        return _map_tensors(self, lambda t: t.to(device))

    def without_truth(self) -> HandSample:
        return replace(self, truth=None)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes in front of `(3, H, W)`: `()` for one image, `(B,)`, `(B, T)` for clips."""
        return tuple(self.image.shape[:-3])


def collate_samples(samples: list[HandSample]) -> HandSample:
    """DataLoader `collate_fn`: stack samples (or clips) into one batched `HandSample`."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    return _stack_dataclasses(samples)
