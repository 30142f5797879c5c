"""Detected 2D keypoints per image name, from any detection source a dataset accepts.

A dataset gets its training keypoints from a detector that ran beforehand over its images. The
sources differ in layout (our `s2h data detect` JSON, S2HAND's OpenPose file, a dict built in a
notebook) and in how they name images (file name, stem, relative path); this module turns any of
them into one table `name -> (keypoints (21, 2), confidence (21,))` keyed by the dataset's own
naming, so a dataset only ever does a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s2h_lib.data.photos.detect_folder import FolderDetections, load_keypoints_json
from s2h_lib.data.photos.openpose import load_openpose_detections
from s2h_lib.hand.skeleton import NUM_KEYPOINTS

KeypointTable = dict[str, tuple[np.ndarray, np.ndarray]]
DetectionSource = str | Path | Mapping[str, Any] | FolderDetections


def _is_pair(entry: Any) -> bool:
    return (
        isinstance(entry, Sequence) and len(entry) == 2 and np.shape(entry[0]) == (NUM_KEYPOINTS, 2)
    )


def _as_pair(entry: Any, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(keypoints (21, 2), confidence (21,)) float64 from one entry, or None for "no hand".

    An entry is a (keypoints, confidence) pair, an object with `.keypoints` / `.confidence`
    (a detector `Detection`), a dict with those keys, a list of such hands (best first), or an
    image record `{"hands": [...]}` of a detection JSON.
    """
    if isinstance(entry, Mapping) and "hands" in entry:
        return _as_pair(entry["hands"], name)  # one image's record of a detection JSON
    if isinstance(entry, Mapping) and "keypoints" in entry:
        entry = (entry["keypoints"], entry["confidence"])
    elif hasattr(entry, "keypoints") and hasattr(entry, "confidence"):
        entry = (entry.keypoints, entry.confidence)
    elif isinstance(entry, Sequence) and not _is_pair(entry):
        return _as_pair(entry[0], name) if len(entry) else None
    keypoints = np.asarray(entry[0], dtype=np.float64)
    confidence = np.asarray(entry[1], dtype=np.float64).reshape(-1)
    if keypoints.shape != (NUM_KEYPOINTS, 2) or confidence.shape != (NUM_KEYPOINTS,):
        raise ValueError(
            f"detection for {name!r}: expected keypoints (21, 2) and confidence (21,), got "
            f"{keypoints.shape} and {confidence.shape}"
        )
    if not (np.isfinite(keypoints).all() and np.isfinite(confidence).all()):
        raise ValueError(f"detection for {name!r} holds NaN or infinite values")
    return keypoints, confidence


def _folder_entries(detections: FolderDetections) -> dict[str, Any]:
    """name -> list of hands (best first) of a `detect_folder.FolderDetections`."""
    return {name: image.hands for name, image in detections.images.items()}


def _read_detection_file(path: Path) -> Mapping[str, Any]:
    """A detection JSON as a name -> entry mapping: S2HAND's OpenPose file (a list
    `[peaks, values, names]`) or our `s2h data detect` file (a JSON object)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"detection file not found: {path}. Expected the JSON written by `s2h data detect` "
            "or S2HAND's OpenPose file [peaks N x 21 x 2, values N x 21 x 1, names]."
        )
    with path.open() as file:
        head = file.read(4096).lstrip()[:1]
    if head == "[":
        return load_openpose_detections(path)
    return _folder_entries(load_keypoints_json(path))


def load_keypoint_table(source: DetectionSource, key: Callable[[str], str]) -> KeypointTable:
    """Every detection in `source`, keyed by `key(name)`; images without a hand are left out.

    source: a path to a detection JSON (ours or S2HAND's OpenPose file), a loaded
        `detect_folder.FolderDetections`, or a mapping name -> entry, where an entry is a
        (keypoints (21, 2), confidence (21,)) pair, a detector `Detection`, a dict with those
        keys, or a list of hands (the first is used).
    key: maps a source's image name (a file name, a stem or a relative path) to the name the
        dataset looks up, e.g. `lambda n: Path(n).stem`.
    Raises ValueError when two names collide under `key` or an entry is malformed.
    """
    if isinstance(source, str | Path):
        entries = _read_detection_file(Path(source).expanduser())
    elif isinstance(source, FolderDetections):
        entries = _folder_entries(source)
    else:
        entries = source
    table: KeypointTable = {}
    for name, entry in entries.items():
        pair = _as_pair(entry, name)
        if pair is None:
            continue
        lookup = key(str(name))
        if lookup in table:
            raise ValueError(f"two detections map to the same image {lookup!r} (one is {name!r})")
        table[lookup] = pair
    return table


def check_coverage(table: KeypointTable, names: Sequence[str], what: str) -> int:
    """How many of `names` have no detection; raises ValueError when none has one, which means
    the detection file belongs to other images or names them differently."""
    missing = sum(name not in table for name in names)
    if names and missing == len(names):
        example_table = next(iter(table), "<empty>")
        raise ValueError(
            f"no {what} image has a detection: the dataset looks up names like {names[0]!r}, "
            f"the detections are named like {example_table!r}"
        )
    return missing
