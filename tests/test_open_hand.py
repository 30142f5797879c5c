"""The shipped open hand model: rebuilt bit for bit, rigged, shaped and posed sanely."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.hand_poses import FINGER_JOINTS, JOINT_LIMITS_HIGH, JOINT_LIMITS_LOW, NAMED_POSES

REPO = Path(__file__).resolve().parent.parent
ASSET = REPO / "s2h_lib" / "assets" / "open_hand_right.npz"
MIDDLE_MCP, MIDDLE_PIP, MIDDLE_TIP = 9, 10, 12  # FreiHAND order
INDEX_TIP = 8


@pytest.fixture(scope="module")
def asset() -> dict[str, np.ndarray]:
    with np.load(ASSET, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("open_hand")
    npz, sheet = out / "open_hand_right.npz", out / "sheet.png"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "data_scripts" / "build_open_hand.py"),
            "--out",
            str(npz),
            "--sheet",
            str(sheet),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return npz, sheet


def _layer(**kwargs) -> ManoLayer:
    return ManoLayer(mano_root=None, **kwargs).double()


def _pose(articulation: np.ndarray) -> torch.Tensor:
    pose = torch.zeros(1, 48, dtype=torch.float64)
    pose[0, 3:] = torch.from_numpy(articulation.reshape(-1))
    return pose


def test_rebuild_reproduces_committed_asset(rebuilt, asset):
    npz, sheet = rebuilt
    if npz.read_bytes() != ASSET.read_bytes():
        with np.load(npz, allow_pickle=False) as fresh:
            assert sorted(fresh.files) == sorted(asset)
            np.testing.assert_array_equal(fresh["f"], asset["f"], err_msg="topology changed")
            for key in asset:
                if key != "meta":
                    np.testing.assert_allclose(fresh[key], asset[key], atol=1e-9, err_msg=key)
    assert sheet.stat().st_size > 50_000, "contact sheet missing or empty"


def test_asset_is_small_and_documented(asset):
    assert ASSET.stat().st_size < 2_000_000
    meta = json.loads(str(asset["meta"]))
    assert "posedirs" in meta and "zero" in meta["posedirs"]
    assert not asset["posedirs"].any()


def test_surface_is_one_closed_outward_piece(asset):
    verts, faces = asset["v_template"], asset["f"]
    assert 700 <= len(verts) <= 1200
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert len(mesh.split(only_watertight=False)) == 1
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0, "faces must wind counter-clockwise seen from outside"
    assert mesh.area_faces.min() > 1e-8, "degenerate face"


def _winding_numbers(points: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Generalised winding number `(N,)` of a closed mesh at points `(N, 3)` (van Oosterom)."""
    tri = verts[faces][None] - points[:, None, None, :]  # (N, F, 3, 3)
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    numerator = np.einsum("nfi,nfi->nf", a, np.cross(b, c))
    denominator = (
        la * lb * lc
        + np.einsum("nfi,nfi->nf", a, b) * lc
        + np.einsum("nfi,nfi->nf", b, c) * la
        + np.einsum("nfi,nfi->nf", c, a) * lb
    )
    return 2.0 * np.arctan2(numerator, denominator).sum(axis=1) / (4.0 * np.pi)


def test_no_self_intersection_and_skeleton_inside(asset):
    verts, faces = asset["v_template"], asset["f"]
    rng = np.random.default_rng(0)
    low, high = verts.min(axis=0), verts.max(axis=0)
    probes = rng.uniform(low, high, size=(1500, 3))
    winding = _winding_numbers(probes, verts, faces)
    # A surface that folds through itself encloses regions counted twice (or negatively).
    assert np.all(np.abs(winding - np.round(winding)) < 0.02)
    assert set(np.round(winding).astype(int)) <= {0, 1}
    inside = _winding_numbers(asset["J"], verts, faces)
    np.testing.assert_allclose(inside, 1.0, atol=0.02, err_msg="every joint lies inside the hand")


def test_rig_is_well_formed(asset):
    weights, regressor = asset["weights"], asset["J_regressor"]
    assert weights.min() >= 0 and regressor.min() >= 0
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(regressor.sum(axis=1), 1.0, atol=1e-9)
    error = np.linalg.norm(regressor @ asset["v_template"] - asset["J"], axis=1)
    assert error.max() < 1e-3, "J_regressor reproduces the rest skeleton within 1 mm"
    edges = asset["f"][:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    jump = np.abs(weights[edges[:, 0]] - weights[edges[:, 1]]).max()
    assert jump < 0.5, f"skinning weights jump by {jump:.2f} across one edge"
    blended = (weights.max(axis=1) < 0.9).mean()
    assert blended > 0.1, "joints should blend over a band of vertices, not switch"


def test_proportions_are_adult():
    _, joints = _layer(use_pca=False, joints="regressed")(torch.zeros(1, 48, dtype=torch.float64))
    j = joints[0].numpy()
    assert 0.175 <= np.linalg.norm(j[MIDDLE_TIP] - j[0]) <= 0.19
    assert abs(np.linalg.norm(j[MIDDLE_PIP] - j[MIDDLE_MCP]) - 0.028) < 0.002


def test_rest_frame_reads_twist_splay_bend():
    layer = _layer(use_pca=False)
    _, rest = layer(torch.zeros(1, 48, dtype=torch.float64))
    mcp = FINGER_JOINTS["index"][0]
    bent, spread = np.zeros((15, 3)), np.zeros((15, 3))
    bent[mcp, 2] = 0.5
    spread[mcp, 1] = 0.2
    _, bent_joints = layer(_pose(bent))
    _, spread_joints = layer(_pose(spread))
    move_bend = (bent_joints - rest)[0, INDEX_TIP].numpy()
    move_splay = (spread_joints - rest)[0, INDEX_TIP].numpy()
    assert move_bend[1] < -0.01, "a positive bend curls the finger towards the palm (-y)"
    assert move_splay[2] > 0.005, "a positive splay swings the finger towards the thumb (+z)"


def test_pose_space_is_mano_like(asset):
    comps, mean, coeffs = asset["hands_components"], asset["hands_mean"], asset["hands_coeffs"]
    gram = comps @ comps.T
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-10)
    norms = np.sqrt(np.diag(gram))
    assert np.all(np.diff(norms) <= 1e-12), "components sorted by standard deviation"
    assert not np.allclose(norms, 1.0), "rows carry their standard deviation, as in MANO"
    np.testing.assert_allclose(coeffs.std(axis=0, ddof=1), 1.0, atol=1e-4)
    articulation = mean.reshape(15, 3)
    assert np.all(articulation >= JOINT_LIMITS_LOW - 1e-9)
    assert np.all(articulation <= JOINT_LIMITS_HIGH + 1e-9)
    long_finger_bends = np.rad2deg(articulation[:12, 2])
    assert 10 < long_finger_bends.mean() < 45, "hands_mean is a relaxed, slightly flexed hand"


def test_unit_betas_give_plausible_hands():
    layer = _layer(use_pca=False)
    generator = torch.Generator().manual_seed(0)
    betas = torch.randn(64, 10, generator=generator, dtype=torch.float64)
    _, joints = layer(torch.zeros(64, 48, dtype=torch.float64), betas)
    length = torch.linalg.norm(joints[:, MIDDLE_TIP] - joints[:, 0], dim=1).numpy()
    assert length.std() > 0.005, "betas change the hand"
    assert np.all((length > 0.14) & (length < 0.23))


@pytest.mark.parametrize("name", sorted(NAMED_POSES))
def test_named_poses_respect_joint_limits(name):
    pose = NAMED_POSES[name]
    assert np.all(pose >= JOINT_LIMITS_LOW - 1e-9) and np.all(pose <= JOINT_LIMITS_HIGH + 1e-9)


def test_fist_brings_fingertips_to_the_palm():
    layer = _layer(use_pca=False)
    _, flat = layer(_pose(NAMED_POSES["flat"]))
    _, fist = layer(_pose(NAMED_POSES["fist"]))
    tips = [8, 12, 16, 20]
    reach_flat = torch.linalg.norm(flat[0, tips] - flat[0, 0], dim=1)
    reach_fist = torch.linalg.norm(fist[0, tips] - fist[0, 0], dim=1)
    assert torch.all(reach_fist < 0.6 * reach_flat)
