"""Checks for the exercises at the end of each notebook: each says "correct" or what is off.

A check takes the learner's answer (a number, a set of names, a function to call, a config) and
compares it with what the library computes. An answer that is still missing (None, or a
function that raises NotImplementedError, as the notebooks' templates do) gets "not yet" and a
hint, so a notebook with its exercises untouched still runs headlessly. The worked solutions
live in `notebooks/solutions/`; `tests/test_exercises.py` runs each through its check.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2h_lib.data.crop import CropBox, update_intrinsics
from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.data.synth.noise import NoiseModel, NoiseParams
from s2h_lib.data.synth.placement import project
from s2h_lib.evaluation.metrics import area_under_curve, jitter, procrustes_align
from s2h_lib.experiments.ablate import RUN_RECORD, plan_runs
from s2h_lib.fit.fitter import FitConfig, fit_clips, fit_loss_config
from s2h_lib.fit.silhouette_fit import make_scene, soft_iou_loss
from s2h_lib.hand.hand_model import FREIHAND_TIPS, NUM_FINGERS, ManoLayer
from s2h_lib.losses.loss_config import GROUPS, SUPERVISED_TERMS
from s2h_lib.losses.terms import bone_direction_loss
from s2h_lib.render import silhouette
from s2h_lib.train.train_config import TrainConfig, load_config
from s2h_lib.viz.explorer import HandExplorer

TOLERANCE = 1e-4  # relative, for answers the library computes exactly
MEASURE_TOLERANCE = 0.1  # relative, for measurements of random draws (another seed is fine)
CHECK_SEED = 0
SWEEP_SD = 2.0  # exercise 01: coefficients are compared at -2 and +2 standard deviations
MAX_DISAGREEMENT = 0.01  # exercise 02: soft vs hard silhouette, fraction of pixels
BONE_MOVE_TOLERANCE = 1e-6  # exercise 04: a loss change below this counts as unchanged


@dataclass(frozen=True)
class Verdict:
    """A check's answer: `correct`, and a message saying why (or what is off)."""

    correct: bool
    message: str

    def __str__(self) -> str:
        return f"{'correct' if self.correct else 'not yet'}: {self.message}"

    __repr__ = __str__


class _MissingAnswerError(Exception):
    """The answer is missing; the message is the hint."""


def _verdict(check: Callable[..., Verdict]) -> Callable[..., Verdict]:
    """Turn a missing answer (`_MissingAnswerError`) inside `check` into a "not yet" verdict."""

    @functools.wraps(check)
    def wrapped(*args: Any, **kwargs: Any) -> Verdict:
        try:
            return check(*args, **kwargs)
        except _MissingAnswerError as missing:
            return Verdict(False, str(missing))

    return wrapped


def _given(answer: Any, hint: str) -> Any:
    if answer is None:
        raise _MissingAnswerError(f"no answer yet: {hint}")
    return answer


def _call(function: Callable | None, *args: Any) -> Any:
    """The learner's function applied to `args`; a stub that raises NotImplementedError (or no
    function at all) is a missing answer."""
    if function is None:
        raise _MissingAnswerError("no function given yet")
    try:
        return function(*args)
    except NotImplementedError:
        raise _MissingAnswerError(
            f"{getattr(function, '__name__', 'the function')} is not written yet"
        ) from None


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _close(answer: np.ndarray, expected: np.ndarray, tolerance: float = TOLERANCE) -> bool:
    return answer.shape == expected.shape and np.allclose(
        answer, expected, rtol=tolerance, atol=tolerance * float(np.abs(expected).max() + 1e-12)
    )


def _compare(name: str, answer: Any, expected: np.ndarray) -> Verdict:
    """Whether a learner's array matches the library's, with the first difference if not."""
    answer = _as_array(answer)
    if answer.shape != expected.shape:
        return Verdict(False, f"{name} has shape {answer.shape}, expected {expected.shape}")
    if _close(answer, expected):
        return Verdict(True, f"{name} matches the library")
    worst = np.unravel_index(np.abs(answer - expected).argmax(), expected.shape)
    return Verdict(
        False,
        f"{name} differs from the library: at index {tuple(int(i) for i in worst)} you give "
        f"{answer[worst]:.6g}, the library {expected[worst]:.6g}",
    )


# ---- 00 the tour: the camera ------------------------------------------------------------------


def _points_and_intrinsics(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(21, 3) points half a metre in front of a camera and a (3, 3) K with fx != fy."""
    points = rng.normal(scale=0.05, size=(21, 3)) + np.array([0.02, -0.01, 0.5])
    K = np.array([[480.0, 0.0, 130.0], [0.0, 510.0, 120.0], [0.0, 0.0, 1.0]])
    return points, K


@_verdict
def check_projection(project_fn: Callable | None) -> Verdict:
    """Exercise 00.1: `project_fn(points (N, 3), K (3, 3)) -> (N, 2)` pixels, OpenCV pinhole."""
    points, K = _points_and_intrinsics(np.random.default_rng(CHECK_SEED))
    answer = _as_array(_call(project_fn, points, K))
    verdict = _compare("the projection", answer, project(points, K))
    if not verdict.correct and _close(answer, (points @ K.T)[:, :2]):
        return Verdict(False, verdict.message + " (divide by the depth Z = points[:, 2])")
    return verdict


# ---- 01 the hand model: shape and pose components ---------------------------------------------


def finger_to_palm_ratio(joints: np.ndarray) -> float:
    """Mean finger length (base to tip along the bones) over mean palm length (wrist to each
    finger's base), of (21, 3) FreiHAND-order joints."""
    fingers = [joints[1 + 4 * f : 5 + 4 * f] for f in range(NUM_FINGERS)]
    finger = np.mean([np.linalg.norm(np.diff(chain, axis=0), axis=1).sum() for chain in fingers])
    palm = np.mean([np.linalg.norm(chain[0] - joints[0]) for chain in fingers])
    return float(finger / palm)


def tip_spread(joints: np.ndarray) -> float:
    """Mean fingertip-to-wrist distance (metres) of (21, 3) joints: small for a fist."""
    return float(np.linalg.norm(joints[list(FREIHAND_TIPS)] - joints[0], axis=1).mean())


def _sweep(poser: HandExplorer, kind: str, index: int, measure: Callable[..., float]) -> float:
    """measure(+2 sd) - measure(-2 sd) of beta or PCA component `index` (the betas on the flat
    hand, whose straight fingers show lengths)."""
    values = []
    for value in (-SWEEP_SD, SWEEP_SD):
        poser.reset()
        if kind == "beta":
            poser.set_named_pose("flat")
            poser.set_beta(index, value)
        else:
            poser.set_pca(index, value)
        values.append(measure(poser.mesh()[1]))
    return values[1] - values[0]


def _ranked(kind: str, count: int, measure: Callable[[np.ndarray], float]) -> np.ndarray:
    """`_sweep` of the first `count` betas or PCA components of the open hand model."""
    layer = ManoLayer(use_pca=False, flat_hand_mean=False)
    poser = HandExplorer(layer, n_pca=count, n_betas=count)
    return np.array([_sweep(poser, kind, k, measure) for k in range(count)])


@_verdict
def check_finger_length_beta(index: int | None, count: int = 10) -> Verdict:
    """Exercise 01.1: the beta (0-based, as `set_beta` counts) that changes the fingers' length
    relative to the palm the most, among the first `count`."""
    index = _given(index, "the index of a beta, 0-based as HandExplorer.set_beta takes it")
    changes = np.abs(_ranked("beta", count, finger_to_palm_ratio))
    best = int(changes.argmax())
    if index == best:
        return Verdict(
            True,
            f"beta {index} changes finger/palm by {changes[best]:.3f} "
            f"between -2 and +2 sd; the next best {np.sort(changes)[-2]:.3f}",
        )
    if index == best + 1:
        return Verdict(False, f"beta {index} (0-based) is not it: count from 0, as set_beta does")
    if not 0 <= index < count:
        return Verdict(False, f"choose an index between 0 and {count - 1}")
    return Verdict(
        False,
        f"beta {index} changes finger/palm by only {changes[index]:.3f}; "
        f"one beta changes it by {changes[best]:.3f} (size alone does not)",
    )


@_verdict
def check_closing_component(index: int | None, sign: int | None, count: int = 6) -> Verdict:
    """Exercise 01.2: the PCA pose component (0-based) among the first `count` that closes the
    hand the most, and the sign (+1 or -1) of its coefficient that closes it."""
    index = _given(index, "the index of a PCA component, 0-based as set_pca takes it")
    sign = _given(sign, "the sign, +1 or -1, of the coefficient that closes the hand")
    changes = _ranked("pca", count, tip_spread)
    best = int(np.abs(changes).argmax())
    closing = -int(np.sign(changes[best]))
    if index != best:
        return Verdict(
            False,
            f"component {index} moves the fingertips by "
            f"{1000 * abs(changes[index]):.1f} mm on average; one moves them by "
            f"{1000 * abs(changes[best]):.1f} mm",
        )
    if sign != closing:
        return Verdict(False, f"component {index} is right, but {sign:+d} opens the hand")
    spread = 1000 * abs(changes[best])
    return Verdict(
        True,
        f"from {-closing * SWEEP_SD:+g} to {closing * SWEEP_SD:+g} sd, component "
        f"{index} brings the fingertips {spread:.0f} mm closer to the wrist",
    )


# ---- 02 differentiable rendering: the soft silhouette -----------------------------------------


def silhouette_disagreement(sigma: float, image_size: int) -> float:
    """Fraction of pixels where the soft silhouette (at `sigma`, thresholded at 0.5) and the
    hard one of notebook 02's scene differ."""
    scene = make_scene(image_size, pose="relaxed")
    zero = torch.zeros(1, 3)
    verts = scene.place(zero, zero)
    hard = silhouette(verts, scene.faces, scene.K, scene.settings("hard"))
    soft = silhouette(verts, scene.faces, scene.K, scene.settings("soft", sigma=sigma))
    return float(((soft > 0.5) != (hard > 0.5)).float().mean())


@_verdict
def check_soft_matches_hard(sigma: float | None, image_size: int = 96) -> Verdict:
    """Exercise 02.1: the largest sigma (to within a factor 2) whose soft silhouette differs
    from the hard one on fewer than 1% of the pixels."""
    sigma = float(_given(sigma, "a sigma in squared pixels"))
    if not sigma > 0:
        return Verdict(False, "sigma must be positive")
    at_sigma = silhouette_disagreement(sigma, image_size)
    if at_sigma >= MAX_DISAGREEMENT:
        return Verdict(
            False,
            f"at sigma {sigma:g} they differ on {at_sigma:.2%} of the pixels: make it smaller",
        )
    at_double = silhouette_disagreement(2 * sigma, image_size)
    if at_double < MAX_DISAGREEMENT:
        return Verdict(
            False,
            f"sigma {sigma:g} matches ({at_sigma:.2%}), but so does "
            f"{2 * sigma:g} ({at_double:.2%}): a larger sigma keeps gradients "
            "reaching further, look for the largest",
        )
    return Verdict(
        True,
        f"sigma {sigma:g}: {at_sigma:.2%} of the pixels differ, at "
        f"{2 * sigma:g} already {at_double:.2%}",
    )


@_verdict
def check_soft_iou(loss_fn: Callable | None) -> Verdict:
    """Exercise 02.2: `loss_fn(pred, target)` = 1 - soft IoU of (B, 1, H, W) silhouettes,
    averaged over the batch, as `silhouette_fit.soft_iou_loss`."""
    generator = torch.Generator().manual_seed(CHECK_SEED)
    pred, target = torch.rand(2, 3, 1, 16, 16, generator=generator)
    # images of different coverage, so a mean over the batch differs from a pooled ratio
    pred[1], target[1] = 0.2 * pred[1], (target[1] > 0.8).float()
    expected = float(soft_iou_loss(pred, target))
    answer = float(_call(loss_fn, pred, target))
    if math.isclose(answer, expected, rel_tol=TOLERANCE):
        return Verdict(True, f"{answer:.5f}, as the library's")
    return Verdict(
        False,
        f"you give {answer:.5f}, the library {expected:.5f} "
        "(sum over pixels per image, then average over the batch)",
    )


# ---- 03 data: the noise model -----------------------------------------------------------------


def doubled_noise(params: NoiseParams) -> NoiseParams:
    """`params` with every joint's jitter (`joint_sigma`) doubled, the rest unchanged."""
    return NoiseParams.from_dict(
        {**params.to_dict(), "joint_sigma": [2 * s for s in params.joint_sigma]}
    )


def median_found_error(
    params: NoiseParams, truth: np.ndarray, visible: np.ndarray, seed: int = CHECK_SEED
) -> float:
    """Median error (pixels) of the joints the noise model reports (confidence > 0), over one
    draw per hand of `truth` (N, 21, 2) with `visible` (N, 21)."""
    model, rng = NoiseModel(params), np.random.default_rng(seed)
    errors = []
    for keypoints, seen in zip(truth, visible, strict=True):
        reported, confidence = model.apply(keypoints, rng, seen)
        errors.append(np.linalg.norm(reported - keypoints, axis=1)[confidence > 0])
    return float(np.median(np.concatenate(errors)))


@_verdict
def check_doubled_noise(
    params: NoiseParams | None, median_px: float | None, truth: np.ndarray, visible: np.ndarray
) -> Verdict:
    """Exercise 03.1: `params`, the package's noise model with `joint_sigma` doubled, and the
    median error (px) of the found joints it gives on `truth` (N, 21, 2), `visible` (N, 21)."""
    params = _given(params, "NoiseParams with twice the calibrated joint_sigma")
    median_px = float(_given(median_px, "the median error in pixels of the found joints"))
    expected_params = doubled_noise(NoiseParams.load())
    if params != expected_params:
        changed = [k for k, v in params.to_dict().items() if v != expected_params.to_dict()[k]]
        return Verdict(
            False,
            f"these noise parameters are not the calibrated ones with "
            f"joint_sigma doubled: {', '.join(changed)}",
        )
    expected = median_found_error(params, truth, visible)
    calibrated = median_found_error(NoiseParams.load(), truth, visible)
    if abs(median_px - expected) > MEASURE_TOLERANCE * expected:
        return Verdict(
            False,
            f"a draw of the check gives a median of {expected:.2f} px, you "
            f"give {median_px:.2f} px (errors of joints with confidence > 0)",
        )
    return Verdict(
        True,
        f"{median_px:.2f} px against {calibrated:.2f} px with the calibrated "
        f"noise: {median_px / calibrated:.2f} times (outliers and misses do "
        "not double)",
    )


# ---- 04 losses: what the bone term sees -------------------------------------------------------


def _about_wrist(keypoints: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor]):
    wrist = keypoints[:, :1]
    return wrist + transform(keypoints - wrist)


def _shorten_tips(keypoints: torch.Tensor) -> torch.Tensor:
    moved = keypoints.clone()
    tips = list(FREIHAND_TIPS)
    moved[:, tips] = (keypoints[:, tips] + keypoints[:, [t - 1 for t in tips]]) / 2
    return moved


def _swap_index_middle(keypoints: torch.Tensor) -> torch.Tensor:
    order = list(range(21))
    order[5:9], order[9:13] = order[9:13], order[5:9]
    return keypoints[:, order]


_TURN = torch.tensor([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]])
# Changes to the projected 2D keypoints (B, 21, 2) for exercise 04.1.
BONE_MOVES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "shift": lambda k: k + torch.tensor([12.0, -7.0]),
    "grow": lambda k: _about_wrist(k, lambda d: 1.5 * d),
    "turn": lambda k: _about_wrist(k, lambda d: d @ _TURN.T),
    "shorten_tips": _shorten_tips,
    "swap_index_middle": _swap_index_middle,
}


def bone_move_changes(keypoints: torch.Tensor, confidence: torch.Tensor) -> dict[str, float]:
    """How much each of `BONE_MOVES` changes the bone-direction loss of projected keypoints that
    equal the detector's (B, 21, 2), with confidences (B, 21)."""
    before = float(bone_direction_loss(keypoints, keypoints, confidence))
    return {
        name: abs(float(bone_direction_loss(move(keypoints), keypoints, confidence)) - before)
        for name, move in BONE_MOVES.items()
    }


@_verdict
def check_bone_blind_spots(
    unchanged: Collection[str] | None, keypoints: torch.Tensor, confidence: torch.Tensor
) -> Verdict:
    """Exercise 04.1: the names of `BONE_MOVES` that leave the bone-direction loss unchanged,
    for keypoints (B, 21, 2) that start equal to the detector's, confidence (B, 21)."""
    unchanged = set(_given(unchanged, f"a set of names from {sorted(BONE_MOVES)}"))
    unknown = unchanged - set(BONE_MOVES)
    if unknown:
        return Verdict(False, f"unknown moves {sorted(unknown)}; the moves: {sorted(BONE_MOVES)}")
    changes = bone_move_changes(keypoints, confidence)
    blind = {name for name, change in changes.items() if change < BONE_MOVE_TOLERANCE}
    if unchanged == blind:
        return Verdict(
            True,
            f"the bone term is blind to {', '.join(sorted(blind))}: without "
            "it, only keypoints_2d tells a finger's direction, which a few "
            "large errors can outvote",
        )
    wrong = sorted(unchanged - blind)
    missed = sorted(blind - unchanged)
    parts = [f"{name} changes it by {changes[name]:.3g}" for name in wrong]
    parts += [f"{name} leaves it unchanged" for name in missed]
    return Verdict(False, "; ".join(parts))


# ---- 05 training: weak supervision ------------------------------------------------------------

COMPARED_FIELDS = ("preset", "seed", "steps", "ablate", "eval_split")


def _run_record(run_dir: str | Path) -> dict:
    path = Path(run_dir) / RUN_RECORD
    if not path.is_file():
        raise _MissingAnswerError(
            f"{path} does not exist: the run has not finished (or not started)"
        )
    return json.loads(path.read_text())


@_verdict
def check_weak_run(self_run: str | Path, weak_run: str | Path | None) -> Verdict:
    """Exercise 05.1: `weak_run` is notebook 05's run folder of the same preset, seed, steps and
    evaluation split as `self_run`, with supervision="weak"; says how the two compare."""
    mine = _run_record(self_run)
    weak = _run_record(_given(weak_run, "the folder of the weakly supervised run"))
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


# ---- 06 ablations: which groups act, growing the grid -----------------------------------------


def acting_groups(config: TrainConfig) -> set[str]:
    """The loss groups with a term that some stage of `config` optimises (a group that acts
    nowhere trains exactly what the baseline trains)."""
    active = set().union(*(config.losses.active_terms(stage.name) for stage in config.stages))
    if config.supervision != "full":
        active -= SUPERVISED_TERMS
    return {group for group, terms in GROUPS.items() if terms & active}


@_verdict
def check_acting_groups(preset: str, groups: Collection[str] | None) -> Verdict:
    """Exercise 06.1: the groups of `loss_config.GROUPS` whose ablation changes what `preset`
    (self-supervised) trains."""
    groups = set(_given(groups, f"a set of names from {sorted(GROUPS)}"))
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


@_verdict
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
    new_grid = list(_given(new_grid, "the grid with one more group"))
    runs = _given(runs, "how many runs the grown grid trains")
    acts = _given(acts, "True if the added group changes what the preset trains, else False")
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


# ---- 07 evaluation: AUC and Procrustes --------------------------------------------------------


@_verdict
def check_auc(auc_fn: Callable | None) -> Verdict:
    """Exercise 07.1: `auc_fn(pck (T,), thresholds_mm (T,))` -> the area under the PCK curve
    over the threshold range, normalised so that a curve at 1 has AUC 1."""
    thresholds = np.linspace(20.0, 50.0, 13)
    curve = np.clip((thresholds - 10.0) / 45.0, 0.0, 1.0) ** 0.7
    answer = float(_call(auc_fn, curve, thresholds))
    expected = area_under_curve(curve, thresholds)
    if math.isclose(answer, expected, rel_tol=TOLERANCE):
        return Verdict(True, f"AUC {answer:.4f}, as metrics.area_under_curve")
    hint = ""
    if math.isclose(answer, float(np.trapezoid(curve, thresholds)) / thresholds[-1], rel_tol=1e-3):
        hint = " (divide by the range, last - first threshold, not the last one: this curve "
        hint += "starts at 20 mm)"
    return Verdict(False, f"you give {answer:.4f}, the library {expected:.4f}{hint}")


@_verdict
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
    return _compare("the aligned prediction", _call(align_fn, pred, gt), procrustes_align(pred, gt))


# ---- 08 video: switching off motion smoothness ------------------------------------------------


@_verdict
def check_smoothness_off(
    clip: HandSample, config: FitConfig | None, jitter_mm: float | None
) -> Verdict:
    """Exercise 08.1: a `FitConfig` whose loss is the fitter's with `motion_smooth` off (and
    nothing else changed), and the jitter (mm/frame^3) of `fit_clips` on `clip` (one clip,
    fields with a leading T axis) with it. The check fits the clip once more to compare."""
    config = _given(config, "a FitConfig with loss=fit_loss_config().without('motion_smooth')")
    jitter_mm = float(_given(jitter_mm, "the jitter of the clip fit without smoothness"))
    default = fit_loss_config(config.photometric)
    changed = sorted(t for t, w in config.losses.weights.items() if w != default.weight(t))
    if config.losses.weight("motion_smooth") > 0:
        weight = config.losses.weight("motion_smooth")
        return Verdict(False, f"motion_smooth still has weight {weight:g}")
    if changed != ["motion_smooth"]:
        return Verdict(False, f"change only motion_smooth; these changed too: {changed}")
    fitted = fit_clips(collate_samples([clip]), config).prediction
    expected = float(jitter(fitted.joints[None].numpy())[0])
    if not math.isclose(jitter_mm, expected, rel_tol=MEASURE_TOLERANCE):
        return Verdict(
            False,
            f"the check measures {expected:.3f} mm/frame^3 with this config, "
            f"you give {jitter_mm:.3f}",
        )
    return Verdict(
        True,
        f"jitter {expected:.3f} mm/frame^3 without the smoothness term: "
        "compare it with the clip fit's jitter above",
    )


# ---- 09 your photo: the crop's camera ---------------------------------------------------------


@_verdict
def check_crop_intrinsics(crop_k_fn: Callable | None) -> Verdict:
    """Exercise 09.1: `crop_k_fn(K (3, 3), cx, cy, side, size)` -> the (3, 3) intrinsics of the
    square crop of side `side` centred at (cx, cy) in the photo, resized to `size` pixels."""
    K = np.array([[1200.0, 0.0, 599.5], [0.0, 1200.0, 449.5], [0.0, 0.0, 1.0]])
    box, size = CropBox(700.0, 380.0, 300.0), 128
    answer = _call(crop_k_fn, K.copy(), box.cx, box.cy, box.side, size)
    expected = update_intrinsics(box.matrix(size), torch.from_numpy(K)).numpy()
    verdict = _compare("the crop's K", answer, expected)
    off = _as_array(answer) - expected
    half_pixel = off.shape == (3, 3) and np.allclose(np.abs(off[:2, 2]), 0.5)
    if not verdict.correct and half_pixel and np.allclose(off[:2, :2], 0.0):
        return Verdict(
            False,
            verdict.message + " (pixel centres are at integers: the crop's "
            "centre is at (size - 1) / 2)",
        )
    return verdict
