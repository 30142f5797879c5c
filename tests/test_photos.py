"""`PhotoFolder`: one `HandSample` per detected hand in a folder of real photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from s2h_lib.data.photos.detector import HandDetector, crop_to_image
from s2h_lib.data.photos.folder import PhotoFolder
from s2h_lib.data.sample import collate_samples
from s2h_lib.paths import SAMPLE_PHOTOS_DIR as PHOTOS

pytest.importorskip(
    "mediapipe", reason="the detector extra is not installed (pip install -e .[detect])"
)

TWO_HANDS = "call_17d804b5-7118-462d-8191-58d764f591b8.jpg"
ONE_HAND = "four_15a73593-b13e-4a1b-99bb-51775cfdfc42.jpg"
NO_HAND = "four_25bb4c45-e40b-482c-b588-04db60b7e450.jpg"  # the person is far too small
SIZE = 96


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    images = tmp_path_factory.mktemp("photos")
    for name in (TWO_HANDS, ONE_HAND, NO_HAND):
        shutil.copy(PHOTOS / name, images / name)
    (images / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return images


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache") / "keypoints.json"


@pytest.fixture(scope="module")
def dataset(folder: Path, cache: Path) -> PhotoFolder:
    return PhotoFolder(folder, size=SIZE, cache=cache, progress=False)


def test_one_sample_per_detected_hand(dataset: PhotoFolder):
    names = [dataset[i].name for i in range(len(dataset))]
    assert names == [f"{TWO_HANDS}#0", f"{TWO_HANDS}#1", f"{ONE_HAND}#0"]
    assert dataset.without_hand == [NO_HAND]
    assert list(dataset.failures) == ["truncated.png"]


def test_samples_are_crops_with_keypoints_inside(dataset: PhotoFolder):
    for i in range(len(dataset)):
        sample = dataset[i]
        assert sample.truth is None
        assert sample.image.shape == (3, SIZE, SIZE) and sample.image.dtype == torch.float32
        assert float(sample.image.min()) >= 0.0 and float(sample.image.max()) <= 1.0
        assert sample.K.shape == (3, 3) and sample.keypoints.shape == (21, 2)
        assert (sample.keypoints >= 0).all() and (sample.keypoints <= SIZE - 1).all()
        assert ((sample.confidence >= 0) & (sample.confidence <= 1)).all()
        # margin 1.6: the keypoint box is 1/1.6 of the crop side (scale SIZE / side)
        extent = (sample.keypoints.max(0).values - sample.keypoints.min(0).values).max()
        assert float(extent) == pytest.approx(SIZE / 1.6, rel=1e-4)


def test_crop_keypoints_map_back_to_the_photo(dataset: PhotoFolder):
    for i in range(len(dataset)):
        back = crop_to_image(dataset[i].keypoints.double(), dataset.crop_box(i), SIZE)
        original = torch.from_numpy(dataset.hands[i].detection.keypoints)
        torch.testing.assert_close(back, original, rtol=0, atol=1e-3)


def test_batches_through_a_dataloader(dataset: PhotoFolder):
    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=collate_samples)))
    assert batch.image.shape == (3, 3, SIZE, SIZE) and batch.K.shape == (3, 3, 3)
    assert batch.name == [f"{TWO_HANDS}#0", f"{TWO_HANDS}#1", f"{ONE_HAND}#0"]


def test_the_cache_is_reused_without_detecting_again(dataset, folder, cache, monkeypatch):
    def no_detection(self, rgb):
        raise AssertionError("the cached photos must not be detected again")

    monkeypatch.setattr(HandDetector, "detect", no_detection)
    again = PhotoFolder(folder, size=SIZE, cache=cache, progress=False)
    assert len(again) == len(dataset) and again.without_hand == dataset.without_hand
    # the cache holds keypoints to 1e-4 pixels; a crop shrinks that
    np.testing.assert_allclose(again[2].keypoints.numpy(), dataset[2].keypoints.numpy(), atol=1e-4)
