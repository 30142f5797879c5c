"""FreiHAND loader on a tiny fake folder in the official layout."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_datasets import FakeFreiHAND, make_freihand, write_openpose
from PIL import Image

import s2h_lib.data.freihand as freihand_module
from s2h_lib.data.crop import project_points
from s2h_lib.data.factory import DataConfig, make_dataset
from s2h_lib.data.freihand import FreiHAND, FreiHANDLayoutError, held_out_hands
from s2h_lib.data.photos.detect_folder import FolderDetections, ImageDetections, save_keypoints_json
from s2h_lib.data.photos.detector import Detection
from s2h_lib.data.sample import collate_samples
from s2h_lib.hand.mano_io import load_hand_model


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> FakeFreiHAND:
    return make_freihand(tmp_path_factory.mktemp("freihand"))


@pytest.fixture()
def fresh_fake(tmp_path: Path) -> FakeFreiHAND:
    """A folder the test may break."""
    return make_freihand(tmp_path / "freihand", num_hands=2, versions=1)


def test_fields_have_the_documented_shapes(fake: FakeFreiHAND) -> None:
    sample = FreiHAND(fake.root, with_truth=True, detections=fake.detections)[1]
    assert sample.image.shape == (3, 224, 224) and sample.image.dtype == torch.float32
    assert float(sample.image.min()) >= 0 and float(sample.image.max()) <= 1
    assert sample.K.shape == (3, 3) and sample.keypoints.shape == (21, 2)
    assert sample.confidence.shape == (21,) and sample.name == "00000001"
    truth = sample.truth
    assert truth.joints3d.shape == (21, 3) and truth.verts.shape == (778, 3)
    assert truth.keypoints2d.shape == (21, 2) and truth.pose.shape == (48,)
    assert truth.betas.shape == (10,) and truth.mask.shape == (224, 224)
    assert bool(truth.has_mesh)


def test_values_read_back_equal_what_was_written(fake: FakeFreiHAND) -> None:
    dataset = FreiHAND(fake.root, with_truth=True, detections=fake.detections)
    sample = dataset[2]
    torch.testing.assert_close(sample.K, torch.tensor(fake.K[2], dtype=torch.float32))
    truth = sample.truth
    torch.testing.assert_close(truth.joints3d, torch.tensor(fake.xyz[2], dtype=torch.float32))
    torch.testing.assert_close(truth.verts, torch.tensor(fake.verts[2], dtype=torch.float32))
    hands_mean = load_hand_model(None).hands_mean
    expected_pose = fake.mano[2, :48] + np.concatenate([np.zeros(3), hands_mean])
    torch.testing.assert_close(truth.pose, torch.tensor(expected_pose, dtype=torch.float32))
    torch.testing.assert_close(truth.betas, torch.tensor(fake.mano[2, 48:58], dtype=torch.float32))
    pixels = np.asarray(Image.open(fake.root / "training/rgb/00000002.jpg").convert("RGB"))
    torch.testing.assert_close(sample.image, torch.tensor(pixels).permute(2, 0, 1) / 255.0)
    keypoints, _ = fake.detections["00000002.jpg"]
    torch.testing.assert_close(sample.keypoints, torch.tensor(keypoints, dtype=torch.float32))
    torch.testing.assert_close(sample.confidence, torch.full((21,), 0.8))


def test_truth_keypoints_are_the_projected_joints(fake: FakeFreiHAND) -> None:
    for size in (None, 128):
        sample = FreiHAND(fake.root, size=size, with_truth=True, keypoints="truth")[0]
        projected = project_points(sample.truth.joints3d.double(), sample.K.double())
        torch.testing.assert_close(sample.truth.keypoints2d.double(), projected, atol=1e-3, rtol=0)
        torch.testing.assert_close(sample.keypoints, sample.truth.keypoints2d)
        torch.testing.assert_close(sample.confidence, torch.ones(21))


def test_resizing_moves_detections_and_intrinsics_with_the_image(fake: FakeFreiHAND) -> None:
    native = FreiHAND(fake.root, size=None, detections=fake.detections)[0]
    small = FreiHAND(fake.root, size=112, detections=fake.detections)[0]
    assert small.image.shape == (3, 112, 112)
    # pixel centres at integers: a 2x downsample maps x to (x + 0.5) / 2 - 0.5
    torch.testing.assert_close(small.keypoints, (native.keypoints + 0.5) / 2 - 0.5)
    torch.testing.assert_close(small.K[:2, :2], native.K[:2, :2] / 2)
    torch.testing.assert_close(small.K[:2, 2], (native.K[:2, 2] + 0.5) / 2 - 0.5)


def test_truth_is_none_without_with_truth(fake: FakeFreiHAND) -> None:
    assert FreiHAND(fake.root, detections=fake.detections)[0].truth is None


def test_versions_share_annotations_and_name_their_image(fake: FakeFreiHAND) -> None:
    dataset = FreiHAND(fake.root, keypoints="truth", versions=(0, 1))
    assert len(dataset) == 6
    assert dataset[4].name == "00000004" and dataset.name(4) == "00000004"
    torch.testing.assert_close(dataset[4].K, dataset[1].K)
    assert not torch.equal(dataset[4].image, dataset[1].image)
    with pytest.raises(ValueError, match="versions"):
        FreiHAND(fake.root, keypoints="truth", versions=(4,))


def test_mask_is_binary_and_covers_the_hand(fake: FakeFreiHAND) -> None:
    mask = FreiHAND(fake.root, with_truth=True, keypoints="truth")[0].truth.mask
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    x0, y0, x1, y1 = fake.mask_boxes[0]
    assert mask[(y0 + y1) // 2, (x0 + x1) // 2] == 1
    assert mask[y0 + 2 : y1 - 1, x0 + 2 : x1 - 1].min() == 1
    assert mask.sum() < (y1 - y0 + 3) * (x1 - x0 + 3)  # nothing outside the rectangle


def test_openpose_file_and_missing_detections(fake: FakeFreiHAND, tmp_path: Path) -> None:
    partial = {name: fake.detections[name] for name in ("00000000.jpg", "00000002.jpg")}
    write_openpose(tmp_path / "detect.json", partial)
    dataset = FreiHAND(fake.root, detections=tmp_path / "detect.json")
    assert dataset.missing_detections == 1
    torch.testing.assert_close(
        dataset[2].keypoints, torch.tensor(partial["00000002.jpg"][0], dtype=torch.float32)
    )
    assert float(dataset[1].confidence.abs().sum()) == 0.0


def test_detections_that_match_no_image_are_an_error(fake: FakeFreiHAND) -> None:
    renamed = {f"other_{name}": value for name, value in fake.detections.items()}
    with pytest.raises(ValueError, match="00000000"):
        FreiHAND(fake.root, detections=renamed)


def test_training_without_keypoints_is_an_error(fake: FakeFreiHAND) -> None:
    with pytest.raises(ValueError, match="keypoints='truth'"):
        FreiHAND(fake.root)


def test_missing_files_name_the_file_and_the_layout(fresh_fake: FakeFreiHAND) -> None:
    root = fresh_fake.root
    (root / "training_xyz.json").unlink()
    with pytest.raises(FreiHANDLayoutError, match=re.escape("training_xyz.json")) as error:
        FreiHAND(root, keypoints="truth")
    assert "training/rgb/00000000.jpg" in str(error.value)  # the expected layout is shown
    (root / "training_K.json").unlink()
    with pytest.raises(FreiHANDLayoutError, match=re.escape("training_K.json")):
        FreiHAND(root, detections=fresh_fake.detections)
    with pytest.raises(FreiHANDLayoutError, match="evaluation/rgb"):
        FreiHAND(root, split="evaluation")


def test_missing_image_names_the_file(fresh_fake: FakeFreiHAND) -> None:
    (fresh_fake.root / "training/rgb/00000001.jpg").unlink()
    dataset = FreiHAND(fresh_fake.root, keypoints="truth")
    with pytest.raises(ValueError, match=re.escape("00000001.jpg")):
        dataset[1]


def test_without_verts_file_there_is_no_mesh(fresh_fake: FakeFreiHAND) -> None:
    (fresh_fake.root / "training_verts.json").unlink()
    truth = FreiHAND(fresh_fake.root, with_truth=True, keypoints="truth")[0].truth
    assert not bool(truth.has_mesh)
    for field in (truth.verts, truth.pose, truth.betas):
        assert float(field.abs().sum()) == 0.0


def test_mismatched_annotation_lengths_are_an_error(fresh_fake: FakeFreiHAND) -> None:
    xyz = json.loads((fresh_fake.root / "training_xyz.json").read_text())
    (fresh_fake.root / "training_xyz.json").write_text(json.dumps(xyz[:1]))
    with pytest.raises(ValueError, match=re.escape("training_xyz.json holds 1 entries")):
        FreiHAND(fresh_fake.root, keypoints="truth")


def test_each_json_file_is_parsed_once(fake: FakeFreiHAND, monkeypatch: pytest.MonkeyPatch):
    freihand_module._read_json_array.cache_clear()
    calls = []
    original = json.load
    monkeypatch.setattr(freihand_module.json, "load", lambda f: calls.append(f.name) or original(f))
    for _ in range(2):
        dataset = FreiHAND(fake.root, with_truth=True, keypoints="truth")
        for index in range(len(dataset)):
            dataset[index]
    assert sorted(Path(name).name for name in calls) == sorted(
        f"training_{kind}.json" for kind in ("K", "xyz", "verts", "mano")
    )


def test_evaluation_split_without_detections_has_zero_confidence(tmp_path: Path) -> None:
    fake = make_freihand(tmp_path, split="evaluation", num_hands=2, versions=1)
    dataset = FreiHAND(fake.root, split="evaluation", with_truth=True)
    sample = dataset[1]
    assert float(sample.confidence.sum()) == 0.0 and sample.truth is not None
    torch.testing.assert_close(
        sample.truth.joints3d, torch.tensor(fake.xyz[1], dtype=torch.float32)
    )


def test_samples_collate_into_a_batch(fake: FakeFreiHAND) -> None:
    dataset = FreiHAND(fake.root, size=64, with_truth=True, detections=fake.detections)
    batch = collate_samples([dataset[0], dataset[1]])
    assert batch.image.shape == (2, 3, 64, 64) and batch.truth.verts.shape == (2, 778, 3)
    assert batch.name == ["00000000", "00000001"]


def test_keypoints_file_from_s2h_data_detect(fake: FakeFreiHAND, tmp_path: Path) -> None:
    images = {
        name: ImageDetections(224, 224, [Detection(points, confidence, 0.9, "right")])
        for name, (points, confidence) in fake.detections.items()
    }
    images["00000001.jpg"] = ImageDetections(224, 224, [])  # the detector found no hand
    save_keypoints_json(FolderDetections(detector={}, images=images), tmp_path / "kp.json")
    dataset = FreiHAND(fake.root, detections=tmp_path / "kp.json")
    assert dataset.missing_detections == 1
    expected = torch.tensor(fake.detections["00000002.jpg"][0], dtype=torch.float32)
    torch.testing.assert_close(dataset[2].keypoints, expected)
    assert float(dataset[1].confidence.sum()) == 0.0


def test_held_out_hands_are_a_fixed_spread_out_twentieth() -> None:
    held_out = held_out_hands(32560)
    assert len(held_out) == pytest.approx(0.05 * 32560, rel=0.01)
    assert np.array_equal(held_out, np.sort(held_out)) and len(set(held_out)) == len(held_out)
    # spread over the file, not a block: every tenth of the hands gives about a tenth of them
    per_tenth = np.histogram(held_out, bins=10, range=(0, 32560))[0]
    assert per_tenth.min() > 0.08 * len(held_out)
    # a hand's side does not depend on the file's length, and is the same on every machine
    assert np.array_equal(held_out_hands(200), held_out[held_out < 200])
    assert held_out_hands(40).tolist() == [0, 13, 34]
    with pytest.raises(ValueError, match="1 training hand"):
        held_out_hands(1)


def test_validation_hands_are_held_out_of_training(tmp_path: Path) -> None:
    fake = make_freihand(tmp_path / "freihand", num_hands=20, versions=2)
    held_out = held_out_hands(20).tolist()
    kwargs = {"with_truth": True, "versions": (0, 1), "detections": fake.detections}
    train = FreiHAND(fake.root, part="train", **kwargs)
    val = FreiHAND(fake.root, part="val", **kwargs)
    every = FreiHAND(fake.root, **kwargs)
    train_names = {train.name(i) for i in range(len(train))}
    val_names = [val.name(i) for i in range(len(val))]
    assert len(val) == 2 * len(held_out) and len(train) + len(val) == len(every)
    assert not train_names & set(val_names), "no image is in both parts"
    # both versions of a held-out hand are held out, and carry that hand's annotations
    assert sorted(int(name) % 20 for name in val_names) == sorted(held_out * 2)
    for i in range(len(val)):
        hand = int(val.name(i)) % 20
        torch.testing.assert_close(val[i].truth.joints3d, torch.from_numpy(fake.xyz[hand]).float())
    with pytest.raises(ValueError, match="part"):
        FreiHAND(fake.root, split="evaluation", part="val")


def test_factory_splits_validation_from_training_and_tests_on_evaluation(tmp_path: Path) -> None:
    root = tmp_path / "freihand"
    fake = make_freihand(root, num_hands=20, versions=1)
    make_freihand(root, split="evaluation", num_hands=3, versions=1, seed=1)
    write_openpose(tmp_path / "detect.json", fake.detections)
    data = DataConfig(
        dataset="freihand",
        root=str(root),
        detections=str(tmp_path / "detect.json"),
        image_size=64,
        keypoints="detections",
    )
    names = {
        split: [dataset.base.name(i) for i in range(len(dataset))]
        for split in ("train", "val", "test")
        for dataset in [make_dataset(data, split, with_truth=True)]
    }
    assert names["val"] == [f"{hand:08d}" for hand in held_out_hands(20)]
    assert sorted(names["train"] + names["val"]) == [f"{hand:08d}" for hand in range(20)]
    assert names["test"] == ["00000000", "00000001", "00000002"]
    test_truth = make_dataset(data, "test", with_truth=True)[0].truth.joints3d
    val_truth = make_dataset(data, "val", with_truth=True)[0].truth.joints3d
    assert not torch.allclose(test_truth, val_truth), "val is not the evaluation set"
