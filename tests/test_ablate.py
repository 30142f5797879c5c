"""The ablation driver: the grid, skipping finished runs, parallel runs, failures, the summary
files and `s2h ablate`. Runs are stand-ins that write a metrics.json like notebook 05's (the
real notebook runs in tests/test_notebooks.py through notebook 06)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from s2h_lib.cli import main
from s2h_lib.experiments import ablate
from s2h_lib.experiments.ablate import (
    RunSpec,
    configurations,
    mean_and_std,
    plan_runs,
    run_ablation,
    seed_list,
)
from s2h_lib.lab.notebook import NotebookParameterError
from s2h_lib.train.train_run import HEADLINE_METRICS

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "05_train.ipynb"
# PA-MPJPE of a fake run: 10 mm, +5 per ablated group, +seed (so mean and std are known).
BASE_ERROR_MM = 10.0


def fake_record(spec: RunSpec, has_video_stage: bool = False) -> dict:
    error = BASE_ERROR_MM + 5.0 * len(spec.ablate) + spec.seed
    return {
        "ablate": list(spec.ablate),
        "seed": spec.seed,
        "has_video_stage": has_video_stage,
        **{key: error for key in HEADLINE_METRICS},
        "pa_mpvpe_mm": "n/a",  # a metric no sample could be scored on
        "pck_curves": {"thresholds_mm": [0.0, 25.0, 50.0], "pa_joints": [0.0, 0.5, 1.0]},
    }


def fake_runner(spec: RunSpec, params: Mapping[str, object], notebook) -> Path:
    """Module level, so the process pool can pickle it."""
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    (spec.out_dir / "params.json").write_text(json.dumps(dict(params)))
    (spec.out_dir / "metrics.json").write_text(json.dumps(fake_record(spec)))
    return spec.out_dir


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as file:
        return {row["configuration"]: row for row in csv.DictReader(file)}


def test_the_grid_is_the_baseline_plus_one_group_off_at_a_time(tmp_path):
    assert configurations(["texture", "motion"]) == {
        "baseline": (),
        "no_texture": ("texture",),
        "no_motion": ("motion",),
    }
    runs = plan_runs(["biomech"], 2, tmp_path)
    assert [(r.config, r.seed, r.out_dir) for r in runs] == [
        ("baseline", 0, tmp_path / "baseline" / "seed0"),
        ("baseline", 1, tmp_path / "baseline" / "seed1"),
        ("no_biomech", 0, tmp_path / "no_biomech" / "seed0"),
        ("no_biomech", 1, tmp_path / "no_biomech" / "seed1"),
    ]
    assert seed_list([3, 7]) == [3, 7]
    with pytest.raises(ValueError, match=r"unknown loss group\(s\) \['texure'\]"):
        configurations(["texure"])
    with pytest.raises(ValueError, match="twice"):
        configurations(["texture", "texture"])
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        seed_list(0)


def test_mean_and_sample_std_skip_unscored_runs():
    mean, std = mean_and_std(np.array([10.0, 12.0, math.nan]))
    assert mean == 11.0 and std == pytest.approx(math.sqrt(2.0))
    mean, std = mean_and_std(np.array([10.0]))
    assert mean == 10.0 and math.isnan(std)


def test_summary_has_a_row_per_configuration_with_mean_and_std(tmp_path):
    out = tmp_path / "ablate"
    params = {"steps": 2, "data_root": "relative/synth"}
    result = run_ablation(
        ["texture", "motion"],
        2,
        out,
        params=params,
        notebook=NOTEBOOK,
        runner=fake_runner,
        progress=False,
    )
    rows = read_csv(out / "summary.csv")
    assert list(rows) == ["baseline", "no_texture", "no_motion"]
    # seeds 0 and 1: errors 10, 11 (baseline) and 15, 16 (one group off)
    assert float(rows["baseline"]["pa_mpjpe_mm_mean"]) == pytest.approx(10.5)
    assert float(rows["no_texture"]["pa_mpjpe_mm_mean"]) == pytest.approx(15.5)
    assert float(rows["no_texture"]["pa_mpjpe_mm_std"]) == pytest.approx(math.sqrt(0.5))
    assert rows["no_motion"]["n"] == "2" and rows["no_motion"]["ablate"] == "motion"
    assert rows["baseline"]["pa_mpvpe_mm_mean"] == ""  # "n/a" in every run: no number
    markdown = (out / "summary.md").read_text()
    assert "| no_texture | texture | 2 | 15.500 ± 0.707 |" in markdown
    assert "has none, so `no_motion` trains exactly what `baseline` trains" in markdown
    assert [p.name for p in result.plots] == ["summary_bars.png", "summary_pck.png"]
    assert all(p.stat().st_size > 1000 for p in result.plots)
    assert not list(out.glob(".*.tmp")), "a temporary file of an atomic write was left"
    # the runs get the shared parameters, with the data folder made absolute
    sent = json.loads((out / "no_texture" / "seed1" / "params.json").read_text())
    assert sent == {"steps": 2, "data_root": str((Path.cwd() / "relative/synth").resolve())}


def test_finished_runs_are_skipped_on_restart(tmp_path):
    out = tmp_path / "ablate"
    run_ablation(["biomech"], 1, out, notebook=NOTEBOOK, runner=fake_runner, progress=False)
    (out / "no_biomech" / "seed0" / "metrics.json").unlink()  # as if cut off mid-run
    ran = []

    def counting_runner(spec, params, notebook):
        ran.append(spec.config)
        return fake_runner(spec, params, notebook)

    run_ablation(["biomech"], 1, out, notebook=NOTEBOOK, runner=counting_runner, progress=False)
    assert ran == ["no_biomech"]


def test_a_failed_run_is_reported_and_left_out(tmp_path):
    def failing_runner(spec, params, notebook):
        if spec.ablate:
            raise RuntimeError("05_train.ipynb failed in cell 7")
        return fake_runner(spec, params, notebook)

    out = tmp_path / "ablate"
    result = run_ablation(
        ["texture"], 1, out, notebook=NOTEBOOK, runner=failing_runner, progress=False
    )
    assert list(read_csv(out / "summary.csv")) == ["baseline"]
    assert result.failed == {
        str(out / "no_texture" / "seed0"): "RuntimeError: 05_train.ipynb failed in cell 7"
    }
    assert "Failed runs, left out" in (out / "summary.md").read_text()
    with pytest.raises(RuntimeError, match="no run of the ablation finished"):
        run_ablation(
            ["texture"],
            [5],
            tmp_path / "none",
            notebook=NOTEBOOK,
            runner=always_failing,
            progress=False,
        )


def always_failing(spec, params, notebook):
    raise RuntimeError("broken")


def test_parallel_workers_run_every_configuration(tmp_path):
    out = tmp_path / "ablate"
    result = run_ablation(
        ["texture", "biomech"],
        1,
        out,
        workers=2,
        notebook=NOTEBOOK,
        runner=fake_runner,
        progress=False,
    )
    assert set(result.rows) == {"baseline", "no_texture", "no_biomech"}
    assert not result.failed


def test_bad_arguments_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ValueError, match=r"\['seed'\] are set per run"):
        run_ablation(["texture"], 1, tmp_path, params={"seed": 3}, notebook=NOTEBOOK)
    with pytest.raises(FileNotFoundError, match="training notebook"):
        run_ablation(["texture"], 1, tmp_path, notebook=tmp_path / "missing.ipynb")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_ablation(["texture"], 1, tmp_path, workers=0, notebook=NOTEBOOK)


def test_parameters_the_training_notebook_refuses_stop_the_grid_before_any_run(tmp_path):
    bad = {"step": 3, "batch_size": "4"}
    with pytest.raises(NotebookParameterError) as error:
        run_ablation(["texture"], 1, tmp_path, params=bad, notebook=NOTEBOOK, runner=fake_runner)
    assert "did you mean 'steps'?" in str(error.value)
    assert "parameter 'batch_size' must be int | None, got str '4'" in str(error.value)
    assert not list(tmp_path.iterdir()), "no run started"


def test_cli_ablate_runs_the_grid(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ablate, "execute_run", fake_runner)
    out = tmp_path / "ablate"
    code = main(
        [
            "ablate",
            "--grid",
            "texture,biomech",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--steps",
            "3",
            "--notebook",
            str(NOTEBOOK),
            "--param",
            "batch_size=4",
        ]
    )
    assert code == 0
    assert list(read_csv(out / "summary.csv")) == ["baseline", "no_texture", "no_biomech"]
    sent = json.loads((out / "baseline" / "seed0" / "params.json").read_text())
    assert sent["steps"] == 3 and sent["batch_size"] == 4 and sent["preset"] == "synth-cpu-demo"
    assert "| baseline | - | 2 |" in capsys.readouterr().out
    assert main(["ablate", "--grid", "textures", "--out", str(out)]) == 2
    assert "unknown loss group" in capsys.readouterr().err
