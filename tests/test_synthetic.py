"""The S2H-Synth generator: scenes, camera placement, rendering, visibility, clips."""

import numpy as np
import pytest
import torch

from s2h_lib.data.synth import appearance, backgrounds, motion
from s2h_lib.data.synth.config import SynthConfig, sample_seed
from s2h_lib.data.synth.generator import SynthGenerator, hand_mask
from s2h_lib.data.synth.noise import NoiseModel, NoiseParams
from s2h_lib.data.synth.placement import (
    BOX_FRACTION_RANGE,
    Placement,
    intrinsics,
    place_hand,
    project,
    view_of,
)
from s2h_lib.data.synth.poses import KEY_POSES
from s2h_lib.hand.hand_poses import JOINT_LIMITS_HIGH, JOINT_LIMITS_LOW
from s2h_lib.render import RenderSettings, render_mesh, supersampled_intrinsics

SIZE = 64
EXACT_NOISE = NoiseParams(joint_sigma=(0.0,) * 21, confidence_noise=0.0)


@pytest.fixture(scope="module")
def generator() -> SynthGenerator:
    torch.set_num_threads(1)
    return SynthGenerator(SynthConfig(image_size=SIZE, clip_length=5), NoiseModel(EXACT_NOISE))


@pytest.fixture(scope="module")
def samples(generator):
    return [generator.sample("train", i) for i in range(12)]


def test_same_seed_same_sample_from_a_fresh_generator(generator, samples):
    other = SynthGenerator(SynthConfig(image_size=SIZE, clip_length=5), NoiseModel(EXACT_NOISE))
    again = other.sample("train", 3)
    np.testing.assert_array_equal(again.image, samples[3].image)
    for key, value in samples[3].truth.items():
        np.testing.assert_array_equal(again.truth[key], value)
    assert not np.array_equal(samples[3].image, samples[4].image)


def test_seeds_are_base_plus_global_index():
    config = SynthConfig(seed=10)
    assert sample_seed(config, "train", 5) == 15
    assert sample_seed(config, "val", 5) == 10 + 1_000_000 + 5
    assert sample_seed(config, "clips", 0) == 10 + 3_000_000


def test_projected_truth_joints_are_the_truth_keypoints(samples):
    for frame in samples:
        projected = project(frame.truth["joints3d"], frame.inputs["K"])
        np.testing.assert_allclose(projected, frame.truth["keypoints2d"], atol=1e-6)
        # the exact noise model reports the truth
        np.testing.assert_allclose(frame.inputs["keypoints_noise"], projected, atol=1e-9)


def test_the_hand_spans_40_to_80_percent_of_the_image(samples):
    for frame in samples:
        low, high = BOX_FRACTION_RANGE
        assert low - 1e-3 <= frame.truth["box_fraction"] <= high + 1e-3
        ys, xs = np.nonzero(frame.truth["mask"])
        side = max(np.ptp(xs), np.ptp(ys)) + 1  # pixels the silhouette touches
        assert low * SIZE - 2 <= side <= high * SIZE + 2
        assert xs.min() > 0 and ys.min() > 0 and xs.max() < SIZE - 1 and ys.max() < SIZE - 1


def test_place_hand_hits_the_requested_box_and_centre():
    rng = np.random.default_rng(0)
    verts = rng.normal(scale=0.05, size=(300, 3))
    K = intrinsics(150.0, 100)
    placement = Placement(focal=150.0, box_fraction=0.6, offset=np.array([5.0, -8.0]))
    uv = project(verts + place_hand(verts, K, 100, placement), K)
    low, high = uv.min(axis=0), uv.max(axis=0)
    assert (high - low).max() == pytest.approx(60.0, abs=0.05)
    np.testing.assert_allclose((low + high) / 2, [49.5 + 5.0, 49.5 - 8.0], atol=0.05)


def test_mask_is_the_hand_alpha(generator, samples):
    """The stored mask equals the hand mesh's own rendered coverage (>= 1/2)."""
    factor = generator.config.supersample
    for frame in samples[:4]:
        K = torch.as_tensor(frame.inputs["K"], dtype=torch.float32)[None]
        settings = RenderSettings(image_size=(SIZE * factor,) * 2, mode="hard", double_sided=True)
        verts = torch.as_tensor(frame.truth["verts"], dtype=torch.float32)[None]
        out = render_mesh(verts, generator.faces, supersampled_intrinsics(K, factor), settings)
        alpha = torch.nn.functional.avg_pool2d(out.alpha, factor)[0, 0].numpy()
        np.testing.assert_array_equal(frame.truth["mask"], alpha >= 0.5)
        assert 0.03 < frame.truth["mask"].mean() < 0.6


def test_hand_mask_of_a_square_facing_the_camera():
    """Two triangles covering pixels 10..29 x 20..39 at depth 1 with K = identity focal 1."""
    verts = np.array([[9.5, 19.5, 1.0], [29.5, 19.5, 1.0], [29.5, 39.5, 1.0], [9.5, 39.5, 1.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    K = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1]])
    mask = hand_mask(verts, faces, K, 64, supersample=2)
    expected = np.zeros((64, 64), bool)
    expected[20:40, 10:30] = True
    np.testing.assert_array_equal(mask, expected)


def test_poses_vary_and_stay_within_the_joint_limits(samples):
    poses = np.stack([f.truth["pose"][3:].reshape(15, 3) for f in samples])
    assert np.all(poses >= JOINT_LIMITS_LOW - 1e-6) and np.all(poses <= JOINT_LIMITS_HIGH + 1e-6)
    assert poses.std(axis=0).max() > 0.3, "poses must differ, not sit at one mean"
    for name, pose in KEY_POSES.items():
        assert np.all(np.abs(pose) < np.pi), name


def test_palm_back_and_side_views_all_occur(generator):
    rng = np.random.default_rng(0)
    views = [view_of(generator.sample_scene(rng).global_rot) for _ in range(60)]
    assert set(views) == {0, 1, 2}


def test_view_of_known_rotations():
    assert view_of(np.zeros(3)) == 2  # rest pose: the palm faces -y, across the view
    assert view_of(np.array([np.pi / 2, 0, 0])) == 0  # -y turned to -z: palm towards camera
    assert view_of(np.array([-np.pi / 2, 0, 0])) == 1


def test_occluded_joints_are_marked_hidden():
    config = SynthConfig(image_size=SIZE, occluder_probability=1.0)
    generator = SynthGenerator(config, NoiseModel(EXACT_NOISE))
    hidden_by_blob = 0
    for i in range(6):
        frame = generator.sample("train", i)
        assert frame.truth["occluder"].any()
        pixels = np.clip(np.round(frame.truth["keypoints2d"]).astype(int), 0, SIZE - 1)
        covered = frame.truth["occluder"][pixels[:, 1], pixels[:, 0]]
        assert not frame.truth["visible"][covered].any()
        hidden_by_blob += covered.sum()
    assert hidden_by_blob > 0


def test_self_occlusion_hides_some_joints(samples):
    visible = np.stack([f.truth["visible"] for f in samples])
    assert 0.3 < visible.mean() < 1.0


def test_clip_moves_smoothly_and_keeps_shape_and_looks(generator, samples):
    clip = generator.clip(0)
    assert len(clip) == 5
    keypoints = np.stack([f.truth["keypoints2d"] for f in clip])
    step = np.linalg.norm(np.diff(keypoints, axis=0), axis=-1).mean()
    others = np.stack([f.truth["keypoints2d"] for f in samples])
    between = np.linalg.norm(others[1:] - others[:-1], axis=-1).mean()
    assert step < 0.25 * between
    for frame in clip[1:]:
        np.testing.assert_array_equal(frame.truth["betas"], clip[0].truth["betas"])
        np.testing.assert_array_equal(frame.truth["skin"], clip[0].truth["skin"])
    assert not np.array_equal(clip[0].image, clip[-1].image)


def test_smooth_path_passes_through_its_keyframes():
    keyframes = np.array([[0.0, 1.0], [2.0, 0.0], [4.0, 1.0]])
    path = motion.smooth_path(keyframes, 5)
    np.testing.assert_allclose(path[[0, 2, 4]], keyframes)
    rotations = motion.rotation_path(np.array([[0, 0, 0.0], [0, 0, 0.5], [0, 0, 1.0]]), 3)
    np.testing.assert_allclose(rotations, [[0, 0, 0], [0, 0, 0.5], [0, 0, 1.0]], atol=1e-9)


def test_skin_tones_stay_skin_like():
    rng = np.random.default_rng(0)
    for _ in range(200):
        tone = appearance.sample_skin_tone(rng)
        assert tone[0] >= tone[1] >= tone[2] - 0.02, f"skin is red > green > blue: {tone}"


def test_background_photos_ship_with_scikit_image():
    names = backgrounds.check_backgrounds()
    assert "astronaut" in names and len(names) >= 10
    image = backgrounds.sample_background(np.random.default_rng(0), 32, 48)
    assert image.shape == (32, 48, 3) and image.min() >= 0.0 and image.max() <= 1.0


def _square_hand(colour: tuple[float, float, float], size: int = 40) -> tuple[np.ndarray, ...]:
    """A hand layer: a (size/2)-pixel square of `colour` in the middle, premultiplied."""
    alpha = np.zeros((size, size))
    alpha[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    return alpha[..., None] * np.array(colour), alpha


def _flat(size: int, colour: tuple[float, float, float]) -> np.ndarray:
    return np.tile(np.array(colour), (size, size, 1))


def test_colour_contrast_is_the_cielab_distance_around_the_hand():
    rgb, alpha = _square_hand((1.0, 0.0, 0.0))
    background = _flat(40, (0.0, 0.0, 1.0))
    # sRGB red is L*a*b* (53.24, 80.09, 67.20), blue (32.30, 79.19, -107.86)
    expected = np.linalg.norm(np.subtract((53.24, 80.09, 67.20), (32.30, 79.19, -107.86)))
    assert backgrounds.colour_contrast(rgb, alpha, background) == pytest.approx(expected, abs=0.3)
    # only the ring around the hand counts: red far from it does not lower the contrast
    background[:2] = (1.0, 0.0, 0.0)
    assert backgrounds.colour_contrast(rgb, alpha, background) == pytest.approx(expected, abs=0.3)
    background[4:36, 4:36] = (1.0, 0.0, 0.0)  # the hand's own colour all around it
    assert backgrounds.colour_contrast(rgb, alpha, background) < 1.0


def test_pick_background_redraws_a_camouflaging_background(monkeypatch):
    rgb, alpha = _square_hand((0.8, 0.5, 0.4))
    candidates = [
        _flat(40, (0.8, 0.5, 0.4)),
        _flat(40, (0.1, 0.3, 0.9)),
    ]
    drawn = iter(candidates)
    monkeypatch.setattr(backgrounds, "sample_background", lambda rng, h, w: next(drawn))
    monkeypatch.setattr(backgrounds, "ensure_contrast", lambda background, luma: background)
    picked = backgrounds.pick_background(np.random.default_rng(0), rgb, alpha, 0.5, (40, 40))
    assert picked is candidates[1]


def test_pick_background_keeps_the_most_contrasting_when_none_is_enough(monkeypatch):
    rgb, alpha = _square_hand((0.8, 0.5, 0.4))
    shades = np.linspace(0.5, 0.58, backgrounds.BACKGROUND_TRIES)[::-1]
    candidates = [_flat(60, (0.8, s, 0.4)) for s in shades]
    drawn = iter(candidates)
    monkeypatch.setattr(backgrounds, "sample_background", lambda rng, h, w: next(drawn))
    monkeypatch.setattr(backgrounds, "ensure_contrast", lambda background, luma: background)
    rng = np.random.default_rng(0)
    picked = backgrounds.pick_background(rng, rgb, alpha, 0.5, (60, 60), offset=(10, 10))
    contrasts = [backgrounds.colour_contrast(rgb, alpha, c[10:50, 10:50]) for c in candidates]
    assert max(contrasts) < backgrounds.MIN_COLOUR_CONTRAST
    assert picked is candidates[int(np.argmax(contrasts))]


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="keypoints"):
        SynthConfig(keypoints="openpose")
    with pytest.raises(ValueError, match="train count"):
        SynthConfig(train=-1)
    with pytest.raises(ValueError, match="clip_length"):
        SynthConfig(clip_length=1)


def test_renders_another_hand_model_in_the_mano_layout(mano_dir, official_arrays):
    config = SynthConfig(image_size=SIZE, mano_root=str(mano_dir))
    frame = SynthGenerator(config, NoiseModel(EXACT_NOISE)).sample("test", 0)
    assert frame.truth["verts"].shape == official_arrays["v_template"].shape
    projected = project(frame.truth["joints3d"], frame.inputs["K"])
    np.testing.assert_allclose(projected, frame.truth["keypoints2d"], atol=1e-6)
    assert frame.truth["mask"].any()
