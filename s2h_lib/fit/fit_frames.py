"""What a fit reads of a batch: its frames flattened and checked (`read_batch`), and the batch of
each problem, stacked along a leading problem axis, as the objective reads it
(`problem_batches`). `batch.truth` is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from s2h_lib.data.sample import HandSample
from s2h_lib.hand.skeleton import NUM_KEYPOINTS


@dataclass
class Frames:
    """What the fit reads of a batch, frames flattened: N = U * T (T = 1 for single images)."""

    image: Tensor  # (N, 3, H, W)
    K: Tensor  # (N, 3, 3)
    keypoints: Tensor  # (N, 21, 2)
    confidence: Tensor  # (N, 21)
    names: list[str]  # (N)
    per_problem: int  # T

    @property
    def problems(self) -> int:
        return self.K.shape[0] // self.per_problem


def _flatten_names(name: object) -> list[str]:
    if isinstance(name, (list, tuple)):
        return [n for item in name for n in _flatten_names(item)]
    return [str(name)]


def _frame_names(name: object, problems: int, per_problem: int) -> list[str]:
    """One name per frame: the batch's own, clip names with the frame number appended, or
    frame indices when the batch's names do not fit."""
    flat = _flatten_names(name)
    if len(flat) == problems * per_problem:
        return flat
    if len(flat) == problems:
        return [f"{clip}[{t}]" for clip in flat for t in range(per_problem)]
    return [str(i) for i in range(problems * per_problem)]


def _check_values(frames: Frames) -> None:
    """ValueError naming the frames with non-finite keypoints or K, or confidences outside
    [0, 1] (NaN included)."""
    problems = {
        "keypoints contain NaN or inf (give a missing joint confidence 0 and any finite "
        "position)": ~torch.isfinite(frames.keypoints).all(-1).all(-1),
        "confidences are NaN or outside [0, 1]": ~(
            (frames.confidence >= 0) & (frames.confidence <= 1)
        ).all(-1),
        "K contains NaN or inf": ~torch.isfinite(frames.K).all(-1).all(-1),
    }
    for problem, bad in problems.items():
        if bool(bad.any()):
            names = [frames.names[i] for i in bad.nonzero().flatten().tolist()]
            raise ValueError(f"cannot fit: {problem} in frame(s) {names[:10]}")


def read_batch(batch: HandSample, clips: bool) -> Frames:
    """Image, K, keypoints and confidence of `batch`, checked; `batch.truth` is not touched."""
    leading = 2 if clips else 1
    if batch.image.dim() != leading + 3:
        layout = "(B, T, 3, H, W)" if clips else "(B, 3, H, W)"
        hint = " (a clip batch: use fit_clips)" if batch.image.dim() == 5 else ""
        raise ValueError(f"batch.image must be {layout}, got {tuple(batch.image.shape)}{hint}")
    shape = tuple(batch.image.shape[:leading])
    trailing = {"K": (3, 3), "keypoints": (NUM_KEYPOINTS, 2), "confidence": (NUM_KEYPOINTS,)}
    for name, tail in trailing.items():
        value = getattr(batch, name)
        if tuple(value.shape) != shape + tail:
            raise ValueError(f"batch.{name} must be {shape + tail}, got {tuple(value.shape)}")
    per_problem = shape[1] if clips else 1
    frames = Frames(
        image=batch.image.reshape(-1, *batch.image.shape[leading:]),
        K=batch.K.reshape(-1, 3, 3).float(),
        keypoints=batch.keypoints.reshape(-1, NUM_KEYPOINTS, 2).float(),
        confidence=batch.confidence.reshape(-1, NUM_KEYPOINTS).float(),
        names=_frame_names(batch.name, shape[0], per_problem),
        per_problem=per_problem,
    )
    _check_values(frames)
    return frames


def problem_batches(frames: Frames) -> HandSample:
    """The U problems' batches stacked: slice u is what `compute_losses` reads for problem u, a
    (1, ...) batch or a (1, T, ...) clip, so image is (U, 1, 3, H, W) or (U, 1, T, 3, H, W)."""
    leading = (frames.problems, 1) + ((frames.per_problem,) if frames.per_problem > 1 else ())

    def stacked(tensor: Tensor) -> Tensor:
        return tensor.reshape(*leading, *tensor.shape[1:])

    return HandSample(
        image=stacked(frames.image),
        K=stacked(frames.K),
        keypoints=stacked(frames.keypoints),
        confidence=stacked(frames.confidence),
        name=frames.names[:: frames.per_problem],
    )
