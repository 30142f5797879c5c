"""A trained network against the truth (notebook 05): per image, the network's and the true
mesh over the image and turned to the side, titled with the joint error."""

from __future__ import annotations

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.data.sample import HandSample
from s2h_lib.evaluation.errors import pa_mpjpe_mm
from s2h_lib.lab.camera_views import side_view
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.viz.figures import draw_mesh
from s2h_lib.viz.overlays import PANEL_INCHES, draw_overlay, verts_alpha


def truth_comparison_figure(batch: HandSample, pred: HandPrediction, faces: torch.Tensor) -> Figure:
    """One row per image of `batch` (N images (N, 3, H, W) with `truth`), five panels: the
    image; the network's mesh (tint) and skeleton over it with the true 2D keypoints as white
    crosses, titled with its PA-MPJPE (mm); the true mesh and skeleton over it; then the
    network's and the true mesh turned 90° (`SIDE_VIEW`), on one scale (a sample without a
    true mesh, `truth.has_mesh` False, shows only the true skeleton). `pred`: the network's
    prediction of the N images (verts (N, V, 3), joints (N, 21, 3), keypoints2d (N, 21, 2));
    `faces` (F, 3)."""
    if batch.truth is None:
        raise ValueError("the comparison needs samples with truth (a dataset with_truth=True)")
    truth = batch.truth
    faces, K = faces.cpu(), batch.K.cpu()
    size = tuple(batch.image.shape[-2:])
    images = batch.image.permute(0, 2, 3, 1).clamp(0, 1).cpu().numpy()
    alphas = {
        "network": verts_alpha(pred.verts.cpu(), faces, size, K).numpy(),
        "truth": verts_alpha(truth.verts, faces, size, K).numpy(),
    }
    joints = {"network": pred.joints.detach().cpu().double(), "truth": truth.joints3d.double()}
    verts = {"network": pred.verts.detach().cpu().double(), "truth": truth.verts.double()}
    errors = pa_mpjpe_mm(joints["network"], joints["truth"])
    has_mesh = truth.has_mesh.bool().tolist()
    extent = 1.02 * max(
        float((v - v.mean(0)).norm(dim=1).max()) for values in verts.values() for v in values
    )
    figure = Figure(figsize=(PANEL_INCHES * 5, PANEL_INCHES * len(images)))
    FigureCanvasAgg(figure)
    mesh_faces = faces.numpy()
    for row, ax in enumerate(figure.subplots(len(images), 5, squeeze=False)):
        truth_2d = truth.keypoints2d[row].numpy()
        network_2d = pred.keypoints2d[row].detach().cpu().numpy()
        draw_overlay(ax[0], images[row], title=f"image {row}")
        title = f"network: {errors[row]:.1f} mm"
        draw_overlay(ax[1], images[row], alphas["network"][row], network_2d, truth_2d, title)
        true_alpha = alphas["truth"][row] if has_mesh[row] else None
        draw_overlay(ax[2], images[row], true_alpha, truth_2d, title="truth")
        for panel, label in zip(ax[3:], ("network", "truth"), strict=True):
            panel.set_axis_off()
            if label == "truth" and not has_mesh[row]:
                continue
            side_verts, side_joints = side_view(
                verts[label][row].numpy(), joints[label][row].numpy()
            )
            title = f"{label}, side"
            draw_mesh(
                panel, side_verts, mesh_faces, keypoints=side_joints, title=title, extent=extent
            )
    figure.tight_layout(pad=0.3)
    return figure
