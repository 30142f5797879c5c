"""The main job end to end (quick mode), and the train / eval commands."""

from __future__ import annotations

import json
import math
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.tiny_training import build_tiny_synth, tiny_config

from s2h_lib.cli import main, parse_assignments
from s2h_lib.config_io import dump_yaml
from s2h_lib.data.synth.config import SynthConfig
from s2h_lib.experiments.pipeline import PipelineConfig, quick_pipeline, run_pipeline

METHODS = ("self-supervised network", "network + refinement", "per-image fitting", "mean pose")


def test_quick_pipeline_writes_a_report_and_skips_finished_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo needs no hand detector: it runs where the `detect` extra is not installed
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    base = PipelineConfig(
        out=str(tmp_path / "demo"),
        data_root=str(tmp_path / "synth"),
        synth=SynthConfig(image_size=64, supersample=1),
        synth_workers=0,
    )
    tiny_stages = {
        "stages": [
            {"name": "shape", "steps": 2, "batch_size": 4},
            {"name": "finetune", "steps": 1, "batch_size": 4},
        ],
        "data": {"workers": 0},
    }
    config = replace(quick_pipeline(base), eval_samples=6, fit_steps=3)
    config = replace(config, train_overrides={**config.train_overrides, **tiny_stages})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = run_pipeline(config, progress=False)
    page = report.read_text()
    for method in METHODS:
        assert method in page
    fitting = json.loads((Path(config.out) / "eval/per-image_fitting/metrics.json").read_text())
    assert fitting["groups"]["hand_missed"]["count"] > 0, "the test needs a frame to leave unfitted"
    unfitted = [str(w.message) for w in caught if "confident keypoints" in str(w.message)]
    assert not unfitted, "the report scores the missed hands as a group; no per-batch warning"
    assert "<table>" in page and "plotly" in page.lower()
    for method in METHODS:
        metrics = json.loads(
            (Path(config.out) / "eval" / method.replace(" ", "_") / "metrics.json").read_text()
        )
        assert metrics["num_samples"] == config.eval_samples
        assert math.isfinite(metrics["pa_mpjpe_mm"]) and metrics["pa_mpjpe_mm"] > 0
    model = Path(config.out) / "train" / "model.pt"
    stamp = model.stat().st_mtime_ns
    run_pipeline(config, progress=False)
    assert model.stat().st_mtime_ns == stamp, "a finished training step is not redone"


def test_assignments_become_nested_overrides() -> None:
    assert parse_assignments(["seed=3", "data.root=x/y", "losses.weights.laplacian=0"]) == {
        "seed": 3,
        "data": {"root": "x/y"},
        "losses": {"weights": {"laplacian": 0}},
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_assignments(["seed"])


def test_train_and_eval_commands(tmp_path: Path, capsys) -> None:
    synth = build_tiny_synth(tmp_path / "synth")
    config = tiny_config(synth)
    config = replace(config, stages=(replace(config.stages[0], steps=2),))
    yaml_path = tmp_path / "tiny.yaml"
    yaml_path.write_text(dump_yaml(config))
    run = tmp_path / "run"
    assert main(["train", "--config", str(yaml_path), "--out", str(run), "--set", "seed=2"]) == 0
    assert (run / "model.pt").is_file() and "seed: 2" in (run / "config.yaml").read_text()
    assert main(["eval", "--model", str(run / "model.pt"), "--out", str(tmp_path / "ev")]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["num_samples"] == 8 and (tmp_path / "ev" / "examples.png").is_file()

    capsys.readouterr()
    assert main(["train", "--config", str(yaml_path), "--out", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--config", "no-such-preset.yaml", "--out", str(tmp_path / "x")]) == 2
    assert "not found" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--config",
                str(yaml_path),
                "--out",
                str(tmp_path / "y"),
                "--set",
                "data.imgsize=3",
            ]
        )
        == 2
    )
    assert "imgsize" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path / "none.pt"), "--out", str(tmp_path / "z")]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_demo_pretrained_weights_reach_the_training_config(tmp_path: Path, capsys) -> None:
    from s2h_lib.cli import build_parser, demo_config
    from s2h_lib.train.train_config import load_config

    missing = tmp_path / "lite0.pth"
    assert main(["demo", "--out", str(tmp_path / "demo"), "--pretrained", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "no such file" in err and "nothing is downloaded" in err
    assert not (tmp_path / "demo").exists()

    missing.write_bytes(b"weights")
    args = build_parser().parse_args(["demo", "--pretrained", str(missing)])
    config = demo_config(args)
    trained = load_config(config.preset, config.train_overrides)
    assert trained.model.pretrained_weights == str(missing)
    assert load_config(config.preset).model.pretrained_weights == "imagenet"
    random = demo_config(build_parser().parse_args(["demo", "--pretrained", "none"]))
    assert load_config(random.preset, random.train_overrides).model.pretrained_weights is None
