"""Accuracy and speed of the fitting baseline on synthetic hands with known 3D.

    .venv/bin/python bench/bench_fit.py [--count 24] [--noise-px 2] [--device cuda]

Hands of the open hand model with random PCA poses (std 0.8) and rotations uniform over SO(3),
at 0.45 m +- 3 cm, seen by a 128-pixel camera (focal 1.5 x the size); their projected joints plus
Gaussian pixel noise are the keypoints (confidence 1). One table row per fitting setting:
reprojection error to the clean keypoints (px), PA-MPJPE (mm; the mean pose's on the first row
for reference), and seconds for the whole batch.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from s2h_lib.data.sample import HandSample
from s2h_lib.evaluation.alignment import procrustes_align_batch
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.fit.fit_start import random_rotations
from s2h_lib.fit.fitter import fit_batch

SIZE = 128
DEPTH = 0.45
SETTINGS = {
    "palm only, 200 steps": FitConfig(views=("palm",)),
    "3 views, 100 steps": FitConfig(steps=100),
    "3 views, 200 steps (default)": FitConfig(),
    "4 views, 200 steps": FitConfig(views=("palm", "back", "thumb_side", "little_side")),
    "3 views, 400 steps": FitConfig(steps=400),
}


def targets(count: int, noise_px: float, device: torch.device, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    model = default_hand_model(FitConfig()).to(device)
    pose = torch.cat([torch.zeros(count, 3), 0.8 * torch.randn(count, 30, generator=generator)], 1)
    R = random_rotations(count, seed + 1)
    with torch.no_grad():
        _, joints = model(pose.to(device))
    centred = (joints - joints.mean(1, keepdim=True)) @ R.to(device).transpose(-1, -2)
    shift = 0.03 * torch.randn(count, 1, 3, generator=generator)
    joints = centred + (torch.tensor([0.0, 0.0, DEPTH]) + shift).to(device)
    f, c = 1.5 * SIZE, (SIZE - 1) / 2
    K = torch.tensor([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]], device=device)
    uvw = joints @ K.T
    clean = uvw[..., :2] / uvw[..., 2:]
    noise = noise_px * torch.randn(clean.shape, generator=generator).to(device)
    batch = HandSample(
        image=torch.zeros(count, 3, SIZE, SIZE, device=device),
        K=K.expand(count, 3, 3),
        keypoints=clean + noise,
        confidence=torch.ones(count, 21, device=device),
    )
    mean_pose = torch.zeros(1, 33, device=device)
    with torch.no_grad():
        _, mean_joints = model(mean_pose)
    return batch, joints, clean, mean_joints.expand(count, 21, 3)


def pa_mpjpe_mm(pred: torch.Tensor, true: torch.Tensor) -> float:
    p, t = pred.double().cpu().numpy(), true.double().cpu().numpy()
    return float(np.linalg.norm(procrustes_align_batch(p, t) - t, axis=-1).mean() * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--noise-px", type=float, default=2.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch, joints, clean, mean_joints = targets(args.count, args.noise_px, device)
    print(f"{args.count} hands, keypoint noise {args.noise_px} px, device {device}")
    print(f"mean pose PA-MPJPE: {pa_mpjpe_mm(mean_joints, joints):.1f} mm")
    print(f"{'setting':32s} {'2D px':>7s} {'PA-MPJPE mm':>12s} {'seconds':>8s}")
    for name, config in SETTINGS.items():
        start = time.perf_counter()
        result = fit_batch(batch, replace(config, progress=True))
        seconds = time.perf_counter() - start
        pred = result.prediction
        px = float((pred.keypoints2d - clean).norm(dim=-1).mean())
        print(f"{name:32s} {px:7.2f} {pa_mpjpe_mm(pred.joints, joints):12.1f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
