"""HO3D loader on tiny fake folders in the official v2 and v3 layouts."""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_datasets import GL_FLIP, HO3D_ORDER, FakeHO3D, make_ho3d, project, write_openpose

from s2h_lib.data.crop import project_points
from s2h_lib.data.factory import HO3D_SPLITS, DataConfig, make_dataset
from s2h_lib.data.ho3d import (
    HO3D,
    VAL_FRACTION,
    HO3DLayoutError,
    frames_of_part,
    held_out_recordings,
    recording,
)
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.skeleton import freihand_to_ho3d, ho3d_to_freihand

SIZE = 128


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> FakeHO3D:
    return make_ho3d(tmp_path_factory.mktemp("ho3d_v2"), version="v2")


def full_image_keypoints(fake: FakeHO3D, name: str) -> np.ndarray:
    return project(fake.joints_cv[name], fake.cam[name])


def crop_affine(sample_K: torch.Tensor, cam: np.ndarray) -> np.ndarray:
    """The crop's pixel affine A recovered from K_crop = A @ camMat."""
    return sample_K.double().numpy() @ np.linalg.inv(cam)


def test_fields_have_the_documented_shapes(fake: FakeHO3D) -> None:
    sample = HO3D(fake.root, size=SIZE, with_truth=True, keypoints="truth")[0]
    assert sample.image.shape == (3, SIZE, SIZE) and sample.name == "SEQA/0000"
    assert sample.K.shape == (3, 3) and sample.keypoints.shape == (21, 2)
    assert sample.confidence.shape == (21,)
    truth = sample.truth
    assert truth.joints3d.shape == (21, 3) and truth.keypoints2d.shape == (21, 2)
    assert truth.mask.shape == (SIZE, SIZE) and truth.pose.shape == (48,)
    assert not bool(truth.has_mesh) and float(truth.verts.abs().sum()) == 0.0


def test_joints_are_flipped_to_opencv_and_put_in_freihand_order(fake: FakeHO3D) -> None:
    dataset = HO3D(fake.root, size=SIZE, with_truth=True, keypoints="truth")
    for index, name in enumerate(fake.frames["train"]):
        joints = dataset[index].truth.joints3d
        torch.testing.assert_close(joints, torch.tensor(fake.joints_cv[name], dtype=torch.float32))
        assert float(joints[:, 2].min()) > 0  # in front of an OpenCV camera


def test_projection_lands_on_keypoints_after_the_crop(fake: FakeHO3D) -> None:
    dataset = HO3D(fake.root, size=SIZE, with_truth=True, keypoints="truth")
    for index, name in enumerate(fake.frames["train"]):
        sample = dataset[index]
        projected = project_points(sample.truth.joints3d.double(), sample.K.double())
        torch.testing.assert_close(sample.truth.keypoints2d.double(), projected, atol=1e-3, rtol=0)
        # and the crop keypoints are the full-image projection moved by the crop affine
        A = crop_affine(sample.K, fake.cam[name])
        moved = full_image_keypoints(fake, name) @ A[:2, :2].T + A[:2, 2]
        np.testing.assert_allclose(sample.keypoints.numpy(), moved, atol=1e-3)


def test_crop_follows_the_s2hand_recipe(fake: FakeHO3D) -> None:
    sample = HO3D(fake.root, size=SIZE, keypoints="truth")[1]
    uv = full_image_keypoints(fake, "SEQA/0001")
    low, high = np.maximum(uv.min(0) - 10, 0), np.minimum(uv.max(0) + 10, [639, 479])
    A = crop_affine(sample.K, fake.cam["SEQA/0001"])
    # the padded box's centre becomes the crop centre (no centre noise by default)
    centre = (low + high) / 2
    np.testing.assert_allclose(A[:2, :2] @ centre + A[:2, 2], [(SIZE - 1) / 2] * 2, atol=1e-4)
    side = SIZE / A[0, 0]
    expected = np.clip(4 * (high - low).max() / 2, 50, 640)
    assert expected / 0.9 - 1e-3 <= side <= expected / 0.8 + 1e-3
    assert abs(A[0, 1]) < 1e-6 and abs(A[0, 0] - A[1, 1]) < 1e-6  # square, no rotation


def test_crops_are_seeded(fake: FakeHO3D) -> None:
    first = HO3D(fake.root, size=SIZE, keypoints="truth", seed=3)[0]
    again = HO3D(fake.root, size=SIZE, keypoints="truth", seed=3)[0]
    other = HO3D(fake.root, size=SIZE, keypoints="truth", seed=4)[0]
    torch.testing.assert_close(first.K, again.K)
    torch.testing.assert_close(first.image, again.image)
    assert not torch.allclose(first.K, other.K)


def test_centre_noise_moves_the_crop_but_not_its_size(fake: FakeHO3D) -> None:
    plain = HO3D(fake.root, size=SIZE, keypoints="truth")[2]
    noisy = HO3D(fake.root, size=SIZE, keypoints="truth", centre_noise_px=5.0)[2]
    torch.testing.assert_close(plain.K[0, 0], noisy.K[0, 0])
    shift = (plain.K[:2, 2] - noisy.K[:2, 2]) / plain.K[0, 0] * 617
    assert 0.01 < float(shift.norm()) < 40  # a few pixels of the full image


def test_evaluation_crops_around_the_hand_box(fake: FakeHO3D) -> None:
    dataset = HO3D(fake.root, split="evaluation", size=SIZE)
    assert len(dataset) == 2
    sample = dataset[1]
    box = fake.boxes["SEQC/0001"]
    low, high = np.maximum(box[:2] - 10, 0), np.minimum(box[2:] + 10, [639, 479])
    A = crop_affine(sample.K, fake.cam["SEQC/0001"])
    np.testing.assert_allclose(
        A[:2, :2] @ ((low + high) / 2) + A[:2, 2], [(SIZE - 1) / 2] * 2, atol=1e-4
    )
    assert sample.truth is None and float(sample.confidence.sum()) == 0.0


def test_evaluation_truth_is_refused(fake: FakeHO3D) -> None:
    with pytest.raises(ValueError, match="withheld"):
        HO3D(fake.root, split="evaluation", with_truth=True)


def test_v3_reads_jpg_images(tmp_path: Path) -> None:
    fake = make_ho3d(tmp_path, version="v3", seed=1)
    assert (tmp_path / "train/SEQA/rgb/0000.jpg").is_file()
    sample = HO3D(fake.root, version="v3", size=SIZE, with_truth=True, keypoints="truth")[0]
    torch.testing.assert_close(
        sample.truth.joints3d, torch.tensor(fake.joints_cv["SEQA/0000"], dtype=torch.float32)
    )


def test_missing_files_name_the_file_and_the_layout(tmp_path: Path) -> None:
    fake = make_ho3d(tmp_path)
    (tmp_path / "train/SEQA/meta/0001.pkl").unlink()
    dataset = HO3D(fake.root, keypoints="truth")
    with pytest.raises(HO3DLayoutError, match=re.escape("SEQA/meta/0001.pkl")) as error:
        dataset[1]
    assert "handBoundingBox" in str(error.value)  # the expected layout is shown
    (tmp_path / "train/SEQB/rgb/0000.png").unlink()
    with pytest.raises(HO3DLayoutError, match=re.escape("SEQB/rgb/0000.png")):
        dataset[2]
    (tmp_path / "evaluation.txt").unlink()
    with pytest.raises(HO3DLayoutError, match=re.escape("evaluation.txt")):
        HO3D(fake.root, split="evaluation")


def test_unannotated_frame_is_a_clear_error(tmp_path: Path) -> None:
    fake = make_ho3d(tmp_path)
    path = tmp_path / "train/SEQA/meta/0000.pkl"
    meta = pickle.loads(path.read_bytes())
    path.write_bytes(pickle.dumps({**meta, "handJoints3D": None}, protocol=2))
    with pytest.raises(ValueError, match="handJoints3D"):
        HO3D(fake.root, keypoints="truth")[0]


def test_meta_pickles_cannot_run_code(tmp_path: Path) -> None:
    fake = make_ho3d(tmp_path)
    (tmp_path / "train/SEQA/meta/0000.pkl").write_bytes(pickle.dumps({"camMat": Path("x")}))
    with pytest.raises(ValueError, match="refusing"):
        HO3D(fake.root, keypoints="truth")[0]


def test_joint_permutation_round_trip() -> None:
    labels = torch.arange(21.0)[:, None]
    assert ho3d_to_freihand(labels[list(HO3D_ORDER)]).flatten().tolist() == list(range(21))
    points = torch.randn(4, 21, 3)
    torch.testing.assert_close(freihand_to_ho3d(ho3d_to_freihand(points)), points)
    torch.testing.assert_close(ho3d_to_freihand(freihand_to_ho3d(points)), points)


def test_detection_file_with_sequence_names(fake: FakeHO3D, tmp_path: Path) -> None:
    detections = {
        f"{name.split('/')[0]}/rgb/{name.split('/')[1]}.png": (
            full_image_keypoints(fake, name),
            np.full(21, 0.7),
        )
        for name in fake.frames["train"][:2]
    }
    write_openpose(tmp_path / "all.json", detections)
    dataset = HO3D(fake.root, size=SIZE, with_truth=True, detections=tmp_path / "all.json")
    assert dataset.missing_detections == 1
    sample = dataset[1]
    torch.testing.assert_close(sample.keypoints, sample.truth.keypoints2d, atol=1e-3, rtol=0)
    torch.testing.assert_close(sample.confidence, torch.full((21,), 0.7))
    assert float(dataset[2].confidence.sum()) == 0.0


def test_per_sequence_detection_folder_and_crop_from_detections(
    fake: FakeHO3D, tmp_path: Path
) -> None:
    for sequence in ("SEQA", "SEQB"):
        frames = [n for n in fake.frames["train"] if n.startswith(sequence)]
        detections = {
            f"{n.split('/')[1]}.png": (full_image_keypoints(fake, n), np.full(21, 0.9))
            for n in frames
        }
        write_openpose(tmp_path / sequence / "detect.json", detections)
    by_truth = HO3D(fake.root, size=SIZE, detections=tmp_path)
    by_detection = HO3D(fake.root, size=SIZE, detections=tmp_path, crop_from="detections")
    assert by_truth.missing_detections == 0
    # the detections sit exactly on the projected joints, so both crops are the same
    torch.testing.assert_close(by_truth[2].K, by_detection[2].K)
    torch.testing.assert_close(by_truth[2].keypoints, by_detection[2].keypoints)


def test_training_without_detections_is_an_error(fake: FakeHO3D) -> None:
    with pytest.raises(ValueError, match="issue #17"):
        HO3D(fake.root)


def test_mesh_from_mano_is_flipped_with_its_root_rotation(fake: FakeHO3D, mano_dir: Path):
    dataset = HO3D(fake.root, size=SIZE, with_truth=True, keypoints="truth", mano_root=mano_dir)
    truth = dataset[0].truth
    name = "SEQA/0000"
    assert bool(truth.has_mesh)
    mano = ManoLayer(mano_root=mano_dir, use_pca=False, flat_hand_mean=True).double()
    pose, betas, trans = (torch.tensor(a)[None] for a in fake.mesh_parameters(name))
    verts_gl, _ = mano(pose, betas, trans)
    expected = verts_gl[0].numpy() * GL_FLIP
    np.testing.assert_allclose(truth.verts.numpy(), expected, atol=1e-5)
    # the converted pose describes the flipped mesh: equal up to a translation
    verts_cv, _ = mano(truth.pose.double()[None], truth.betas.double()[None])
    np.testing.assert_allclose(
        (verts_cv[0] - verts_cv[0].mean(0)).numpy(), expected - expected.mean(0), atol=1e-5
    )
    torch.testing.assert_close(truth.pose[3:], torch.tensor(fake.pose[name][3:]).float())


# ---- the validation split, held out of the training sequences by recording ----------------


def test_camera_views_of_one_recording_share_its_name() -> None:
    assert [recording(s) for s in ("ABF10", "ABF14", "SMu41", "MC2", "SiS1", "SEQA")] == [
        "ABF1",
        "ABF1",
        "SMu4",
        "MC2",
        "SiS1",
        "SEQA",
    ]


def ho3d_like_frames() -> list[str]:
    """A train.txt shaped like HO3D v2's: multi-camera recordings (5 views) and single ones."""
    sequences = [f"{name}1{camera}" for name in ("ABF", "BB", "GPMF", "MDF") for camera in range(5)]
    sequences += ["MC1", "MC2", "MC4", "SM2", "SM3", "SS1", "SMu40", "SMu41", "SMu42"]
    return [f"{seq}/{frame:04d}" for i, seq in enumerate(sequences) for frame in range(50 + 7 * i)]


def test_validation_is_whole_recordings_and_at_least_the_fraction() -> None:
    frames = ho3d_like_frames()
    val, train = frames_of_part(frames, "val"), frames_of_part(frames, "train")
    assert sorted(val + train) == sorted(frames) and not set(val) & set(train)
    assert VAL_FRACTION * len(frames) <= len(val) < 0.5 * len(frames)
    val_recordings = {recording(f.split("/")[0]) for f in val}
    train_recordings = {recording(f.split("/")[0]) for f in train}
    assert not val_recordings & train_recordings, "a recording's views sit on both sides"
    assert val_recordings == held_out_recordings(list(reversed(frames))), "order does not matter"


def test_one_recording_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="1 training recording"):
        held_out_recordings(["ABF10/0000", "ABF11/0000", "ABF12/0001"])


def test_val_and_train_parts_of_the_fake_ho3d(fake: FakeHO3D) -> None:
    options = {"size": SIZE, "with_truth": True, "keypoints": "truth"}
    val = HO3D(fake.root, part="val", **options)
    train = HO3D(fake.root, part="train", **options)
    assert sorted(val.frames + train.frames) == sorted(fake.frames["train"])
    assert {n.split("/")[0] for n in val.frames}.isdisjoint(n.split("/")[0] for n in train.frames)
    name = val.frames[0]
    torch.testing.assert_close(  # validation has labels to score
        val[0].truth.joints3d, torch.tensor(fake.joints_cv[name], dtype=torch.float32)
    )
    with pytest.raises(ValueError, match="part"):
        HO3D(fake.root, split="evaluation", part="val")


def test_the_trainers_val_split_is_held_out_of_training(fake: FakeHO3D, tmp_path: Path) -> None:
    detections = {
        f"{n.split('/')[0]}/rgb/{n.split('/')[1]}.png": (full_image_keypoints(fake, n), np.ones(21))
        for n in fake.frames["train"] + fake.frames["evaluation"]
    }
    write_openpose(tmp_path / "detect.json", detections)
    data = DataConfig(
        dataset="ho3d",
        root=str(fake.root),
        image_size=SIZE,
        keypoints="detections",
        detections=str(tmp_path / "detect.json"),
    )
    datasets = {split: make_dataset(data, split, with_truth=False) for split in HO3D_SPLITS}
    names = {split: {d.base.name(i) for i in range(len(d))} for split, d in datasets.items()}
    assert names["val"] == set(frames_of_part(fake.frames["train"], "val"))
    assert names["train"] == set(frames_of_part(fake.frames["train"], "train"))
    assert names["test"] == set(fake.frames["evaluation"])
