"""Time the MANO layer: forward (no grad) and forward+backward, per batch size.

Rows: `ours` (s2h_lib.hand.hand_model.ManoLayer), `naive` (a textbook per-sample, per-joint
loop written below, for context), and `manopth` when it is installed and S2H_MANO_ROOT points
at the official models/ folder (then every row uses those files).

    python bench/bench_hand_model.py [--quick] [--threads N] [--model auto|open|official|synthetic]
"""

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from s2h_lib.hand import mano_io
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.mano_data import MANO_PARENTS
from s2h_lib.hand.skeleton import FREIHAND_FROM_MANO

BATCHES = (1, 64, 256, 1024)
NCOMPS = 30  # S2HAND's setting: 30 PCA coefficients, hand mean added
LAYER_OPTIONS = {"use_pca": True, "ncomps": NCOMPS, "flat_hand_mean": False}
NAIVE_MAX_BATCH = 256  # the per-sample loop takes seconds per call beyond this
SYNTHETIC_VERTS = 778  # as many as the official mesh, so the random model costs the same


# ---- the naive reference ----------------------------------------------------------------------


def rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """(3,) -> (3, 3), R = I + sin θ K + (1 - cos θ) K² with K the unit axis' cross matrix."""
    angle = torch.norm(axis_angle + 1e-8)
    x, y, z = axis_angle / angle
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero]).view(3, 3)
    eye = torch.eye(3, dtype=K.dtype, device=K.device)
    return eye + torch.sin(angle) * K + (1 - torch.cos(angle)) * K @ K


def rigid(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    bottom = rotation.new_tensor([[0.0, 0.0, 0.0, 1.0]])
    return torch.cat([torch.cat([rotation, translation[:, None]], 1), bottom], 0)


def naive_sample(layer: ManoLayer, coeffs, betas, trans) -> tuple[torch.Tensor, torch.Tensor]:
    """One hand, one joint at a time, straight from the MANO paper's equations."""
    hand = layer.th_hands_mean[0] + coeffs[3:] @ layer.th_selected_comps
    axis_angles = torch.cat([coeffs[:3], hand]).view(16, 3)
    rotations = [rodrigues(a) for a in axis_angles]
    shaped = layer.th_v_template[0] + layer.th_shapedirs @ betas
    joints = layer.th_J_regressor @ shaped
    eye = torch.eye(3, dtype=shaped.dtype, device=shaped.device)
    features = torch.cat([(R - eye).reshape(-1) for R in rotations[1:]])
    posed = shaped + layer.th_posedirs @ features
    world = [rigid(rotations[0], joints[0])]
    for j in range(1, 16):
        parent = MANO_PARENTS[j]
        world.append(world[parent] @ rigid(rotations[j], joints[j] - joints[parent]))
    skinning = []
    for j in range(16):
        rest = world[j][:3, :3] @ joints[j]
        skinning.append(world[j] - rigid(torch.zeros_like(eye), rest))
    blended = sum(layer.th_weights[:, j, None, None] * skinning[j] for j in range(16))
    homogeneous = torch.cat([posed, torch.ones_like(posed[:, :1])], 1)
    verts = (blended @ homogeneous[:, :, None])[:, :3, 0]
    skeleton = torch.stack([w[:3, 3] for w in world])
    keypoints = torch.cat([skeleton, verts[list(layer.tip_vertex_ids)]])[list(FREIHAND_FROM_MANO)]
    return verts + trans, keypoints + trans


def naive_layer(layer: ManoLayer) -> Callable:
    def run(pose, betas, trans):
        outputs = [naive_sample(layer, *args) for args in zip(pose, betas, trans, strict=True)]
        return torch.stack([v for v, _ in outputs]), torch.stack([j for _, j in outputs])

    return run


# ---- models -----------------------------------------------------------------------------------


def synthetic_model_file(folder: Path, num_verts: int = SYNTHETIC_VERTS, seed: int = 0) -> Path:
    """Random arrays in the MANO layout: valid for timing, not a hand."""
    rng = np.random.default_rng(seed)
    weights = rng.random((num_verts, 16))
    regressor = rng.random((16, num_verts))
    parents = np.array(MANO_PARENTS)
    arrays = {
        "v_template": rng.normal(scale=0.05, size=(num_verts, 3)),
        "f": rng.integers(0, num_verts, size=(2 * num_verts, 3)),
        "J_regressor": regressor / regressor.sum(1, keepdims=True),
        "kintree_table": np.stack([np.where(parents < 0, 4294967295, parents), np.arange(16)]),
        "weights": weights / weights.sum(1, keepdims=True),
        "posedirs": rng.normal(scale=1e-3, size=(num_verts, 3, 135)),
        "shapedirs": rng.normal(scale=1e-3, size=(num_verts, 3, 10)),
        "hands_components": rng.normal(size=(45, 45)),
        "hands_mean": rng.normal(scale=0.1, size=45),
        "tip_vertex_ids": np.arange(5),
    }
    path = folder / "synthetic_hand_right.npz"
    np.savez(path, **arrays)
    return path


def pick_model(choice: str, folder: Path, manopth_ready: bool) -> tuple[object, str]:
    """(mano_root, description) following --model; `auto` prefers the official files when
    manopth can use them (same file for every row), then the open model, then synthetic."""
    official = os.environ.get("S2H_MANO_ROOT")
    if choice == "official" or (choice == "auto" and manopth_ready):
        if not official:
            raise SystemExit("--model official needs S2H_MANO_ROOT=<MANO models/ folder>")
        return official, f"official MANO ({official})"
    if choice in ("auto", "open") and mano_io.OPEN_MODEL_PATH.is_file():
        return None, "open hand model"
    if choice == "open":
        raise SystemExit(f"open model missing: {mano_io.OPEN_MODEL_PATH}")
    if choice == "auto" and official:
        return official, f"official MANO ({official})"
    return synthetic_model_file(folder), "synthetic random model"


def manopth_layer(mano_root: str | None) -> tuple[Callable | None, str]:
    try:
        from manopth.manolayer import ManoLayer as ManopthLayer
    except ImportError:
        return None, "manopth: not installed, no comparison (it is optional)"
    if mano_root is None:
        return None, "manopth: installed, but set S2H_MANO_ROOT to MANO's models/ to compare"
    return ManopthLayer(mano_root=mano_root, **LAYER_OPTIONS), "manopth: same model file"


# ---- timing -----------------------------------------------------------------------------------


def inputs(batch: int, device: torch.device, grad: bool) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(batch)
    pose = 0.5 * torch.randn(batch, 3 + NCOMPS, generator=g)
    betas = torch.randn(batch, 10, generator=g)
    trans = 0.1 * torch.randn(batch, 3, generator=g)
    return tuple(t.to(device).requires_grad_(grad) for t in (pose, betas, trans))


def timed(step: Callable, device: torch.device, repeats: int, budget_s: float) -> float:
    """Median milliseconds of `step`, after one warm-up call, within a time budget."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats and (not times or time.perf_counter() - start < budget_s):
        begin = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - begin)
    return 1e3 * statistics.median(times)


def measure(layer: Callable, batch: int, device: torch.device, repeats: int, budget_s: float):
    def forward():
        with torch.no_grad():
            layer(*inputs_no_grad)

    def forward_backward():
        verts, joints = layer(*inputs_grad)
        (verts.sum() + joints.sum()).backward()

    inputs_no_grad = inputs(batch, device, grad=False)
    inputs_grad = inputs(batch, device, grad=True)
    return (
        timed(forward, device, repeats, budget_s),
        timed(forward_backward, device, repeats, budget_s),
    )


def print_table(title: str, rows: list[tuple[str, int, float, float]]) -> None:
    print(f"\n{title}")
    header = f"{'impl':<8} {'batch':>6} {'fwd ms':>10} {'fwd+bwd ms':>11}"
    print(header + f" {'fwd samples/s':>14} {'fwd+bwd samples/s':>18}")
    for name, batch, fwd, both in rows:
        rates = f"{batch / fwd * 1e3:>14,.0f} {batch / both * 1e3:>18,.0f}"
        print(f"{name:<8} {batch:>6} {fwd:>10.2f} {both:>11.2f} {rates}")
    ours = {batch: both for name, batch, _, both in rows if name == "ours"}
    for name in ("manopth", "naive"):
        ratios = [f"{batch}: {both / ours[batch]:.1f}x" for n, batch, _, both in rows if n == name]
        if ratios:
            print(f"fwd+bwd speed-up of ours over {name}: " + ", ".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--model", choices=("auto", "open", "official", "synthetic"), default="auto"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # once, for warm-ups and timed runs alike
    repeats, budget_s = (3, 0.5) if args.quick else (20, 2.0)
    manopth_ready = importlib.util.find_spec("manopth") is not None and bool(
        os.environ.get("S2H_MANO_ROOT")
    )
    with tempfile.TemporaryDirectory() as folder:
        mano_root, model_name = pick_model(args.model, Path(folder), manopth_ready)
        theirs, manopth_note = manopth_layer(mano_root if isinstance(mano_root, str) else None)
        devices = [torch.device("cpu")]
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        ours = ManoLayer(mano_root=mano_root, **LAYER_OPTIONS)
        print(f"model: {model_name}, {ours.num_verts} vertices; {LAYER_OPTIONS}, betas and trans")
        print(f"torch {torch.__version__}, {args.threads} CPU threads; {manopth_note}")
        for device in devices:
            layers = {"ours": ours.to(device), "naive": naive_layer(ours.to(device))}
            if theirs is not None:
                layers["manopth"] = theirs.to(device)
            rows = []
            for batch in BATCHES:
                for name, layer in layers.items():
                    if name == "naive" and batch > NAIVE_MAX_BATCH:
                        continue
                    count = 1 if name == "naive" else repeats
                    fwd, both = measure(layer, batch, device, count, budget_s)
                    rows.append((name, batch, fwd, both))
            print_table(
                f"device {device} (fwd: no_grad; fwd+bwd: grads for pose, betas, trans)", rows
            )


if __name__ == "__main__":
    main()
