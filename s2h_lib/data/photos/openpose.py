"""Import the OpenPose hand detections S2HAND published (method notes section 1.4).

The file is one JSON list `[peaks, values, names]`:
- peaks:  N x 21 x 2, integer (x, y) pixels of the full image, OpenPose = FreiHAND joint order
- values: N x 21 x 1 (N x 21 also accepted), the heatmap value at each peak
- names:  N image file names
A joint with no heatmap response is (0, 0) with value 0; it is kept that way, and confidence 0
means "not detected" everywhere in this library. Heatmap values are clipped to [0, 1], the
range `HandSample.confidence` promises (OpenPose's peaks rarely leave it).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from s2h_lib.hand.skeleton import NUM_KEYPOINTS

LAYOUT = "[peaks N x 21 x 2, values N x 21 x 1, names N]"


def _as_array(value: object, what: str, path: Path) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: {what} is not a numeric array ({error}); expected {LAYOUT}"
        ) from error
    if not np.isfinite(array).all():
        raise ValueError(f"{path}: {what} holds NaN or infinite numbers")
    return array


def _check_shape(array: np.ndarray, shapes: list[tuple[int, ...]], what: str, path: Path) -> None:
    if array.shape not in shapes:
        wanted = " or ".join(str(s) for s in shapes)
        raise ValueError(f"{path}: {what} has shape {array.shape}, expected {wanted}; {LAYOUT}")


def load_openpose_detections(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Map each image name to (keypoints (21, 2) float64 pixels, confidence (21,) float64)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"OpenPose detection file not found: {path}; expected {LAYOUT}")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); expected {LAYOUT}") from error
    if not isinstance(record, list) or len(record) != 3:
        raise ValueError(f"{path}: expected a list of three entries {LAYOUT}")
    peaks_list, values_list, names = record
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: the third entry must be a list of file names; {LAYOUT}")
    count = len(names)
    if count == 0:
        return {}
    peaks = _as_array(peaks_list, "peaks", path)
    values = _as_array(values_list, "values", path)
    _check_shape(peaks, [(count, NUM_KEYPOINTS, 2)], "peaks", path)
    _check_shape(values, [(count, NUM_KEYPOINTS, 1), (count, NUM_KEYPOINTS)], "values", path)
    duplicates = sorted(n for n, times in Counter(names).items() if times > 1)
    if duplicates:
        raise ValueError(f"{path}: image names listed more than once: {duplicates[:5]}")
    confidence = np.clip(values.reshape(count, NUM_KEYPOINTS), 0.0, 1.0)
    return {name: (peaks[i], confidence[i]) for i, name in enumerate(names)}
