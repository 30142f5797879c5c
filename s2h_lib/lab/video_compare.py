"""The video-trained network against the image-trained one (notebook 08).

S2HAND(V) trains the image network further on clips, adding the video terms (motion
smoothness, 2D motion, shape, bone and texture consistency over a clip). `video_fine_tune`
makes that run from an image-trained model; `clip_predictions` runs a network frame by frame over
clips (no frame sees another: any smoothness is in the weights); `temporal_scores` measures what
the video stage is for (jitter, acceleration error) beside what it must not cost (PA-MPJPE),
inside the runs of frames where the detector found the hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from s2h_lib.data.sample import HandSample
from s2h_lib.evaluation.errors import acceleration_error, jitter, pa_mpjpe_mm
from s2h_lib.net.model import HandNet
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.train.train_config import StageConfig, TrainConfig

VIDEO_LR = 1e-4  # the learning rate of the synth-full preset's video stage
MIN_RUN = 4  # frames: the shortest run jitter (a third difference) can be measured on


def video_fine_tune(
    config: TrainConfig,
    image_model: str | Path,
    steps: int,
    clip_batch: int,
    lr: float = VIDEO_LR,
) -> TrainConfig:
    """The run that trains `image_model` (a model.pt trained with `config`) further with a video
    stage alone: `steps` steps of `clip_batch` clips each (a step sees clip_batch x T frames), at
    learning rate `lr`, starting from its weights (`TrainConfig.init_from`)."""
    video = StageConfig("video", steps, lr, (), clip_batch)
    return replace(config, stages=(video,), init_from=str(image_model))


def clip_prediction(net: HandNet, clip: HandSample) -> HandPrediction:
    """`net`'s prediction of each of the T frames of `clip` (fields with a leading T axis:
    image (T, 3, H, W), ...) on its own, as a batch of T, on the CPU."""
    device = next(net.parameters()).device
    with torch.no_grad():
        pred = net.predict(clip.without_truth().to(device))
    return pred.map(torch.Tensor.cpu)


def clip_predictions(net: HandNet, clips: Sequence[HandSample]) -> list[HandPrediction]:
    """`clip_prediction` of every clip."""
    return [clip_prediction(net, clip) for clip in clips]


def stacked_joints(predictions: Sequence[HandPrediction]) -> np.ndarray:
    """The joints of C clip predictions of T frames each, as (C, T, 21, 3) numpy, metres."""
    return np.stack([pred.joints.double().numpy() for pred in predictions])


def true_joints(clips: Sequence[HandSample]) -> np.ndarray:
    """The true joints of C clips of T frames each, (C, T, 21, 3) numpy, metres."""
    if any(clip.truth is None for clip in clips):
        raise ValueError("scoring clips needs their truth (a dataset built with_truth=True)")
    return np.stack([clip.truth.joints3d.double().numpy() for clip in clips])


def detected_frames(clips: Sequence[HandSample]) -> np.ndarray:
    """(C, T) bool: the frames of C clips whose input keypoints have a confident joint (the
    detector found the hand; elsewhere a keypoint-anchored network has nothing to go on)."""
    return np.stack([(clip.confidence > 0).any(-1).numpy() for clip in clips])


def detected_runs(detected: np.ndarray, min_length: int = MIN_RUN) -> list[slice]:
    """The maximal runs of consecutive True frames in `detected` (T,) that are at least
    `min_length` frames long, as slices."""
    runs, start = [], None
    for t, found in enumerate([*detected.tolist(), False]):
        if found and start is None:
            start = t
        elif not found and start is not None:
            if t - start >= min_length:
                runs.append(slice(start, t))
            start = None
    return runs


def _mean_over_runs(
    metric: Callable[..., np.ndarray], order: int, runs: list[tuple[int, slice]], *clips: np.ndarray
) -> float:
    """`metric` (clips (1, L, 21, 3) -> (1,)) of every run, averaged with each run weighted by
    its L - `order` finite differences: the mean over every difference inside a run."""
    values = [metric(*(joints[c, run][None] for joints in clips))[0] for c, run in runs]
    weights = [run.stop - run.start - order for _, run in runs]
    return float(np.average(values, weights=weights))


def temporal_scores(pred: np.ndarray, gt: np.ndarray, detected: np.ndarray) -> dict[str, float]:
    """How smooth and how right a prediction of C clips of T frames is: joints `pred` and `gt`
    (C, T, 21, 3) metres, `detected` (C, T) bool (`detected_frames`).

    Where the detector missed the hand a keypoint-anchored network answers from the image alone
    or with the mean hand (`ModelConfig.without_anchors`), and its jump there would swamp any
    other jitter, so the temporal metrics are taken inside the
    runs of at least `MIN_RUN` consecutive detected frames (`detected_runs`):
    `accel_error_mm_per_frame2` (second differences against the truth's, root-relative),
    `jitter_mm_per_frame3` (the prediction's own third difference) and
    `truth_jitter_mm_per_frame3` (the truth's, the floor a smooth method can reach), means over
    every difference inside a run; `runs` counts them (no run: these three are left out).
    `jitter_all_frames_mm_per_frame3`: the jitter over whole clips, missed frames included;
    `pa_mpjpe_mm`: over the detected frames (left out when there is none);
    `detected_frames`: their count.
    """
    runs = [(c, run) for c in range(len(detected)) for run in detected_runs(detected[c])]
    scores = {
        "detected_frames": int(detected.sum()),
        "runs": len(runs),
        "jitter_all_frames_mm_per_frame3": float(jitter(pred).mean()),
    }
    if detected.any():
        scores["pa_mpjpe_mm"] = float(pa_mpjpe_mm(pred[detected], gt[detected]).mean())
    if runs:
        scores["accel_error_mm_per_frame2"] = _mean_over_runs(acceleration_error, 2, runs, pred, gt)
        scores["jitter_mm_per_frame3"] = _mean_over_runs(jitter, 3, runs, pred)
        scores["truth_jitter_mm_per_frame3"] = _mean_over_runs(jitter, 3, runs, gt)
    return scores
