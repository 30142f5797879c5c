"""The demo run by `make demo`: pose the hand model and write pictures of it.

Until the trainer exists this is the best end-to-end thing in the package: load a hand model
(the open one by default), sample poses from its PCA pose space, and write a contact sheet (PNG)
and an interactive 3D view (HTML).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.viz.figures import contact_sheet, mesh_figure

NUM_SAMPLED_POSES = 6
SAMPLE_SCALE = 1.0  # standard deviations of the PCA coefficients


def sample_pose_space(layer: ManoLayer, count: int, seed: int) -> torch.Tensor:
    """`(count, 3 + ncomps)` pose coefficients: no global rotation, unit-variance PCA samples."""
    generator = torch.Generator().manual_seed(seed)
    coeffs = torch.randn(count, layer.ncomps, generator=generator, dtype=torch.float64)
    root = torch.zeros(count, 3, dtype=torch.float64)
    return torch.cat([root, SAMPLE_SCALE * coeffs], dim=1)


def run_demo(out: Path, hand: str | Path | None = None, seed: int = 0) -> Iterator[Path]:
    """Write the demo's pictures into `out`, yielding each path as it is written."""
    out.mkdir(parents=True, exist_ok=True)
    layer = ManoLayer(mano_root=hand, use_pca=True, ncomps=45, flat_hand_mean=False).double()
    faces = layer.th_faces.numpy()
    poses = sample_pose_space(layer, NUM_SAMPLED_POSES, seed)
    poses[0] = 0.0  # the first row shows the hand mean itself
    with torch.no_grad():
        verts, joints = layer(poses)
    labels = ["hands_mean"] + [f"sample {i}" for i in range(1, NUM_SAMPLED_POSES)]
    rows = [
        (label, v.numpy(), j.numpy()) for label, v, j in zip(labels, verts, joints, strict=True)
    ]
    sheet = out / "pose_space_samples.png"
    fig = contact_sheet(rows, faces)
    fig.savefig(sheet, dpi=80)
    plt.close(fig)
    yield sheet
    page = out / "hand_3d.html"
    mesh_figure(verts[0].numpy(), faces, joints[0].numpy(), title="hand mean").write_html(
        page, include_plotlyjs=True
    )
    yield page
