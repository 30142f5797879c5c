"""S2H-Synth on disk: reproducible resumable builds, the manifest, and the datasets reading it."""

import json
import os
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from s2h_lib.cli import main
from s2h_lib.data.factory import DataConfig, DetectedOnly, make_dataset
from s2h_lib.data.sample import collate_samples
from s2h_lib.data.synth.config import GENERATOR_VERSION, SynthConfig
from s2h_lib.data.synth.dataset import SynthClips, SynthDataset
from s2h_lib.data.synth.layout import MANIFEST_NAME, SynthDataError
from s2h_lib.data.synth.noise import NoiseParams
from s2h_lib.data.synth.placement import project
from s2h_lib.data.synth.store import build_synth, file_sha256, plan_shards

SIZE = 64
NOISE = NoiseParams(joint_sigma=(0.03,) * 21, hand_miss_rate=0.25, source="test")


def tiny_config(noise_file, **changes) -> SynthConfig:
    values = dict(
        image_size=SIZE,
        train=5,
        val=2,
        test=2,
        clips=2,
        clip_length=3,
        shard_size=3,
        noise_file=str(noise_file),
    )
    return SynthConfig(**(values | changes))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(root, config) of a tiny benchmark built once for the module."""
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("synth")
    NOISE.save(base / "noise.json")
    config = tiny_config(base / "noise.json")
    build_synth(base / "bench", config, workers=0, progress=False)
    return base / "bench", config


def shard_files(root):
    return sorted(p for p in root.rglob("shard_*") if p.is_file())


def test_manifest_records_the_build(built):
    root, config = built
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    assert manifest["generator"] == GENERATOR_VERSION
    assert manifest["seed"] == 0 and manifest["image_size"] == SIZE
    assert manifest["counts"] == {"train": 5, "val": 2, "test": 2, "clips": 2}
    assert manifest["clip_length"] == 3
    assert manifest["hand_model"]["num_verts"] > 700
    assert manifest["keypoints"] == ["noise"] and manifest["detector"] is None
    assert NoiseParams.from_dict(manifest["noise"]) == NOISE
    assert manifest["statistics"]["train"]["images"] == 5
    assert manifest["statistics"]["clips"]["images"] == 6
    listed = [e for split in manifest["shards"].values() for e in split]
    assert len(listed) == len(plan_shards(config)) == 6  # train 3+2, val, test, clip, clip
    for entry in listed:
        for kind, name in entry["files"].items():
            assert file_sha256(root / name) == entry["sha256"][kind]
    assert (root / "contact_sheet.png").stat().st_size > 1000


def test_same_seed_same_files_and_workers_agree(built, tmp_path):
    root, config = built
    build_synth(tmp_path / "again", config, workers=2, progress=False, contact_sheet=False)
    for path in [*shard_files(root), root / MANIFEST_NAME]:
        copy = tmp_path / "again" / path.relative_to(root)
        assert copy.read_bytes() == path.read_bytes(), path.name


def test_resume_rebuilds_only_the_missing_shard(built, tmp_path):
    root, config = built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / MANIFEST_NAME).unlink()  # as if the build had been interrupted
    victim = copy / "train" / "shard_001.zip"
    original = victim.read_bytes()
    victim.unlink()
    before = {p: p.stat().st_mtime_ns for p in shard_files(copy)}
    build_synth(copy, config, workers=0, progress=False, contact_sheet=False)
    rewritten = {p for p in shard_files(copy) if p.stat().st_mtime_ns != before.get(p)}
    assert rewritten == {
        copy / "train" / f"shard_001{s}" for s in (".zip", ".truth.npz", ".inputs.npz")
    }
    assert victim.read_bytes() == original
    assert (copy / MANIFEST_NAME).read_bytes() == (root / MANIFEST_NAME).read_bytes()


def test_other_settings_in_a_finished_folder_are_refused(built, tmp_path):
    root, config = built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    with pytest.raises(ValueError, match="other settings"):
        build_synth(copy, tiny_config(config.noise_file, seed=1), workers=0, progress=False)


def test_dataset_without_truth_gives_none(built):
    root, _ = built
    sample = SynthDataset(root, "train")[4]
    assert sample.truth is None
    assert sample.image.shape == (3, SIZE, SIZE) and sample.image.dtype == torch.float32
    assert sample.image.min() >= 0.0 and sample.image.max() <= 1.0
    assert sample.keypoints.shape == (21, 2) and sample.confidence.shape == (21,)
    assert sample.name == "train/000004"


def test_truth_matches_the_inputs_and_survives_resizing(built):
    root, _ = built
    for size in (None, 96):
        dataset = SynthDataset(root, "test", with_truth=True, size=size)
        assert len(dataset) == 2
        sample = dataset[1]
        side = size or SIZE
        assert sample.image.shape == (3, side, side) and sample.truth.mask.shape == (side, side)
        projected = project(sample.truth.joints3d.double().numpy(), sample.K.double().numpy())
        np.testing.assert_allclose(projected, sample.truth.keypoints2d.numpy(), atol=1e-3)
        assert sample.truth.visible.dtype == torch.bool and sample.truth.has_mesh


def test_noise_keypoints_scatter_around_the_truth(built):
    root, _ = built
    dataset = SynthDataset(root, "train", with_truth=True)
    errors = []
    for sample in dataset:
        found = sample.confidence > 0
        size = np.ptp(sample.truth.keypoints2d.numpy(), axis=0).max()
        error = (sample.keypoints - sample.truth.keypoints2d).norm(dim=-1)[found] / size
        errors.extend(error.tolist())
        assert torch.all(sample.keypoints[~found] == 0)
    assert 0.01 < np.mean(errors) < 0.1  # sigma 0.03 -> mean 0.038 (plus outliers: none)


def test_truth_keypoints_for_the_labelled_run(built):
    root, _ = built
    sample = SynthDataset(root, "val", keypoints="truth", with_truth=True)[0]
    torch.testing.assert_close(sample.keypoints, sample.truth.keypoints2d)
    assert torch.all(sample.confidence == 1)
    with pytest.raises(ValueError, match="--keypoints detector"):
        SynthDataset(root, "val", keypoints="detector")


def test_clips_have_a_time_axis_and_batch(built):
    root, _ = built
    clips = SynthClips(root, with_truth=True, size=32)
    clip = clips[1]
    assert clip.image.shape == (3, 3, 32, 32) and clip.keypoints.shape == (3, 21, 2)
    assert clip.truth.joints3d.shape == (3, 21, 3) and clip.truth.mask.shape == (3, 32, 32)
    assert clip.name == "clips/000001"
    batch = collate_samples([clips[0], clips[1]])
    assert batch.image.shape == (2, 3, 3, 32, 32)


def test_dataloader_workers_read_the_same_images(built):
    root, _ = built
    dataset = SynthDataset(root, "train")
    loader = DataLoader(dataset, batch_size=5, num_workers=2, collate_fn=collate_samples)
    batch = next(iter(loader))
    serial = collate_samples([dataset[i] for i in range(5)])
    torch.testing.assert_close(batch.image, serial.image)
    torch.testing.assert_close(batch.keypoints, serial.keypoints)


def test_missing_folder_or_manifest_says_how_to_build(built, tmp_path):
    with pytest.raises(SynthDataError, match="s2h data synth --out"):
        SynthDataset(tmp_path / "nowhere", "train")
    (tmp_path / "half").mkdir()
    with pytest.raises(SynthDataError, match=r"manifest\.json is missing"):
        SynthClips(tmp_path / "half")
    root, _ = built
    with pytest.raises(ValueError, match="SynthClips"):
        SynthDataset(root, "clips")


def test_a_missing_shard_file_is_named(built, tmp_path):
    root, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    os.remove(copy / "val" / "shard_000.truth.npz")
    with pytest.raises(SynthDataError, match=r"shard_000\.truth\.npz"):
        SynthDataset(copy, "val")


def test_cli_builds_with_the_package_noise_model(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["data", "synth", "--out", str(out), "--workers", "0", "--image-size", "32"]
    argv += ["--train", "2", "--val", "0", "--test", "0", "--clips", "0"]
    assert main(argv) == 0
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["counts"]["train"] == 2 and manifest["image_size"] == 32
    assert manifest["noise"] == NoiseParams.load().to_dict()
    assert str(out / MANIFEST_NAME) in capsys.readouterr().out


def test_detector_keypoints_are_stored_beside_the_noise_ones(tmp_path):
    pytest.importorskip("mediapipe")
    NOISE.save(tmp_path / "noise.json")
    config = tiny_config(
        tmp_path / "noise.json",
        train=4,
        val=0,
        test=0,
        clips=0,
        image_size=128,
        keypoints="detector",
    )
    build_synth(tmp_path / "det", config, workers=0, progress=False, contact_sheet=False)
    dataset = SynthDataset(tmp_path / "det", "train", keypoints="detector", with_truth=True)
    assert json.loads((tmp_path / "det" / MANIFEST_NAME).read_text())["detector"]["version"]
    for sample in dataset:
        assert torch.all((sample.confidence >= 0) & (sample.confidence <= 1))
        if sample.confidence.max() > 0:  # a found hand lies on the true one
            size = np.ptp(sample.truth.keypoints2d.numpy(), axis=0).max()
            error = (sample.keypoints - sample.truth.keypoints2d).norm(dim=-1).median()
            assert error < 0.25 * size
        else:
            assert torch.all(sample.keypoints == 0)


def test_cli_help_states_the_config_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["data", "synth", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = SynthConfig()
    for option, name in [
        ("--image-size", "image_size"),
        ("--train", "train"),
        ("--val", "val"),
        ("--test", "test"),
        ("--clips", "clips"),
        ("--clip-length", "clip_length"),
        ("--seed", "seed"),
        ("--shard-size", "shard_size"),
    ]:
        metavar = name.upper()
        pattern = rf"{option} {metavar} [^()]*\(default {getattr(defaults, name)}\)"
        assert re.search(pattern, text), option


def test_cli_reports_a_missing_noise_file(tmp_path, capsys):
    argv = ["data", "synth", "--out", str(tmp_path / "x"), "--noise-file", str(tmp_path / "no")]
    assert main(argv) == 2
    assert "calibrate_noise" in capsys.readouterr().err


def test_detected_only_keeps_exactly_the_images_with_a_confident_joint(built):
    root, _ = built
    everything = SynthDataset(root, "train")
    found = [i for i in range(len(everything)) if everything[i].confidence.max() > 0]
    assert 0 < len(found) < len(everything), "the tiny build should miss some hands"
    data = DataConfig(root=str(root), image_size=SIZE, workers=0)
    kept = make_dataset(data, "train", with_truth=False, detected_only=True)
    assert [kept[k].name for k in range(len(kept))] == [everything[i].name for i in found]
    clips = make_dataset(data, "train", with_truth=False, clips=True, detected_only=True)
    assert all(clips[k].confidence.max() > 0 for k in range(len(clips)))


def test_detected_only_without_any_detection_says_so():
    class Missed(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return SimpleNamespace(confidence=torch.zeros(21))

    with pytest.raises(ValueError, match="found a hand in none of the 2 training images"):
        DetectedOnly(Missed())
