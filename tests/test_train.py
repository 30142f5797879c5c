"""The trainer: exact resume, the non-finite guard, supervision isolation, DDP under torchrun."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers.tiny_training import build_tiny_synth, tiny_config

from s2h_lib.evaluation.eval_model import ModelFileError
from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.losses.objective import LossResult
from s2h_lib.train import trainer as train_module
from s2h_lib.train.checkpoint import CheckpointError, load_checkpoint
from s2h_lib.train.distributed import setup_process
from s2h_lib.train.train_config import StageConfig
from s2h_lib.train.train_run import read_log
from s2h_lib.train.trainer import LOG_NAME, TrainingDivergedError, train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    return build_tiny_synth(tmp_path_factory.mktemp("synth") / "s2h_synth")


@pytest.fixture(scope="module")
def whole_run(synth_root, tmp_path_factory):
    """The tiny config trained without interruption, the reference for the resume tests."""
    config = tiny_config(synth_root)
    return config, train(config, tmp_path_factory.mktemp("whole") / "run", progress=False)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["model"]


class _SimulatedCrashError(RuntimeError):
    pass


def test_resumed_run_ends_identical_to_an_uninterrupted_one(whole_run, tmp_path, monkeypatch):
    config, whole = whole_run
    assert whole.global_step == config.total_steps

    original_save = train_module.Trainer._save
    saves = []

    def crash_after_fourth_save(self, optimizer, scheduler):
        original_save(self, optimizer, scheduler)
        saves.append(self.position.global_step)
        if len(saves) == 4:  # step 3 done: the shape stage has just ended
            raise _SimulatedCrashError

    monkeypatch.setattr(train_module.Trainer, "_save", crash_after_fourth_save)
    with pytest.raises(_SimulatedCrashError):
        train(config, tmp_path / "split", progress=False)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "split" / "last.pt").position.global_step == 3
    resumed = train(config, tmp_path / "split", resume=True, progress=False)

    assert resumed.global_step == whole.global_step
    a, b = _weights(whole.model_path), _weights(resumed.model_path)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    log = (whole.run_dir / "log.jsonl").read_text().splitlines()
    assert len(log) == config.total_steps


def test_mid_stage_resume_is_exact(whole_run, tmp_path, monkeypatch):
    config, whole = whole_run
    original_step = train_module.Trainer._step
    steps = []

    def crash_on_second_step(self, *args):
        steps.append(1)
        if len(steps) == 2:
            raise _SimulatedCrashError
        return original_step(self, *args)

    monkeypatch.setattr(train_module.Trainer, "_step", crash_on_second_step)
    with pytest.raises(_SimulatedCrashError):
        train(config, tmp_path / "split", progress=False)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "split" / "last.pt").position.stage_step == 1
    resumed = train(config, tmp_path / "split", resume=True, progress=False)
    a, b = _weights(whole.model_path), _weights(resumed.model_path)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_existing_run_is_never_overwritten_and_config_must_match(synth_root, tmp_path):
    config = tiny_config(synth_root, stages=tiny_config(synth_root).stages[:1])
    train(config, tmp_path / "run", progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(config, tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match="different config"):
        train(replace(config, seed=1), tmp_path / "run", resume=True, progress=False)


def test_non_finite_losses_stop_the_run_and_keep_the_checkpoint(synth_root, tmp_path, monkeypatch):
    config = tiny_config(synth_root, max_bad_steps=2)
    run = tmp_path / "run"
    original = train_module.compute_losses
    calls = []

    def nan_after_first_step(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            return result
        nan = result.total * float("nan")
        return LossResult(nan, {"keypoints_2d": nan}, result.unweighted, ())

    monkeypatch.setattr(train_module, "compute_losses", nan_after_first_step)
    with pytest.raises(TrainingDivergedError, match="2 steps in a row"):
        train(config, run, progress=False)
    checkpoint = load_checkpoint(run / "last.pt")
    assert checkpoint.position.global_step == 1
    assert all(torch.isfinite(v).all() for v in checkpoint.model.values() if v.is_floating_point())


def test_self_supervision_builds_every_dataset_without_truth(synth_root, tmp_path, monkeypatch):
    seen = []
    original = train_module.make_dataset

    def spy(*args, **kwargs):
        seen.append(kwargs["with_truth"])
        dataset = original(*args, **kwargs)
        assert (dataset[0].truth is None) != kwargs["with_truth"]
        return dataset

    monkeypatch.setattr(train_module, "make_dataset", spy)
    train(tiny_config(synth_root), tmp_path / "self", progress=False)
    # the anchored camera reads the detector keypoints of each batch, never the truth
    anchored = replace(
        tiny_config(synth_root).model,
        camera="keypoints",
        keypoint_input=True,
        keypoint_branch=False,
    )
    config = tiny_config(synth_root, model=anchored, losses=LossConfig().without("branch2d"))
    result = train(config, tmp_path / "anchored", progress=False)
    assert result.global_step == config.total_steps
    assert seen and not any(seen)
    seen.clear()
    train(tiny_config(synth_root, supervision="full"), tmp_path / "full", progress=False)
    assert seen and all(seen)


def test_a_stage_with_nothing_to_train_is_refused(synth_root, tmp_path):
    model = replace(tiny_config(synth_root).model, keypoint_branch=False)
    config = tiny_config(synth_root, model=model, stages=(StageConfig("kp", 2, batch_size=4),))
    with pytest.raises(ValueError, match=r"a kp stage needs ModelConfig\.keypoint_branch=True"):
        train(config, tmp_path / "run", progress=False)


def test_two_processes_under_torchrun_hold_identical_parameters(synth_root, tmp_path):
    config_path = tmp_path / "tiny.yaml"
    from s2h_lib.config_io import dump_yaml

    config = tiny_config(synth_root, stages=tiny_config(synth_root).stages[:1])
    config_path.write_text(dump_yaml(replace(config, stages=(replace(config.stages[0], steps=2),))))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(REPO / "tests" / "helpers" / "ddp_worker.py"),
        str(config_path),
        str(tmp_path / "ddp"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0 = torch.load(tmp_path / "ddp" / "rank0.pt")
    rank1 = torch.load(tmp_path / "ddp" / "rank1.pt")
    initial = torch.load(tmp_path / "ddp" / "initial.pt")
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    assert any(not torch.equal(rank0[n], initial[n]) for n in rank0), "no parameter moved"


def test_a_cosine_stage_takes_the_learning_rate_down_a_half_cosine_to_zero(synth_root, tmp_path):
    lr, steps = 1e-3, 4
    stage = StageConfig("shape", steps, lr=lr, batch_size=4, schedule="cosine")
    train(tiny_config(synth_root, stages=(stage,)), tmp_path / "run", progress=False)
    logged = [record["lr"] for record in read_log(tmp_path / "run" / LOG_NAME)]
    # logged after each step's scheduler step: lr (1 + cos(pi k / steps)) / 2 for k = 1..steps
    expected = [lr * (1 + math.cos(math.pi * k / steps)) / 2 for k in range(1, steps + 1)]
    assert logged == pytest.approx(expected, abs=1e-12)


def test_a_cosine_stage_refuses_milestones():
    with pytest.raises(ValueError, match="a cosine schedule takes no milestones"):
        StageConfig("shape", 10, milestones=(5,), schedule="cosine")
    with pytest.raises(ValueError, match="schedule must be one of"):
        StageConfig("shape", 10, schedule="linear")


# ---- starting from a trained model --------------------------------------------------------


def test_init_from_starts_the_network_at_the_models_weights(whole_run, tmp_path):
    config, whole = whole_run
    fine_tune = replace(config, init_from=str(whole.model_path), seed=config.seed + 1)
    trainer = train_module.Trainer(fine_tune, tmp_path / "run", setup_process("cpu"), False)
    started, saved = trainer.model.state_dict(), _weights(whole.model_path)
    assert started.keys() == saved.keys()
    assert all(torch.equal(started[name], saved[name]) for name in saved)
    fresh = train_module.Trainer(
        replace(fine_tune, init_from=None), tmp_path, setup_process("cpu"), False
    )
    assert not all(torch.equal(fresh.model.state_dict()[name], saved[name]) for name in saved)


def test_init_from_refuses_another_network_and_a_missing_file(whole_run, tmp_path):
    config, whole = whole_run
    wider = replace(config.model, keypoint_features=2 * config.model.keypoint_features)
    other = replace(config, model=wider, init_from=str(whole.model_path))
    with pytest.raises(ValueError, match=r"differ from this config's model in \d+ tensors"):
        train(other, tmp_path / "wider", progress=False)
    missing = replace(config, init_from=str(tmp_path / "nothing.pt"))
    with pytest.raises(ModelFileError, match="model file not found"):
        train(missing, tmp_path / "missing", progress=False)
