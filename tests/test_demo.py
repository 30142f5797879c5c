"""The demo and the pictures it is made of."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.viz.figures import SKIN_RGB, contact_sheet, mesh_figure
from s2h_lib.viz.mano_poses import run_demo, sample_pose_space


def test_demo_writes_a_sheet_and_an_interactive_page(tmp_path: Path):
    written = list(run_demo(tmp_path, seed=3))
    assert [p.name for p in written] == ["pose_space_samples.png", "hand_3d.html"]
    image = plt.imread(written[0])[..., :3]
    skin = np.abs(image - SKIN_RGB).max(axis=-1) < 0.25
    assert 0.02 < skin.mean() < 0.6, "the sheet shows hands on a white page"
    page = written[1].read_text()
    assert "mesh3d" in page.lower() and len(page) > 100_000, "a self-contained plotly page"


def test_pose_space_samples_are_seeded_and_varied():
    layer = ManoLayer(use_pca=True, ncomps=45, flat_hand_mean=False)
    a = sample_pose_space(layer, 4, seed=1)
    b = sample_pose_space(layer, 4, seed=1)
    c = sample_pose_space(layer, 4, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.all(a[:, :3] == 0), "no global rotation"


def test_contact_sheet_shares_one_scale_across_rows():
    layer = ManoLayer(use_pca=False).double()
    small_betas = torch.zeros(1, 10, dtype=torch.float64)
    small_betas[0, 0] = -2.5
    faces = layer.th_faces.numpy()
    big, _ = layer(torch.zeros(1, 48, dtype=torch.float64))
    small, _ = layer(torch.zeros(1, 48, dtype=torch.float64), small_betas)
    fig = contact_sheet([("big", big[0].numpy(), None), ("small", small[0].numpy(), None)], faces)
    limits = {ax.get_xlim() for ax in fig.axes}
    plt.close(fig)
    assert len(limits) == 1


def test_mesh_figure_is_in_millimetres_with_five_fingers():
    layer = ManoLayer(use_pca=False)
    verts, joints = layer(torch.zeros(1, 48))
    fig = mesh_figure(verts[0].numpy(), layer.th_faces.numpy(), joints[0].numpy())
    mesh = fig.data[0]
    np.testing.assert_allclose(np.asarray(mesh.x), verts[0, :, 0].numpy() * 1000, rtol=1e-5)
    assert len(fig.data) == 6
