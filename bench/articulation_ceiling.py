"""How learnable is the hand's articulation at a budget? The ceiling under any loss.

Trains a regressor of the 15 finger-joint rotations straight from their TRUE values (a
supervised oracle, no self-supervision) for --steps steps, from one of three inputs, and prints
PA-MPJPE on test samples next to the mean pose:

    image      the demo preset's network (encoder + regressor), from the image crop
    noisy_kp   an MLP from the 2D keypoints training sees (the detector-noise model), no image
    true_kp    the same MLP from the true 2D keypoints

PA-MPJPE aligns rotation, scale and translation away, so it scores articulation (and shape)
alone. A model that cannot beat the mean pose here cannot beat it under self-supervision at the
same budget either: that tells whether a gap is in the losses or in the input and budget.

    .venv/bin/python bench/articulation_ceiling.py [--steps 600] [--inputs image,noisy_kp,true_kp]
        [--preset synth-cpu-demo] [--data data/s2h_synth] [--samples 200] [--seed 0]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from itertools import cycle

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from s2h_lib.data.factory import make_dataset
from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.evaluation.alignment import procrustes_align_batch
from s2h_lib.fit.baselines import mean_pose_predictor
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.net.model import HandNet
from s2h_lib.train.train_config import TrainConfig, load_config

INPUTS = ("image", "noisy_kp", "true_kp")
NUM_FINGER_JOINTS = 15
HIDDEN = 512


def finger_rotations(axis_angle: Tensor) -> Tensor:
    """(B, 15, 3) axis-angles -> (B, 15, 3, 3) rotation matrices."""
    return axis_angle_to_matrix(axis_angle.reshape(-1, 3)).view(-1, NUM_FINGER_JOINTS, 3, 3)


def keypoint_features(keypoints: Tensor, confidence: Tensor) -> Tensor:
    """(B, 21, 2) pixels and (B, 21) confidences -> (B, 63): keypoints about their confident
    centroid, over the farthest one's distance (translation and scale removed), and confidence."""
    weight = confidence[..., None]
    centre = (keypoints * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp_min(1e-6)
    relative = (keypoints - centre) * (weight > 0)
    size = relative.norm(dim=-1).amax(1)[:, None, None].clamp_min(1.0)
    return torch.cat([(relative / size).flatten(1), confidence], dim=1)


class KeypointLifter(nn.Module):
    """(B, 63) keypoint features -> MANO PCA pose -> (joints (B, 21, 3), finger axis-angles
    (B, 15, 3)) in the hand model's frame."""

    def __init__(self, hand_model: ManoLayer, ncomps: int) -> None:
        super().__init__()
        self.hand_model = hand_model
        self.mlp = nn.Sequential(
            nn.Linear(63, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, ncomps),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        coeffs = self.mlp(features)
        mano = self.hand_model.forward_full(
            torch.cat([coeffs.new_zeros(len(coeffs), 3), coeffs], 1)
        )
        return mano.joints, mano.axis_angle[:, 1:]


def predict(model: nn.Module, source: str, batch: HandSample) -> tuple[Tensor, Tensor]:
    """Joints (B, 21, 3) (any frame: scored after Procrustes) and finger axis-angles (B, 15, 3)."""
    if source == "image":
        prediction = model.predict(batch)
        return prediction.joints, prediction.joint_angles[:, 1:]
    if source == "noisy_kp":
        return model(keypoint_features(batch.keypoints, batch.confidence))
    truth = batch.truth.keypoints2d
    return model(keypoint_features(truth, torch.ones_like(truth[..., 0])))


def pa_mpjpe_mm(joints: Tensor, truth: Tensor) -> float:
    """Mean PA-MPJPE of (B, 21, 3) joints against the truth, millimetres."""
    pred, gt = joints.detach().numpy(), truth.numpy()
    return float(np.linalg.norm(procrustes_align_batch(pred, gt) - gt, axis=-1).mean() * 1000)


def hand_model_of(config: TrainConfig) -> ManoLayer:
    """The hand model the preset's network uses."""
    model = config.model
    return default_hand_model(
        FitConfig(ncomps=model.ncomps, side=model.side, mano_root=model.mano_root)
    )


def build(source: str, config: TrainConfig) -> tuple[nn.Module, list[nn.Parameter]]:
    if source == "image":
        network = HandNet(config.model)
        network.set_trainable({"encoder3d", "regressor"})
        return network, [p for p in network.parameters() if p.requires_grad]
    lifter = KeypointLifter(hand_model_of(config), config.model.ncomps)
    return lifter, list(lifter.mlp.parameters())


def train_and_score(
    source: str, config: TrainConfig, loader: DataLoader, test: HandSample, steps: int
) -> float:
    torch.manual_seed(config.seed)
    model, parameters = build(source, config)
    optimiser = torch.optim.Adam(parameters, lr=config.stages[0].lr)
    model.train()
    batches = cycle(loader)
    for _ in tqdm(range(steps), desc=source, leave=False):
        batch = next(batches)
        _, angles = predict(model, source, batch)
        target = finger_rotations(batch.truth.pose[:, 3:].float())
        loss = (finger_rotations(angles) - target).pow(2).sum((-1, -2)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        joints, _ = predict(model, source, test)
    return pa_mpjpe_mm(joints, test.truth.joints3d)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="synth-cpu-demo")
    parser.add_argument("--data", default="data/s2h_synth")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--inputs", default=",".join(INPUTS), help="comma-separated")
    parser.add_argument("--samples", type=int, default=200, help="test samples scored")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sources = [s.strip() for s in args.inputs.split(",") if s.strip()]
    unknown = sorted(set(sources) - set(INPUTS))
    if unknown:
        parser.error(f"unknown inputs {unknown}; choose from {INPUTS}")
    config = load_config(args.preset)
    config = replace(config, seed=args.seed, data=replace(config.data, root=args.data))
    train = make_dataset(config.data, "train", with_truth=True, augment=True, seed=args.seed)
    test_set = make_dataset(config.data, "test", with_truth=True, seed=args.seed)
    test = collate_samples([test_set[i] for i in range(min(args.samples, len(test_set)))])
    loader = DataLoader(
        train,
        batch_size=config.stages[0].batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=collate_samples,
        num_workers=config.data.workers,
    )
    with torch.no_grad():
        mean_pose = mean_pose_predictor(hand_model_of(config))(test).joints
    rows = [("mean pose", 0, pa_mpjpe_mm(mean_pose, test.truth.joints3d))]
    for source in sources:
        rows.append((source, args.steps, train_and_score(source, config, loader, test, args.steps)))
    print(f"\n{args.preset}, {len(test.image)} test samples, true finger rotations as the target")
    print("| input | steps | PA-MPJPE mm |\n|---|---|---|")
    for name, steps, error in rows:
        print(f"| {name} | {steps} | {error:.1f} |")


if __name__ == "__main__":
    main()
