"""Test-time refinement (`s2hand_method.md` section 5): the network's output, fitted per image.

The original takes the network's MANO and camera parameters and optimises them, per image, to
the network's own 2D-branch keypoints (the last stack's, confidence 1) under the reprojection,
bone-direction, joint-angle, shape and bone-length terms. Here the fit is `fit.fit_batch` with
its weights (which are that objective's), and the network's prediction is one more restart
beside the closed-form views: when the network's 3D is poor (an encoder that has not learned
yet collapses its projections) a view restart wins instead of the fit staying in its basin.
Only the image goes in: the detector keypoints of the batch are not read.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from s2h_lib.data.sample import HandSample
from s2h_lib.fit import FitConfig, FitResult, Predictor, fit_batch
from s2h_lib.model import HandNet
from s2h_lib.prediction import HandPrediction


def refine_batch(model: HandNet, batch: HandSample, config: FitConfig | None = None) -> FitResult:
    """Refine `model`'s prediction of each image of `batch` (B, 3, H, W): see the module
    docstring. Raises ValueError when the model has no 2D branch to give the targets."""
    if model.keypoint_net is None:
        raise ValueError(
            "refinement fits the network's own 2D-branch keypoints, and this model was built "
            "without a 2D branch (ModelConfig.keypoint_branch)"
        )
    with torch.no_grad():
        pred = model(batch.image, batch.K)
    targets = pred.heatmap_keypoints[:, -1]
    own = replace(
        batch.without_truth(), keypoints=targets, confidence=torch.ones_like(targets[..., 0])
    )
    return fit_batch(own, config, model.hand_model, initial=pred)


def refine_predictor(model: HandNet, config: FitConfig | None = None) -> Predictor:
    """`refine_batch` as a function of a batch, e.g. for `eval_model.evaluate_predictor`."""
    model.eval()

    def predict(batch: HandSample) -> HandPrediction:
        return refine_batch(model, batch, config).prediction

    return predict
