"""The main job (`make demo`, `s2h demo`): data, training, evaluation, baselines, report.

1. build S2H-Synth (resumable; kept when already complete);
2. train a preset (default `synth-cpu-demo`) self-supervised, resuming a cut-off run;
3. score the network, the network with test-time refinement (`refine.py`), the per-image
   fitting baseline and the mean-pose baseline on the same test samples with the FreiHAND
   protocol;
4. write `report.html` with the table, PCK curves, loss curve, overlays and a 3D view.
Every step writes into its own folder under `out`, so a finished step is never redone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from s2h_lib.data.synth.config import SynthConfig
from s2h_lib.data.synth.store import build_synth
from s2h_lib.evaluation.eval_model import (
    evaluate_predictor,
    evaluated_once,
)
from s2h_lib.evaluation.report import findings, write_report
from s2h_lib.experiments.scored_run import train_and_score
from s2h_lib.fit.baselines import FITTING, MEAN_POSE, mean_pose_predictor
from s2h_lib.fit.fit_config import FitConfig
from s2h_lib.fit.fitter import fit_predictor
from s2h_lib.fit.refine import refine_predictor
from s2h_lib.train.train_config import load_config, merge_nested

NETWORK, REFINED = "self-supervised network", "network + refinement"


@dataclass(frozen=True)
class PipelineConfig:
    """What the main job builds and how much of it.

    eval_samples: test samples every method is scored on (the fitting baseline optimises each
        one, so it sets the evaluation time); None scores the whole test split.
    train_overrides: nested changes to the preset (as in a YAML file), e.g. shorter stages.
    """

    out: str = "runs/demo"
    data_root: str = "data/s2h_synth"
    preset: str = "synth-cpu-demo"
    synth: SynthConfig = field(default_factory=SynthConfig)
    synth_workers: int = 2
    eval_samples: int | None = 200
    fit_steps: int = 150
    seed: int = 0
    train_overrides: dict = field(default_factory=dict)


def _eval_dir(out: Path, method: str) -> Path:
    return out / "eval" / method.replace(" ", "_")


def _score(name: str, predictor, faces, dataset, out: Path, progress: bool) -> dict:
    return evaluated_once(
        _eval_dir(out, name),
        lambda folder: evaluate_predictor(predictor, faces, dataset, folder, progress=progress),
    )


def run_pipeline(config: PipelineConfig, progress: bool = True) -> Path:
    """Run every step of the main job; returns the report's path."""
    out = Path(config.out)
    build_synth(config.data_root, config.synth, workers=config.synth_workers, progress=progress)

    overrides = {"data": {"root": config.data_root}, "seed": config.seed}
    train_config = load_config(config.preset, merge_nested(overrides, config.train_overrides))
    run_dir = out / "train"
    network = train_and_score(
        train_config,
        run_dir,
        split="test",
        samples=config.eval_samples,
        eval_dir=_eval_dir(out, NETWORK),
        progress=progress,
    )
    test, faces = network.samples, network.model.faces
    fit_config = FitConfig(steps=config.fit_steps, seed=config.seed)
    device = next(network.model.parameters()).device  # refinement and fitting timed alike
    baselines = {
        REFINED: refine_predictor(network.model),
        FITTING: fit_predictor(fit_config, device=device),
        MEAN_POSE: mean_pose_predictor(),
    }
    rows = {NETWORK: network.report}
    rows |= {name: _score(name, p, faces, test, out, progress) for name, p in baselines.items()}
    eval_dirs = {name: _eval_dir(out, name) for name in rows}
    notes = (
        f"Preset <code>{config.preset}</code>, seed {config.seed}, trained on S2H-Synth "
        f"({config.synth.train} images) from images and noisy 2D keypoints only; scored on "
        f"{len(test)} test samples with the FreiHAND protocol. Config: "
        f"<code>{run_dir / 'config.yaml'}</code>."
    )
    return write_report(
        out / "report.html",
        "s2hand-lab: self-supervised 3D hand reconstruction",
        rows,
        eval_dirs,
        run_dir / "log.jsonl",
        faces.cpu().numpy(),
        notes,
        findings(rows, NETWORK, REFINED, FITTING, MEAN_POSE),
    )


QUICK_STAGES = [
    {"name": "shape", "steps": 20, "batch_size": 8},
    {"name": "video", "steps": 3, "batch_size": 2, "lr": 1e-4},
]


def quick_pipeline(config: PipelineConfig) -> PipelineConfig:
    """A version of `config` that runs in about a minute: a small benchmark, a few steps. It
    checks that everything works end to end; its numbers mean nothing."""
    synth = replace(config.synth, train=64, val=16, test=16, clips=4, shard_size=64)
    return replace(
        config,
        out=f"{config.out}_quick",
        data_root=f"{config.data_root}_quick",
        synth=synth,
        eval_samples=16,
        fit_steps=20,
        train_overrides=merge_nested(
            config.train_overrides,
            {"stages": QUICK_STAGES, "log_every": 5, "checkpoint_every": 10, "overlay_every": 0},
        ),
    )
