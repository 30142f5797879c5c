"""Exercises on the FreiHAND protocol (07): the area under the PCK curve, Procrustes alignment."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from s2h_lib.evaluation.alignment import procrustes_align
from s2h_lib.evaluation.curves import area_under_curve
from s2h_lib.lab.exercises.verdict import (
    CHECK_SEED,
    TOLERANCE,
    Verdict,
    call_answer,
    compare_arrays,
    exercise_check,
)


@exercise_check
def check_auc(auc_fn: Callable | None) -> Verdict:
    """Exercise 07.1: `auc_fn(pck (T,), thresholds_mm (T,))` -> the area under the PCK curve
    over the threshold range, normalised so that a curve at 1 has AUC 1."""
    thresholds = np.linspace(20.0, 50.0, 13)
    curve = np.clip((thresholds - 10.0) / 45.0, 0.0, 1.0) ** 0.7
    answer = float(call_answer(auc_fn, curve, thresholds))
    expected = area_under_curve(curve, thresholds)
    if math.isclose(answer, expected, rel_tol=TOLERANCE):
        return Verdict(True, f"AUC {answer:.4f}, as curves.area_under_curve")
    hint = ""
    if math.isclose(answer, float(np.trapezoid(curve, thresholds)) / thresholds[-1], rel_tol=1e-3):
        hint = " (divide by the range, last - first threshold, not the last one: this curve "
        hint += "starts at 20 mm)"
    return Verdict(False, f"you give {answer:.4f}, the library {expected:.4f}{hint}")


@exercise_check
def check_procrustes(align_fn: Callable | None) -> Verdict:
    """Exercise 07.2: `align_fn(pred (N, 3), gt (N, 3))` -> pred moved onto gt by the best
    scale, rotation and translation (the FreiHAND protocol's alignment)."""
    rng = np.random.default_rng(CHECK_SEED)
    gt = rng.normal(scale=0.04, size=(21, 3))
    angle = 0.7
    turn = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    pred = 1.3 * gt @ turn.T + np.array([0.1, -0.2, 0.5]) + rng.normal(scale=0.004, size=(21, 3))
    return compare_arrays(
        "the aligned prediction", call_answer(align_fn, pred, gt), procrustes_align(pred, gt)
    )
