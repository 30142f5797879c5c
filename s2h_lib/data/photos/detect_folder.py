"""Run the hand detector over a folder of photos into one resumable keypoints JSON file.

The file (`KEYPOINTS_FORMAT`), keyed by image file name (relative to the folder)::

    {
      "format": "s2h-keypoints/1",
      "folder": "/abs/path/of/the/images",          (informational)
      "detector": {"max_hands": 2, ...},             (the DetectorConfig that made it)
      "images": {
        "a.jpg": {"width": 512, "height": 384,
                  "hands": [{"keypoints": [[x, y], ... 21],   original-image pixels (1e-4),
                             "confidence": [... 21],          FreiHAND order
                             "score": 0.98, "handedness": "right"}, ...]},   best first
        "no_hand.jpg": {"width": 640, "height": 480, "hands": []}
      },
      "failures": {"broken.jpg": "ImageReadError: cannot read image ..."}
    }

It is rewritten atomically every `save_every` images and at the end (also when interrupted),
so a stopped run loses at most those images: run again with `resume=True` and the images already
in "images" are skipped. Failures are tried again on resume (a fixed file then succeeds).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.data.image_io import list_images, read_rgb
from s2h_lib.data.photos.detector import Detection, DetectorConfig, HandDetector

KEYPOINTS_FORMAT = "s2h-keypoints/1"
# Each save rewrites the whole file: every 200 images costs little even for FreiHAND-sized folders
# and loses a few seconds of work at most when a run is stopped.
SAVE_EVERY = 200
KEYPOINT_DECIMALS = 4  # 1e-4 pixels: far below the detector's precision, halves the file
CONFIDENCE_DECIMALS = 6


@dataclass(frozen=True)
class ImageDetections:
    """The hands found in one image (best first) and the image's size in pixels."""

    width: int
    height: int
    hands: list[Detection]


@dataclass
class FolderDetections:
    """The content of a keypoints JSON file: per-image results, failures, detector settings."""

    detector: dict[str, Any]
    images: dict[str, ImageDetections] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    folder: str = ""

    @property
    def with_hands(self) -> list[str]:
        """Names of the images where at least one hand was found."""
        return [name for name, result in self.images.items() if result.hands]


def _config_record(config: DetectorConfig) -> dict[str, Any]:
    """The config as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(asdict(config)))


def _hand_record(hand: Detection) -> dict[str, Any]:
    return {
        "keypoints": np.round(hand.keypoints, KEYPOINT_DECIMALS).tolist(),
        "confidence": np.round(hand.confidence, CONFIDENCE_DECIMALS).tolist(),
        "score": round(hand.score, CONFIDENCE_DECIMALS),
        "handedness": hand.handedness,
    }


def save_keypoints_json(result: FolderDetections, path: str | Path) -> None:
    """Write `result` to `path` atomically, in the layout of this module's docstring."""
    record = {
        "format": KEYPOINTS_FORMAT,
        "folder": result.folder,
        "detector": result.detector,
        "images": {
            name: {
                "width": image.width,
                "height": image.height,
                "hands": [_hand_record(h) for h in image.hands],
            }
            for name, image in result.images.items()
        },
        "failures": result.failures,
    }
    atomic_write_bytes(path, json.dumps(record, separators=(",", ":")).encode())


def _parse_hand(record: dict[str, Any]) -> Detection:
    return Detection(
        keypoints=np.asarray(record["keypoints"], dtype=np.float64),
        confidence=np.asarray(record["confidence"], dtype=np.float64),
        score=float(record["score"]),
        handedness=str(record["handedness"]),
    )


def _parse_image(record: dict[str, Any]) -> ImageDetections:
    return ImageDetections(
        int(record["width"]), int(record["height"]), [_parse_hand(h) for h in record["hands"]]
    )


def load_keypoints_json(path: str | Path) -> FolderDetections:
    """Read a keypoints file written by `detect_folder`; ValueError naming the file if it is
    not one (missing keys, wrong shapes, another format)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"keypoints file not found: {path} (make it with `s2h data detect`)"
        )
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(record, dict) or record.get("format") != KEYPOINTS_FORMAT:
        raise ValueError(
            f"{path} is not a keypoints file of format {KEYPOINTS_FORMAT!r} (an object with "
            "format, detector, images, failures; see s2h_lib.data.photos.detect_folder)"
        )
    try:
        images = {name: _parse_image(image) for name, image in record["images"].items()}
        return FolderDetections(
            detector=dict(record["detector"]),
            images=images,
            failures={str(k): str(v) for k, v in record["failures"].items()},
            folder=str(record.get("folder", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path} is a malformed keypoints file: {error!r}") from error


def _previous_results(
    out: Path | None, config: DetectorConfig, resume: bool
) -> FolderDetections | None:
    """What an earlier run into `out` already found, or None to start afresh."""
    if out is None or not resume or not out.exists():
        return None
    previous = load_keypoints_json(out)
    if previous.detector != _config_record(config):
        raise ValueError(
            f"{out} was made with other detector settings ({previous.detector}, now "
            f"{_config_record(config)}); delete it, or run with --no-resume, to start over"
        )
    return previous


def _detect_one(detector: HandDetector, path: Path) -> ImageDetections:
    rgb = read_rgb(path)
    return ImageDetections(rgb.shape[1], rgb.shape[0], detector.detect(rgb))


def detect_folder(
    images: str | Path,
    out: str | Path | None = None,
    config: DetectorConfig | None = None,
    resume: bool = True,
    save_every: int = SAVE_EVERY,
    progress: bool = True,
) -> FolderDetections:
    """Detect hands in every image of the folder `images` (`list_images`); write them to `out`.

    `config` None means `DetectorConfig()`. With `resume`, images already in `out` are not
    detected again. A file that cannot be read or detected is recorded in `failures` with its
    error and skipped. `out=None` keeps the results in memory only.
    """
    config = DetectorConfig() if config is None else config
    folder = Path(images).expanduser()
    out = None if out is None else Path(out).expanduser()
    paths = list_images(folder)
    result = _previous_results(out, config, resume) or FolderDetections(_config_record(config))
    result.folder = str(folder.resolve())
    pending = [p for p in paths if p.name not in result.images]
    if not pending:
        if out is not None:
            save_keypoints_json(result, out)
        return result
    with HandDetector(config) as detector:
        try:
            bar = tqdm(pending, desc="detecting hands", unit="image", disable=not progress)
            for count, path in enumerate(bar, start=1):
                _record_one(result, detector, path)
                if out is not None and count % save_every == 0:
                    save_keypoints_json(result, out)
        finally:
            if out is not None:
                save_keypoints_json(result, out)
    return result


def _record_one(result: FolderDetections, detector: HandDetector, path: Path) -> None:
    try:
        found = _detect_one(detector, path)
    # One bad photo (corrupt, truncated, a decompression bomb, something mediapipe rejects)
    # must not end a run over thousands: record whatever it raised and go on.
    except Exception as error:
        result.failures[path.name] = f"{type(error).__name__}: {error}"
        return
    result.failures.pop(path.name, None)
    result.images[path.name] = found
