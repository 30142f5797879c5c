"""The 2D keypoint branch: soft-argmax in image pixel coordinates and the stacked hourglass."""

import pytest
import torch

from s2h_lib.net.keypoint_net import KeypointNet, soft_argmax

# A logit this much above the rest gives softmax weights of exp(-1e4) == 0 exactly elsewhere.
DELTA_LOGIT = 1e4


def delta_heatmap(height: int, width: int, row: int, col: int) -> torch.Tensor:
    heatmap = torch.zeros(1, 1, height, width)
    heatmap[0, 0, row, col] = DELTA_LOGIT
    return heatmap


@pytest.mark.parametrize(
    ("heatmap_size", "image_size", "cell", "expected"),
    [
        # (i + 0.5) * H / h - 0.5, worked out by hand
        ((8, 8), (32, 32), (3, 5), (21.5, 13.5)),  # 4 px per cell: x = 5.5*4 - .5, y = 3.5*4 - .5
        ((16, 16), (32, 32), (0, 15), (30.5, 0.5)),  # 2 px per cell
        ((4, 4), (32, 32), (3, 0), (3.5, 27.5)),  # 8 px per cell
        ((8, 8), (8, 8), (2, 7), (7.0, 2.0)),  # one cell per pixel: the pixel itself
        ((7, 14), (28, 56), (6, 13), (53.5, 25.5)),  # non-square, 4 px per cell
        ((5, 5), (16, 16), (2, 1), (4.3, 7.5)),  # non-integer ratio 3.2: x = 1.5*3.2 - .5
    ],
)
def test_delta_heatmap_gives_that_cells_pixel_exactly(heatmap_size, image_size, cell, expected):
    heatmap = delta_heatmap(*heatmap_size, *cell)
    point = soft_argmax(heatmap, image_size)
    assert point.shape == (1, 1, 2)
    torch.testing.assert_close(point[0, 0], torch.tensor(expected), atol=1e-5, rtol=0)


def test_uniform_heatmap_gives_the_image_centre():
    heatmap = torch.full((2, 3, 8, 16), 0.7)
    point = soft_argmax(heatmap, (32, 64))
    # mean of (i + 0.5) * H / h - 0.5 over all i is H / 2 - 0.5
    torch.testing.assert_close(point, torch.tensor([31.5, 15.5]).expand(2, 3, 2))


def test_two_equal_peaks_give_their_midpoint():
    heatmap = delta_heatmap(8, 8, 1, 1)
    heatmap[0, 0, 5, 3] = DELTA_LOGIT
    point = soft_argmax(heatmap, (32, 32))
    # cells (1, 1) -> (5.5, 5.5) and (5, 3) -> (13.5, 21.5)
    torch.testing.assert_close(point[0, 0], torch.tensor([9.5, 13.5]))


def test_soft_argmax_gradient_matches_finite_differences():
    heatmap = torch.randn(2, 21, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: soft_argmax(h, (20, 24)), (heatmap,))


def test_half_precision_heatmaps_are_read_in_float32():
    heatmap = delta_heatmap(8, 8, 3, 5).to(torch.bfloat16)
    point = soft_argmax(heatmap, (32, 32))
    assert point.dtype == torch.float32
    torch.testing.assert_close(point[0, 0], torch.tensor([21.5, 13.5]))


@pytest.mark.parametrize(("stride", "size"), [(2, (32, 40)), (4, (72, 64)), (8, (96, 64))])
def test_keypoint_net_shapes_for_each_stride(stride, size):
    torch.manual_seed(0)
    net = KeypointNet(num_stacks=2, features=16, depth=3, stride=stride)
    out = net(torch.rand(2, 3, *size))
    h, w = size[0] // stride, size[1] // stride
    assert out.heatmaps.shape == (2, 2, 21, h, w)
    assert out.keypoints.shape == (2, 2, 21, 2)
    # an expectation over cell centres stays between the first and the last centre
    half_cell = stride / 2 - 0.5
    assert bool((out.keypoints[..., 0] >= half_cell).all())
    assert bool((out.keypoints[..., 0] <= size[1] - 1 - half_cell).all())
    assert bool((out.keypoints[..., 1] <= size[0] - 1 - half_cell).all())


def test_keypoints_are_the_soft_argmax_of_each_stack():
    torch.manual_seed(0)
    net = KeypointNet(num_stacks=3, features=16, depth=2).eval()
    out = net(torch.rand(1, 3, 64, 64))
    for stack in range(3):
        expected = soft_argmax(out.heatmaps[:, stack], (64, 64))
        torch.testing.assert_close(out.keypoints[:, stack], expected)


def test_image_size_not_a_multiple_of_the_stride_is_refused():
    net = KeypointNet(features=16, stride=4)
    with pytest.raises(ValueError, match="multiples of its heatmap stride 4"):
        net(torch.rand(1, 3, 66, 64))


def test_image_too_small_for_the_hourglass_depth_is_refused():
    net = KeypointNet(features=16, stride=8, depth=3)
    net(torch.rand(1, 3, 64, 72))  # innermost level 1 x 2 cells
    with pytest.raises(ValueError, match="innermost level"):
        net(torch.rand(1, 3, 64, 64))  # 8 cells -> 4 -> 2 -> 1


@pytest.mark.parametrize(
    "kwargs", [{"stride": 3}, {"num_stacks": 0}, {"depth": 0}, {"features": 15}]
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        KeypointNet(**kwargs)
