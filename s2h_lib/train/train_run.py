"""One training run as notebook 05 describes it: a preset, shortened or not, trained, scored,
summarised in a `metrics.json` that the ablation driver reads.

`run_config` turns the notebook's parameters into a `TrainConfig` (the ablated groups, the seed,
a short schedule); `torchrun_command` is what the notebook shells out to for several processes;
`loss_curves_figure` draws every loss term from the trainer's `log.jsonl`; `run_record` is the
content of the run's `metrics.json`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.losses.loss_config import GROUPS
from s2h_lib.losses.objective import Supervision
from s2h_lib.train.train_config import StageConfig, TrainConfig, load_config

# The headline numbers of a run (the FreiHAND protocol's, Procrustes-aligned), by metrics key.
HEADLINE_METRICS: dict[str, str] = {
    "pa_mpjpe_mm": "PA-MPJPE (mm)",
    "pa_mpvpe_mm": "PA-MPVPE (mm)",
    "pa_auc_joints_0_50mm": "AUC (PA joints, 0-50 mm)",
    "pa_f_score_5mm": "F@5 mm",
    "pa_f_score_15mm": "F@15 mm",
    "projected_size_ratio": "projected size / true",
}
# Further numbers copied from the evaluation into the record when present.
EXTRA_METRICS = ("mpjpe_mm", "rr_mpjpe_mm", "epe2d_px", "num_samples")
LOSS_PREFIX = "loss/"
CURVE_COLUMNS = 4


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when available, else "cpu"; any other name is returned unchanged."""
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _scaled_milestones(milestones: Sequence[int], old: int, new: int) -> tuple[int, ...]:
    scaled = (round(m * new / old) for m in milestones) if old else ()
    return tuple(sorted({m for m in scaled if 0 < m < new}))


def _split_steps(weights: Sequence[int], steps: int) -> list[int]:
    """`steps` split in proportion to `weights`, at least 1 each, summing to `steps` whenever
    `steps >= len(weights)` (largest remainders win the leftover steps)."""
    ideal = [steps * w / sum(weights) for w in weights]
    split = [max(1, math.floor(share)) for share in ideal]
    while sum(split) < steps:
        split[max(range(len(split)), key=lambda i: ideal[i] - split[i])] += 1
    while sum(split) > steps and max(split) > 1:
        shrinkable = [i for i in range(len(split)) if split[i] > 1]
        split[min(shrinkable, key=lambda i: ideal[i] - split[i])] -= 1
    return split


def shorten_stages(stages: Sequence[StageConfig], steps: int) -> tuple[StageConfig, ...]:
    """The schedule squeezed to `steps` steps: each stage keeps its share of the total but gets
    at least one step (so with fewer steps than stages, each stage runs one), and its
    learning-rate milestones scale along."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if sum(stage.steps for stage in stages) == 0:
        raise ValueError("the schedule has no steps to shorten")
    split = _split_steps([stage.steps for stage in stages], steps)
    return tuple(
        replace(stage, steps=new, milestones=_scaled_milestones(stage.milestones, stage.steps, new))
        for stage, new in zip(stages, split, strict=True)
    )


def run_config(
    preset: str,
    *,
    supervision: Supervision = "self",
    ablate: Sequence[str] = (),
    seed: int = 0,
    steps: int | None = None,
    batch_size: int | None = None,
    data_root: str | None = None,
    image_size: int | None = None,
    workers: int | None = None,
    device: str = "auto",
) -> TrainConfig:
    """The `TrainConfig` of one notebook-05 run: `preset` (a name or a YAML file) with the loss
    groups in `ablate` turned off, `seed`, and, when given, the schedule shortened to `steps`,
    every stage's batch size set to `batch_size`, and the data read from `data_root` at
    `image_size` pixels by `workers` loader processes."""
    unknown = sorted(set(ablate) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown loss group(s) {unknown} to ablate; known: {', '.join(GROUPS)}")
    config = load_config(preset)
    stages = config.stages if steps is None else shorten_stages(config.stages, steps)
    if batch_size is not None:
        stages = tuple(replace(stage, batch_size=batch_size) for stage in stages)
    root = None if data_root is None else str(data_root)
    data_changes = {"root": root, "image_size": image_size, "workers": workers}
    data = replace(config.data, **{k: v for k, v in data_changes.items() if v is not None})
    return replace(
        config,
        supervision=supervision,
        ablate=tuple(ablate),
        seed=seed,
        stages=stages,
        data=data,
        device=device,
    )


def has_video_stage(config: TrainConfig) -> bool:
    """Whether the schedule trains on clips (only then do the motion terms count)."""
    return any(stage.uses_clips for stage in config.stages)


def torchrun_command(nproc: int, config_file: str | Path, run_dir: str | Path) -> list[str]:
    """`python -m torch.distributed.run --nproc-per-node N -m s2h_lib.cli train ...` (the same
    as `torchrun`, without relying on PATH), resuming the run in `run_dir` if there is one."""
    if nproc < 2:
        raise ValueError(f"torchrun is for 2 or more processes, got nproc={nproc}")
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(nproc),
        "-m",
        "s2h_lib.cli",
        "train",
        "--config",
        str(config_file),
        "--out",
        str(run_dir),
        "--resume",
    ]


def read_log(path: str | Path) -> list[dict]:
    """The trainer's log.jsonl records, in order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path}: the trainer writes run_dir/log.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def loss_curves_figure(records: Sequence[dict], logy: bool = True) -> Figure:
    """One panel per loss term (weighted, as added to the total) against the global step, a
    colour per stage; `records` as `read_log` returns them."""
    terms = list(dict.fromkeys(k for r in records for k in r if k.startswith(LOSS_PREFIX)))
    if not terms:
        raise ValueError("the log holds no loss values (was anything trained?)")
    columns = min(CURVE_COLUMNS, len(terms))
    rows = math.ceil(len(terms) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows))
    FigureCanvasAgg(figure)
    stages = list(dict.fromkeys(r["stage"] for r in records))
    for index, term in enumerate(terms):
        ax = figure.add_subplot(rows, columns, index + 1)
        for colour, stage in enumerate(stages):
            points = [(r["step"], r[term]) for r in records if r["stage"] == stage and term in r]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, ".-", color=f"C{colour}", label=stage, markersize=3)
        if logy and all(r.get(term, 1.0) > 0 for r in records):
            ax.set_yscale("log")
        ax.set_title(term.removeprefix(LOSS_PREFIX), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def run_record(
    config: TrainConfig, report: dict, *, eval_split: str, train_seconds: float, files: list[str]
) -> dict:
    """metrics.json of a notebook-05 run: what was trained (preset, ablated groups, seed,
    steps), the evaluation's headline numbers and PCK curves, and the files written."""
    missing = [key for key in HEADLINE_METRICS if key not in report]
    if missing:
        raise ValueError(f"the evaluation report lacks {missing}; expected evaluate_predictor's")
    return {
        "preset": config.name,
        "supervision": config.supervision,
        "ablate": list(config.ablate),
        "seed": config.seed,
        "steps": config.total_steps,
        "stages": [stage.name for stage in config.stages],
        "has_video_stage": has_video_stage(config),
        "eval_split": eval_split,
        **{key: report[key] for key in (*HEADLINE_METRICS, *EXTRA_METRICS) if key in report},
        "pck_curves": report["pck_curves"],
        "train_seconds": train_seconds,
        "files": sorted(files),
    }
