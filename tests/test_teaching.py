"""The notebook helpers of s2h_lib.lab that teach (photo hands and answers, camera views,
synth samples, the noise check, loss terms, appearance, truth comparison)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s2h_lib.config_io import to_dict
from s2h_lib.data.photos.detector import Detection, crop_to_image
from s2h_lib.data.sample import HandSample, HandTruth
from s2h_lib.data.synth.layout import MANIFEST_NAME
from s2h_lib.data.synth.noise import NoiseParams
from s2h_lib.evaluation.errors import pa_mpjpe_mm
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.lab.appearance import NEUTRAL_GREY, appearance_figure, appearance_renders
from s2h_lib.lab.camera_views import camera_view_rotation, camera_views_figure
from s2h_lib.lab.loss_schedule import ablation_table, stage_table, vanished_terms
from s2h_lib.lab.noise_check import noise_check
from s2h_lib.lab.photo_answers import (
    FITTED,
    NETWORK,
    REFINED,
    TOUR_PRESET,
    hand_mesh,
    network_refined_and_fit,
    tour_model,
)
from s2h_lib.lab.photo_hands import predictions_figure
from s2h_lib.lab.synth_samples import clip_frames, samples_figure, synth_root
from s2h_lib.lab.term_inspection import inspect_terms, joint_arrows
from s2h_lib.lab.truth_comparison import truth_comparison_figure
from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.losses.objective import compute_losses
from s2h_lib.net.hand_in_camera import CameraPose, predict_from_camera
from s2h_lib.net.heads import INITIAL_LIGHTS
from s2h_lib.net.mirror import mirror_prediction, mirror_sample
from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.predict import (
    HandMesh,
    PhotoHands,
    crop_reprojection_px,
    detect_photo,
    photo_crop,
    photo_paths,
    predict_hand,
    prediction_mesh,
    seen_in_crop,
)
from s2h_lib.train.train_config import PRESETS

CROP = 128


def right_hand_prediction(seed: int = 0):
    """A right hand with random pose, shape and rotation 0.4 m in front of a crop's camera."""
    generator = torch.Generator().manual_seed(seed)
    config = FitConfig(ncomps=12)
    global_rot = torch.randn(1, 3, generator=generator)
    camera = CameraPose(
        pose_coeffs=torch.randn(1, 12, generator=generator),
        betas=torch.randn(1, 10, generator=generator),
        rotation=axis_angle_to_matrix(global_rot),
        global_rot=global_rot,
        scale=torch.tensor([1.1]),
        trans=torch.tensor([[0.02, -0.01, 0.4]]),
    )
    K = torch.tensor([[[300.0, 0.0, (CROP - 1) / 2], [0.0, 300.0, (CROP - 1) / 2], [0, 0, 1]]])
    return predict_from_camera(camera, default_hand_model(config), K), K, config


def record_of(pred, K, side: str) -> dict:
    """The fields of a fits.json hand record that `hand_mesh` reads."""
    return {
        "side": side,
        "K": K[0].tolist(),
        "pose_coeffs": pred.pose_coeffs[0].tolist(),
        "betas": pred.betas[0].tolist(),
        "global_rot": pred.global_rot[0].tolist(),
        "scale": float(pred.scale[0]),
        "trans": pred.trans[0].tolist(),
    }


def test_hand_mesh_rebuilds_a_right_hand_from_its_record():
    pred, K, config = right_hand_prediction()
    mesh = hand_mesh(record_of(pred, K, "right"), config)
    np.testing.assert_allclose(mesh.verts, pred.verts[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(mesh.joints, pred.joints[0].numpy(), atol=1e-5)


def test_hand_mesh_rebuilds_a_mirrored_left_hand_with_the_left_model():
    # the photo fitter mirrors a right-hand fit back into a left hand's crop (mirror.py)
    right, K, config = right_hand_prediction(seed=1)
    left = mirror_prediction(right, CROP)
    mesh = hand_mesh(record_of(left, K, "left"), config)
    np.testing.assert_allclose(mesh.joints, left.joints[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(mesh.verts, left.verts[0].numpy(), atol=1e-5)


def test_camera_view_looks_along_the_optical_axis():
    rotation = camera_view_rotation(0.0, 0.0)
    # camera y (down) is the view's down, camera z (forward) points away from the viewer
    np.testing.assert_allclose(rotation @ [0.0, 1.0, 0.0], [0.0, -1.0, 0.0])
    np.testing.assert_allclose(rotation @ [0.0, 0.0, 1.0], [0.0, 0.0, -1.0])
    turned = camera_view_rotation(90.0, 0.0)
    # turned a quarter about the vertical, the optical axis runs across the view
    np.testing.assert_allclose(turned @ [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(turned @ turned.T, np.eye(3), atol=1e-12)


def test_camera_views_figure_has_a_panel_per_hand_and_view():
    pred, _, config = right_hand_prediction()
    mesh = HandMesh(
        pred.verts[0].numpy(), pred.joints[0].numpy(), np.asarray(default_hand_model(config).faces)
    )
    figure = camera_views_figure([mesh, mesh], ["a", "b"], {"camera": (0.0, 0.0)})
    assert [ax.get_title() for ax in figure.axes] == ["a / camera", "b / camera"]


def samples_with_truth(seeds: list[int], has_mesh: list[bool]) -> tuple[HandSample, object]:
    """A batch of blank 128 px crops whose truth is `right_hand_prediction(seed)` per sample,
    and the faces of its hand model."""
    preds = [right_hand_prediction(seed) for seed in seeds]
    K = torch.cat([k for _, k, _ in preds])
    truth = HandTruth(
        joints3d=torch.cat([p.joints for p, _, _ in preds]),
        verts=torch.cat([p.verts for p, _, _ in preds]),
        keypoints2d=torch.cat([p.keypoints2d for p, _, _ in preds]),
        pose=torch.zeros(len(seeds), 48),
        betas=torch.cat([p.betas for p, _, _ in preds]),
        mask=torch.zeros(len(seeds), CROP, CROP),
        has_mesh=torch.tensor(has_mesh),
    )
    count = len(seeds)
    batch = HandSample(
        torch.full((count, 3, CROP, CROP), 0.5), K, truth.keypoints2d, torch.ones(count, 21), truth
    )
    return batch, default_hand_model(preds[0][2]).faces


def test_truth_comparison_figure_scores_each_row_and_draws_both_meshes():
    batch, faces = samples_with_truth([0, 1], [True, False])
    other, _ = samples_with_truth([2, 2], [True, True])
    pred = right_hand_prediction(2)[0]
    pred = replace(pred, **{k: torch.cat([getattr(pred, k)] * 2) for k in ("verts", "joints")})
    pred = replace(pred, keypoints2d=other.truth.keypoints2d)
    figure = truth_comparison_figure(batch, pred, faces)
    errors = pa_mpjpe_mm(pred.joints.double(), batch.truth.joints3d.double())
    assert (errors > 1.0).all()
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:5] == [
        "image 0",
        f"network: {errors[0]:.1f} mm",
        "truth",
        "network, side",
        "truth, side",
    ]
    # the second sample has no true mesh: its side panel stays empty
    assert titles[5:] == ["image 1", f"network: {errors[1]:.1f} mm", "truth", "network, side", ""]
    assert len(figure.axes[9].collections) == 0 and len(figure.axes[4].collections) > 0
    # the truth as the prediction scores 0 mm
    same = replace(pred, verts=batch.truth.verts, joints=batch.truth.joints3d)
    titles = [ax.get_title() for ax in truth_comparison_figure(batch, same, faces).axes]
    assert titles[1] == titles[6] == "network: 0.0 mm"


def test_truth_comparison_figure_needs_the_truth():
    batch, faces = samples_with_truth([0], [True])
    with pytest.raises(ValueError, match="with_truth=True"):
        truth_comparison_figure(batch.without_truth(), right_hand_prediction(0)[0], faces)


def coloured_hand(colour: tuple[float, float, float], lights: bool):
    """`right_hand_prediction` painted one colour, with the network's initial lights or none;
    a one-image batch of a grey crop with every keypoint confident; the faces."""
    pred, K, config = right_hand_prediction()
    texture = torch.tensor(colour).expand(1, pred.verts.shape[1], 3).clone()
    lit = torch.tensor([INITIAL_LIGHTS]) if lights else None
    pred = replace(pred, texture=texture, texture_raw=texture, lights=lit)
    image = torch.full((1, 3, CROP, CROP), NEUTRAL_GREY)
    batch = HandSample(image, K, pred.keypoints2d, torch.ones(1, 21))
    return pred, batch, default_hand_model(config).faces


def test_appearance_renders_show_the_texture_and_score_like_the_photometric_term():
    pred, batch, faces = coloured_hand((1.0, 0.5, 0.5), lights=False)
    renders = appearance_renders(pred, batch, faces)
    centre = tuple(pred.keypoints2d[0, 9].round().long().tolist())[::-1]  # middle finger base
    np.testing.assert_allclose(renders.unlit[0][centre], [1.0, 0.5, 0.5], atol=0.02)
    np.testing.assert_allclose(renders.unlit[0][0, 0], [NEUTRAL_GREY] * 3)  # a corner: no hand
    # on a grey crop the red channel alone differs, by 0.5, under the hand
    assert renders.difference[0][centre] == pytest.approx(0.5 / 3, abs=0.01)
    assert renders.difference[0][0, 0] == 0.0
    config = LossConfig().without("branch2d", "consistency")
    term = compute_losses(pred, batch, faces, config, stage="e2e").unweighted["photometric"]
    assert renders.photometric[0] == pytest.approx(float(term), rel=1e-5)
    assert renders.photometric[0] > 0.001


def test_appearance_renders_light_the_texture_and_need_one():
    pred, batch, faces = coloured_hand((0.8, 0.6, 0.5), lights=True)
    renders = appearance_renders(pred, batch, faces)
    covered = np.abs(renders.unlit[0] - NEUTRAL_GREY).sum(-1) > 0.05
    assert covered.sum() > 50
    assert np.abs(renders.lit[0] - renders.unlit[0])[covered].max() > 0.05
    figure = appearance_figure(renders, batch)
    titles = [ax.get_title() for ax in figure.axes[:5]]
    assert titles == [
        "crop",
        "texture (unlit)",
        "texture x lighting",
        "render over crop",
        f"|render - crop|: {renders.photometric[0]:.4f}",
    ]
    with pytest.raises(ValueError, match="no texture"):
        appearance_renders(replace(pred, texture=None), batch, faces)


def test_detect_photo_names_a_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"nope\.jpg"):
        detect_photo(tmp_path / "nope.jpg")


def test_detect_photo_says_clearly_when_no_hand_is_found(tmp_path: Path):
    pytest.importorskip("mediapipe")
    path = tmp_path / "wall.png"
    Image.fromarray(np.full((120, 160, 3), 200, dtype=np.uint8)).save(path)
    photo = detect_photo(path)
    assert not photo.found
    assert photo.summary().startswith(f"no hand found in {path}")


def test_noise_check_measures_what_the_table_says():
    params = NoiseParams.load()
    rng = np.random.default_rng(0)
    truth = rng.uniform(20.0, 100.0, size=(50, 21, 2))
    visible = rng.uniform(size=(50, 21)) < 0.7
    check = noise_check(params, truth, visible, hands=3000, seed=1)
    rows = {name: (calibrated, measured) for name, calibrated, measured in check.table}
    calibrated, measured = rows["hand_miss_rate"]
    assert calibrated == params.hand_miss_rate and abs(measured - calibrated) < 0.04
    assert check.measured_sigma.shape == (21,)
    np.testing.assert_allclose(check.measured_sigma, check.joint_sigma, rtol=0.3)


def test_noise_check_rejects_an_empty_draw():
    with pytest.raises(ValueError, match="at least one hand"):
        noise_check(NoiseParams.load(), np.zeros((0, 21, 2)), np.zeros((0, 21), bool), 5, 0)


def test_synth_root_uses_a_built_benchmark_and_does_not_rebuild(tmp_path: Path):
    (tmp_path / "built").mkdir()
    (tmp_path / "built" / MANIFEST_NAME).write_text("{}")
    assert synth_root(tmp_path / "built", tmp_path / "fallback") == tmp_path / "built"
    assert not (tmp_path / "fallback").exists()


def test_clip_frames_split_a_clip_and_the_sheet_marks_missed_hands():
    T = 3
    clip = HandSample(
        image=torch.rand(T, 3, 16, 16),
        K=torch.eye(3).expand(T, 3, 3),
        keypoints=torch.rand(T, 21, 2) * 15,
        confidence=torch.tensor([[1.0] * 21, [0.0] * 21, [0.5] * 21]),
        name="clip7",
    )
    frames = clip_frames(clip)
    assert [f.name for f in frames] == ["clip7 t=0", "clip7 t=1", "clip7 t=2"]
    assert torch.equal(frames[1].keypoints, clip.keypoints[1])
    titles = [ax.get_title() for ax in samples_figure(frames, columns=3).axes]
    assert titles == ["clip7 t=0", "clip7 t=1 (missed)", "clip7 t=2"]


def tiny_batch(size: int = 64) -> HandSample:
    """Two synthetic crops with keypoints spread over the image, all confident."""
    generator = torch.Generator().manual_seed(0)
    K = torch.tensor([[60.0, 0.0, (size - 1) / 2], [0.0, 60.0, (size - 1) / 2], [0, 0, 1]])
    return HandSample(
        image=torch.rand(2, 3, size, size, generator=generator),
        K=K.expand(2, 3, 3),
        keypoints=torch.rand(2, 21, 2, generator=generator) * (size - 1),
        confidence=torch.ones(2, 21),
    )


def test_inspect_terms_shows_the_distillation_pulling_only_the_image_pose_head():
    config = ModelConfig(
        camera="keypoints",
        keypoint_input=True,
        keypoint_branch=False,
        regressor_image_width=0,
        without_anchors="image",
    )
    model = HandNet(config).eval()
    _, terms = inspect_terms(model, tiny_batch(), LossConfig(), "shape")
    image_pose = {t.name: t for t in terms}["image_pose"]
    assert image_pose.joint_grad is None
    assert image_pose.output_grad["image_articulation"] > 0.0
    assert all(v == 0.0 for k, v in image_pose.output_grad.items() if k != "image_articulation")


def test_inspect_terms_splits_the_total_and_its_gradients():
    model = HandNet(ModelConfig(num_stacks=1, keypoint_features=8, hourglass_depth=1)).eval()
    batch = tiny_batch()
    config = LossConfig().without("texture")
    pred, terms = inspect_terms(model, batch, config, "shape")
    by_name = {t.name: t for t in terms}
    # a network without the image pose head has nothing for its distillation term to teach
    headless = {"joints_3d", "verts_3d", "image_pose"}
    assert set(by_name) == set(config.active_terms("shape")) - headless
    total = compute_losses(
        model(batch.image, batch.K), batch, model.hand_model.faces, config, stage="shape"
    ).total
    assert sum(t.weighted for t in terms) == pytest.approx(float(total.detach()), rel=1e-5)
    # the shape prior reads only the betas; the keypoint term reads the projected joints
    assert by_name["shape_prior"].joint_grad is None
    assert by_name["shape_prior"].output_grad["trans"] == 0.0
    assert by_name["shape_prior"].output_grad["betas"] > 0.0
    assert by_name["keypoints_2d"].joint_grad.shape == (2, 21, 3)
    assert not pred.joints.requires_grad


def test_joint_arrows_point_down_the_gradient():
    pred, K, _ = right_hand_prediction()
    joint_grad = np.zeros((1, 21, 3), dtype=np.float32)
    joint_grad[0, 5, 0] = -2.0  # descending moves joint 5 towards +x: right in the image
    uv, motion = joint_arrows(pred, K, joint_grad, 0)
    assert uv.shape == motion.shape == (21, 2)
    assert motion[5, 0] > 0 and abs(motion[5, 1]) < 1e-3 * motion[5, 0]
    assert np.abs(np.delete(motion, 5, axis=0)).max() == 0


def test_ablation_and_stage_tables():
    config = LossConfig()
    table = ablation_table(config, "shape")
    assert table["biomech"] == ["joint_limits"] and table["texture"] == []
    assert vanished_terms(config, "branch2d", "e2e") == ["consistency_2d3d", "heatmap_2d"]
    stages = stage_table(config)
    assert stages["heatmap_2d"]["kp"] == config.weight("heatmap_2d")
    assert stages["photometric"]["shape"] == 0.0


# ---- the tour ------------------------------------------------------------------------------

TOUR_NET = ModelConfig(num_stacks=1, keypoint_features=8, hourglass_depth=1)


def test_photo_paths_take_a_file_or_the_photos_of_a_folder_by_name(tmp_path: Path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert photo_paths(tmp_path) == [tmp_path / "a.jpg", tmp_path / "b.png"]
    assert photo_paths(tmp_path / "b.png") == [tmp_path / "b.png"]
    with pytest.raises(FileNotFoundError, match="no such photo or folder"):
        photo_paths(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no photo"):
        photo_paths(tmp_path / "empty")


def test_tour_model_loads_a_trained_network_or_says_it_is_untrained(tmp_path: Path):
    untrained = tour_model(tmp_path / "model.pt")
    assert not untrained.trained and untrained.description.startswith("UNTRAINED")
    assert untrained.image_size == PRESETS[TOUR_PRESET].data.image_size
    preset = PRESETS[TOUR_PRESET]
    config = replace(preset, model=TOUR_NET, data=replace(preset.data, image_size=64))
    net = HandNet(TOUR_NET)
    torch.save({"model": net.state_dict(), "config": to_dict(config)}, tmp_path / "model.pt")
    trained = tour_model(tmp_path / "model.pt")
    assert trained.trained and trained.image_size == 64
    assert str(tmp_path / "model.pt") in trained.description
    state = trained.net.state_dict()
    assert all(torch.equal(value, state[name]) for name, value in net.state_dict().items())


def photo_with_hand(side: str) -> PhotoHands:
    """A random 96 px photo with one 'detected' hand of `side` spread over its middle."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
    detection = Detection(rng.uniform(25.0, 70.0, (21, 2)), np.ones(21), 0.9, side)
    return PhotoHands(Path("photo.png"), image, [detection])


def test_photo_crop_says_clearly_when_there_is_no_hand():
    photo = photo_with_hand("right")
    with pytest.raises(ValueError, match=r"no hand found in photo\.png"):
        photo_crop(PhotoHands(photo.path, photo.image, []), 64)


@pytest.mark.parametrize("side", ["right", "left"])
def test_predict_hand_answers_in_the_hands_own_crop(side: str):
    net = HandNet(TOUR_NET).eval()
    hand = photo_crop(photo_with_hand(side), 64)
    assert hand.crop.image.shape == (3, 64, 64) and hand.side == side
    pred = predict_hand(net, hand)
    camera = pred.joints[0] @ hand.crop.K.T
    assert torch.allclose(pred.keypoints2d[0], camera[:, :2] / camera[:, 2:], atol=1e-3)
    if side == "left":  # the right-hand network saw the mirrored crop
        with torch.no_grad():
            seen = net(mirror_sample(hand.crop).image[None], mirror_sample(hand.crop).K[None])
        assert torch.allclose(pred.joints, seen.joints * torch.tensor([-1.0, 1.0, 1.0]))


def test_crop_reprojection_and_the_predictions_figure():
    hand = photo_crop(photo_with_hand("left"), 64)
    pred = predict_hand(HandNet(TOUR_NET).eval(), hand)
    shifted = HandSample(
        hand.crop.image, hand.crop.K, pred.keypoints2d[0] + torch.tensor([3.0, 4.0]), torch.ones(21)
    )
    hand = replace(hand, crop=shifted)
    assert crop_reprojection_px(pred, hand) == pytest.approx(5.0, abs=1e-4)
    faces = default_hand_model(FitConfig()).faces
    figure = predictions_figure(hand, {"network": pred, "fit": pred}, faces)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["crop, detector (left hand)", "network: 5.0 px", "fit: 5.0 px"]
    mesh = prediction_mesh(pred, faces, hand)
    assert np.array_equal(mesh.faces, faces.flip(-1).numpy()), "a left mesh's winding flips"


@pytest.mark.parametrize("side", ["right", "left"])
def test_a_prediction_seen_in_another_crop_lands_on_the_same_photo_pixels(side: str):
    photo = photo_with_hand(side)
    small, large = photo_crop(photo, 64), photo_crop(photo, 160)
    pred = predict_hand(HandNet(TOUR_NET).eval(), small)
    seen = seen_in_crop(pred, large)
    assert torch.equal(seen.joints, pred.joints) and torch.equal(seen.verts, pred.verts)
    assert not torch.allclose(seen.keypoints2d, pred.keypoints2d, atol=1.0)
    in_photo_small = crop_to_image(pred.keypoints2d[0].double(), small.box, 64)
    in_photo_large = crop_to_image(seen.keypoints2d[0].double(), large.box, 160)
    torch.testing.assert_close(in_photo_large, in_photo_small, atol=1e-3, rtol=0)


@pytest.mark.parametrize("side", ["right", "left"])
def test_network_refined_and_fit_answer_in_the_fits_crop(side: str):
    photo = photo_with_hand(side)
    fitted_crop = photo_crop(photo, 128)
    net = HandNet(TOUR_NET).eval()
    # a stand-in for the fit: the network's own answer, written as a fits.json record
    network = predict_hand(net, photo_crop(photo, 64))
    record = record_of(network, fitted_crop.crop.K[None], side)
    answers = network_refined_and_fit(net, 64, photo, fitted_crop, record, FitConfig())
    assert list(answers) == [NETWORK, REFINED, FITTED]
    torch.testing.assert_close(answers[NETWORK].joints, network.joints)
    torch.testing.assert_close(answers[FITTED].joints, network.joints, atol=1e-5, rtol=0)
    for pred in answers.values():  # every answer's 2D keypoints are its joints in this crop
        camera = pred.joints[0] @ fitted_crop.crop.K.T
        torch.testing.assert_close(
            pred.keypoints2d[0], camera[:, :2] / camera[:, 2:], atol=1e-3, rtol=0
        )
    assert (answers[REFINED].joints - network.joints).abs().max() > 1e-4, "refinement ran"
