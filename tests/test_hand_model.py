import ast
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MIRROR
from scipy.spatial.transform import Rotation

from s2h_lib.hand import mano_io
from s2h_lib.hand.hand_model import ManoLayer, axisang_to_pca, pca_to_axisang
from s2h_lib.hand.mano_data import MANO_PARENTS
from s2h_lib.hand.rotations import axis_angle_to_matrix, matrix_to_rotation_6d, mirror_axis_angle
from s2h_lib.hand.skeleton import (
    FREIHAND_BONES,
    FREIHAND_FROM_MANO,
    FREIHAND_PARENTS,
    FREIHAND_TIPS,
    freihand_to_mano,
    mano_to_freihand,
)

F64 = torch.float64
MIDDLE_TIP = 12  # FreiHAND index of the middle fingertip; the official left file moves it


def make_layer(root: Path, **kwargs) -> ManoLayer:
    return ManoLayer(mano_root=root, **kwargs).double()


def random_pose(layer: ManoLayer, batch: int, seed: int = 0, scale: float = 0.4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if layer.joint_rot_mode == "rotmat":
        aa = scale * torch.randn(batch, 16, 3, generator=g, dtype=F64)
        return axis_angle_to_matrix(aa)
    return scale * torch.randn(batch, layer.rot + layer.ncomps, generator=g, dtype=F64)


def random_betas(batch: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 10, generator=torch.Generator().manual_seed(seed), dtype=F64)


def pairwise(x: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, x)


# ---- joint orders and PCA -------------------------------------------------------------------


def test_joint_order_round_trips():
    g = torch.Generator().manual_seed(0)
    joints16, tips = torch.randn(4, 16, 3, generator=g), torch.randn(4, 5, 3, generator=g)
    keypoints = mano_to_freihand(joints16, tips)
    assert keypoints.shape == (4, 21, 3)
    back16, back_tips = freihand_to_mano(keypoints)
    torch.testing.assert_close(back16, joints16, rtol=0, atol=0)
    torch.testing.assert_close(back_tips, tips, rtol=0, atol=0)
    torch.testing.assert_close(mano_to_freihand(*freihand_to_mano(keypoints)), keypoints)


def test_joint_order_constants_agree_with_the_mano_tree():
    assert sorted(FREIHAND_FROM_MANO) == list(range(21))
    assert [FREIHAND_FROM_MANO[t] for t in FREIHAND_TIPS] == [16, 17, 18, 19, 20]
    for parent, child in FREIHAND_BONES:
        mano_child, mano_parent = FREIHAND_FROM_MANO[child], FREIHAND_FROM_MANO[parent]
        if child in FREIHAND_TIPS:  # a tip hangs off the last joint of its finger
            assert mano_parent in (3, 6, 9, 12, 15)
        else:
            assert MANO_PARENTS[mano_child] == max(mano_parent, 0)
    assert len(FREIHAND_BONES) == 20 and FREIHAND_PARENTS[0] == -1


def pose_space(arrays, ncomps: int) -> tuple[torch.Tensor, torch.Tensor]:
    comps = torch.from_numpy(arrays["hands_components"][:ncomps])
    return comps, torch.from_numpy(arrays["hands_mean"])


@pytest.mark.parametrize("ncomps", [45, 12])
def test_pca_round_trip(hand_arrays, ncomps):
    comps, mean = pose_space(hand_arrays, ncomps)
    assert not torch.allclose(comps.norm(dim=1), torch.ones(ncomps, dtype=F64))
    coeffs = torch.randn(8, ncomps, dtype=F64, generator=torch.Generator().manual_seed(1))
    pose = pca_to_axisang(coeffs, comps, mean)
    torch.testing.assert_close(axisang_to_pca(pose, comps, mean), coeffs)


def test_pca_projection_is_least_squares_with_fewer_components(hand_arrays):
    comps, mean = pose_space(hand_arrays, 10)
    pose = torch.randn(5, 45, dtype=F64, generator=torch.Generator().manual_seed(2))
    fit = pca_to_axisang(axisang_to_pca(pose, comps, mean), comps, mean)
    residual = pose - fit
    torch.testing.assert_close(residual @ comps.T, torch.zeros(5, 10, dtype=F64))
    assert residual.norm() > 0.1  # 10 components cannot explain a random pose


# ---- forward ----------------------------------------------------------------------------------


def textbook_mano(arrays, pose48: np.ndarray, betas: np.ndarray, regressed: bool) -> tuple:
    """One hand straight from the MANO paper, in float64 numpy: (V, 3) verts, (21, 3) joints."""
    R = Rotation.from_rotvec(pose48.reshape(16, 3)).as_matrix()
    shaped = arrays["v_template"] + arrays["shapedirs"] @ betas
    J = arrays["J_regressor"] @ shaped
    posed = shaped + arrays["posedirs"] @ (R[1:] - np.eye(3)).ravel()

    def affine(rotation, translation):
        return np.block([[rotation, translation[:, None]], [np.zeros((1, 3)), np.ones((1, 1))]])

    world = [affine(R[0], J[0])]
    for j in range(1, 16):
        world.append(world[MANO_PARENTS[j]] @ affine(R[j], J[j] - J[MANO_PARENTS[j]]))
    skinning = np.stack([G @ affine(np.eye(3), -J[j]) for j, G in enumerate(world)])
    T = np.einsum("vj,jab->vab", arrays["weights"], skinning)
    verts = np.einsum("vab,vb->va", T[:, :3, :3], posed) + T[:, :3, 3]
    joints16 = arrays["J_regressor"] @ verts if regressed else np.stack([G[:3, 3] for G in world])
    stacked = np.concatenate([joints16, verts[arrays["tip_vertex_ids"]]])
    return verts, stacked[list(FREIHAND_FROM_MANO)]


@pytest.mark.parametrize("joints", ["skeleton", "regressed"])
def test_matches_a_textbook_reference(open_npz, hand_arrays, joints):
    layer = make_layer(open_npz, use_pca=False, joints=joints)
    pose, betas = 0.6 * random_pose(layer, 3, seed=24) / 0.4, random_betas(3)
    verts, keypoints = layer(pose, betas)
    for i in range(3):
        expected = textbook_mano(
            hand_arrays, pose[i].numpy(), betas[i].numpy(), joints != "skeleton"
        )
        np.testing.assert_allclose(verts[i].numpy(), expected[0], atol=1e-6, rtol=0)
        np.testing.assert_allclose(keypoints[i].numpy(), expected[1], atol=1e-6, rtol=0)
    assert (verts - layer(torch.zeros_like(pose), betas)[0]).abs().max() > 0.01  # really posed


def test_zero_pose_gives_the_template(open_npz, hand_arrays):
    layer = make_layer(open_npz)
    verts, joints = layer(torch.zeros(2, 9, dtype=F64))
    template = torch.from_numpy(hand_arrays["v_template"])
    torch.testing.assert_close(verts, template.expand(2, -1, -1))
    joints16, tips = freihand_to_mano(joints)
    torch.testing.assert_close(joints16[0], torch.from_numpy(hand_arrays["J"]))
    torch.testing.assert_close(tips[0], template[hand_arrays["tip_vertex_ids"]])


def test_zero_coefficients_give_the_hands_mean_pose(open_npz):
    meaned = make_layer(open_npz, flat_hand_mean=False, ncomps=6)
    flat = make_layer(open_npz, use_pca=False)
    pose = torch.cat([torch.zeros(1, 3, dtype=F64), meaned.th_hands_mean], 1)
    expected = flat(pose)
    got = meaned(torch.zeros(1, 9, dtype=F64))
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
    assert (got[0] - flat(torch.zeros(1, 48, dtype=F64))[0]).abs().max() > 1e-3


def test_global_rotation_is_rigid_about_the_wrist(open_npz):
    layer = make_layer(open_npz, use_pca=False)
    pose = random_pose(layer, 1, seed=3)
    pose[:, :3] = 0
    rest_verts, rest_joints = layer(pose, random_betas(1))
    root = torch.tensor([[0.3, -1.1, 0.7]], dtype=F64)
    rotated_verts, rotated_joints = layer(torch.cat([root, pose[:, 3:]], 1), random_betas(1))
    R, wrist = axis_angle_to_matrix(root)[0], rest_joints[0, 0]
    torch.testing.assert_close(rotated_joints[0, 0], wrist)
    torch.testing.assert_close(rotated_verts[0], (rest_verts[0] - wrist) @ R.T + wrist)
    torch.testing.assert_close(pairwise(rotated_verts), pairwise(rest_verts))


@pytest.mark.parametrize(
    "options",
    [
        {"use_pca": True, "ncomps": 6, "flat_hand_mean": False},
        {"use_pca": False, "center_idx": 9},
        {"use_pca": True, "root_rot_mode": "rot6d", "robust_rot": True, "joints": "regressed"},
        {"use_pca": False, "joint_rot_mode": "rotmat", "flat_hand_mean": False},
    ],
)
def test_gradcheck_through_the_layer(open_npz, options):
    layer = make_layer(open_npz, **options)
    pose = random_pose(layer, 2, seed=4).requires_grad_()
    betas = (0.5 * random_betas(2)).requires_grad_()
    trans = torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.05, -0.1]], dtype=F64).requires_grad_()

    def run(pose, betas, trans):
        return layer(pose, betas, trans)

    assert torch.autograd.gradcheck(run, (pose, betas, trans), fast_mode=True)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_gradcheck_rotmat_at_exact_and_noisy_rotations(open_npz, noise):
    layer = make_layer(open_npz, use_pca=False, joint_rot_mode="rotmat")
    g = torch.Generator().manual_seed(22)
    pose = random_pose(layer, 1, seed=22) + noise * torch.randn(1, 16, 3, 3, generator=g, dtype=F64)
    assert torch.autograd.gradcheck(lambda p: layer(p), (pose.requires_grad_(),), fast_mode=True)


@pytest.mark.parametrize("joints", ["skeleton", "regressed"])
def test_gradcheck_with_centring_and_no_trans(open_npz, joints):
    layer = make_layer(open_npz, use_pca=False, center_idx=12, joints=joints)
    pose = random_pose(layer, 2, seed=5).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: layer(p), (pose,), fast_mode=True)
    # the full Jacobian too, on the joints (few outputs, so cheap)
    assert torch.autograd.gradcheck(lambda p: layer(p)[1], (pose,))


def test_double_backward_is_refused_not_wrong(open_npz):
    layer = make_layer(open_npz, use_pca=False)
    pose = random_pose(layer, 1, seed=23).requires_grad_()
    (grad,) = torch.autograd.grad(layer(pose)[0].square().sum(), pose, create_graph=True)
    with pytest.raises(RuntimeError, match=r"once_differentiable|double backward"):
        grad.sum().backward()


def test_gradient_is_finite_at_the_zero_pose(open_npz):
    layer = ManoLayer(mano_root=open_npz, use_pca=False, center_idx=9)
    pose = torch.zeros(3, 48, requires_grad=True)
    verts, joints = layer(pose)
    (verts.sum() + joints.square().sum()).backward()
    assert torch.isfinite(pose.grad).all()
    assert pose.grad.abs().sum() > 0


def test_millimetres_are_a_thousand_metres(open_npz):
    metres = make_layer(open_npz, center_idx=9)
    millimetres = make_layer(open_npz, center_idx=9, units="mm")
    pose, betas = random_pose(metres, 2, seed=6), random_betas(2)
    trans = torch.tensor([[0.1, 0.2, 0.3], [0.0, 0.0, 0.0]], dtype=F64)
    for m, mm in zip(metres(pose, betas, trans), millimetres(pose, betas, trans), strict=True):
        torch.testing.assert_close(mm, 1000 * m)


def test_centring_is_decided_per_sample(open_npz):
    centred = make_layer(open_npz, center_idx=9)
    plain = make_layer(open_npz)
    pose, betas = random_pose(centred, 2, seed=7), random_betas(2)
    trans = torch.tensor([[0.0, 0.0, 0.0], [0.1, -0.2, 0.3]], dtype=F64)
    verts, joints = centred(pose, betas, trans)
    raw_verts, raw_joints = plain(pose, betas)
    torch.testing.assert_close(joints[0, 9], torch.zeros(3, dtype=F64))
    torch.testing.assert_close(verts[0], raw_verts[0] - raw_joints[0, 9])
    torch.testing.assert_close(verts[1], raw_verts[1] + trans[1])
    torch.testing.assert_close(joints[1], raw_joints[1] + trans[1])
    none_verts, _ = centred(pose, betas)
    torch.testing.assert_close(none_verts, raw_verts - raw_joints[:, 9:10])


def test_center_idx_minus_one_is_the_pinky_tip(open_npz):
    layer = make_layer(open_npz, center_idx=-1)
    _, joints = layer(random_pose(layer, 1, seed=8))
    torch.testing.assert_close(joints[0, 20], torch.zeros(3, dtype=F64))


def test_regressed_joints_differ_from_skeleton_joints(open_npz):
    skeleton = make_layer(open_npz)
    regressed = make_layer(open_npz, joints="regressed")
    pose, betas = random_pose(skeleton, 3, seed=9), random_betas(3)
    verts, skeleton_joints = skeleton(pose, betas)
    _, regressed_joints = regressed(pose, betas)
    assert regressed_joints.shape == skeleton_joints.shape == (3, 21, 3)
    assert (regressed_joints - skeleton_joints).norm(dim=-1).mean() > 1e-4
    joints16, _ = freihand_to_mano(regressed_joints)
    torch.testing.assert_close(joints16, regressed.th_J_regressor @ verts)


def test_official_files_use_different_tips_per_joint_mode(mano_dir):
    skeleton = make_layer(mano_dir)
    regressed = make_layer(mano_dir, joints="regressed")
    assert skeleton.tip_vertex_ids == (745, 317, 444, 556, 673)
    assert regressed.tip_vertex_ids == (744, 320, 443, 555, 672)
    verts, joints = regressed(random_pose(regressed, 1, seed=10))
    torch.testing.assert_close(joints[0, list(FREIHAND_TIPS)], verts[0, [744, 320, 443, 555, 672]])


@pytest.mark.parametrize("options", [{}, {"use_pca": False, "joint_rot_mode": "rotmat"}])
def test_batch_equals_single_samples(open_npz, options):
    layer = make_layer(open_npz, center_idx=4, **options)
    pose, betas = random_pose(layer, 4, seed=11), random_betas(4)
    trans = torch.tensor([[0.1, 0, 0], [0, 0, 0], [0, 0.2, 0], [0, 0, 0]], dtype=F64)
    verts, joints = layer(pose, betas, trans)
    for i in range(4):
        v, j = layer(pose[i : i + 1], betas[i : i + 1], trans[i : i + 1])
        torch.testing.assert_close(v[0], verts[i])
        torch.testing.assert_close(j[0], joints[i])


def test_shared_betas_broadcast_over_the_batch(open_npz):
    layer = make_layer(open_npz)
    pose, betas = random_pose(layer, 3, seed=12), random_betas(1)
    torch.testing.assert_close(layer(pose, betas)[0], layer(pose, betas.expand(3, -1))[0])
    torch.testing.assert_close(layer(pose)[0], layer(pose, torch.zeros(1, dtype=F64))[0])


def test_float32_and_float64(open_npz):
    layer32 = ManoLayer(mano_root=open_npz, use_pca=False)
    pose = random_pose(layer32, 2, seed=13)
    verts32, joints32 = layer32(pose.float())
    assert verts32.dtype == joints32.dtype == torch.float32
    assert layer32.th_v_template.dtype == torch.float32
    layer64 = layer32.double()
    assert layer64.th_faces.dtype == torch.long
    verts64, joints64 = layer64(pose)
    assert verts64.dtype == joints64.dtype == F64
    torch.testing.assert_close(verts32.double(), verts64, atol=1e-6, rtol=0)
    torch.testing.assert_close(joints32.double(), joints64, atol=1e-6, rtol=0)


def test_rotmat_mode_matches_axis_angle_mode(open_npz):
    axisang = make_layer(open_npz, use_pca=False, flat_hand_mean=False)
    rotmat = make_layer(open_npz, use_pca=False, flat_hand_mean=False, joint_rot_mode="rotmat")
    pose = random_pose(axisang, 2, seed=14)
    mean = axisang.th_hands_mean.view(15, 3)
    # with the mean applied as R_mean @ R_given, a given identity is exactly the mean pose
    identity = torch.eye(3, dtype=F64).expand(2, 16, 3, 3).clone()
    identity[:, 0] = axis_angle_to_matrix(pose[:, :3])
    expected = axisang(torch.cat([pose[:, :3], torch.zeros(2, 45, dtype=F64)], 1))
    for a, b in zip(rotmat(identity), expected, strict=True):
        torch.testing.assert_close(a, b)
    # and a given rotation composes after the mean
    given = axis_angle_to_matrix(pose[:, 3:].view(2, 15, 3))
    out = rotmat.forward_full(torch.cat([identity[:, :1], given], 1))
    torch.testing.assert_close(out.rotations[:, 1:], axis_angle_to_matrix(mean) @ given)


def test_rotmat_mode_projects_noisy_matrices(open_npz):
    layer = make_layer(open_npz, use_pca=False, joint_rot_mode="rotmat")
    clean = random_pose(layer, 2, seed=15)
    noisy = clean + 1e-3 * torch.randn(clean.shape, dtype=F64, generator=torch.Generator())
    rotations = layer.forward_full(noisy).rotations
    eye = torch.eye(3, dtype=F64).expand_as(rotations)
    torch.testing.assert_close(rotations.transpose(-1, -2) @ rotations, eye)
    torch.testing.assert_close(torch.det(rotations), torch.ones(2, 16, dtype=F64))


@pytest.mark.parametrize("robust_rot", [False, True])
def test_6d_root_matches_the_axis_angle_root(open_npz, robust_rot):
    axisang = make_layer(open_npz)
    rot6d = make_layer(open_npz, root_rot_mode="rot6d", robust_rot=robust_rot)
    pose = random_pose(axisang, 2, seed=16)
    d6 = matrix_to_rotation_6d(axis_angle_to_matrix(pose[:, :3]))
    for a, b in zip(rot6d(torch.cat([d6, pose[:, 3:]], 1)), axisang(pose), strict=True):
        torch.testing.assert_close(a, b)


def test_forward_full_exposes_rotations_and_axis_angles(open_npz):
    layer = make_layer(open_npz, ncomps=12, flat_hand_mean=False)
    pose, betas = random_pose(layer, 2, seed=17), random_betas(2)
    out = layer.forward_full(pose, betas)
    verts, joints = layer(pose, betas)
    torch.testing.assert_close(out.verts, verts)
    torch.testing.assert_close(out.joints, joints)
    hand = pca_to_axisang(pose[:, 3:], layer.th_selected_comps, layer.th_hands_mean[0])
    torch.testing.assert_close(out.axis_angle[:, 0], pose[:, :3])
    torch.testing.assert_close(out.axis_angle[:, 1:].reshape(2, 45), hand)
    torch.testing.assert_close(out.rotations, axis_angle_to_matrix(out.axis_angle))


def test_left_hand_is_the_mirrored_right_hand(mano_dir):
    options = {"ncomps": 12, "flat_hand_mean": False}
    right, left = make_layer(mano_dir, **options), make_layer(mano_dir, side="left", **options)
    pose, betas = random_pose(right, 2, seed=18), random_betas(2)
    mirrored_pose = torch.cat([mirror_axis_angle(pose[:, :3]), pose[:, 3:]], 1)
    right_verts, right_joints = right(pose, betas)
    left_verts, left_joints = left(mirrored_pose, betas)
    mirror = torch.from_numpy(MIRROR)
    torch.testing.assert_close(left_verts, right_verts * mirror)
    others = [k for k in range(21) if k != MIDDLE_TIP]
    torch.testing.assert_close(left_joints[:, others], right_joints[:, others] * mirror)
    torch.testing.assert_close(left_joints[:, MIDDLE_TIP], left_verts[:, 445])
    torch.testing.assert_close(left.faces, right.faces.flip(-1))


def test_open_model_left_is_the_mirrored_right(monkeypatch, open_npz):
    monkeypatch.setattr(mano_io, "OPEN_MODEL_PATH", open_npz)
    right = ManoLayer(use_pca=False, flat_hand_mean=False).double()
    left = ManoLayer(side="left", use_pca=False, flat_hand_mean=False).double()
    pose = random_pose(right, 2, seed=19)
    right_verts, right_joints = right(pose, random_betas(2))
    mirrored_pose = mirror_axis_angle(pose.view(2, 16, 3)).view(2, 48)
    left_verts, left_joints = left(mirrored_pose, random_betas(2))
    mirror = torch.from_numpy(MIRROR)
    torch.testing.assert_close(left_verts, right_verts * mirror)
    torch.testing.assert_close(left_joints, right_joints * mirror)


def test_buffers_keep_manopth_names_and_shapes(open_npz, hand_arrays):
    layer = ManoLayer(mano_root=open_npz, ncomps=10)
    V = len(hand_arrays["v_template"])
    shapes = {
        "th_v_template": (1, V, 3),
        "th_faces": (len(hand_arrays["f"]), 3),
        "th_J_regressor": (16, V),
        "th_weights": (V, 16),
        "th_posedirs": (V, 3, 135),
        "th_shapedirs": (V, 3, 10),
        "th_comps": (45, 45),
        "th_selected_comps": (10, 45),
        "th_hands_mean": (1, 45),
        "th_betas": (1, 10),
    }
    for name, shape in shapes.items():
        assert tuple(getattr(layer, name).shape) == shape, name
    assert layer.num_verts == V
    assert layer.faces is layer.th_faces
    assert not any(name.startswith("th_") for name in layer.state_dict())


# ---- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"side": "middle"}, "side must be 'right' or 'left', got 'middle'"),
        ({"ncomps": 50}, r"ncomps must be an integer in \[1, 45\], got 50"),
        ({"ncomps": 0}, "ncomps must be"),
        ({"joint_rot_mode": "x", "use_pca": False}, "joint_rot_mode must be one of"),
        ({"root_rot_mode": "quat"}, "root_rot_mode must be one of 'axisang', 'rot6d'"),
        ({"joint_rot_mode": "rotmat"}, "needs use_pca=False"),
        ({"units": "cm"}, "units must be one of 'm', 'mm'"),
        ({"joints": "openpose"}, "joints must be one of 'skeleton', 'regressed'"),
        ({"center_idx": 21}, "center_idx must be None or an index"),
    ],
)
def test_bad_constructor_arguments(open_npz, options, message):
    with pytest.raises(ValueError, match=message):
        ManoLayer(mano_root=open_npz, **options)


@pytest.mark.parametrize(
    ("options", "shape", "message"),
    [
        ({}, (2, 10), r"\(B, 9\): 3 root axis-angle values then 6 PCA coefficients; got \(2, 10\)"),
        ({"use_pca": False}, (2, 16, 3), r"\(B, 48\).*45 joint axis-angle values"),
        ({"root_rot_mode": "rot6d"}, (2, 9), r"\(B, 12\): 6 root 6D values"),
        ({"use_pca": False, "joint_rot_mode": "rotmat"}, (2, 48), r"\(B, 16, 3, 3\)"),
    ],
)
def test_wrong_pose_shape_names_the_expected_shape(open_npz, options, shape, message):
    layer = ManoLayer(mano_root=open_npz, **options)
    with pytest.raises(ValueError, match=message):
        layer(torch.zeros(shape))


def test_wrong_betas_and_trans_shapes(open_npz):
    layer = ManoLayer(mano_root=open_npz)
    with pytest.raises(ValueError, match=r"betas must have shape \(2, 10\) or \(1, 10\)"):
        layer(torch.zeros(2, 9), torch.zeros(2, 8))
    with pytest.raises(ValueError, match=r"trans must have shape \(2, 3\)"):
        layer(torch.zeros(2, 9), None, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="floating-point tensor"):
        layer(torch.zeros(2, 9, dtype=torch.long))


def test_missing_mano_root_fails_with_the_download_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match=mano_io.MANO_URL):
        ManoLayer(mano_root=tmp_path / "mano" / "models")


def test_source_has_no_cuda_calls():
    for module in (
        "hand_model",
        "skeleton",
        "skinning",
        "rotations",
        "mano_io",
        "mano_data",
        "mano_pickle",
    ):
        tree = ast.parse((Path(mano_io.__file__).parent / f"{module}.py").read_text())
        calls = [
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        ]
        assert "cuda" not in calls, module


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda(open_npz):
    layer = ManoLayer(mano_root=open_npz, center_idx=9).cuda()
    pose = torch.randn(4, 9, device="cuda", requires_grad=True)
    verts, joints = layer(pose)
    (verts.sum() + joints.sum()).backward()
    cpu_verts, _ = layer.cpu()(pose.detach().cpu())
    torch.testing.assert_close(verts.cpu(), cpu_verts, atol=1e-5, rtol=0)


@pytest.mark.skipif(not mano_io.OPEN_MODEL_PATH.is_file(), reason="open hand asset not built yet")
def test_shipped_open_model_runs():
    layer = ManoLayer(center_idx=9, use_pca=False)
    pose = 0.3 * torch.randn(2, 48, generator=torch.Generator().manual_seed(20))
    verts, joints = layer(pose)
    assert verts.shape == (2, layer.num_verts, 3) and joints.shape == (2, 21, 3)
    assert torch.isfinite(verts).all()
    hand_size = (joints[:, 12] - joints[:, 0]).norm(dim=-1)  # wrist to middle tip
    assert ((hand_size > 0.1) & (hand_size < 0.3)).all()


# ---- parity with manopth (only where it is installed, with the official files) ----------------

MANO_ROOT = os.environ.get("S2H_MANO_ROOT")
needs_manopth = pytest.mark.skipif(
    importlib.util.find_spec("manopth") is None or not MANO_ROOT,
    reason="needs manopth installed and S2H_MANO_ROOT pointing at MANO's models/ folder; "
    "both stay out of CI (manopth is not on PyPI, MANO's licence forbids shipping its files)",
)


@needs_manopth
@pytest.mark.parametrize(
    ("side", "options"),
    [
        ("right", {"use_pca": True, "ncomps": 6, "flat_hand_mean": True}),
        ("right", {"use_pca": True, "ncomps": 45, "flat_hand_mean": False}),
        ("right", {"use_pca": False, "flat_hand_mean": False}),
        ("right", {"use_pca": True, "ncomps": 30, "root_rot_mode": "rot6d"}),
        ("right", {"use_pca": False, "center_idx": 9}),
        ("left", {"use_pca": True, "ncomps": 45, "flat_hand_mean": False}),
    ],
)
def test_parity_with_manopth(side, options):
    from manopth.manolayer import ManoLayer as ManopthLayer

    theirs = ManopthLayer(mano_root=MANO_ROOT, side=side, **options).double()
    ours = ManoLayer(mano_root=MANO_ROOT, side=side, units="mm", **options).double()
    g = torch.Generator().manual_seed(21)
    pose = 0.5 * torch.randn(4, ours.rot + ours.ncomps, generator=g, dtype=F64)
    # manopth's left shapedirs lack the x-sign fix, so only the mean shape can agree there
    betas = torch.randn(4, 10, generator=g, dtype=F64) if side == "right" else None
    # with trans the layers translate; without it they centre on center_idx
    trans = None if "center_idx" in options else 0.1 * torch.randn(4, 3, generator=g, dtype=F64)
    their_betas = torch.zeros(1, dtype=F64) if betas is None else betas  # manopth's "none"
    their_trans = torch.zeros(1, dtype=F64) if trans is None else trans
    their_verts, their_joints = theirs(pose, their_betas, their_trans)
    our_verts, our_joints = ours(pose, betas, trans)
    torch.testing.assert_close(our_verts, their_verts, atol=1e-5, rtol=0)
    torch.testing.assert_close(our_joints, their_joints, atol=1e-5, rtol=0)
