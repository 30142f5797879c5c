"""Evaluate a trained model (or a baseline) on a dataset split with the FreiHAND protocol.

`evaluate_model` runs the network over a split that carries ground truth, then hands the arrays
to `evaluate.evaluate_arrays` (metrics.json, per_sample.csv, predictions.npz, pck.png) and adds
overlays of the best, median and worst samples. Baselines produce the same arrays through the
same writer, so every row of a comparison table is computed by one code path.
"""

from __future__ import annotations

import json
import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from s2h_lib.config_io import from_dict
from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.evaluation.evaluate import METRICS_FILE, evaluate_arrays
from s2h_lib.net.model import HandNet
from s2h_lib.net.prediction import HandPrediction, Predictor
from s2h_lib.train.train_config import TrainConfig
from s2h_lib.viz.overlays import overlay_figure, save_figure

EXAMPLES_FILE = "examples.png"
# metrics.json entry: wall-clock seconds the predictor took per sample (model and data)
SECONDS_PER_SAMPLE = "seconds_per_sample"
# metrics.json "groups": images whose input keypoints have a confident joint, and the others
# (a detector that found no hand leaves a keypoint-anchored method nothing to work from)
DETECTED, MISSED = "hand_detected", "hand_missed"
# Config keys that model files written by older versions hold and nothing reads any more.
RETIRED_CONFIG_KEYS = {"data": ("eval_split",)}


class ModelFileError(ValueError):
    """A model file is missing or not one the trainer wrote."""


def locate_data_root(root: str, model_path: str | Path) -> str:
    """A run's saved data root, found from here.

    A relative root was relative to the folder training ran in, usually an ancestor of the run
    folder (`make demo` trains from the repository root into runs/demo/train), while notebooks
    and scripts may run elsewhere. So: `root` itself when it exists from here, else the first
    existing `ancestor / root` going up from the model file; unchanged when neither exists
    (the dataset's own error then names it).
    """
    if Path(root).expanduser().exists() or Path(root).is_absolute():
        return root
    for ancestor in Path(model_path).expanduser().resolve().parents:
        if (ancestor / root).exists():
            return str(ancestor / root)
    return root


def _without_retired_keys(config: dict) -> dict:
    """A saved config dict without the `RETIRED_CONFIG_KEYS` (so old model files still load)."""
    config = dict(config)
    for section, keys in RETIRED_CONFIG_KEYS.items():
        if isinstance(config.get(section), dict):
            config[section] = {k: v for k, v in config[section].items() if k not in keys}
    return config


def read_model_file(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """The payload of a `model.pt` that `s2h train` wrote: {"model": state dict, "config": dict}.

    A model file is what people share, so it is read with `torch.load(weights_only=True)`:
    only tensors and plain types load and nothing in the file can run code. A training
    checkpoint (`last.pt`, which also holds RNG states) is refused; its run's `model.pt` is the
    model."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path} (train one with `s2h train`)")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        raise ModelFileError(
            f"{path} holds more than tensors and plain types, so it is not loaded (a model file "
            "is read with torch.load(weights_only=True), which runs no code from the file; a "
            f"training checkpoint such as last.pt is no model file: pass its run's model.pt): "
            f"{error}"
        ) from error
    except Exception as error:
        raise ModelFileError(f"cannot read model file {path}: {error}") from error
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise ModelFileError(f"{path} is not a model written by `s2h train`")
    return payload


def load_trained_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[HandNet, TrainConfig]:
    """The network and its training config from a `model.pt` that `s2h train` wrote, read
    safely (`read_model_file`). The config's data root is located with `locate_data_root`."""
    payload = read_model_file(path, device)
    config = from_dict(TrainConfig, _without_retired_keys(payload["config"]), "train")
    data = replace(config.data, root=locate_data_root(config.data.root, Path(path).expanduser()))
    config = replace(config, data=data)
    model = HandNet(config.model).to(device)
    model.load_state_dict(payload["model"])
    return model.eval(), config


@dataclass
class PredictionArrays:
    """Predictions and ground truth of N samples, as numpy, metres / pixels; `hand_detected`
    (N,) bool: the input keypoints have a confident joint (the detector found the hand)."""

    pred_joints: np.ndarray
    gt_joints: np.ndarray
    pred_verts: np.ndarray
    gt_verts: np.ndarray
    has_mesh: np.ndarray
    pred_keypoints2d: np.ndarray
    gt_keypoints2d: np.ndarray
    hand_detected: np.ndarray
    names: list[str]


def model_predictor(model: HandNet) -> Predictor:
    """The network as a function of a batch."""
    device = next(model.parameters()).device

    def predict(batch: HandSample) -> HandPrediction:
        with torch.no_grad():
            return model.predict(batch.to(device))

    return predict


def _comparable_truth_mesh(pred_verts: torch.Tensor, gt_verts: torch.Tensor):
    """The truth's vertices (B, V, 3) and whether they can be compared with the prediction's
    (B, V', 3): only the same mesh can (a model on the open hand model, 901 vertices, against
    MANO's 778 of FreiHAND or HO3D cannot); otherwise NaNs of the prediction's shape and False,
    with a warning, so the joint metrics are scored and the vertex metrics say "n/a"."""
    if pred_verts.shape[-2] == gt_verts.shape[-2]:
        return gt_verts, True
    warnings.warn(
        f"the model's hand mesh has {pred_verts.shape[-2]} vertices and the dataset's "
        f"{gt_verts.shape[-2]}: the vertex metrics are skipped (train with MANO's files, "
        "ModelConfig.mano_root, to score them)",
        stacklevel=3,
    )
    return torch.full_like(pred_verts, float("nan")), False


def collect_predictions(
    predictor: Predictor, dataset: Dataset, batch_size: int = 32, progress: bool = True
) -> PredictionArrays:
    """Run `predictor` over a dataset whose samples carry truth; gather the arrays."""
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_samples)
    parts: dict[str, list[np.ndarray]] = {f: [] for f in PredictionArrays.__dataclass_fields__}
    for batch in tqdm(loader, desc="evaluate", unit="batch", disable=not progress):
        if batch.truth is None:
            raise ValueError("evaluation needs a dataset built with with_truth=True")
        pred = predictor(batch)
        gt_verts, has_mesh = _comparable_truth_mesh(pred.verts, batch.truth.verts)
        values = {
            "pred_joints": pred.joints,
            "gt_joints": batch.truth.joints3d,
            "pred_verts": pred.verts,
            "gt_verts": gt_verts,
            "has_mesh": batch.truth.has_mesh & has_mesh,
            "pred_keypoints2d": pred.keypoints2d,
            "gt_keypoints2d": batch.truth.keypoints2d,
            "hand_detected": (batch.confidence > 0).any(dim=-1),
        }
        for key, value in values.items():
            parts[key].append(value.detach().float().cpu().numpy())
        parts["names"].append(np.array(batch.name, dtype=str))
    arrays = {key: np.concatenate(value) for key, value in parts.items()}
    arrays["names"] = arrays["names"].tolist()
    arrays["has_mesh"] = arrays["has_mesh"].astype(bool)
    arrays["hand_detected"] = arrays["hand_detected"].astype(bool)
    return PredictionArrays(**arrays)


def _save_examples(
    predictor: Predictor, faces: torch.Tensor, dataset: Dataset, report: dict, out_dir: Path
) -> Path:
    """Overlays of the best, median and worst samples by PA-MPJPE."""
    picks = report["examples"]
    labels = ("best", "median", "worst")
    samples = [dataset[picks[label]["index"]] for label in labels]
    batch = collate_samples(samples)
    pred = predictor(batch)
    titles = [f"{label}: {picks[label]['name']}" for label in labels]
    figure = overlay_figure(
        batch.image,
        pred,
        faces.to(pred.verts.device),
        batch.K.to(pred.verts.device),
        batch.truth.keypoints2d,
        titles,
        columns=3,
    )
    return save_figure(figure, out_dir / EXAMPLES_FILE)


def evaluate_predictor(
    predictor: Predictor,
    faces: torch.Tensor,
    dataset: Dataset,
    out_dir: str | Path,
    batch_size: int = 32,
    progress: bool = True,
) -> dict:
    """Score `predictor` on `dataset` and write the evaluation files and example overlays;
    metrics.json also holds `SECONDS_PER_SAMPLE` and the means over the images where the
    detector found the hand and where it did not (groups `DETECTED`, `MISSED`)."""
    out_dir = Path(out_dir)
    started = time.perf_counter()
    arrays = collect_predictions(predictor, dataset, batch_size, progress)
    seconds = time.perf_counter() - started
    report = evaluate_arrays(
        arrays.pred_joints,
        arrays.gt_joints,
        arrays.pred_verts,
        arrays.gt_verts,
        arrays.has_mesh,
        arrays.names,
        out_dir,
        pred_keypoints2d=arrays.pred_keypoints2d,
        gt_keypoints2d=arrays.gt_keypoints2d,
        extra={SECONDS_PER_SAMPLE: seconds / max(len(arrays.names), 1)},
        groups={DETECTED: arrays.hand_detected, MISSED: ~arrays.hand_detected},
    )
    _save_examples(predictor, faces, dataset, report, out_dir)
    return report


def evaluated_once(folder: str | Path, evaluate: Callable[[Path], dict]) -> dict:
    """The metrics.json in `folder` when an earlier evaluation finished there, else
    `evaluate(folder)` (which writes it): finished evaluations are never redone."""
    folder = Path(folder)
    path = folder / METRICS_FILE
    if path.is_file():
        return json.loads(path.read_text())
    return evaluate(folder)
