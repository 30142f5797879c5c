"""The accuracy benchmark: the method under each supervision, several seeds, one budget.

Every variant trains the same preset for the same number of steps and is scored on the same
test samples with the FreiHAND protocol:

  self               images + detector keypoints only (the method)
  weak               ground-truth 2D keypoints instead of the detector's
  full               3D labels: the upper bound
  self-no-bone       the method without the bone-direction term
  self-no-biomech    the method without the joint-angle limits
  self-random-init   the method from a randomly initialised encoder (what pretraining buys)
  self-one-view      the method without the choice of the hand's side (`view_hypotheses` 1)
  self-one-pose      the method with one pose hypothesis (`pose_hypotheses` 1)
  self-mean-hand     the method answering the mean hand where the detector found none, instead
                     of the image pose head (`without_anchors` "mean")
  self-regressed     the method with the original's regressed camera instead of the anchored one
                     (what the anchored camera buys)
  self-regressed-no-bone   the same without the bone-direction term

next to the per-image fitting and mean-pose baselines (no training, scored once). The method's
accuracy targets are checked on the means: self PA-MPJPE at most `SELF_TO_FULL_TARGET` times
full's and below per-image fitting's, and each row clearly below its ablations' (the gap larger
than the two spreads added): self against the first seven, self-regressed against the last.
Each run lives in `out/<variant>/seed<k>/` with its `eval/`; a run with a `metrics.json` is
finished and skipped, so an interrupted benchmark resumes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.evaluation.eval_model import evaluate_predictor, evaluated_once
from s2h_lib.experiments.ablate import summary_csv, summary_markdown, summary_rows
from s2h_lib.experiments.scored_run import scored_samples, train_and_score
from s2h_lib.fit.baselines import FITTING, MEAN_POSE, mean_pose_predictor
from s2h_lib.fit.fit_config import FitConfig
from s2h_lib.fit.fitter import fit_predictor
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.train.train_config import TrainConfig
from s2h_lib.train.train_run import resolve_device, run_config


@dataclass(frozen=True)
class Variant:
    """One row of the benchmark: the supervision, the loss groups turned off, and the
    `ModelConfig` fields changed from the preset's as (name, value) pairs."""

    supervision: str
    ablate: tuple[str, ...] = ()
    model_changes: tuple[tuple[str, object], ...] = ()


# The original's camera: rotation, scale and translation from the heads (one view to choose),
# which read the whole image.
REGRESSED_CAMERA = (
    ("camera", "regressed"),
    ("view_hypotheses", 1),
    ("pose_hypotheses", 1),
    ("regressor_image_width", None),
)
VARIANTS: dict[str, Variant] = {
    "self": Variant("self"),
    "weak": Variant("weak"),
    "full": Variant("full"),
    "self-no-bone": Variant("self", ("bone",)),
    "self-no-biomech": Variant("self", ("biomech",)),
    "self-random-init": Variant("self", model_changes=(("pretrained_weights", None),)),
    "self-one-view": Variant("self", model_changes=(("view_hypotheses", 1),)),
    "self-one-pose": Variant("self", model_changes=(("pose_hypotheses", 1),)),
    "self-mean-hand": Variant("self", model_changes=(("without_anchors", "mean"),)),
    "self-regressed": Variant("self", model_changes=REGRESSED_CAMERA),
    "self-regressed-no-bone": Variant("self", ("bone",), model_changes=REGRESSED_CAMERA),
}
# (row, ablation): the row must beat the ablation clearly; each ablation takes one part away.
ABLATIONS = (
    ("self", "self-no-bone"),
    ("self", "self-no-biomech"),
    ("self", "self-random-init"),
    ("self", "self-one-view"),
    ("self", "self-one-pose"),
    ("self", "self-mean-hand"),
    ("self", "self-regressed"),
    ("self-regressed", "self-regressed-no-bone"),
)
SELF_TO_FULL_TARGET = 1.15
HEADLINE = "pa_mpjpe_mm"
SUMMARY_MD, SUMMARY_CSV = "summary.md", "summary.csv"


@dataclass(frozen=True)
class AccuracyConfig:
    """What the benchmark trains and scores.

    preset: a preset name or a YAML config; steps: every run's schedule squeezed to this many
    steps (`train_run.shorten_stages`; None = the preset's own, which synth-full sizes for a
    GPU; on CPU, the largest that fits); batch_size: None = the preset's; eval_samples: test
    samples scored (None = the whole split).
    """

    preset: str = "synth-full"
    data_root: str = "data/s2h_synth"
    out: str = "runs/accuracy"
    seeds: int = 3
    steps: int | None = None
    batch_size: int | None = None
    variants: tuple[str, ...] = tuple(VARIANTS)
    eval_samples: int | None = None
    fit_steps: int = 150
    device: str = "auto"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.variants) - set(VARIANTS))
        if unknown:
            raise ValueError(f"unknown variants {unknown}; known: {list(VARIANTS)}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")


@dataclass
class AccuracyResult:
    """rows: name -> summary row (`ablate.summary_rows`); checks: one line per target."""

    rows: dict[str, dict]
    checks: list[str]
    summary_md: Path
    summary_csv: Path


def variant_config(config: AccuracyConfig, variant: str, seed: int) -> TrainConfig:
    chosen = VARIANTS[variant]
    train_config = run_config(
        config.preset,
        supervision=chosen.supervision,
        ablate=chosen.ablate,
        seed=seed,
        steps=config.steps,
        batch_size=config.batch_size,
        data_root=config.data_root,
        device=config.device,
    )
    return replace(train_config, model=replace(train_config.model, **dict(chosen.model_changes)))


def _folder(name: str) -> str:
    return name.replace(" ", "_")


def _run_variant(config: AccuracyConfig, variant: str, seed: int, progress: bool) -> dict:
    run = train_and_score(
        variant_config(config, variant, seed),
        Path(config.out) / _folder(variant) / f"seed{seed}",
        split="test",
        samples=config.eval_samples,
        progress=progress,
    )
    return {**run.report, "ablate": list(VARIANTS[variant].ablate)}


def _run_baselines(config: AccuracyConfig, progress: bool) -> dict[str, dict]:
    train_config = variant_config(config, "self", 0)
    test = scored_samples(train_config.data, "test", config.eval_samples)
    predictors = {
        FITTING: fit_predictor(
            FitConfig(steps=config.fit_steps), device=resolve_device(config.device)
        ),
        MEAN_POSE: mean_pose_predictor(),
    }
    faces = ManoLayer(mano_root=train_config.model.mano_root).faces
    records = {}
    for name, predictor in predictors.items():
        folder = Path(config.out) / "baselines" / _folder(name)
        records[name] = evaluated_once(
            folder,
            lambda f, p=predictor: evaluate_predictor(p, faces, test, f, progress=progress),
        )
    return records


def _mean(rows: Mapping[str, dict], name: str) -> tuple[float, float]:
    row = rows[name]
    return row[f"{HEADLINE}_mean"], row[f"{HEADLINE}_std"]


def _spread(std: float) -> float:
    return 0.0 if math.isnan(std) else std


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def target_checks(rows: Mapping[str, dict]) -> list[str]:
    """One "PASS"/"FAIL" line per target whose rows are present (PA-MPJPE means, mm)."""
    lines = []
    if "self" in rows:
        self_mean = _mean(rows, "self")[0]
        if "full" in rows:
            ratio = self_mean / _mean(rows, "full")[0]
            lines.append(
                f"{_verdict(ratio <= SELF_TO_FULL_TARGET)} self / full PA-MPJPE = {ratio:.3f} "
                f"(target <= {SELF_TO_FULL_TARGET})"
            )
        for baseline in (FITTING, MEAN_POSE):
            if baseline in rows:
                other = _mean(rows, baseline)[0]
                lines.append(
                    f"{_verdict(self_mean < other)} self {self_mean:.2f} mm vs {baseline} "
                    f"{other:.2f} mm (target: lower)"
                )
    for row, ablation in ABLATIONS:
        if row in rows and ablation in rows:
            mean, std = _mean(rows, row)
            other, other_std = _mean(rows, ablation)
            clearly = other - mean > _spread(std) + _spread(other_std)
            lines.append(
                f"{_verdict(clearly)} {row} {mean:.2f} mm vs {ablation} {other:.2f} mm "
                "(target: clearly lower, the gap beyond both spreads)"
            )
    return lines


def paired_differences(records: Mapping[str, list[dict]]) -> list[str]:
    """One line per ablation whose two rows ran the same seeds: the ablation's PA-MPJPE minus
    its row's, seed by seed (same seed, same start and data order: a paired comparison, which
    the spreads of the PASS/FAIL lines leave aside)."""
    lines = []
    for row, ablation in ABLATIONS:
        own, other = records.get(row, []), records.get(ablation, [])
        if not own or len(own) != len(other):
            continue
        gaps = [b[HEADLINE] - a[HEADLINE] for a, b in zip(own, other, strict=True)]
        worse = sum(gap > 0 for gap in gaps)
        listed = ", ".join(f"{gap:+.2f}" for gap in gaps)
        lines.append(
            f"{ablation} minus {row}, seed by seed: {listed} mm "
            f"(worse on {worse} of {len(gaps)} seeds)"
        )
    return lines


def run_accuracy(config: AccuracyConfig, progress: bool = True) -> AccuracyResult:
    """Train and score every variant and seed, score the baselines, write the summary."""
    out = Path(config.out)
    runs = [(v, s) for v in config.variants for s in range(config.seeds)]
    records: dict[str, list[dict]] = {}
    for variant, seed in tqdm(runs, desc="accuracy runs", disable=not progress):
        records.setdefault(variant, []).append(_run_variant(config, variant, seed, progress))
    for name, record in _run_baselines(config, progress).items():
        records[name] = [record]
    rows = summary_rows(records)
    checks = target_checks(rows)
    steps = variant_config(config, config.variants[0], 0).total_steps
    notes = [
        f"Preset `{config.preset}`, {steps} steps a run, "
        f"{config.seeds} seed(s); baselines scored once.",
        *checks,
        *paired_differences(records),
    ]
    md, csv = out / SUMMARY_MD, out / SUMMARY_CSV
    atomic_write_bytes(md, summary_markdown(rows, notes).encode())
    atomic_write_bytes(csv, summary_csv(rows))
    return AccuracyResult(rows, checks, md, csv)
