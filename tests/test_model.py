"""HandNet: shapes, the initial hand, robustness, gradients, weights files, stage-wise freezing."""

import pytest
import torch
import torchvision

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.net.heads import MEAN_SKIN_COLOUR
from s2h_lib.net.initial_pose import INITIAL_DEPTH, initial_rotation
from s2h_lib.net.model import GROUP_NAMES, HandNet
from s2h_lib.net.model_config import ModelConfig

SIZE = 128
# resnet18 from random weights: what these tests were written for (the encoders have their own)
SMALL_HOURGLASS = {
    "keypoint_features": 32,
    "num_stacks": 2,
    "hourglass_depth": 2,
    "encoder": "resnet18",
    "pretrained_weights": None,
}
WRIST, THUMB_TIP, INDEX_MCP, MIDDLE_TIP, PINKY_MCP, PINKY_TIP = 0, 4, 5, 12, 17, 20


def intrinsics(batch: int, size: int = SIZE, focal_factor: float = 1.5) -> torch.Tensor:
    """A typical crop camera: focal 1.5 x size, principal point at the image centre."""
    f, c = focal_factor * size, (size - 1) / 2
    return torch.tensor([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]]).expand(batch, 3, 3)


def images(batch: int, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def make_net(**overrides) -> HandNet:
    return HandNet(ModelConfig(**(SMALL_HOURGLASS | overrides)))


@pytest.fixture(scope="module")
def net() -> HandNet:
    return make_net()


@pytest.fixture(scope="module")
def prediction(net):
    with torch.no_grad():
        return net.eval()(images(2), intrinsics(2))


# ---- shapes -----------------------------------------------------------------------------


def check_shapes(pred, net: HandNet, batch: int, per_face: bool) -> None:
    V, F = net.hand_model.num_verts, net.faces.shape[0]
    colours = F if per_face else V
    expected = {
        "pose_coeffs": (batch, 30),
        "global_rot": (batch, 3),
        "joint_angles": (batch, 16, 3),
        "betas": (batch, 10),
        "scale": (batch,),
        "trans": (batch, 3),
        "verts": (batch, V, 3),
        "joints": (batch, 21, 3),
        "keypoints2d": (batch, 21, 2),
        "texture": (batch, colours, 3),
        "texture_raw": (batch, colours, 3),
        "lights": (batch, 11),
        "heatmap_keypoints": (batch, 2, 21, 2),
    }
    for name, shape in expected.items():
        value = getattr(pred, name)
        assert tuple(value.shape) == shape, name
        assert value.dtype == torch.float32, name
        assert bool(torch.isfinite(value).all()), name
    assert pred.texture_per_face == per_face
    assert float(pred.texture.min()) >= 0.0 and float(pred.texture.max()) <= 1.0


def test_shapes_resnet18_per_vertex(net, prediction):
    check_shapes(prediction, net, 2, per_face=False)


@pytest.mark.parametrize(
    "overrides",
    [{"encoder": "efficientnet_b0"}, {"encoder": "efficientnet_lite0"}, {"texture": "face"}],
    ids=["effnet", "lite0", "face"],
)
def test_shapes_other_encoder_and_per_face_texture(overrides):
    model = make_net(**overrides).eval()
    with torch.no_grad():
        pred = model(images(2), intrinsics(2))
    check_shapes(pred, model, 2, per_face=overrides.get("texture") == "face")


def test_without_the_2d_branch_there_are_no_heatmap_keypoints():
    model = make_net(keypoint_branch=False).eval()
    with torch.no_grad():
        pred = model(images(1), intrinsics(1))
    assert pred.heatmap_keypoints is None
    assert "keypoints2d" not in model.parameter_groups()


# ---- the initial hand ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "rotation"), [("right", "rot6d"), ("left", "rot6d"), ("right", "axisang")]
)
def test_initial_hand_faces_the_camera_inside_the_image(side, rotation):
    model = make_net(side=side, rotation=rotation, keypoint_branch=False).eval()
    with torch.no_grad():
        pred = model(images(2), intrinsics(2))
    uv, joints = pred.keypoints2d, pred.joints
    margin = 0.1 * SIZE
    assert bool(((uv > margin) & (uv < SIZE - 1 - margin)).all()), "hand not inside the image"
    # centred on the optical axis at the original's depth
    centroid = pred.verts.mean(1)
    torch.testing.assert_close(centroid[:, 2], torch.full((2,), INITIAL_DEPTH), atol=0.01, rtol=0)
    assert bool((centroid[:, :2].abs() < 0.01).all())
    # fingers up in the image
    assert bool((uv[:, MIDDLE_TIP, 1] < uv[:, WRIST, 1] - 0.15 * SIZE).all())
    # palm towards the camera: the palm normal (index x pinky for a right hand, the mirror for a
    # left one, both pointing out of the palm in the rest frame) has negative depth
    index, pinky = joints[:, INDEX_MCP] - joints[:, WRIST], joints[:, PINKY_MCP] - joints[:, WRIST]
    palm = torch.linalg.cross(index, pinky) if side == "right" else torch.linalg.cross(pinky, index)
    assert bool((palm[:, 2] < -0.8 * palm.norm(dim=-1)).all())
    # and so the thumb is on the image's right for a right hand, on its left for a left hand
    thumb_right = uv[:, THUMB_TIP, 0] > uv[:, PINKY_TIP, 0]
    assert bool(thumb_right.all()) if side == "right" else not bool(thumb_right.any())
    # the global rotation starts at initial_rotation(side)
    rotation_matrix = axis_angle_to_matrix(pred.global_rot)
    torch.testing.assert_close(
        rotation_matrix, initial_rotation(side).expand(2, 3, 3), atol=0.01, rtol=0
    )


def test_initial_appearance_is_the_mean_skin_colour_under_a_headlight(prediction):
    torch.testing.assert_close(
        prediction.texture,
        torch.tensor(MEAN_SKIN_COLOUR).expand_as(prediction.texture),
        atol=0.01,
        rtol=0,
    )
    headlight = torch.tensor([0.5, 0.5, 1, 1, 1, 1, 1, 1, 0, 0, 1.0])
    torch.testing.assert_close(prediction.lights, headlight.expand(2, 11), atol=0.01, rtol=0)


# ---- the prediction follows its contract -----------------------------------------------------


def test_mesh_follows_the_camera_model_and_keypoints_the_projection(net, prediction):
    """X_cam = t + |s| R X_mano with the MANO root at zero; u = K X / Z (prediction.py)."""
    pred = prediction
    layer = ManoLayer(ncomps=30, flat_hand_mean=False, use_pca=True, units="m")
    coeffs = torch.cat([torch.zeros(2, 3), pred.pose_coeffs], dim=1)
    verts, joints = layer(coeffs, pred.betas)
    R = axis_angle_to_matrix(pred.global_rot)
    s = pred.scale.abs()[:, None, None]
    torch.testing.assert_close(
        pred.verts, pred.trans[:, None] + s * verts @ R.mT, atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        pred.joints, pred.trans[:, None] + s * joints @ R.mT, atol=1e-5, rtol=0
    )
    homogeneous = pred.joints @ intrinsics(2).mT
    torch.testing.assert_close(pred.keypoints2d, homogeneous[..., :2] / homogeneous[..., 2:])


def test_joint_angles_are_hand_mean_plus_pca_with_the_global_rotation_first(net, prediction):
    pred = prediction
    layer = net.hand_model
    hand = layer.th_hands_mean + pred.pose_coeffs @ layer.th_selected_comps
    torch.testing.assert_close(pred.joint_angles[:, 1:], hand.view(2, 15, 3))
    torch.testing.assert_close(pred.joint_angles[:, 0], pred.global_rot)


def test_mean_shape_option_gives_zero_betas_and_no_shape_head():
    model = make_net(predict_shape=False, keypoint_branch=False).eval()
    with torch.no_grad():
        pred = model(images(2), intrinsics(2))
    assert bool((pred.betas == 0).all())
    assert model.regressor.shape is None


def test_state_dict_carries_no_hand_model_data(net):
    assert not [key for key in net.state_dict() if key.startswith("hand_model.")]


# ---- robustness -----------------------------------------------------------------------------


def test_no_nan_for_extreme_images_and_cameras(net):
    size = 64
    batch = torch.stack([torch.zeros(3, size, size), torch.ones(3, size, size)])
    batch = torch.cat([batch, (images(2, size) > 0.5).float()])  # saturated noise
    K = intrinsics(4, size).clone()
    K[1, :2, :2] *= 1e4  # focal ~1e6 pixels
    K[2, :2, :2] *= 1e-6  # focal ~1e-4 pixels
    K[3, :2, 2] = -1e5  # principal point far outside the image
    net.train()
    pred = net(batch, K)
    net.eval()
    loss = sum(v.square().mean() for v in vars(pred).values() if torch.is_tensor(v))
    loss.backward()
    assert all(bool(torch.isfinite(v).all()) for v in vars(pred).values() if torch.is_tensor(v))
    assert all(bool(torch.isfinite(p.grad).all()) for p in net.parameters() if p.grad is not None)
    net.zero_grad(set_to_none=True)


@pytest.fixture(scope="module")
def small_net() -> HandNet:
    """Without the 2D branch, for tests that only need the 3D side."""
    return make_net(keypoint_branch=False)


@pytest.mark.parametrize(
    ("depth", "used_depth"), [(0.0, 0.01), (1e-9, 0.01), (-0.3, 0.01), (0.5, 0.5)]
)
def test_depth_is_clamped_before_projecting(small_net, depth, used_depth):
    """A zero-size hand at X = (0.01, 0, depth): u = f 0.01 / max(depth, MIN_DEPTH) + c."""
    head_trans, head_scale = small_net.regressor.trans[-1], small_net.regressor.scale[-1]
    saved = [t.detach().clone() for t in small_net.regressor.parameters()]
    with torch.no_grad():
        for layer in (head_trans, head_scale):
            layer.weight.zero_()
            layer.bias.zero_()
        head_trans.bias.copy_(torch.tensor([0.01, 0.0, depth]))
    pred = small_net.eval()(images(1, 64), intrinsics(1, 64))
    pred.keypoints2d.sum().backward()
    grads_finite = all(
        bool(torch.isfinite(p.grad).all()) for p in small_net.parameters() if p.grad is not None
    )
    with torch.no_grad():
        for param, value in zip(small_net.regressor.parameters(), saved, strict=True):
            param.copy_(value)
    small_net.zero_grad(set_to_none=True)
    f, c = 1.5 * 64, 63 / 2
    expected = torch.tensor([f * 0.01 / used_depth + c, c]).expand(1, 21, 2)
    torch.testing.assert_close(pred.keypoints2d, expected)
    assert grads_finite


@pytest.mark.parametrize(
    ("image", "K", "message"),
    [
        (torch.full((1, 3, SIZE, SIZE), float("nan")), intrinsics(1), "NaN"),
        (torch.full((1, 3, SIZE, SIZE), 255.0), intrinsics(1), r"in \[0, 1\]"),
        (images(1), torch.full((1, 3, 3), float("inf")), "K contains"),
        (images(1), intrinsics(2), r"K must be \(1, 3, 3\)"),
        (torch.rand(1, 3, 32, 32), intrinsics(1, 32), "at least 64"),
        (torch.rand(1, 3, 66, 66), intrinsics(1, 66), "multiples of its heatmap stride"),
        (torch.rand(1, 1, SIZE, SIZE), intrinsics(1), r"\(B, 3, H, W\)"),
    ],
    ids=["nan", "0-255", "K-inf", "K-batch", "tiny", "stride", "grey"],
)
def test_bad_inputs_raise_clear_errors(net, image, K, message):
    with pytest.raises(ValueError, match=message):
        net(image, K)


def test_batch_of_one_trains():
    model = make_net(encoder="efficientnet_b0").train()
    pred = model(images(1), intrinsics(1))
    (pred.keypoints2d.mean() + pred.heatmap_keypoints.mean()).backward()
    assert pred.verts.shape[0] == 1
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)


def test_autocast_keeps_geometry_in_float32():
    model = make_net(keypoint_branch=False).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model(images(1, 64), intrinsics(1, 64))
        reference = model(images(1, 64), intrinsics(1, 64))
    assert pred.verts.dtype == pred.keypoints2d.dtype == pred.texture.dtype == torch.float32
    assert bool(torch.isfinite(pred.keypoints2d).all())
    torch.testing.assert_close(pred.keypoints2d, reference.keypoints2d)


# ---- gradients and stage-wise training ------------------------------------------------------


def grads_by_group(model: HandNet) -> dict[str, bool]:
    """Whether any parameter of each group received a non-zero gradient."""
    return {
        name: any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)
        for name, params in model.parameter_groups().items()
    }


@pytest.mark.parametrize(
    ("output", "reached"),
    [
        ("keypoints2d", {"encoder3d", "regressor"}),
        ("texture", {"encoder3d", "appearance"}),
        ("lights", {"encoder3d", "appearance"}),
        ("heatmap_keypoints", {"keypoints2d"}),
    ],
)
def test_gradients_reach_exactly_the_groups_behind_each_output(net, output, reached):
    net.train()
    pred = net(images(2), intrinsics(2))
    getattr(pred, output).square().mean().backward()
    net.eval()
    got = grads_by_group(net)
    net.zero_grad(set_to_none=True)
    assert {name for name, has in got.items() if has} == reached


def test_parameter_groups_partition_the_parameters(net):
    groups = net.parameter_groups()
    assert set(groups) == set(GROUP_NAMES)
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in net.parameters()}


def test_set_trainable_freezes_exactly_the_other_groups():
    model = make_net()
    model.set_trainable({"regressor", "keypoints2d"})
    for name, params in model.parameter_groups().items():
        trainable = name in {"regressor", "keypoints2d"}
        assert all(p.requires_grad == trainable for p in params), name
    model.train()
    assert not model.encoder.training and not model.appearance.training
    assert model.regressor.training and model.keypoint_net.training
    # frozen BatchNorm statistics stay put in train mode
    running_mean = model.encoder.early[1].running_mean.clone()
    model(images(2), intrinsics(2))
    torch.testing.assert_close(model.encoder.early[1].running_mean, running_mean)
    model.set_trainable(set(GROUP_NAMES))
    assert all(p.requires_grad for p in model.parameters())
    assert model.encoder.training
    with pytest.raises(ValueError, match="unknown parameter groups"):
        model.set_trainable({"decoder"})


# ---- determinism and configuration -------------------------------------------------------------


def test_same_seed_same_network_and_global_rng_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = make_net(keypoint_branch=False, init_seed=7)
    torch.testing.assert_close(torch.rand(3), expected_next)
    second = make_net(keypoint_branch=False, init_seed=7)
    other = make_net(keypoint_branch=False, init_seed=8)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    assert not torch.equal(first.encoder.early[0].weight, other.encoder.early[0].weight)
    with torch.no_grad():
        torch.testing.assert_close(
            first.eval()(images(1), intrinsics(1)).verts,
            second.eval()(images(1), intrinsics(1)).verts,
        )


def test_config_validation_and_from_dict():
    with pytest.raises(ValueError, match="encoder must be one of"):
        ModelConfig(encoder="vgg16")
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({"encoder": "resnet18", "nstacks": 2})
    assert ModelConfig.from_dict({"texture": "face"}).texture == "face"


# ---- pretrained weights -------------------------------------------------------------------


def test_missing_weights_file_names_the_path_and_its_source(tmp_path):
    path = tmp_path / "resnet18.pth"
    with pytest.raises(FileNotFoundError, match=r"resnet18\.pth") as error:
        make_net(pretrained_weights=str(path))
    assert "download.pytorch.org" in str(error.value)


def test_weights_saved_from_a_fresh_encoder_load(tmp_path):
    torch.manual_seed(5)
    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = make_net(pretrained_weights=str(path), keypoint_branch=False)
    torch.testing.assert_close(model.encoder.early[0].weight, source.conv1.weight)
    torch.testing.assert_close(
        model.encoder.late[-1][-1].bn2.running_var, source.layer4[-1].bn2.running_var
    )
    # a headless state_dict (classifier removed) loads too
    headless = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    torch.save(headless, path)
    make_net(pretrained_weights=str(path), keypoint_branch=False)


def test_weights_of_another_encoder_are_refused(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=r"wrong\.pth: keys do not fit"):
        make_net(pretrained_weights=str(path), keypoint_branch=False)
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=r"wrong\.pth: tensor shapes do not fit"):
        make_net(pretrained_weights=str(path), keypoint_branch=False)
