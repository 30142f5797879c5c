"""`train_and_score`, the one train -> load -> score sequence of notebook 05, the accuracy
benchmark and the demo: each step is done once, and an evaluation is redone for a new request."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from helpers.tiny_training import build_tiny_synth, tiny_config

from s2h_lib.evaluation.evaluate import METRICS_FILE
from s2h_lib.experiments.scored_run import train_and_score
from s2h_lib.train.checkpoint import CheckpointError


def test_a_run_is_trained_once_and_scored_again_only_for_another_request(tmp_path: Path):
    config = tiny_config(build_tiny_synth(tmp_path / "synth"))
    run_dir = tmp_path / "run"
    first = train_and_score(config, run_dir, split="val", samples=4, progress=False)
    assert first.train_seconds > 0 and first.report["num_samples"] == 4
    assert first.eval_dir == run_dir / "eval" and len(first.samples) == 4
    metrics = first.eval_dir / METRICS_FILE
    written = metrics.stat().st_mtime_ns

    again = train_and_score(config, run_dir, split="val", samples=4, progress=False)
    assert again.train_seconds == 0.0, "a finished run is not trained again"
    assert metrics.stat().st_mtime_ns == written and again.report == first.report

    fewer = train_and_score(config, run_dir, split="val", samples=2, progress=False)
    assert fewer.report["num_samples"] == 2


def test_a_finished_run_of_another_config_is_refused(tmp_path: Path):
    config = tiny_config(build_tiny_synth(tmp_path / "synth"))
    train_and_score(config, tmp_path / "run", split="val", samples=2, progress=False)
    with pytest.raises(CheckpointError, match="different config"):
        train_and_score(replace(config, seed=config.seed + 1), tmp_path / "run", progress=False)
