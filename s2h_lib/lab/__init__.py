"""Notebook helpers: parameters and papermill runs (`notebook`), what each notebook's parameters
may hold (`notebook_params`), the exercises and their checks (`exercises/`), and the teaching
steps the notebooks call, one subject a module: a photo's hands drawn (`photo_hands`), the
network, refined network and fit for a photo hand (`photo_answers`), camera-frame views of a hand
(`camera_views`), S2H-Synth samples (`synth_samples`), the noise model's check
(`noise_check`), the loss terms taken apart (`term_inspection`), the stage and ablation tables
(`loss_schedule`), the photometric renders (`appearance`), a network against the truth
(`truth_comparison`), and the image- against video-trained comparison (`video_compare`).
"""

from s2h_lib.lab.notebook import parameters_from_namespace, run_notebook
from s2h_lib.lab.notebook_params import (
    NOTEBOOK_PARAMS,
    AblationParams,
    DataParams,
    EvaluateParams,
    ExplorerParams,
    LossesParams,
    PhotoFitParams,
    RenderingParams,
    TourParams,
    TrainParams,
    VideoParams,
)

__all__ = [
    "NOTEBOOK_PARAMS",
    "AblationParams",
    "DataParams",
    "EvaluateParams",
    "ExplorerParams",
    "LossesParams",
    "PhotoFitParams",
    "RenderingParams",
    "TourParams",
    "TrainParams",
    "VideoParams",
    "parameters_from_namespace",
    "run_notebook",
]
