"""Test-time refinement (`s2hand_method.md` section 5): the network's output, fitted per image.

The original takes the network's MANO and camera parameters and optimises them, per image, to
the network's own 2D-branch keypoints (the last stack's, confidence 1) under the reprojection,
bone-direction, joint-angle, shape and bone-length terms. Here the fit is `fit.fit_batch` with
its weights (which are that objective's), started from the network's prediction, and its
targets are the keypoints the network was anchored on:
- a network that reads a detector's keypoints (`HandNet.uses_anchors`) is refined towards those,
  with their confidences: the fitting baseline's input, so the two compare start for start;
- an image-only network is refined towards its own 2D branch's keypoints, as the original.
The network's prediction is the only start by default (`REFINE_CONFIG`): it has seen the image,
so it knows which side of the hand faces the camera, which a fit to 2D keypoints cannot tell;
closed-form view restarts may be added through `FitConfig.views`. A frame with too few
confident keypoints to fit keeps the network's answer.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from s2h_lib.data.sample import HandSample
from s2h_lib.fit.fit_config import FitConfig
from s2h_lib.fit.fitter import FitResult, fit_batch
from s2h_lib.net.model import HandNet
from s2h_lib.net.prediction import HandPrediction, Predictor

# A start near the answer needs fewer steps than the fitter's 150 from a closed-form start.
REFINE_CONFIG = FitConfig(steps=60, views=())


def refine_batch(model: HandNet, batch: HandSample, config: FitConfig = REFINE_CONFIG) -> FitResult:
    """Refine `model`'s prediction of each image of `batch` (B, 3, H, W), on the model's device:
    see the module docstring. Raises ValueError when an image-only model has no 2D branch to
    give targets."""
    own = batch.without_truth().to(next(model.parameters()).device)
    if model.uses_anchors:
        with torch.no_grad():
            pred = model(own.image, own.K, own.keypoints, own.confidence)
        # The frames it cannot fit keep the network's answer: nothing to warn about.
        quiet = replace(config, warn_unfitted=False)
        result = fit_batch(own, quiet, model.hand_model, initial=pred)
        return _network_where_unfitted(result, pred)
    if model.keypoint_net is None:
        raise ValueError(
            "refinement fits the network's own 2D-branch keypoints, and this model was built "
            "without a 2D branch (ModelConfig.keypoint_branch) or a keypoint-anchored camera"
        )
    with torch.no_grad():
        pred = model(own.image, own.K)
    targets = pred.heatmap_keypoints[:, -1]
    own = replace(own, keypoints=targets, confidence=torch.ones_like(targets[..., 0]))
    return fit_batch(own, config, model.hand_model, initial=pred)


def _network_where_unfitted(result: FitResult, network: HandPrediction) -> FitResult:
    """`result` with the `network`'s answer in the frames it could not fit (too few confident
    keypoints): there only the priors would act, and they know less than the network (its image
    pose head, `ModelConfig.without_anchors`)."""
    if bool(result.fitted.all()):
        return result

    def keep(pair: list[Tensor]) -> Tensor:
        refined, answer = pair
        return torch.where(result.fitted.reshape(-1, *[1] * (refined.dim() - 1)), refined, answer)

    return replace(result, prediction=HandPrediction.combine([result.prediction, network], keep))


def refine_predictor(model: HandNet, config: FitConfig = REFINE_CONFIG) -> Predictor:
    """`refine_batch` as a function of a batch, e.g. for `eval_model.evaluate_predictor`."""
    model.eval()

    def predict(batch: HandSample) -> HandPrediction:
        return refine_batch(model, batch, config).prediction

    return predict
