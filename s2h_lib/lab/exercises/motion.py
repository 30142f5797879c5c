"""Exercise on video (08): a clip fit without the motion-smoothness term."""

from __future__ import annotations

import math

from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.evaluation.errors import jitter
from s2h_lib.fit.fit_config import FitConfig, fit_loss_config
from s2h_lib.fit.fitter import fit_clips
from s2h_lib.lab.exercises.verdict import (
    MEASURE_TOLERANCE,
    Verdict,
    exercise_check,
    given,
)


@exercise_check
def check_smoothness_off(
    clip: HandSample, config: FitConfig | None, jitter_mm: float | None
) -> Verdict:
    """Exercise 08.1: a `FitConfig` whose loss is the fitter's with `motion_smooth` off (and
    nothing else changed), and the jitter (mm/frame^3) of `fit_clips` on `clip` (one clip,
    fields with a leading T axis) with it. The check fits the clip once more to compare."""
    config = given(config, "a FitConfig with loss=fit_loss_config().without('motion_smooth')")
    jitter_mm = float(given(jitter_mm, "the jitter of the clip fit without smoothness"))
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
