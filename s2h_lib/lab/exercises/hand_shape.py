"""Exercises on the hand model (01): which beta sets finger length, which pose component closes
the hand."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.skeleton import FREIHAND_TIPS, NUM_FINGERS
from s2h_lib.lab.exercises.verdict import (
    Verdict,
    exercise_check,
    given,
)
from s2h_lib.viz.explorer import HandExplorer

SWEEP_SD = 2.0  # coefficients are compared at -2 and +2 standard deviations


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


@exercise_check
def check_finger_length_beta(index: int | None, count: int = 10) -> Verdict:
    """Exercise 01.1: the beta (0-based, as `set_beta` counts) that changes the fingers' length
    relative to the palm the most, among the first `count`."""
    index = given(index, "the index of a beta, 0-based as HandExplorer.set_beta takes it")
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


@exercise_check
def check_closing_component(index: int | None, sign: int | None, count: int = 6) -> Verdict:
    """Exercise 01.2: the PCA pose component (0-based) among the first `count` that closes the
    hand the most, and the sign (+1 or -1) of its coefficient that closes it."""
    index = given(index, "the index of a PCA component, 0-based as set_pca takes it")
    sign = given(sign, "the sign, +1 or -1, of the coefficient that closes the hand")
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
