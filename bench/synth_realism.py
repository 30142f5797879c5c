"""How real S2H-Synth looks to a real detector: mediapipe's hand-found rate on a built split.

    .venv/bin/python bench/synth_realism.py [--root data/s2h_synth] [--split test] [--count 500]

Runs the detector with its default settings (`DetectorConfig()`) on the split's images and
prints, overall and per group, how often it finds a hand and how often its best hand is right
(mean keypoint error under CORRECT_FRACTION of the hand size). Groups: the side of the hand the
camera sees, the hand's size in the image, whether an occluder covers part of it, and the skin
tone (lighter or darker half). A rate well under the real photos' (`s2h data detect` on
`s2h_lib/assets/photos/`) says where the renders still look unlike photos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from s2h_lib.data.photos.detector import DetectorConfig, HandDetector, hand_size
from s2h_lib.data.synth.backgrounds import LUMA
from s2h_lib.data.synth.dataset import ShardArrays
from s2h_lib.data.synth.layout import read_manifest
from s2h_lib.data.synth.placement import BOX_FRACTION_RANGE, VIEW_NAMES

CORRECT_FRACTION = 0.2


def detect_split(arrays: ShardArrays, count: int) -> dict[str, np.ndarray]:
    """Per image: found, correct, view, box fraction, occluded, skin luma (each `(count,)`)."""
    rows = []
    with HandDetector(DetectorConfig()) as detector:
        for i in tqdm(range(count), desc="detect", unit="img"):
            truth = arrays.truth(i)
            hands = detector.detect(arrays.image(i))
            keypoints = truth["keypoints2d"]
            error = (
                np.linalg.norm(hands[0].keypoints - keypoints, axis=-1).mean() if hands else np.inf
            )
            rows.append(
                (
                    bool(hands),
                    error < CORRECT_FRACTION * hand_size(keypoints),
                    int(truth["view"]),
                    float(truth["box_fraction"]),
                    bool(truth["occluder"][truth["mask"]].any()),
                    float(LUMA @ truth["skin"]),
                )
            )
    names = ("found", "correct", "view", "box", "occluded", "skin_luma")
    return {name: np.array([row[k] for row in rows]) for k, name in enumerate(names)}


def groups(result: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """(label, boolean selection) for every row of the table."""
    middle_box = sum(BOX_FRACTION_RANGE) / 2
    dark = result["skin_luma"] < np.median(result["skin_luma"])
    rows = [("all", np.ones_like(result["found"]))]
    rows += [(f"view: {name}", result["view"] == k) for k, name in enumerate(VIEW_NAMES)]
    rows += [
        (f"hand box < {middle_box:.1f} of image", result["box"] < middle_box),
        (f"hand box >= {middle_box:.1f} of image", result["box"] >= middle_box),
        ("no occluder on the hand", ~result["occluded"]),
        ("occluder on the hand", result["occluded"]),
        ("lighter skin half", ~dark),
        ("darker skin half", dark),
    ]
    return rows


def table(result: dict[str, np.ndarray]) -> str:
    lines = [f"| group | images | found | correct (< {CORRECT_FRACTION:.0%} of hand size) |"]
    lines.append("|---|---|---|---|")
    for label, chosen in groups(result):
        n = int(chosen.sum())
        if n:
            found, correct = result["found"][chosen].mean(), result["correct"][chosen].mean()
            lines.append(f"| {label} | {n} | {found:.1%} | {correct:.1%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("data/s2h_synth"))
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--count", type=int, default=500, help="first N images of the split")
    args = parser.parse_args()
    manifest = read_manifest(args.root)
    arrays = ShardArrays(args.root, manifest["shards"][args.split], manifest["image_size"])
    count = min(args.count, len(arrays))
    if count < 1:
        parser.error(f"the {args.split} split of {args.root} has no images")
    print(f"S2H-Synth {manifest['generator']}, {args.split}: {count} images")
    print(table(detect_split(arrays, count)))


if __name__ == "__main__":
    main()
