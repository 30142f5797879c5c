"""Notebook 05's run helpers: the shortened schedule, the config from parameters, the torchrun
command, the loss curves and the run record."""

from __future__ import annotations

import json
import sys

import pytest

from s2h_lib.train.train_config import PRESETS, StageConfig
from s2h_lib.train.train_run import (
    HEADLINE_METRICS,
    has_video_stage,
    loss_curves_figure,
    read_log,
    run_config,
    run_record,
    shorten_stages,
    torchrun_command,
)


def test_shorten_stages_keeps_shares_and_scales_milestones():
    stages = (
        StageConfig("shape", 600, milestones=(300,)),
        StageConfig("kp", 150),
        StageConfig("finetune", 150, lr=2.5e-4),
    )
    short = shorten_stages(stages, 90)
    # 600/900 * 90 = 60, 150/900 * 90 = 15
    assert [s.steps for s in short] == [60, 15, 15]
    assert short[0].milestones == (30,)
    assert short[2].lr == 2.5e-4 and [s.name for s in short] == ["shape", "kp", "finetune"]
    # ideal shares 2, 0.5, 0.5: each stage needs a step, so the long one gives one up
    assert [s.steps for s in shorten_stages(stages, 3)] == [1, 1, 1]
    # ideal 6, 1.5, 1.5: the leftover step goes to the first of the tied remainders
    assert [s.steps for s in shorten_stages(stages, 9)] == [6, 2, 1]


def test_shorten_stages_gives_every_stage_a_step_and_drops_milestones_at_the_end():
    stages = (StageConfig("shape", 600, milestones=(300,)), StageConfig("kp", 150))
    short = shorten_stages(stages, 1)
    assert [s.steps for s in short] == [1, 1]
    assert short[0].milestones == ()  # a milestone at step 0 or 1 of 1 would be meaningless
    with pytest.raises(ValueError, match="steps must be >= 1"):
        shorten_stages(stages, 0)


def test_run_config_applies_the_parameters():
    config = run_config(
        "synth-cpu-demo",
        ablate=["texture", "biomech"],
        seed=3,
        steps=9,
        batch_size=4,
        data_root="somewhere/synth",
        image_size=64,
        workers=0,
        device="cpu",
    )
    assert config.seed == 3 and config.ablate == ("texture", "biomech")
    assert config.total_steps == 9 and {s.batch_size for s in config.stages} == {4}
    assert (config.data.root, config.data.image_size, config.data.workers) == (
        "somewhere/synth",
        64,
        0,
    )
    assert config.effective_losses.weight("joint_limits") == 0.0
    assert config.effective_losses.weight("photometric") == 0.0
    assert config.effective_losses.weight("keypoints_2d") > 0.0
    unchanged = run_config("synth-cpu-demo")
    assert unchanged.stages == PRESETS["synth-cpu-demo"].stages
    assert unchanged.data == PRESETS["synth-cpu-demo"].data


def test_run_config_rejects_an_unknown_group_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown loss group\(s\) \['textures'\].*texture"):
        run_config("synth-cpu-demo", ablate=["textures"])


def test_video_stage_is_detected():
    assert not has_video_stage(PRESETS["synth-cpu-demo"])
    assert has_video_stage(PRESETS["synth-full"])
    assert not has_video_stage(PRESETS["freihand-gpu"])


def test_torchrun_command_resumes_the_run_with_the_given_config():
    command = torchrun_command(2, "run/requested.yaml", "run")
    assert command[:5] == [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    assert command[5:] == [
        "-m",
        "s2h_lib.cli",
        "train",
        "--config",
        "run/requested.yaml",
        "--out",
        "run",
        "--resume",
    ]
    with pytest.raises(ValueError, match="2 or more"):
        torchrun_command(1, "c.yaml", "run")


def test_loss_curves_have_one_panel_per_term(tmp_path):
    records = [
        {"step": 1, "stage": "shape", "loss/total": 2.0, "loss/keypoints_2d": 1.5, "lr": 1e-3},
        {"step": 2, "stage": "shape", "loss/total": 1.0, "loss/keypoints_2d": 0.5, "lr": 1e-3},
        {"step": 3, "stage": "kp", "loss/total": 0.3, "loss/heatmap_2d": 0.3, "lr": 1e-3},
    ]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    figure = loss_curves_figure(read_log(log))
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["total", "keypoints_2d", "heatmap_2d"]
    total_lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in total_lines] == ["shape", "kp"]
    assert list(total_lines[0].get_ydata()) == [2.0, 1.0]
    with pytest.raises(ValueError, match="no loss values"):
        loss_curves_figure([{"step": 1, "stage": "shape"}])
    with pytest.raises(FileNotFoundError, match=r"log\.jsonl"):
        read_log(tmp_path / "missing" / "log.jsonl")


def test_run_record_holds_the_run_and_its_headline_numbers():
    config = run_config("synth-full", ablate=["motion"], seed=2, steps=8)
    report = {key: float(i) for i, key in enumerate(HEADLINE_METRICS)}
    report |= {"num_samples": 8, "pck_curves": {"thresholds_mm": [0.0, 50.0]}, "extra": 1}
    record = run_record(config, report, eval_split="val", train_seconds=1.5, files=["b", "a"])
    assert record["ablate"] == ["motion"] and record["seed"] == 2 and record["steps"] == 8
    assert record["pa_mpjpe_mm"] == 0.0 and record["num_samples"] == 8
    assert record["files"] == ["a", "b"] and "extra" not in record
    assert record["has_video_stage"] is True
    with pytest.raises(ValueError, match="lacks"):
        run_record(config, {"pck_curves": {}}, eval_split="val", train_seconds=0, files=[])
