"""The sample viewer of notebook 07: the camera view of a mesh, the panels, the saved files and
the ipywidgets selector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.tiny_training import build_tiny_synth
from PIL import Image

from s2h_lib.data.synth.dataset import SynthDataset
from s2h_lib.fit.baselines import mean_pose_predictor
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.viz.browser_view import (
    CAMERA_TO_VIEW,
    camera_view_verts,
    predict_sample,
    sample_browser,
    sample_figure,
    sample_labels,
    save_sample_view,
)
from s2h_lib.viz.figures import view_rotation


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> SynthDataset:
    root = build_tiny_synth(tmp_path_factory.mktemp("synth") / "s2h_synth")
    return SynthDataset(root, "val", with_truth=True)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return default_hand_model(FitConfig()).faces


def test_camera_view_shows_what_the_camera_sees():
    # camera: x right, y down, z forward; the view: x right, y up, z towards the viewer
    points = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    in_view = camera_view_verts(points) @ view_rotation(0.0, 0.0).T
    np.testing.assert_allclose(in_view, [[1, 0, 0], [0, -1, 0], [0, 0, -1]], atol=1e-12)
    np.testing.assert_allclose(CAMERA_TO_VIEW @ CAMERA_TO_VIEW, np.eye(3))


def test_sample_figure_and_files(dataset, faces, tmp_path):
    batch, pred = predict_sample(mean_pose_predictor(), dataset, 2)
    assert batch.image.shape[0] == 1 and pred.verts.shape[0] == 1
    figure = sample_figure(batch, pred, faces, title="val sample 2")
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["input", "prediction (x: reference 2D)", "predicted mesh", "true mesh"]
    files = save_sample_view(tmp_path, batch, pred, faces, dpi=40)
    assert [f.name for f in files] == ["sample.png", "sample_mesh.html"]
    with Image.open(files[0]) as image:
        assert image.size[0] > 2 * image.size[1]  # four panels side by side
    html = files[1].read_text()
    assert "Mesh3d" in html or "mesh3d" in html
    with pytest.raises(IndexError, match=r"outside the dataset's 0\.\.7"):
        predict_sample(mean_pose_predictor(), dataset, 8)


def test_browser_redraws_when_another_sample_is_chosen(dataset, faces):
    calls = []
    predictor = mean_pose_predictor()

    def counting(batch):
        calls.append(batch.name)
        return predictor(batch)

    options = sample_labels(["a", "b", "c"], [1.0, 2.5, 3.25])
    assert options[1] == ("1: b (2.5 mm)", 1)
    panel = sample_browser(counting, dataset, faces, options, start=0)
    selector = panel.children[0]
    selector.value = 2
    assert calls == [[dataset[0].name], [dataset[2].name]]
