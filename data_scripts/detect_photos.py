"""Run the 2D hand detector over a folder of photos and draw what it found.

    python data_scripts/detect_photos.py --images s2h_lib/assets/photos --out runs/detect

Writes OUT/keypoints.json (the `s2h data detect` file, resumable), one overlay PNG per photo in
OUT/overlays/ (skeleton in the finger colours of s2h_lib.viz.figures, marker size = joint
confidence, the true handedness and score beside the wrist) and OUT/contact_sheet.png, then prints
the detection rate.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from tqdm.auto import tqdm

from s2h_lib.data.image_io import read_rgb
from s2h_lib.data.photos.detect_folder import FolderDetections, ImageDetections, detect_folder
from s2h_lib.data.photos.detector import DetectorConfig
from s2h_lib.paths import SAMPLE_PHOTOS_DIR
from s2h_lib.viz.figures import draw_skeleton_2d

SHEET_COLUMNS = 5
PANEL_INCHES = 3.0
OVERLAY_INCHES = 6.0
ZOOM_MARGIN = 1.4  # close-up side / side of the box around the hands


def draw_detections(ax: Axes, rgb: np.ndarray, found: ImageDetections | None, title: str) -> None:
    """The photo with each hand's skeleton, confidence and handedness on it."""
    ax.imshow(rgb)
    for hand in [] if found is None else found.hands:
        draw_skeleton_2d(ax, hand.keypoints, confidence=hand.confidence)
        x, y = hand.keypoints[0]
        label = f"{hand.handedness} {hand.score:.2f}"
        ax.text(x, y, label, color="yellow", fontsize=7, ha="center", va="top")
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def zoom_on_hands(ax: Axes, found: ImageDetections) -> None:
    """Limit `ax` to a square around all the hands, so the joints can be checked by eye."""
    points = np.concatenate([hand.keypoints for hand in found.hands])
    low, high = points.min(axis=0), points.max(axis=0)
    centre, half = (low + high) / 2, ZOOM_MARGIN * (high - low).max() / 2
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)


def _title(name: str, found: ImageDetections | None, failure: str | None) -> str:
    if failure is not None:
        return f"{name[:24]}: unreadable"
    hands = 0 if found is None else len(found.hands)
    return f"{name[:24]}: {hands} hand(s)"


def write_overlay(rgb: np.ndarray, found: ImageDetections, title: str, path: Path) -> Path:
    """The photo beside a close-up of its hands (just the photo when none was found)."""
    panels = 2 if found.hands else 1
    fig, axes = plt.subplots(1, panels, squeeze=False, figsize=(OVERLAY_INCHES * panels, 5.0))
    for ax in axes[0]:
        draw_detections(ax, rgb, found, title)
    if found.hands:
        zoom_on_hands(axes[0, 1], found)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_pictures(folder: Path, result: FolderDetections, out: Path) -> list[Path]:
    """One overlay per photo plus a contact sheet of all; returns the files written."""
    names = sorted(set(result.images) | set(result.failures))
    overlays = out / "overlays"
    overlays.mkdir(parents=True, exist_ok=True)
    written = []
    rows = math.ceil(len(names) / SHEET_COLUMNS)
    sheet, axes = plt.subplots(
        rows, SHEET_COLUMNS, squeeze=False, figsize=(SHEET_COLUMNS * PANEL_INCHES, rows * 3.0)
    )
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    panels = axes.ravel()[: len(names)]
    for name, ax in tqdm(list(zip(names, panels, strict=True)), desc="drawing", unit="photo"):
        found, failure = result.images.get(name), result.failures.get(name)
        title = _title(name, found, failure)
        if failure is None:
            rgb = read_rgb(folder / name)
            written.append(write_overlay(rgb, found, title, overlays / f"{Path(name).stem}.png"))
            draw_detections(ax, rgb, found, title)
        else:
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    sheet.tight_layout()
    written.append(out / "contact_sheet.png")
    sheet.savefig(written[-1], dpi=100)
    plt.close(sheet)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=SAMPLE_PHOTOS_DIR)
    parser.add_argument("--out", type=Path, default=Path("runs/detect"))
    parser.add_argument("--max-hands", type=int, default=2)
    parser.add_argument("--views", nargs="*", default=["flip"], choices=["flip", "zoom"])
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    config = DetectorConfig(max_hands=args.max_hands, views=tuple(args.views))
    result = detect_folder(args.images, args.out / "keypoints.json", config, resume=args.resume)
    for path in write_pictures(args.images, result, args.out):
        print(f"wrote {path}")
    total = len(result.images) + len(result.failures)
    found = len(result.with_hands)
    hands = sum(len(image.hands) for image in result.images.values())
    print(
        f"a hand found in {found} of {total} photos ({100 * found / max(total, 1):.0f}%), "
        f"{hands} hands in all, {len(result.failures)} unreadable"
    )


if __name__ == "__main__":
    main()
