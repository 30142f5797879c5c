"""A preview of a built S2H-Synth benchmark: its first training images with their stored
(noise-model) keypoints drawn, tiled into one PNG (`layout.CONTACT_SHEET_NAME`).

Drawn with PIL alone, so building a benchmark needs neither matplotlib nor viz/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw

from s2h_lib.atomic import atomic_open
from s2h_lib.data.synth.dataset import ShardArrays
from s2h_lib.hand.skeleton import FINGER_COLOURS, FREIHAND_PARENTS

CONTACT_SHEET_SAMPLES = 24
CONTACT_SHEET_COLUMNS = 6
SHEET_SCALE = 2  # sheet pixels per image pixel
BONE_WIDTH = 2  # sheet pixels
JOINT_RADIUS = 2.5  # sheet pixels, at confidence 1 (the marker's area follows the confidence)
LEAST_BONE_OPACITY = 0.25  # of a bone whose less confident end has confidence 0


def _to_sheet(keypoints: np.ndarray) -> np.ndarray:
    """Image pixels (21, 2) -> sheet pixels; pixel centres sit at integers in both."""
    return (keypoints + 0.5) * SHEET_SCALE - 0.5


def draw_keypoints(tile: Image.Image, keypoints: np.ndarray, confidence: np.ndarray) -> Image.Image:
    """`tile` (RGB, sheet scale) with the 21 FreiHAND-order keypoints (21, 2) in image pixels and
    their bones drawn, one colour per finger; each bone as opaque as its less confident end,
    each joint as large as its confidence (21,) in [0, 1] within a white ring of the full size."""
    overlay = Image.new("RGBA", tile.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    points = _to_sheet(keypoints)
    for joint, parent in enumerate(FREIHAND_PARENTS):
        if parent < 0:
            continue
        weakest = float(min(confidence[parent], confidence[joint]))
        opacity = LEAST_BONE_OPACITY + (1 - LEAST_BONE_OPACITY) * weakest
        colour = (*ImageColor.getrgb(FINGER_COLOURS[(joint - 1) // 4]), round(255 * opacity))
        ends = [tuple(points[parent]), tuple(points[joint])]
        draw.line(ends, fill=colour, width=BONE_WIDTH)
    for (x, y), weight in zip(points, confidence, strict=True):
        draw.ellipse(
            [x - JOINT_RADIUS, y - JOINT_RADIUS, x + JOINT_RADIUS, y + JOINT_RADIUS],
            outline=(255, 255, 255, 255),
        )
        radius = JOINT_RADIUS * float(np.sqrt(max(weight, 0.0)))
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(0, 0, 0, 255))
    return Image.alpha_composite(tile.convert("RGBA"), overlay).convert("RGB")


def write_contact_sheet(root: Path, entries: list[dict], image_size: int, path: Path) -> None:
    """A PNG of the first training images (the manifest's shard `entries`) with their stored
    (noise-model) keypoints drawn, `CONTACT_SHEET_COLUMNS` to a row."""
    arrays = ShardArrays(root, entries, image_size)
    count = min(CONTACT_SHEET_SAMPLES, len(arrays))
    if count == 0:
        return
    side = image_size * SHEET_SCALE
    rows = -(-count // CONTACT_SHEET_COLUMNS)
    sheet = Image.new("RGB", (CONTACT_SHEET_COLUMNS * side, rows * side), "white")
    for i in range(count):
        tile = Image.fromarray(arrays.image(i)).resize((side, side), Image.Resampling.BILINEAR)
        confidence = arrays.inputs["confidence_noise"][i]
        if confidence.max() > 0:
            tile = draw_keypoints(tile, arrays.inputs["keypoints_noise"][i], confidence)
        row, column = divmod(i, CONTACT_SHEET_COLUMNS)
        sheet.paste(tile, (column * side, row * side))
    with atomic_open(path) as file:
        sheet.save(file, format="PNG")
