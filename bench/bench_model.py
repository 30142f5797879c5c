"""Time HandNet: forward (no grad) and forward+backward, in ms per batch.

Rows: encoder x batch size x image size, on CPU, and on CUDA when present (bfloat16 autocast
there with --amp); --device picks one of them. The default model is timed (2D branch on,
per-vertex texture, open hand model), randomly initialised (the weights do not change the
time); the backward is that of the sum of all outputs, so every parameter gets a gradient.

    python bench/bench_model.py [--quick] [--threads N] [--repeats N] [--amp] [--no-keypoints]
        [--device all|cpu|cuda]
"""

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch

from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig

ENCODERS = ("efficientnet_lite0", "resnet18", "efficientnet_b0")
BATCHES = (16, 64)
SIZES = (128, 224)
FOCAL_FACTOR = 1.5  # focal length in image sizes, a typical hand crop


def devices(choice: str) -> list[torch.device]:
    """The devices `choice` names: "all" is the CPU and CUDA when present."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    if choice != "all":
        return [torch.device(choice)]
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    return found


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn: Callable[[], None], device: torch.device, repeats: int) -> float:
    """Median wall time of `fn` in ms, after one warm-up call."""
    fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def inputs(batch: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=generator).to(device)
    f, c = FOCAL_FACTOR * size, (size - 1) / 2
    K = torch.tensor([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]], device=device)
    return images, K.expand(batch, 3, 3)


def output_sum(prediction) -> torch.Tensor:
    return sum(v.float().mean() for v in vars(prediction).values() if torch.is_tensor(v))


def time_row(
    net: HandNet, batch: int, size: int, device: torch.device, repeats: int, amp: bool
) -> tuple[float, float]:
    images, K = inputs(batch, size, device)
    use_amp = amp and device.type == "cuda"
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
    )

    def forward() -> None:
        with torch.no_grad(), autocast:
            net(images, K)

    def forward_backward() -> None:
        with autocast:
            loss = output_sum(net(images, K))
        loss.backward()
        net.zero_grad(set_to_none=True)

    net.train()
    return median_ms(forward, device, repeats), median_ms(forward_backward, device, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 16 at 128 px only")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    parser.add_argument("--no-keypoints", action="store_true", help="without the 2D branch")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches, sizes = ((16,), (128,)) if args.quick else (BATCHES, SIZES)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    header = f"{'device':<6} {'encoder':<16} {'params':>7} {'batch':>5} {'px':>4}"
    print(f"{header} {'fwd ms':>9} {'fwd+bwd ms':>11} {'img/s train':>11}")
    for device in devices(args.device):
        for encoder in ENCODERS:
            config = ModelConfig(
                encoder=encoder, pretrained_weights=None, keypoint_branch=not args.no_keypoints
            )
            net = HandNet(config).to(device)
            params = sum(p.numel() for p in net.parameters()) / 1e6
            for batch in batches:
                for size in sizes:
                    fwd, both = time_row(net, batch, size, device, args.repeats, args.amp)
                    row = f"{device.type:<6} {encoder:<16} {params:>6.1f}M {batch:>5} {size:>4}"
                    print(f"{row} {fwd:>9.1f} {both:>11.1f} {batch / both * 1e3:>11.1f}")


if __name__ == "__main__":
    main()
