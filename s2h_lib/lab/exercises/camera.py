"""Exercises on the pinhole camera: projecting points (00) and a crop's intrinsics (09)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from s2h_lib.data.crop import CropBox, update_intrinsics
from s2h_lib.data.synth.placement import project
from s2h_lib.lab.exercises.verdict import (
    CHECK_SEED,
    Verdict,
    arrays_close,
    as_array,
    call_answer,
    compare_arrays,
    exercise_check,
)


def _points_and_intrinsics(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(21, 3) points half a metre in front of a camera and a (3, 3) K with fx != fy."""
    points = rng.normal(scale=0.05, size=(21, 3)) + np.array([0.02, -0.01, 0.5])
    K = np.array([[480.0, 0.0, 130.0], [0.0, 510.0, 120.0], [0.0, 0.0, 1.0]])
    return points, K


@exercise_check
def check_projection(project_fn: Callable | None) -> Verdict:
    """Exercise 00.1: `project_fn(points (N, 3), K (3, 3)) -> (N, 2)` pixels, OpenCV pinhole."""
    points, K = _points_and_intrinsics(np.random.default_rng(CHECK_SEED))
    answer = as_array(call_answer(project_fn, points, K))
    verdict = compare_arrays("the projection", answer, project(points, K))
    if not verdict.correct and arrays_close(answer, (points @ K.T)[:, :2]):
        return Verdict(False, verdict.message + " (divide by the depth Z = points[:, 2])")
    return verdict


@exercise_check
def check_crop_intrinsics(crop_k_fn: Callable | None) -> Verdict:
    """Exercise 09.1: `crop_k_fn(K (3, 3), cx, cy, side, size)` -> the (3, 3) intrinsics of the
    square crop of side `side` centred at (cx, cy) in the photo, resized to `size` pixels."""
    K = np.array([[1200.0, 0.0, 599.5], [0.0, 1200.0, 449.5], [0.0, 0.0, 1.0]])
    box, size = CropBox(700.0, 380.0, 300.0), 128
    answer = call_answer(crop_k_fn, K.copy(), box.cx, box.cy, box.side, size)
    expected = update_intrinsics(box.matrix(size), torch.from_numpy(K)).numpy()
    verdict = compare_arrays("the crop's K", answer, expected)
    off = as_array(answer) - expected
    half_pixel = off.shape == (3, 3) and np.allclose(np.abs(off[:2, 2]), 0.5)
    if not verdict.correct and half_pixel and np.allclose(off[:2, :2], 0.0):
        return Verdict(
            False,
            verdict.message + " (pixel centres are at integers: the crop's "
            "centre is at (size - 1) / 2)",
        )
    return verdict
