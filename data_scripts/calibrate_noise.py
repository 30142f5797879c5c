"""Fit the detector-noise model to the real detector (mediapipe) on S2H-Synth images.

    python data_scripts/calibrate_noise.py [--count 300] [--size 256] [--fit-size 128]
        [--out s2h_lib/assets/detector_noise.json] [--raw runs/calibration/detections.npz]

Renders `count` S2H-Synth scenes (seeds apart from every benchmark split) at `size` pixels,
runs the detector on them at that size and downscaled to `fit-size` (the benchmark's image
size, where `s2h data synth --keypoints detector` runs it), measures its errors against the
truth (per-joint error, misses, finger swaps, left/right flips, hidden joints, how its
confidence ranks its errors), fits `s2h_lib.data.synth.noise.NoiseParams` to the `fit-size`
measurements, prints measured against fitted (the fitted model simulated on the same hands and
measured the same way), and writes the parameters: the package default the generator loads.
The detection rates it prints are also a realism measure of the synthetic images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from s2h_lib.data.photos.detector import DetectorConfig, HandDetector
from s2h_lib.data.synth.config import SynthConfig
from s2h_lib.data.synth.generator import SynthGenerator
from s2h_lib.data.synth.noise import (
    CONFIDENCE_QUANTILES,
    DEFAULT_NOISE_PATH,
    S2HAND_CONFIDENCE_CUTOFF,
    ConfidenceTarget,
    Detections,
    DetectorStats,
    NoiseModel,
    NoiseParams,
    fit,
    measure,
    simulate,
)

CALIBRATION_SEED = 9_000_000  # far from the benchmark's split offsets (0 .. 3,000,000 + count)
SIMULATION_REPEATS = 10
FINGER_GROUPS = {
    "wrist": [0],
    "thumb": [1, 2, 3, 4],
    "index": [5, 6, 7, 8],
    "middle": [9, 10, 11, 12],
    "ring": [13, 14, 15, 16],
    "pinky": [17, 18, 19, 20],
}


def downscale(image: np.ndarray, size: int) -> np.ndarray:
    pil = Image.fromarray(image)
    return np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0))


def rescale_points(points: np.ndarray, factor: float) -> np.ndarray:
    """Pixel coordinates after resizing an image by `factor` (pixel centres at integers)."""
    return (points + 0.5) * factor - 0.5


def best_hand(detector: HandDetector, image: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
    hands = detector.detect(image)
    if not hands:
        return False, np.zeros((21, 2)), np.zeros(21)
    return True, hands[0].keypoints, hands[0].confidence


def collect(count: int, size: int, fit_size: int, seed: int) -> dict[int, Detections]:
    """Render `count` scenes and detect hands at `size` and at `fit_size`."""
    config = SynthConfig(image_size=size, seed=CALIBRATION_SEED + seed)
    generator = SynthGenerator(config, NoiseModel(NoiseParams(joint_sigma=(0.0,) * 21)))
    rows = {size: [], fit_size: []}
    with HandDetector(DetectorConfig()) as detector:
        for index in tqdm(range(count), desc="render + detect", unit="img"):
            frame = generator.sample("train", index)
            truth, visible = frame.truth["keypoints2d"], frame.truth["visible"]
            for side in rows:
                image = frame.image if side == size else downscale(frame.image, side)
                found, keypoints, confidence = best_hand(detector, image)
                points = rescale_points(truth, side / size)
                rows[side].append((points, visible, found, keypoints, confidence))
    return {
        side: Detections(*(np.array([row[k] for row in data]) for k in range(5)))
        for side, data in rows.items()
    }


def table(measured: DetectorStats, fitted: DetectorStats) -> str:
    """Measured against fitted statistics, one line each."""
    lines = [f"{'':28s}{'measured':>10s}{'fitted':>10s}"]

    def line(name: str, a: float, b: float) -> None:
        lines.append(f"{name:28s}{a:10.4f}{b:10.4f}")

    line("hand found", 1 - measured.hand_miss_rate, 1 - fitted.hand_miss_rate)
    line("joint missed", measured.joint_miss_rate, fitted.joint_miss_rate)
    line("left/right flip", measured.flip_rate, fitted.flip_rate)
    line("adjacent finger swap", measured.finger_swap_rate, fitted.finger_swap_rate)
    line("outliers (> 4 sigma)", measured.outlier_rate(), fitted.outlier_rate())
    line("hidden / visible error", measured.hidden_scale(), fitted.hidden_scale())
    for group, joints in FINGER_GROUPS.items():
        a, b = measured.joint_sigma()[joints].mean(), fitted.joint_sigma()[joints].mean()
        line(f"sigma {group} (hand sizes)", a, b)
    line("median error (hand sizes)", np.median(measured.error_all), np.median(fitted.error_all))
    line("mean confidence", measured.confidence.mean(), fitted.confidence.mean())
    for q in CONFIDENCE_QUANTILES:
        line(
            f"confidence q{q:.2f}",
            np.quantile(measured.confidence, q),
            np.quantile(fitted.confidence, q),
        )
    line("Spearman(confidence, error)", measured.spearman(), fitted.spearman())
    targets = [ConfidenceTarget.of(s.confidence, s.error_all) for s in (measured, fitted)]
    line("std of a hand's mean conf.", targets[0].hand_spread, targets[1].hand_spread)
    line(
        f"hands min conf. > {S2HAND_CONFIDENCE_CUTOFF}",
        targets[0].above_cutoff,
        targets[1].above_cutoff,
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--size", type=int, default=256, help="render size (pixels)")
    parser.add_argument("--fit-size", type=int, default=SynthConfig().image_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_NOISE_PATH)
    parser.add_argument("--raw", type=Path, default=None, help="also save the detections (.npz)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    runs = collect(args.count, args.size, args.fit_size, args.seed)
    if args.raw is not None:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            args.raw, **{f"{k}_{side}": v for side, d in runs.items() for k, v in vars(d).items()}
        )
    for side, detections in runs.items():
        print(
            f"mediapipe finds the hand in {detections.found.mean():.1%} of {args.count} "
            f"S2H-Synth images at {side} px"
        )
    detections = runs[args.fit_size]
    rng = np.random.default_rng(args.seed)
    import mediapipe

    source = (
        f"data_scripts/calibrate_noise.py: mediapipe {mediapipe.__version__} (DetectorConfig "
        f"defaults) on {args.count} S2H-Synth images rendered at {args.size} px and detected at "
        f"{args.fit_size} px, seed {args.seed}; hand found in {detections.found.mean():.1%}"
    )
    params = fit(detections, rng, source=source)
    repeats = SIMULATION_REPEATS
    simulated = simulate(
        NoiseModel(params),
        np.repeat(detections.truth, repeats, axis=0),
        np.repeat(detections.visible, repeats, axis=0),
        rng,
    )
    print(f"\nat {args.fit_size} px (fitted: the model simulated {repeats}x on the same hands)")
    print(table(measure(detections), measure(simulated)))
    params.save(args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
