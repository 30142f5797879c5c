"""Evaluation: the FreiHAND-protocol and temporal metrics (`metrics`), the files a scored run
writes (`evaluate`), running a predictor over a dataset (`eval_model`), its cache, the benchmark
submission, and the report.
"""

from s2h_lib.evaluation.eval_model import evaluate_predictor, load_trained_model

__all__ = ["evaluate_predictor", "load_trained_model"]
