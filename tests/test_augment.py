"""Training augmentation: geometry stays consistent, colours change only colours, seeds repeat."""

import math

import pytest
import torch

from s2h_lib.data.augment import AugmentConfig, augment, generator_for, similarity_about
from s2h_lib.data.crop import project_points
from s2h_lib.data.sample import HandSample, HandTruth
from s2h_lib.hand.hand_model import ManoLayer

SIZE = 96
TURN = AugmentConfig(rotation=(0.7, 0.7), scale=(1.2, 1.2))


def hand_sample(seed: int = 0, fx: float = 150.0, fy: float = 150.0, frames: int = 0) -> HandSample:
    """A sample whose truth is consistent: keypoints are the projected joints, and the image is
    black with a bright dot on every keypoint; the principal point is off the crop centre."""
    g = torch.Generator().manual_seed(seed)
    lead = (frames,) if frames else ()
    K = torch.tensor([[fx, 0.0, 40.0], [0.0, fy, 55.0], [0.0, 0.0, 1.0]]).expand(*lead, 3, 3)
    joints = torch.rand(*lead, 21, 3, generator=g) * 0.08 - 0.04 + torch.tensor([0.0, 0.0, 0.5])
    keypoints = project_points(joints, K)
    image = torch.zeros(*lead, 3, SIZE, SIZE)
    mask = torch.zeros(*lead, SIZE, SIZE)
    flat_image, flat_mask = image.view(-1, 3, SIZE, SIZE), mask.view(-1, SIZE, SIZE)
    for frame, points in enumerate(keypoints.view(-1, 21, 2)):
        x, y = points[9].round().long().tolist()
        flat_image[frame, :, y, x] = 1.0
        flat_mask[frame, y - 4 : y + 5, x - 4 : x + 5] = 1.0
    truth = HandTruth(
        joints3d=joints,
        verts=torch.rand(*lead, 30, 3, generator=g) * 0.1 + torch.tensor([0.0, 0.0, 0.5]),
        keypoints2d=keypoints,
        pose=torch.rand(*lead, 48, generator=g) * 0.6 - 0.3,
        betas=torch.zeros(*lead, 10),
        mask=mask,
        has_mesh=torch.ones(lead, dtype=torch.bool),
    )
    confidence = torch.rand(*lead, 21, generator=g)
    return HandSample(image, K, keypoints.clone(), confidence, truth, name="fake")


@pytest.mark.parametrize("rotate_scene", [True, False])
@pytest.mark.parametrize("fx, fy", [(150.0, 150.0), (150.0, 170.0)])
def test_projected_joints_land_on_augmented_keypoints(rotate_scene: bool, fx: float, fy: float):
    config = AugmentConfig(scale=(0.8, 1.3), rotate_scene=rotate_scene)
    for seed in range(5):
        sample = hand_sample(seed, fx, fy)
        out = augment(sample, config, torch.Generator().manual_seed(seed))
        projected = project_points(out.truth.joints3d.double(), out.K.double())
        torch.testing.assert_close(projected, out.keypoints.double(), atol=1e-3, rtol=0)
        torch.testing.assert_close(out.truth.keypoints2d, out.keypoints)
        assert not torch.allclose(out.keypoints, sample.keypoints)


def test_keypoints_move_by_the_similarity_about_the_centre() -> None:
    sample = hand_sample()
    out = augment(sample, TURN, torch.Generator().manual_seed(0))
    A = similarity_about(((SIZE - 1) / 2, (SIZE - 1) / 2), 0.7, 1.2)
    expected = sample.keypoints.double() @ A[:2, :2].T + A[:2, 2]
    torch.testing.assert_close(out.keypoints.double(), expected, atol=1e-4, rtol=0)
    # a counter-clockwise turn on screen (y down): a point right of the centre moves up
    right = torch.tensor([[SIZE - 1.0, (SIZE - 1) / 2]], dtype=torch.float64)
    moved = right @ A[:2, :2].T + A[:2, 2]
    assert float(moved[0, 1]) < (SIZE - 1) / 2


def test_rotating_the_scene_keeps_a_pinhole_camera() -> None:
    sample = hand_sample()
    out = augment(sample, TURN, torch.Generator().manual_seed(0))
    K = out.K.double()
    assert abs(float(K[0, 1])) < 1e-4 and abs(float(K[1, 0])) < 1e-4
    assert float(K[0, 0]) == pytest.approx(1.2 * 150.0, rel=1e-5)
    assert float(K[1, 1]) == pytest.approx(1.2 * 150.0, rel=1e-5)
    # the 3D truth turned about the optical axis: depth and distance from the axis unchanged
    before, after = sample.truth.joints3d, out.truth.joints3d
    torch.testing.assert_close(after[:, 2], before[:, 2])
    torch.testing.assert_close(after[:, :2].norm(dim=-1), before[:, :2].norm(dim=-1))
    assert not torch.allclose(after, before)


def test_s2hand_mode_keeps_3d_and_puts_the_turn_in_the_camera() -> None:
    sample = hand_sample()
    config = AugmentConfig(rotation=(0.7, 0.7), scale=(1.2, 1.2), rotate_scene=False)
    out = augment(sample, config, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.truth.joints3d, sample.truth.joints3d)
    torch.testing.assert_close(out.truth.verts, sample.truth.verts)
    assert abs(float(out.K[0, 1])) > 10  # K now carries the rotation


def test_a_bright_pixel_moves_with_its_keypoint() -> None:
    sample = hand_sample()
    out = augment(sample, TURN, torch.Generator().manual_seed(0))
    weights = out.image[0]
    ys, xs = torch.meshgrid(torch.arange(float(SIZE)), torch.arange(float(SIZE)), indexing="ij")
    centroid = torch.stack([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()
    dot = sample.keypoints[9].round()  # the dot sits on the rounded keypoint
    A = similarity_about(((SIZE - 1) / 2, (SIZE - 1) / 2), 0.7, 1.2).float()
    expected = A[:2, :2] @ dot + A[:2, 2]
    assert float((centroid - expected).norm()) < 0.05


def test_mask_moves_and_stays_binary() -> None:
    sample = hand_sample()
    out = augment(sample, TURN, torch.Generator().manual_seed(0))
    mask = out.truth.mask
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    x, y = out.keypoints[9].round().long().tolist()
    assert mask[y, x] == 1 and 60 < float(mask.sum()) < 81 * 1.2**2 * 1.3


def test_root_rotation_turns_the_mano_hand_with_the_scene() -> None:
    mano = ManoLayer(use_pca=False, flat_hand_mean=True)
    sample = hand_sample()
    out = augment(sample, TURN, torch.Generator().manual_seed(0))
    _, joints_before = mano(sample.truth.pose[None])
    _, joints_after = mano(out.truth.pose[None])
    angle = -0.7  # screen counter-clockwise is -angle about the camera z axis (y down)
    c, s = math.cos(angle), math.sin(angle)
    R = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    root_before, root_after = joints_before[0, 0], joints_after[0, 0]
    torch.testing.assert_close(
        joints_after[0] - root_after, (joints_before[0] - root_before) @ R.T, atol=1e-5, rtol=0
    )


def test_samples_without_a_mesh_keep_zero_pose() -> None:
    sample = hand_sample()
    truth = sample.truth
    empty = HandTruth(
        truth.joints3d,
        truth.verts * 0,
        truth.keypoints2d,
        truth.pose * 0,
        truth.betas,
        truth.mask,
        torch.tensor(False),
    )
    out = augment(
        HandSample(sample.image, sample.K, sample.keypoints, sample.confidence, empty),
        TURN,
        torch.Generator().manual_seed(0),
    )
    assert float(out.truth.pose.abs().sum()) == 0.0 and float(out.truth.verts.abs().sum()) == 0.0


def test_colour_jitter_changes_colours_only() -> None:
    sample = hand_sample()
    sample = HandSample(
        torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)),
        sample.K,
        sample.keypoints,
        sample.confidence,
        sample.truth,
    )
    config = AugmentConfig(
        rotation=(0.0, 0.0), brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1
    )
    out = augment(sample, config, torch.Generator().manual_seed(0))
    assert float((out.image - sample.image).abs().mean()) > 0.01
    assert float(out.image.min()) >= 0.0 and float(out.image.max()) <= 1.0
    for name in ("K", "keypoints", "confidence"):
        assert torch.equal(getattr(out, name), getattr(sample, name))
    for name in ("joints3d", "verts", "keypoints2d", "pose", "mask"):
        assert torch.equal(getattr(out.truth, name), getattr(sample.truth, name))


def test_geometry_draws_do_not_depend_on_colour_settings() -> None:
    sample = hand_sample()
    plain = augment(sample, AugmentConfig(), torch.Generator().manual_seed(5))
    jittered = augment(sample, AugmentConfig(brightness=0.3), torch.Generator().manual_seed(5))
    torch.testing.assert_close(plain.K, jittered.K)


def test_same_seed_same_output_other_seed_other_output() -> None:
    sample = hand_sample()
    config = AugmentConfig(scale=(0.9, 1.1), brightness=0.2, hue=0.05)
    first = augment(sample, config, generator_for(config, index=3, epoch=1))
    again = augment(sample, config, generator_for(config, index=3, epoch=1))
    other = augment(sample, config, generator_for(config, index=4, epoch=1))
    assert torch.equal(first.image, again.image) and torch.equal(first.K, again.K)
    assert not torch.allclose(first.K, other.K)
    reseeded = AugmentConfig(scale=(0.9, 1.1), brightness=0.2, hue=0.05, seed=1)
    assert not torch.allclose(first.K, augment(sample, reseeded, generator_for(reseeded, 3, 1)).K)


def test_a_clip_gets_one_transform_for_all_frames() -> None:
    clip = hand_sample(frames=3)
    out = augment(clip, TURN, torch.Generator().manual_seed(0))
    assert out.image.shape == (3, 3, SIZE, SIZE) and out.K.shape == (3, 3, 3)
    A = similarity_about(((SIZE - 1) / 2, (SIZE - 1) / 2), 0.7, 1.2)
    expected = clip.keypoints.double() @ A[:2, :2].T + A[:2, 2]
    torch.testing.assert_close(out.keypoints.double(), expected, atol=1e-4, rtol=0)
    projected = project_points(out.truth.joints3d.double(), out.K.double())
    torch.testing.assert_close(projected, out.keypoints.double(), atol=1e-3, rtol=0)
    torch.testing.assert_close(out.K[0], out.K[2])
    for frame in range(3):
        single = HandSample(
            clip.image[frame], clip.K[frame], clip.keypoints[frame], clip.confidence[frame]
        )
        alone = augment(single, TURN, torch.Generator().manual_seed(0))
        torch.testing.assert_close(alone.image, out.image[frame])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rotation": (1.0, -1.0)}, "low <= high"),
        ({"scale": (0.0, 1.0)}, "positive"),
        ({"brightness": 1.5}, "brightness"),
        ({"hue": 0.7}, "hue"),
    ],
)
def test_bad_config_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**kwargs)
