"""A contact sheet of the built hand: named poses and extreme shapes from several views."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.hand_poses import NAMED_POSES
from s2h_lib.viz.figures import contact_sheet

SHEET_POSES = ("flat", "relaxed", "fist", "point", "spread", "pinch")
EXTREME_BETA = 2.5
EXTREME_SHAPE_COMPONENTS = 2


def _articulated(name: str) -> torch.Tensor:
    """A `(1, 48)` pose: no global rotation, the named articulation."""
    pose = torch.zeros(1, 48, dtype=torch.float64)
    pose[0, 3:] = torch.from_numpy(NAMED_POSES[name].reshape(-1))
    return pose


def sheet_rows(layer: ManoLayer) -> list[tuple[str, np.ndarray, None]]:
    """(label, vertices `(V, 3)`, no keypoints) for each named pose and extreme shape."""
    rows = []
    for name in SHEET_POSES:
        verts, _ = layer(_articulated(name))
        rows.append((name, verts[0].numpy(), None))
    for k in range(EXTREME_SHAPE_COMPONENTS):
        for sign in (-1, 1):
            betas = torch.zeros(1, 10, dtype=torch.float64)
            betas[0, k] = sign * EXTREME_BETA
            verts, _ = layer(_articulated("relaxed"), betas)
            rows.append((f"beta{k} {sign * EXTREME_BETA:+.1f}", verts[0].numpy(), None))
    return rows


def write_contact_sheet(asset: Path, out: Path) -> None:
    """Render every row from every view into one PNG."""
    layer = ManoLayer(mano_root=asset, use_pca=False, flat_hand_mean=True).double()
    fig = contact_sheet(sheet_rows(layer), layer.th_faces.numpy())
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=64)
    plt.close(fig)
