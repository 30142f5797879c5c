"""One network trained and scored: train a config into a run folder, load the model, score it
on a split with the FreiHAND protocol, and write the evaluation (`eval/metrics.json`).

Notebook 05 (and through it `s2h ablate`), the accuracy benchmark (`accuracy`) and the demo
pipeline (`pipeline`) all run this sequence through `train_and_score`. A step whose result is
already there is not redone, so a cut-off caller resumes: a finished run (its `model.pt`) is
not trained again, and an evaluation folder is reused only when it was made for the same model
file, data, split and sample count (`evaluation.eval_cache`).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset, Subset

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.config_io import dump_yaml, to_dict
from s2h_lib.data.factory import DataConfig, make_dataset
from s2h_lib.evaluation.eval_cache import cached_report, eval_request, remember_request
from s2h_lib.evaluation.eval_model import evaluate_predictor, load_trained_model, model_predictor
from s2h_lib.net.model import HandNet
from s2h_lib.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from s2h_lib.train.train_config import TrainConfig
from s2h_lib.train.train_run import resolve_device, torchrun_command
from s2h_lib.train.trainer import MODEL_NAME, train

EVAL_DIR = "eval"
# The config a torchrun launch reads, written into the run folder.
REQUESTED_CONFIG = "requested_config.yaml"


@dataclass(frozen=True)
class ScoredRun:
    """A trained network and its evaluation.

    model: the network (eval mode) on the config's device; config: its training config;
    samples: the scored samples (with truth); report: the evaluation's metrics (as in
    `eval_dir/metrics.json`); train_seconds: the training time of this call (0 when the run
    had finished before).
    """

    model: HandNet
    config: TrainConfig
    samples: Dataset
    report: dict
    eval_dir: Path
    train_seconds: float


def scored_samples(data: DataConfig, split: str, count: int | None = None) -> Dataset:
    """The first `count` samples (None: all) of `split` of the dataset `data` names, with
    their truth."""
    dataset = make_dataset(data, split, with_truth=True)
    return dataset if count is None else Subset(dataset, range(min(count, len(dataset))))


def _is_finished(config: TrainConfig, run_dir: Path) -> bool:
    """Whether `run_dir` holds the finished run of `config`; CheckpointError when it holds the
    finished run of another config (training again would not change its model)."""
    if not (run_dir / MODEL_NAME).is_file():
        return False
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None and load_checkpoint(checkpoint).config != to_dict(config):
        raise CheckpointError(
            f"{run_dir} holds a finished run of a different config; use a new run folder, or "
            "the run's own config"
        )
    return True


def train_once(
    config: TrainConfig, run_dir: str | Path, *, nproc: int = 1, progress: bool = True
) -> float:
    """Train `config` into `run_dir` unless its finished run is there, resuming a cut-off run;
    in this process, or under torchrun with `nproc` > 1 processes. Returns the seconds spent."""
    run_dir = Path(run_dir)
    if _is_finished(config, run_dir):
        return 0.0
    started = time.perf_counter()
    if nproc > 1:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(run_dir / REQUESTED_CONFIG, dump_yaml(config).encode())
        subprocess.run(torchrun_command(nproc, run_dir / REQUESTED_CONFIG, run_dir), check=True)
    else:
        train(config, run_dir, resume=True, progress=progress)
    return time.perf_counter() - started


def train_and_score(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    split: str = "test",
    samples: int | None = None,
    eval_dir: str | Path | None = None,
    nproc: int = 1,
    progress: bool = True,
) -> ScoredRun:
    """Train `config` into `run_dir` (`train_once`), load its model, and score it on the first
    `samples` (None: all) of `split` into `eval_dir` (default `run_dir/eval`): metrics.json,
    the per-sample table, the PCK curves and example overlays (`evaluate_predictor`)."""
    run_dir = Path(run_dir)
    eval_dir = run_dir / EVAL_DIR if eval_dir is None else Path(eval_dir)
    train_seconds = train_once(config, run_dir, nproc=nproc, progress=progress)
    model_path = run_dir / MODEL_NAME
    model, _ = load_trained_model(model_path, resolve_device(config.device))
    dataset = scored_samples(config.data, split, samples)
    request = eval_request(model_path, config.data.root, split, samples)
    report = cached_report(eval_dir, request)
    if report is None:
        predictor = model_predictor(model)
        report = evaluate_predictor(predictor, model.faces, dataset, eval_dir, progress=progress)
        remember_request(eval_dir, request)
    return ScoredRun(model, config, dataset, report, eval_dir, train_seconds)
