"""Exercise on the bone-direction loss (04): which changes of the 2D keypoints it cannot see."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection

import torch

from s2h_lib.hand.skeleton import FREIHAND_TIPS
from s2h_lib.lab.exercises.verdict import (
    Verdict,
    exercise_check,
    given,
)
from s2h_lib.losses.terms import bone_direction_loss

BONE_MOVE_TOLERANCE = 1e-6  # a loss change below this counts as unchanged


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


@exercise_check
def check_bone_blind_spots(
    unchanged: Collection[str] | None, keypoints: torch.Tensor, confidence: torch.Tensor
) -> Verdict:
    """Exercise 04.1: the names of `BONE_MOVES` that leave the bone-direction loss unchanged,
    for keypoints (B, 21, 2) that start equal to the detector's, confidence (B, 21)."""
    unchanged = set(given(unchanged, f"a set of names from {sorted(BONE_MOVES)}"))
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
