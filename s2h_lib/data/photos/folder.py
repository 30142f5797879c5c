"""`PhotoFolder`: your own photos as a dataset, one `HandSample` per hand the detector finds.

Photos carry no calibration, so each crop's K derives from `default_intrinsics` of its photo
(focal length max(H, W) pixels, principal point at the centre). There is no ground truth:
`truth` is always None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from s2h_lib.data.crop import DEFAULT_MARGIN, CropBox
from s2h_lib.data.image_io import list_images, read_rgb
from s2h_lib.data.photos.detect_folder import detect_folder
from s2h_lib.data.photos.detector import Detection, DetectorConfig, crop_detection, detection_box
from s2h_lib.data.sample import HandSample


@dataclass(frozen=True)
class PhotoHand:
    """One detected hand: its photo's file name, its rank in that photo, the detection."""

    file: str
    rank: int
    detection: Detection

    @property
    def name(self) -> str:
        """The sample name, "file.jpg#0" for the best hand of file.jpg."""
        return f"{self.file}#{self.rank}"


def crop_photo_hand(
    rgb: np.ndarray, hand: PhotoHand, size: int, margin: float = DEFAULT_MARGIN
) -> tuple[CropBox, HandSample]:
    """The box around a detected `hand` of the photo `rgb` (H, W, 3) and its `size` x `size`
    crop, named after the hand ("file.jpg#0"); `crop_to_image` maps the crop back."""
    detection = hand.detection
    crop = crop_detection(rgb, detection, size, margin, name=hand.name)
    return detection_box(detection, margin), crop


class PhotoFolder(Dataset):
    """Hand crops from the photos directly in `folder`.

    The detector runs once; with `cache` (a keypoints JSON path) its results are kept there and
    reused, and a run stopped half way resumes. Images in which no hand was found are listed in
    `without_hand`, unreadable ones in `failures` (name -> error); both are skipped.
    `detector_config` None means `DetectorConfig()`.
    """

    def __init__(
        self,
        folder: str | Path,
        size: int = 128,
        detector_config: DetectorConfig | None = None,
        margin: float = DEFAULT_MARGIN,
        cache: str | Path | None = None,
        progress: bool = True,
    ) -> None:
        self.folder = Path(folder).expanduser()
        self.size = size
        self.margin = margin
        found = detect_folder(self.folder, cache, detector_config, resume=True, progress=progress)
        # a cache may remember photos removed from the folder since
        present = {path.name for path in list_images(self.folder)}
        images = {file: image for file, image in found.images.items() if file in present}
        self.hands = [
            PhotoHand(file, rank, hand)
            for file, image in images.items()
            for rank, hand in enumerate(image.hands)
        ]
        self.without_hand = [file for file, image in images.items() if not image.hands]
        self.failures = {file: error for file, error in found.failures.items() if file in present}

    def __len__(self) -> int:
        return len(self.hands)

    def __getitem__(self, index: int) -> HandSample:
        hand = self.hands[index]
        _, crop = crop_photo_hand(read_rgb(self.folder / hand.file), hand, self.size, self.margin)
        return crop

    def crop_box(self, index: int) -> CropBox:
        """The box sample `index` was cropped from (for `crop_to_image`)."""
        return detection_box(self.hands[index].detection, self.margin)
