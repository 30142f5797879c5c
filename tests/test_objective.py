"""compute_losses: what each stage computes, what it may read, the render, clips, NaN terms."""

from dataclasses import replace

import pytest
import torch

from s2h_lib.data.sample import HandSample, HandTruth
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.losses import objective
from s2h_lib.losses.loss_config import GROUPS, STAGES, LossConfig
from s2h_lib.losses.objective import compute_losses, render_prediction
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.render import RenderSettings

SIZE = 40
FOCAL = 1.5 * SIZE
# Puts the open hand model's rest pose (about 20 cm long along -x) in front of the camera.
HAND_TRANS = (0.075, 0.0, 0.65)
LIGHTS = (0.6, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.3, 1.0)


class ForbiddenTruth:
    """Stands in for `HandTruth` where no code may read it."""

    def __getattr__(self, name: str):
        raise AssertionError(f"truth.{name} was read")


@pytest.fixture(scope="module")
def layer() -> ManoLayer:
    return ManoLayer(mano_root=None, use_pca=False, flat_hand_mean=True)


def intrinsics(n: int) -> torch.Tensor:
    K = torch.tensor([[FOCAL, 0.0, (SIZE - 1) / 2], [0.0, FOCAL, (SIZE - 1) / 2], [0, 0, 1]])
    return K.expand(n, 3, 3).clone()


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    uvw = torch.einsum("nij,nkj->nki", K, points)
    return uvw[..., :2] / uvw[..., 2:]


def make_prediction(layer: ManoLayer, n: int = 2, seed: int = 0, trans=None) -> HandPrediction:
    """A prediction from the open hand model, with leaves whose gradients tests can read."""
    generator = torch.Generator().manual_seed(seed)
    pose = torch.zeros(n, 48)
    pose[:, 3:] = 0.2 * torch.randn(n, 45, generator=generator)
    pose.requires_grad_()
    betas = (0.5 * torch.randn(n, 10, generator=generator)).requires_grad_()
    trans = torch.tensor(HAND_TRANS).expand(n, 3) if trans is None else trans
    out = layer.forward_full(pose, betas, trans)
    keypoints2d = project(out.joints, intrinsics(n))
    texture_raw = (0.1 * torch.randn(n, layer.num_verts, 3, generator=generator)).requires_grad_()
    heatmaps = keypoints2d.detach().unsqueeze(1).repeat(1, 2, 1, 1)
    heatmaps = (heatmaps + torch.randn(heatmaps.shape, generator=generator)).requires_grad_()
    # an image pose head's guess: the same hand, a tenth smaller
    articulation = (0.9 * (out.joints - out.joints[:, :1])).detach().requires_grad_()
    return HandPrediction(
        pose_coeffs=pose,
        global_rot=pose[:, :3],
        joint_angles=out.axis_angle,
        betas=betas,
        scale=torch.ones(n),
        trans=trans,
        verts=out.verts,
        joints=out.joints,
        keypoints2d=keypoints2d,
        texture=torch.sigmoid(texture_raw + 0.4),
        texture_raw=texture_raw,
        lights=torch.tensor(LIGHTS).expand(n, 11).clone().requires_grad_(),
        heatmap_keypoints=heatmaps,
        image_articulation=articulation,
    )


def make_batch(pred: HandPrediction, seed: int = 1, truth=None) -> HandSample:
    generator = torch.Generator().manual_seed(seed)
    n = pred.joints.shape[0]
    noise = 2.0 * torch.randn(n, 21, 2, generator=generator)
    return HandSample(
        image=torch.rand(n, 3, SIZE, SIZE, generator=generator),
        K=intrinsics(n),
        keypoints=pred.keypoints2d.detach() + noise,
        confidence=torch.full((n, 21), 0.9),
        truth=ForbiddenTruth() if truth is None else truth,
    )


def make_truth(pred: HandPrediction, joint_offset: float = 0.0) -> HandTruth:
    n = pred.joints.shape[0]
    return HandTruth(
        joints3d=pred.joints.detach() + joint_offset,
        verts=pred.verts.detach(),
        keypoints2d=pred.keypoints2d.detach(),
        pose=torch.zeros(n, 48),
        betas=torch.zeros(n, 10),
        mask=torch.zeros(n, SIZE, SIZE),
        has_mesh=torch.ones(n, dtype=torch.bool),
    )


@pytest.fixture()
def no_render(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("rendered although no photometric term is on")

    monkeypatch.setattr(objective, "render_mesh", fail)


def test_self_supervised_e2e_never_reads_truth(layer):
    pred = make_prediction(layer)
    config = LossConfig(weights={"photometric_ssim": 1e-3})
    result = compute_losses(pred, make_batch(pred), layer.faces, config, stage="e2e")
    assert set(result.terms) == STAGES["e2e"] - GROUPS["supervised"]
    assert result.num_skipped == 0
    assert torch.isfinite(result.total)
    torch.testing.assert_close(result.total, sum(result.terms.values()))
    for term, value in result.terms.items():
        torch.testing.assert_close(value.detach(), config.weight(term) * result.unweighted[term])
        assert result.unweighted[term] > 0, term
    result.total.backward()
    leaves = (pred.pose_coeffs, pred.texture_raw, pred.lights, pred.heatmap_keypoints)
    for leaf in (*leaves, pred.image_articulation):
        assert leaf.grad is not None and leaf.grad.abs().sum() > 0


def test_kp_stage_computes_only_the_2d_branch_term(layer, no_render):
    pred = replace(make_prediction(layer), texture=None, texture_raw=None, lights=None)
    result = compute_losses(pred, make_batch(pred), layer.faces, LossConfig(), stage="kp")
    assert set(result.terms) == {"heatmap_2d"}


def test_groups_turned_off_are_not_computed(layer, no_render):
    pred = make_prediction(layer)
    config = LossConfig().without("texture", "biomech", "consistency")
    result = compute_losses(pred, make_batch(pred), layer.faces, config, stage="e2e")
    assert set(result.terms) == {
        "keypoints_2d",
        "bone_direction",
        "heatmap_2d",
        "scale_prior",
        "laplacian",
        "shape_prior",
        "image_pose",
    }
    headless = replace(pred, image_articulation=None)
    result = compute_losses(headless, make_batch(pred), layer.faces, config, stage="e2e")
    assert "image_pose" not in result.terms


def test_non_finite_term_is_skipped_and_counted(layer):
    pred = make_prediction(layer)
    pred = replace(pred, betas=torch.full_like(pred.betas, float("nan")))
    result = compute_losses(pred, make_batch(pred), layer.faces, LossConfig(), stage="shape")
    assert result.skipped == ("shape_prior",) and result.num_skipped == 1
    assert "shape_prior" not in result.terms
    assert torch.isfinite(result.total) and result.total > 0
    result.total.backward()
    assert torch.isfinite(pred.pose_coeffs.grad).all()


def test_weak_supervision_reads_true_keypoints_with_confidence_one(layer):
    pred = make_prediction(layer)
    batch = make_batch(pred, truth=make_truth(pred))
    batch = replace(batch, keypoints=batch.keypoints + 30.0)  # a bad detector
    weak = compute_losses(pred, batch, layer.faces, LossConfig(), stage="shape", supervision="weak")
    assert weak.unweighted["keypoints_2d"] == 0.0
    assert weak.unweighted["bone_direction"] < 1e-9
    assert "joints_3d" not in weak.terms
    own = compute_losses(pred, batch, layer.faces, LossConfig(), stage="shape")
    assert own.unweighted["keypoints_2d"] > 10.0


def test_full_supervision_adds_the_3d_terms(layer):
    pred = make_prediction(layer)

    def full(truth: HandTruth) -> dict:
        batch = make_batch(pred, truth=truth)
        config = LossConfig()
        return compute_losses(pred, batch, layer.faces, config, stage="shape", supervision="full")

    # root-relative: joints moved as a whole cost nothing, while the mesh, which stayed, is now
    # 2 mm off in every coordinate relative to the true wrist (L1 per coordinate)
    moved = full(make_truth(pred, joint_offset=0.002)).unweighted
    assert moved["joints_3d"].item() < 1e-7
    assert moved["verts_3d"].item() == pytest.approx(0.002, rel=1e-4)
    truth = make_truth(pred)
    truth.joints3d[:, 20, 0] += 0.021  # the little fingertip 21 mm off: mean 1 mm over 21
    bent = full(truth).unweighted
    assert bent["joints_3d"].item() == pytest.approx(0.001, rel=1e-4)
    assert bent["verts_3d"].item() == 0.0


def test_weak_supervision_without_truth_raises(layer):
    pred = make_prediction(layer)
    batch = replace(make_batch(pred), truth=None)
    with pytest.raises(ValueError, match="with_truth=True"):
        compute_losses(pred, batch, layer.faces, LossConfig(), stage="shape", supervision="weak")


def test_photometric_zero_when_the_image_is_the_render(layer):
    pred = make_prediction(layer)
    batch = make_batch(pred)
    with torch.no_grad():
        rendered = render_prediction(pred, layer.faces, batch.K, batch.image)
    assert 0.05 < rendered.alpha.mean() < 0.6  # the hand is in view, not filling it
    config = LossConfig(weights={"photometric_ssim": 1e-3})
    batch = replace(batch, image=rendered.rgb)
    result = compute_losses(pred, batch, layer.faces, config, stage="e2e")
    assert result.unweighted["photometric"].item() == 0.0
    assert result.unweighted["mean_colour"].item() < 1e-7
    assert result.unweighted["photometric_ssim"].item() < 1e-6
    # a different background where the mesh does not reach changes nothing
    far = rendered.alpha == 0
    other = torch.where(far, 1.0 - rendered.rgb, rendered.rgb)
    result = compute_losses(pred, replace(batch, image=other), layer.faces, config, stage="e2e")
    assert result.unweighted["photometric"].item() == 0.0


def clip_prediction(layer: ManoLayer, clips: int, frames: int) -> HandPrediction:
    """Clips whose hand translates at constant velocity, flattened frame-major per clip."""
    steps = torch.arange(frames, dtype=torch.float32).repeat(clips)
    trans = torch.tensor(HAND_TRANS) + steps[:, None] * torch.tensor([0.004, -0.003, 0.01])
    pred = make_prediction(layer, n=clips * frames, trans=trans)
    # the same articulation and shape in every frame of a clip
    betas = pred.betas[::frames].repeat_interleave(frames, 0)
    out = layer.forward_full(pred.pose_coeffs[::frames].repeat_interleave(frames, 0), betas, trans)
    return replace(
        pred,
        betas=betas,
        verts=out.verts,
        joints=out.joints,
        joint_angles=out.axis_angle,
        keypoints2d=project(out.joints, intrinsics(clips * frames)),
    )


def as_clip(batch: HandSample, clips: int, frames: int) -> HandSample:
    def fold(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.reshape(clips, frames, *tensor.shape[1:])

    return replace(
        batch,
        image=fold(batch.image),
        K=fold(batch.K),
        keypoints=fold(batch.keypoints),
        confidence=fold(batch.confidence),
    )


def test_video_stage_on_clips(layer):
    pred = clip_prediction(layer, clips=2, frames=3)
    flat = make_batch(pred)
    batch = as_clip(replace(flat, keypoints=pred.keypoints2d.detach()), clips=2, frames=3)
    config = LossConfig().without("texture")
    result = compute_losses(pred, batch, layer.faces, config, stage="video")
    assert GROUPS["motion"] - GROUPS["texture"] <= set(result.terms)
    assert result.unweighted["motion_smooth"] < 1e-6
    assert result.unweighted["motion_2d"] < 1e-9
    assert result.unweighted["bone_consistency"] < 1e-7
    assert result.unweighted["shape_consistency"] < 1e-12
    with pytest.raises(ValueError, match="clip batch"):
        compute_losses(pred, flat, layer.faces, config, stage="video")


def test_clip_texture_consistency_sees_frames_of_one_clip(layer, no_render):
    pred = make_prediction(layer, n=4)
    texture = torch.zeros_like(pred.texture)
    texture[1] = 0.3  # clip 0 changes colour between its frames; clip 1 does not
    pred = replace(pred, texture=texture)
    batch = as_clip(make_batch(pred), clips=2, frames=2)
    config = LossConfig(weights={"photometric": 0.0, "mean_colour": 0.0})
    result = compute_losses(pred, batch, layer.faces, config, stage="video")
    assert result.unweighted["texture_consistency"].item() == pytest.approx(0.15)


def test_bad_calls_raise_clear_errors(layer):
    pred = make_prediction(layer)
    batch = make_batch(pred)
    faces = layer.faces
    with pytest.raises(ValueError, match="unknown stage"):
        compute_losses(pred, batch, faces, LossConfig(), stage="warmup")
    with pytest.raises(ValueError, match="supervision must be"):
        compute_losses(pred, batch, faces, LossConfig(), stage="kp", supervision="semi")
    with pytest.raises(ValueError, match="3 frames"):
        compute_losses(make_prediction(layer, n=3), batch, faces, LossConfig(), stage="kp")
    with pytest.raises(ValueError, match=r"heatmap_keypoints.*without\('branch2d'\)"):
        compute_losses(
            replace(pred, heatmap_keypoints=None), batch, faces, LossConfig(), stage="finetune"
        )


def test_render_settings_are_used_at_the_batch_size(layer, monkeypatch):
    seen = []

    def spy(verts, faces, K, settings, **kwargs):
        seen.append(settings)
        return real(verts, faces, K, settings, **kwargs)

    real = objective.render_mesh
    monkeypatch.setattr(objective, "render_mesh", spy)
    pred = make_prediction(layer)
    settings = RenderSettings(image_size=(224, 224), sigma=2.0)
    compute_losses(
        pred, make_batch(pred), layer.faces, LossConfig(), stage="e2e", render_settings=settings
    )
    assert len(seen) == 1  # one render for all appearance terms
    assert seen[0].image_size == (SIZE, SIZE) and seen[0].sigma == 2.0 and seen[0].mode == "soft"
