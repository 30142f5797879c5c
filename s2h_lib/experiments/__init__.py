"""Whole experiments: the demo pipeline (data -> train -> evaluate -> report, `pipeline`), the loss
ablation grid through notebook 05 (`ablate`), and the accuracy benchmark (`accuracy`).
"""

from s2h_lib.experiments.ablate import run_ablation
from s2h_lib.experiments.pipeline import PipelineConfig, run_pipeline

__all__ = ["PipelineConfig", "run_ablation", "run_pipeline"]
