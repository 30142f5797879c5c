"""Exercises on training runs: weak against self supervision (05), which loss groups act and
how large an ablation grid grows (06)."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

from s2h_lib.experiments.ablate import RUN_RECORD, plan_runs
from s2h_lib.lab.exercises.verdict import (
    MissingAnswerError,
    Verdict,
    exercise_check,
    given,
)
from s2h_lib.losses.loss_config import GROUPS, SUPERVISED_TERMS
from s2h_lib.train.train_config import TrainConfig, load_config

COMPARED_FIELDS = ("preset", "seed", "steps", "ablate", "eval_split")


def _run_record(run_dir: str | Path) -> dict:
    path = Path(run_dir) / RUN_RECORD
    if not path.is_file():
        raise MissingAnswerError(
            f"{path} does not exist: the run has not finished (or not started)"
        )
    return json.loads(path.read_text())


@exercise_check
def check_weak_run(self_run: str | Path, weak_run: str | Path | None) -> Verdict:
    """Exercise 05.1: `weak_run` is notebook 05's run folder of the same preset, seed, steps and
    evaluation split as `self_run`, with supervision="weak"; says how the two compare."""
    mine = _run_record(self_run)
    weak = _run_record(given(weak_run, "the folder of the weakly supervised run"))
    if weak["supervision"] != "weak":
        return Verdict(False, f"that run's supervision is {weak['supervision']!r}, not 'weak'")
    if mine["supervision"] != "self":
        return Verdict(False, f"the run to compare with is {mine['supervision']!r}, not 'self'")
    differ = [k for k in COMPARED_FIELDS if mine.get(k) != weak.get(k)]
    if differ:
        details = ", ".join(f"{k} {mine.get(k)} vs {weak.get(k)}" for k in differ)
        return Verdict(False, f"the runs differ in more than the supervision: {details}")
    gain = mine["pa_mpjpe_mm"] - weak["pa_mpjpe_mm"]
    return Verdict(
        True,
        f"PA-MPJPE {mine['pa_mpjpe_mm']:.2f} mm (detector keypoints) vs "
        f"{weak['pa_mpjpe_mm']:.2f} mm (true 2D keypoints): clean keypoints are "
        f"worth {gain:+.2f} mm here, one seed each",
    )


def acting_groups(config: TrainConfig) -> set[str]:
    """The loss groups with a term that some stage of `config` optimises (a group that acts
    nowhere trains exactly what the baseline trains)."""
    active = set().union(*(config.losses.active_terms(stage.name) for stage in config.stages))
    if config.supervision != "full":
        active -= SUPERVISED_TERMS
    return {group for group, terms in GROUPS.items() if terms & active}


@exercise_check
def check_acting_groups(preset: str, groups: Collection[str] | None) -> Verdict:
    """Exercise 06.1: the groups of `loss_config.GROUPS` whose ablation changes what `preset`
    (self-supervised) trains."""
    groups = set(given(groups, f"a set of names from {sorted(GROUPS)}"))
    unknown = groups - set(GROUPS)
    if unknown:
        return Verdict(False, f"unknown groups {sorted(unknown)}; the groups: {sorted(GROUPS)}")
    config = load_config(preset)
    expected = acting_groups(config)
    stages = ", ".join(stage.name for stage in config.stages)
    if groups == expected:
        return Verdict(
            True,
            f"{preset}'s stages ({stages}) use terms of "
            f"{', '.join(sorted(expected))} only; the other rows are seed noise",
        )
    parts = [f"{g} has no term in the stages {stages}" for g in sorted(groups - expected)]
    parts += [f"{g} acts too" for g in sorted(expected - groups)]
    return Verdict(False, "; ".join(parts))


@exercise_check
def check_grown_grid(
    grid: list[str],
    seeds: int,
    preset: str,
    new_grid: list[str] | None,
    runs: int | None,
    acts: bool | None,
) -> Verdict:
    """Exercise 06.2: `new_grid`, the notebook's `grid` plus one group; `runs`, how many
    training runs it makes with `seeds` seeds; `acts`, whether the added group changes what
    `preset` trains (if not, its row repeats the baseline's training)."""
    new_grid = list(given(new_grid, "the grid with one more group"))
    runs = given(runs, "how many runs the grown grid trains")
    acts = given(acts, "True if the added group changes what the preset trains, else False")
    added = [group for group in new_grid if group not in grid]
    if len(new_grid) != len(grid) + 1 or len(added) != 1 or not set(grid) <= set(new_grid):
        return Verdict(False, f"the new grid should be {grid} plus one group, got {new_grid}")
    if added[0] not in GROUPS:
        return Verdict(False, f"{added[0]!r} is not a group; the groups: {sorted(GROUPS)}")
    expected = len(plan_runs(new_grid, seeds, "."))
    if runs != expected:
        return Verdict(
            False,
            f"the grid makes {expected} runs, not {runs} (the baseline counts "
            "too, and every configuration runs with every seed)",
        )
    acting = added[0] in acting_groups(load_config(preset))
    if acts != acting:
        stages = ", ".join(stage.name for stage in load_config(preset).stages)
        where = "has a term in" if acting else "has no term in"
        return Verdict(False, f"{added[0]} {where} {preset}'s stages ({stages})")
    effect = "changes the training" if acting else "trains exactly what the baseline trains"
    return Verdict(True, f"{expected} runs; without {added[0]}, {preset} {effect}")
