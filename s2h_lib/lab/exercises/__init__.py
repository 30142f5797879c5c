"""Checks for the exercises at the end of each notebook: each says "correct" or what is off.

A check takes the learner's answer (a number, a set of names, a function to call, a config) and
compares it with what the library computes (`verdict` holds what every check shares). The checks
are grouped by subject: the pinhole camera (`camera`: 00, 09), the hand model (`hand_shape`: 01),
soft silhouettes (`silhouettes`: 02), the detector noise model (`keypoint_noise`: 03), the
bone-direction term (`bone_term`: 04), training runs (`training_runs`: 05, 06), the FreiHAND
protocol (`scoring`: 07) and motion (`motion`: 08). The worked solutions live in
`notebooks/solutions/`; `tests/test_exercises.py` runs each through its check.
"""

from s2h_lib.lab.exercises.bone_term import BONE_MOVES, bone_move_changes, check_bone_blind_spots
from s2h_lib.lab.exercises.camera import check_crop_intrinsics, check_projection
from s2h_lib.lab.exercises.hand_shape import (
    check_closing_component,
    check_finger_length_beta,
    finger_to_palm_ratio,
    tip_spread,
)
from s2h_lib.lab.exercises.keypoint_noise import (
    check_doubled_noise,
    doubled_noise,
    median_found_error,
)
from s2h_lib.lab.exercises.motion import check_smoothness_off
from s2h_lib.lab.exercises.scoring import check_auc, check_procrustes
from s2h_lib.lab.exercises.silhouettes import (
    check_soft_iou,
    check_soft_matches_hard,
    silhouette_disagreement,
)
from s2h_lib.lab.exercises.training_runs import (
    acting_groups,
    check_acting_groups,
    check_grown_grid,
    check_weak_run,
)
from s2h_lib.lab.exercises.verdict import Verdict

__all__ = [
    "BONE_MOVES",
    "Verdict",
    "acting_groups",
    "bone_move_changes",
    "check_acting_groups",
    "check_auc",
    "check_bone_blind_spots",
    "check_closing_component",
    "check_crop_intrinsics",
    "check_doubled_noise",
    "check_finger_length_beta",
    "check_grown_grid",
    "check_procrustes",
    "check_projection",
    "check_smoothness_off",
    "check_soft_iou",
    "check_soft_matches_hard",
    "check_weak_run",
    "doubled_noise",
    "finger_to_palm_ratio",
    "median_found_error",
    "silhouette_disagreement",
    "tip_spread",
]
