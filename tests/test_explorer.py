"""The hand explorer: its articulation formula, its static figures, and its widget's sliders."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.hand_poses import NAMED_POSES
from s2h_lib.viz.explorer import JOINT_NAMES, HandExplorer


@pytest.fixture(scope="module")
def layer() -> ManoLayer:
    return ManoLayer(use_pca=False, flat_hand_mean=False)


@pytest.fixture()
def explorer(layer: ManoLayer) -> HandExplorer:
    return HandExplorer(layer, n_pca=3, n_betas=2)


def test_joint_names_follow_mano_order():
    assert JOINT_NAMES[:3] == ("index MCP", "index PIP", "index DIP")
    assert JOINT_NAMES[6] == "pinky MCP" and JOINT_NAMES[9] == "ring MCP"
    assert JOINT_NAMES[12:] == ("thumb CMC", "thumb MCP", "thumb IP")


def test_layer_with_its_own_pca_is_refused():
    with pytest.raises(ValueError, match="use_pca=False, flat_hand_mean=False"):
        HandExplorer(ManoLayer(use_pca=True, ncomps=6))


def test_slider_counts_are_checked(layer: ManoLayer):
    with pytest.raises(ValueError, match="n_pca must be in"):
        HandExplorer(layer, n_pca=0)
    with pytest.raises(ValueError, match="n_betas must be in"):
        HandExplorer(layer, n_betas=11)


def test_mesh_equals_the_layer_driven_by_its_own_pca(explorer: HandExplorer):
    """The explorer's PCA must be MANO's: compare with a PCA layer given the same numbers."""
    explorer.set_pca(0, 1.5)
    explorer.set_pca(2, -0.7)
    explorer.set_beta(1, 2.0)
    verts, joints = explorer.mesh()
    pca_layer = ManoLayer(use_pca=True, ncomps=3, flat_hand_mean=False)
    pose = torch.tensor([[0.0, 0.0, 0.0, 1.5, 0.0, -0.7]])
    betas = torch.zeros(1, 10)
    betas[0, 1] = 2.0
    with torch.no_grad():
        expected_verts, expected_joints = pca_layer(pose, betas)
    np.testing.assert_allclose(verts, expected_verts[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(joints, expected_joints[0].numpy(), atol=1e-6)
    assert verts.dtype == np.float32 and joints.shape == (21, 3)


def test_joint_angle_sets_the_total_angle_on_top_of_pca(explorer: HandExplorer):
    explorer.set_pca(0, 2.0)
    before = explorer.articulation().copy()
    explorer.set_joint_angle(4, 2, 37.0)
    after = explorer.articulation()
    assert np.rad2deg(after[4, 2]) == pytest.approx(37.0)
    changed = np.abs(after - before) > 1e-12
    assert changed.sum() == 1 and changed[4, 2]


def test_named_pose_is_set_exactly(explorer: HandExplorer):
    explorer.set_pca(1, 1.0)
    explorer.set_named_pose("fist")
    np.testing.assert_allclose(explorer.articulation(), NAMED_POSES["fist"], atol=1e-12)
    assert not explorer.state.pca.any()
    with pytest.raises(ValueError, match="unknown pose 'claw'; named poses: flat"):
        explorer.set_named_pose("claw")


def test_reset_returns_to_the_mean(explorer: HandExplorer):
    explorer.set_named_pose("point")
    explorer.set_beta(0, 1.0)
    explorer.reset()
    np.testing.assert_allclose(explorer.articulation(), explorer.hands_mean)
    assert not explorer.state.betas.any()


def test_static_figure_is_a_plain_figure_in_millimetres(explorer: HandExplorer):
    figure = explorer.figure()
    assert type(figure) is go.Figure
    assert [trace.type for trace in figure.data] == ["mesh3d"] + ["scatter3d"] * 5
    verts, _ = explorer.mesh()
    np.testing.assert_allclose(figure.data[0].x, verts[:, 0] * 1000, rtol=1e-6)
    assert figure.data[0].x.dtype == np.float32
    # the fixed axes contain the hand even when it is posed
    explorer.set_named_pose("spread")
    spread, _ = explorer.mesh()
    low, high = figure.layout.scene.xaxis.range
    assert low < spread[:, 0].min() * 1000 and spread[:, 0].max() * 1000 < high


def test_sweep_figure_has_one_frame_per_value_and_keeps_the_state(explorer: HandExplorer):
    explorer.set_beta(0, 0.5)
    state = explorer.articulation().copy(), explorer.state.betas.copy()
    figure = explorer.sweep_figure("pca", 1, [-1.0, 0.0, 1.0])
    assert [frame.name for frame in figure.frames] == ["-1.00", "+0.00", "+1.00"]
    assert len(figure.layout.sliders[0].steps) == 3
    assert figure.layout.sliders[0].active == 1  # pca 2 is 0 now: the middle step
    np.testing.assert_allclose(explorer.articulation(), state[0])
    np.testing.assert_allclose(explorer.state.betas, state[1])
    explorer.set_pca(1, 1.0)
    verts, _ = explorer.mesh()
    np.testing.assert_allclose(figure.frames[2].data[0].x, verts[:, 0] * 1000, rtol=1e-6)
    with pytest.raises(ValueError, match="kind must be 'pca' or 'beta'"):
        explorer.sweep_figure("shape", 0, [0.0])


def test_widget_sliders_move_the_figure_widget(explorer: HandExplorer):
    box = explorer.widget()
    assert "s2h-explorer" in box._dom_classes
    figure = explorer.figure_widget
    before = np.array(figure.data[0].x)
    slider = explorer.controls["pca0"]
    assert slider.continuous_update is False
    slider.value = 2.0  # what a user's drag does
    assert explorer.state.pca[0] == 2.0
    after = np.array(figure.data[0].x)
    assert np.abs(after - before).max() > 1.0  # millimetres
    assert explorer.controls["status"].value.startswith("mesh update: ")


def test_choosing_a_joint_shows_its_angles_without_moving_the_hand(explorer: HandExplorer):
    explorer.widget()
    explorer.set_named_pose("fist")
    before = np.array(explorer.figure_widget.data[0].x)
    explorer.controls["joint"].value = 12  # thumb CMC
    angles = [slider.value for slider in explorer.controls["angles"]]
    np.testing.assert_allclose(angles, np.rad2deg(NAMED_POSES["fist"][12]), atol=1e-6)
    np.testing.assert_array_equal(np.array(explorer.figure_widget.data[0].x), before)
    assert "limits: twist [0, 90]" in explorer.controls["limits"].value
    explorer.controls["angles"][2].value = 10.0  # bend the thumb's CMC by hand
    assert np.rad2deg(explorer.articulation()[12, 2]) == pytest.approx(10.0)


def test_set_articulation_checks_its_shape(explorer: HandExplorer):
    angles = np.full((15, 3), 0.1)
    explorer.set_articulation(angles)
    np.testing.assert_allclose(explorer.articulation(), angles)
    with pytest.raises(ValueError, match=r"angles must have shape \(15, 3\), got \(45,\)"):
        explorer.set_articulation(np.zeros(45))


def test_sweep_leaves_a_live_widget_alone(explorer: HandExplorer):
    explorer.widget()
    explorer.controls["pca0"].value = 1.0
    shown = np.array(explorer.figure_widget.data[0].x)
    explorer.sweep_figure("beta", 0, [-2.0, 2.0])
    np.testing.assert_array_equal(np.array(explorer.figure_widget.data[0].x), shown)
    assert explorer.controls["pca0"].value == 1.0
