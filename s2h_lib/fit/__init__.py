"""Fitting without a network: the per-image / per-clip optimiser with the training losses
(`fitter`), its closed-form start, refinement of a network's answer, baselines, photos, and
notebook 02's render-and-compare silhouette fit.
"""

from s2h_lib.fit.fit_config import FitConfig
from s2h_lib.fit.fitter import FitResult, fit_batch, fit_clips, fit_predictor

__all__ = ["FitConfig", "FitResult", "fit_batch", "fit_clips", "fit_predictor"]
