"""The image helpers of s2h_lib.viz.figures used by the notebooks: grids, overlays, GIFs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from s2h_lib.viz.figures import (
    OVERLAP_RGB,
    RENDERED_RGB,
    TARGET_RGB,
    image_grid,
    mesh_grid,
    save_gif,
    side_by_side,
    silhouette_overlay,
)


def test_silhouette_overlay_colours_each_case():
    rendered = np.array([[1.0, 1.0], [0.0, 0.2]])
    target = np.array([[1.0, 0.0], [0.9, 0.0]])
    out = silhouette_overlay(rendered, target)
    np.testing.assert_array_equal(out[0, 0], OVERLAP_RGB)
    np.testing.assert_array_equal(out[0, 1], RENDERED_RGB)
    np.testing.assert_array_equal(out[1, 0], TARGET_RGB)
    np.testing.assert_array_equal(out[1, 1], 0.0)


def test_image_grid_lays_out_titled_panels():
    images = [np.full((4, 4), k / 4) for k in range(5)]
    fig = image_grid(images, [f"p{k}" for k in range(5)], ncols=3, cmap="gray")
    titled = [ax.get_title() for ax in fig.axes if ax.images]
    assert titled == ["p0", "p1", "p2", "p3", "p4"]
    assert len(fig.axes) == 6  # 2 rows of 3, the last one blank
    plt.close(fig)


def test_mesh_grid_draws_each_hand_on_one_scale():
    verts = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.0, 0.01, 0.0], [0.0, 0.0, 0.01]])
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])
    hands = [("small", verts, None), ("big", 3 * verts, None)]
    fig = mesh_grid(hands, faces, ncols=2)
    small, big = fig.axes
    assert small.get_xlim() == big.get_xlim()
    assert [ax.get_title() for ax in fig.axes] == ["small", "big"]
    plt.close(fig)


def test_save_gif_writes_every_frame(tmp_path: Path):
    frames = [np.full((6, 6, 3), k / 3) for k in range(4)]
    path = save_gif(frames, [f"step {k}" for k in range(4)], tmp_path / "anim.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 4
        assert gif.info["duration"] == 200
        assert gif.info["loop"] == 0


def test_save_gif_needs_a_title_per_frame(tmp_path: Path):
    with pytest.raises(ValueError, match="need one title per frame, got 2 frames, 1 titles"):
        save_gif([np.zeros((2, 2, 3))] * 2, ["a"], tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


def test_side_by_side_joins_each_frame_with_a_white_gap():
    left = np.zeros((3, 4, 5, 3))
    right = np.full((3, 4, 6, 3), 0.25)
    joined = side_by_side(left, right, gap=2)
    assert len(joined) == 3 and joined[0].shape == (4, 13, 3)
    assert (joined[1][:, :5] == 0).all() and (joined[1][:, 5:7] == 1).all()
    assert (joined[1][:, 7:] == 0.25).all()
    with pytest.raises(ValueError, match="same frame count and height"):
        side_by_side(left, np.zeros((2, 4, 5, 3)))
