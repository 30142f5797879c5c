"""The accuracy benchmark: the target checks, and a tiny end-to-end run that resumes."""

from __future__ import annotations

import math

import pytest
from helpers.tiny_training import build_tiny_synth, tiny_config

from s2h_lib.config_io import dump_yaml
from s2h_lib.experiments.accuracy import (
    AccuracyConfig,
    paired_differences,
    run_accuracy,
    target_checks,
    variant_config,
)


def _row(mean: float, std: float = math.nan) -> dict:
    return {"pa_mpjpe_mm_mean": mean, "pa_mpjpe_mm_std": std}


def test_target_checks_on_hand_made_rows():
    rows = {
        "self": _row(10.0, 0.5),
        "full": _row(9.0, 0.2),  # 10 / 9 = 1.111 <= 1.15
        "per-image fitting": _row(11.0),
        "mean pose": _row(9.5),
        "self-no-bone": _row(10.8, 0.5),  # gap 0.8 < 0.5 + 0.5: not clearly
        "self-no-biomech": _row(12.0, 0.2),  # gap 2.0 > 0.7
    }
    lines = target_checks(rows)
    assert lines[0].startswith("PASS self / full PA-MPJPE = 1.111")
    assert lines[1].startswith("PASS") and "per-image fitting" in lines[1]
    assert lines[2].startswith("FAIL") and "mean pose" in lines[2]
    assert lines[3].startswith("FAIL") and "self-no-bone" in lines[3]
    assert lines[4].startswith("PASS") and "self-no-biomech" in lines[4]
    assert target_checks({"full": _row(9.0)}) == []


def test_each_ablation_is_checked_against_its_own_row():
    rows = {
        "self-regressed": _row(15.0, 0.3),
        "self-regressed-no-bone": _row(16.9, 0.4),  # gap 1.9 > 0.7
        "self-no-bone": _row(12.0, 0.1),  # no "self" row: not checked
    }
    assert target_checks(rows) == [
        "PASS self-regressed 15.00 mm vs self-regressed-no-bone 16.90 mm "
        "(target: clearly lower, the gap beyond both spreads)"
    ]


def test_paired_differences_go_seed_by_seed():
    records = {
        "self": [{"pa_mpjpe_mm": 11.50}, {"pa_mpjpe_mm": 11.30}, {"pa_mpjpe_mm": 11.40}],
        "self-no-biomech": [{"pa_mpjpe_mm": 11.70}, {"pa_mpjpe_mm": 11.25}, {"pa_mpjpe_mm": 11.52}],
        "self-no-bone": [{"pa_mpjpe_mm": 12.0}],  # one seed against three: not paired
    }
    assert paired_differences(records) == [
        "self-no-biomech minus self, seed by seed: +0.20, -0.05, +0.12 mm (worse on 2 of 3 seeds)"
    ]


def test_model_variants_change_only_their_model_field():
    config = AccuracyConfig(preset="synth-cpu-demo", steps=20)
    self_run = variant_config(config, "self", seed=1)
    assert self_run.model.view_hypotheses == 4 and self_run.model.pretrained_weights
    assert self_run.model.regressor_image_width == 0
    one_view = variant_config(config, "self-one-view", seed=1)
    assert one_view.model.view_hypotheses == 1
    one_pose = variant_config(config, "self-one-pose", seed=1)
    assert one_pose.model.pose_hypotheses == 1
    assert one_pose.model.view_hypotheses == self_run.model.view_hypotheses
    random_init = variant_config(config, "self-random-init", seed=1)
    assert random_init.model.pretrained_weights is None
    regressed = variant_config(config, "self-regressed-no-bone", seed=1)
    assert regressed.model.camera == "regressed" and regressed.model.view_hypotheses == 1
    assert regressed.model.pose_hypotheses == 1
    assert regressed.model.regressor_image_width is None  # the original's heads read the image
    assert regressed.effective_losses.weight("bone_direction") == 0.0
    assert self_run.model.camera == "keypoints"
    for run in (one_view, one_pose, random_init, regressed):
        assert run.total_steps == 20 and run.seed == 1 and run.supervision == "self"


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variants"):
        AccuracyConfig(variants=("self", "semi"))


def test_tiny_benchmark_runs_resumes_and_writes_the_table(tmp_path):
    root = build_tiny_synth(tmp_path / "synth")
    preset = tmp_path / "tiny.yaml"
    preset.write_text(dump_yaml(tiny_config(root)))
    config = AccuracyConfig(
        preset=str(preset),
        data_root=str(root),
        out=str(tmp_path / "accuracy"),
        seeds=2,
        variants=("self", "full"),
        steps=4,
        fit_steps=5,
        device="cpu",
    )
    result = run_accuracy(config, progress=False)
    assert list(result.rows) == ["self", "full", "per-image fitting", "mean pose"]
    assert result.rows["self"]["n"] == 2 and result.rows["mean pose"]["n"] == 1
    assert all(math.isfinite(row["pa_mpjpe_mm_mean"]) for row in result.rows.values())
    assert result.checks[0].split()[0] in ("PASS", "FAIL") and "self / full" in result.checks[0]
    table = result.summary_md.read_text()
    assert "| self-no-bone" not in table and "| full | - | 2 |" in table
    assert "4 steps a run, 2 seed(s)" in table
    assert "seed by seed" not in table  # no ablation row among self and full

    model = tmp_path / "accuracy" / "full" / "seed1" / "model.pt"
    stamp = model.stat().st_mtime_ns
    again = run_accuracy(config, progress=False)
    assert model.stat().st_mtime_ns == stamp  # finished runs are not trained again
    assert again.rows["full"]["pa_mpjpe_mm_mean"] == result.rows["full"]["pa_mpjpe_mm_mean"]
