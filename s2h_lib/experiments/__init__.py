"""Whole experiments: one network trained and scored (`scored_run`, shared by the others and
notebook 05), the demo pipeline (data -> train -> evaluate -> report, `pipeline`), the loss
ablation grid through notebook 05 (`ablate`), and the accuracy benchmark (`accuracy`).
"""

from s2h_lib.experiments.ablate import run_ablation
from s2h_lib.experiments.pipeline import PipelineConfig, run_pipeline
from s2h_lib.experiments.scored_run import ScoredRun, train_and_score

__all__ = ["PipelineConfig", "ScoredRun", "run_ablation", "run_pipeline", "train_and_score"]
