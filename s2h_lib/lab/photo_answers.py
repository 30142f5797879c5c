"""The answers for a hand in a photo, as the tour (00) and your-photo notebook (09) compare them:
the network the tour runs (`tour_model`), a per-image fit rebuilt from its `fits.json` record
(`fitted_prediction`, `hand_mesh`), and the network, refined network and fit side by side
(`network_refined_and_fit`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from s2h_lib.evaluation.eval_model import load_trained_model
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.fit.fit_photos import FoundHand
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.net.hand_in_camera import CameraPose, predict_from_camera
from s2h_lib.net.model import HandNet
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.predict import (
    HandMesh,
    PhotoHands,
    photo_crop,
    predict_hand,
    seen_in_crop,
)
from s2h_lib.train.train_config import PRESETS


def fitted_prediction(record: dict, config: FitConfig | None = None) -> HandPrediction:
    """The fit of one `fits.json` hand record (`fit_photos.fit_photos`) as a prediction (batch
    of 1) in the crop it was fitted in: verts (1, V, 3), joints (1, 21, 3), keypoints2d
    (1, 21, 2) in that crop's pixels.

    The record holds the parameters, not the mesh. A left hand was fitted as the right hand in
    the mirrored crop and mirrored back; its parameters are those of the left hand model, so it
    is rebuilt with `side="left"` (exact for the open hand model, whose left hand is the mirrored
    right one). `config` gives the hand model (ncomps, mano_root) the fit used.
    """
    config = replace(config or FitConfig(), side=record["side"])
    global_rot = torch.tensor([record["global_rot"]], dtype=torch.float32)
    camera = CameraPose(
        pose_coeffs=torch.tensor([record["pose_coeffs"]], dtype=torch.float32),
        betas=torch.tensor([record["betas"]], dtype=torch.float32),
        rotation=axis_angle_to_matrix(global_rot),
        global_rot=global_rot,
        scale=torch.tensor([record["scale"]], dtype=torch.float32),
        trans=torch.tensor([record["trans"]], dtype=torch.float32),
    )
    K = torch.tensor([record["K"]], dtype=torch.float32)
    with torch.no_grad():
        return predict_from_camera(camera, default_hand_model(config), K)


def hand_mesh(record: dict, config: FitConfig | None = None) -> HandMesh:
    """The mesh of one `fits.json` hand record (`fitted_prediction`), with the triangles of the
    record's side of the hand model."""
    pred = fitted_prediction(record, config)
    hand_model = default_hand_model(replace(config or FitConfig(), side=record["side"]))
    return HandMesh(
        verts=pred.verts[0].numpy(),
        joints=pred.joints[0].numpy(),
        faces=hand_model.faces.cpu().numpy(),
    )


NETWORK, REFINED, FITTED = "network", "network + refinement", "per-image fit"


def network_refined_and_fit(
    net: HandNet,
    image_size: int,
    photo: PhotoHands,
    hand: FoundHand,
    record: dict,
    config: FitConfig | None = None,
) -> dict[str, HandPrediction]:
    """The three answers for one hand of `photo`, each a prediction (batch of 1) seen in
    `hand`'s crop (the fit's): the trained network `net` on the `image_size` crop it was
    trained at (`predict.predict_hand`), the same refined per image, and the per-image fit of
    `record` (its `fits.json` entry, fitted with `config`). Keys: `NETWORK`, `REFINED`,
    `FITTED`. The detector is not run again: the network's crop is cut from `photo`'s
    detection of the same hand."""
    own_crop = photo_crop(photo, image_size, hand.hand.rank)
    answers = {
        NETWORK: predict_hand(net, own_crop),
        REFINED: predict_hand(net, own_crop, refine=True),
    }
    seen = {label: seen_in_crop(pred, hand) for label, pred in answers.items()}
    return {**seen, FITTED: fitted_prediction(record, config)}


# The network the tour falls back to when no trained one is there: the one `make demo` trains.
TOUR_PRESET = "synth-cpu-demo"


@dataclass(frozen=True)
class TourModel:
    """The network the tour runs, the crop size it expects, and whether it learned anything."""

    net: HandNet
    image_size: int
    trained: bool
    description: str


def tour_model(model_path: str | Path) -> TourModel:
    """The trained network in `model_path` (a `model.pt` of `s2h train`) with its training crop
    size; when there is no such file, the untrained `TOUR_PRESET` network (ImageNet encoder,
    heads at their start: its guess is close to the mean hand), said so in `description`."""
    path = Path(model_path).expanduser()
    if path.is_file():
        net, config = load_trained_model(path)
        stages = ", ".join(f"{s.name} {s.steps}" for s in config.stages)
        return TourModel(
            net, config.data.image_size, True, f"trained network {path} (steps: {stages})"
        )
    preset = PRESETS[TOUR_PRESET]
    description = (
        f"UNTRAINED network (untrained heads, preset {TOUR_PRESET}): no model at {path}. Its "
        "prediction shows what the network starts from; run `make demo` for a trained one."
    )
    return TourModel(HandNet(preset.model).eval(), preset.data.image_size, False, description)
