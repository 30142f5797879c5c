"""Time `compute_losses` (forward + backward) per stage, and the Laplacian term alone.

    .venv/bin/python bench/bench_losses.py [--device cuda] [--repeats 3]

Prints one table row per (stage, batch, image size): milliseconds per call, median of repeats.
The prediction comes from the open hand model with a random articulation; the render (stages
finetune and e2e) dominates.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from s2h_lib.data.sample import HandSample
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.losses.objective import compute_losses
from s2h_lib.losses.terms import laplacian_loss
from s2h_lib.net.prediction import HandPrediction

HAND_TRANS = (0.075, 0.0, 0.65)
LIGHTS = (0.6, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.3, 1.0)
CASES = (("shape", 64, 224), ("kp", 64, 224), ("finetune", 8, 128), ("e2e", 8, 128))


def inputs(
    layer: ManoLayer, batch: int, size: int, device: torch.device
) -> tuple[HandPrediction, HandSample]:
    generator = torch.Generator().manual_seed(0)
    pose = torch.zeros(batch, 48)
    pose[:, 3:] = 0.2 * torch.randn(batch, 45, generator=generator)
    pose = pose.to(device).requires_grad_()
    trans = torch.tensor(HAND_TRANS, device=device).expand(batch, 3)
    out = layer.forward_full(pose, None, trans)
    K = torch.tensor([[1.5 * size, 0, (size - 1) / 2], [0, 1.5 * size, (size - 1) / 2], [0, 0, 1]])
    K = K.to(device).expand(batch, 3, 3)
    uvw = torch.einsum("nij,nkj->nki", K, out.joints)
    keypoints = uvw[..., :2] / uvw[..., 2:]
    texture_raw = torch.zeros(batch, layer.num_verts, 3, device=device, requires_grad=True)
    pred = HandPrediction(
        pose_coeffs=pose,
        global_rot=pose[:, :3],
        joint_angles=out.axis_angle,
        betas=torch.zeros(batch, 10, device=device),
        scale=torch.ones(batch, device=device),
        trans=trans,
        verts=out.verts,
        joints=out.joints,
        keypoints2d=keypoints,
        texture=torch.sigmoid(texture_raw + 0.4),
        texture_raw=texture_raw,
        lights=torch.tensor(LIGHTS, device=device).expand(batch, 11),
        heatmap_keypoints=keypoints.detach().unsqueeze(1).repeat(1, 2, 1, 1).requires_grad_(),
    )
    sample = HandSample(
        image=torch.rand(batch, 3, size, size, generator=generator).to(device),
        K=K,
        keypoints=keypoints.detach() + 2.0,
        confidence=torch.full((batch, 21), 0.9, device=device),
    )
    return pred, sample


def timed(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    layer = ManoLayer(mano_root=None, use_pca=False, flat_hand_mean=True).to(device)
    config = LossConfig()
    print(f"device {device}, open hand model ({layer.num_verts} verts)")
    print(f"{'stage':<10}{'batch':>6}{'size':>6}{'ms/call':>10}")
    for stage, batch, size in CASES:
        pred, sample = inputs(layer, batch, size, device)

        def step(pred=pred, sample=sample, stage=stage) -> None:
            result = compute_losses(pred, sample, layer.faces, config, stage=stage)
            result.total.backward(retain_graph=True)

        print(f"{stage:<10}{batch:>6}{size:>6}{timed(step, args.repeats, device):>10.1f}")
    pred, _ = inputs(layer, 64, 64, device)

    def laplacian_step() -> None:
        laplacian_loss(pred.verts, layer.faces).backward(retain_graph=True)

    print(f"{'laplacian':<10}{64:>6}{'-':>6}{timed(laplacian_step, args.repeats, device):>10.1f}")


if __name__ == "__main__":
    main()
