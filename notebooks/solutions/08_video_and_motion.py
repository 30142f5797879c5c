"""Solutions to notebook 08's exercises."""

from dataclasses import replace

from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.fit.fit_config import FitConfig, fit_loss_config
from s2h_lib.fit.fitter import fit_clips
from s2h_lib.evaluation.errors import jitter


def jitter_without_smoothness(clip: HandSample, config: FitConfig) -> tuple[FitConfig, float]:
    """Exercise 08.1: the clip fit with the motion-smoothness term off, and its jitter
    (mm/frame^3, the third difference of the root-relative joints)."""
    off = replace(config, loss=fit_loss_config(config.photometric).without("motion_smooth"))
    joints = fit_clips(collate_samples([clip]), off).prediction.joints  # (T, 21, 3)
    return off, float(jitter(joints[None].numpy())[0])
