"""Speed of S2H-Synth loading: DataLoader samples/s at batch 32, with 0 and 2 workers.

    .venv/bin/python bench/bench_data.py [--root data/s2h_synth] [--batches 30]

Reads an existing benchmark (default `data/s2h_synth`); when there is none, builds a small one
(1024 training images, 32 clips) in a temporary folder first. Rows: single images without and
with truth, resized to 224, and clips of 8 frames (samples/s counts images).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from s2h_lib.data.sample import collate_samples
from s2h_lib.data.synth.config import SynthConfig
from s2h_lib.data.synth.dataset import SynthClips, SynthDataset
from s2h_lib.data.synth.layout import MANIFEST_NAME
from s2h_lib.data.synth.store import build_synth

BATCH = 32
WORKER_COUNTS = (0, 2)
FALLBACK = SynthConfig(train=1024, val=0, test=0, clips=32)


def images_per_second(dataset: Dataset, workers: int, batches: int, frames: int) -> float:
    """Images/s over `batches` batches after one warm-up batch (workers started, caches full)."""
    loader = DataLoader(
        dataset,
        batch_size=BATCH if frames == 1 else max(1, BATCH // frames),
        shuffle=True,
        num_workers=workers,
        collate_fn=collate_samples,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )
    count, start = 0, None
    while True:
        for batch in loader:
            if start is None:
                start = time.perf_counter()  # after the warm-up batch
                continue
            count += batch.image.shape[0] * frames
            if count >= batches * BATCH:
                return count / (time.perf_counter() - start)


def run(root: Path, batches: int) -> None:
    rows = [
        ("train, no truth", SynthDataset(root, "train"), 1),
        ("train, with truth", SynthDataset(root, "train", with_truth=True), 1),
        ("train, resized to 224", SynthDataset(root, "train", size=224), 1),
    ]
    clips = SynthClips(root)
    if len(clips):
        rows.append((f"clips of {clips.clip_length}", clips, clips.clip_length))
    print(f"S2H-Synth at {root}, batch {BATCH}, torch threads {torch.get_num_threads()}")
    print(f"{'dataset':26s}" + "".join(f"{f'{w} workers':>14s}" for w in WORKER_COUNTS))
    for name, dataset, frames in rows:
        speeds = [images_per_second(dataset, w, batches, frames) for w in WORKER_COUNTS]
        print(f"{name:26s}" + "".join(f"{s:10.0f} im/s" for s in speeds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("data/s2h_synth"))
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    if (args.root / MANIFEST_NAME).is_file():
        run(args.root, args.batches)
        return
    with tempfile.TemporaryDirectory() as folder:
        print(f"no benchmark at {args.root}: building a small one ({FALLBACK.train} images)")
        build_synth(Path(folder), FALLBACK, progress=False, contact_sheet=False)
        run(Path(folder), args.batches)


if __name__ == "__main__":
    main()
