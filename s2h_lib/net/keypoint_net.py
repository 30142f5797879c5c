"""The 2D keypoint branch: a small stacked hourglass and integral regression (soft-argmax).

S2HAND's 2D branch (method notes, section 2.7) is a stacked hourglass whose 21 heatmaps per stack
are read out by a softmax over all heatmap cells and the expected pixel position. It has its own
weights (no sharing with the 3D encoder) and sees the image shifted by -0.5, as the original does.

Differences from the original, on purpose:
- the size is configurable (features, stacks, depth) and small by default, for CPU training;
- any image whose sides are multiples of `stride` works (the original zero-pads 224 to 256); the
  hourglass upsamples to its skip connection's exact size, so odd sizes inside it are fine;
- the softmax runs on the heatmap cells, not on a bilinear upsampling to the input size: the
  expectation of the cells' pixel centres gives the same sub-pixel estimate without the
  (B, 21, H, W) tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NUM_KEYPOINTS = 21
# The original feeds the hourglass [0, 1] images shifted to [-0.5, 0.5].
INPUT_SHIFT = 0.5
HEATMAP_STRIDES = (2, 4, 8)
STEM_CHANNELS = 64


@dataclass
class KeypointOutput:
    """heatmaps: (B, S, 21, h, w) logits, one set per stack; keypoints: (B, S, 21, 2) crop
    pixels (x, y) from soft-argmax of each stack's heatmaps, last stack last."""

    heatmaps: Tensor
    keypoints: Tensor


def cell_centres(cells: int, pixels: int, like: Tensor) -> Tensor:
    """Image pixel coordinate (cells,) of each heatmap cell's centre, in `like`'s dtype.

    Cell i of a heatmap with `cells` cells over `pixels` image pixels covers image pixels
    [i, i + 1) * pixels / cells in edge coordinates; with pixel centres at integers its centre
    is (i + 0.5) * pixels / cells - 0.5.
    """
    index = torch.arange(cells, device=like.device, dtype=like.dtype)
    return (index + 0.5) * (pixels / cells) - 0.5


def soft_argmax(heatmaps: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Expected pixel position (..., 2) as (x, y) under a softmax over all cells of each
    heatmap (..., h, w), in the coordinates of an image of `image_size` (H, W) that the heatmap
    covers exactly. Computed in at least float32 (half-precision heatmaps from autocast are
    promoted; float64 stays float64)."""
    height, width = heatmaps.shape[-2:]
    logits = heatmaps.to(torch.promote_types(heatmaps.dtype, torch.float32)).flatten(-2)
    probs = torch.softmax(logits, dim=-1).unflatten(-1, (height, width))
    xs = cell_centres(width, image_size[1], logits)
    ys = cell_centres(height, image_size[0], logits)
    x = (probs.sum(-2) * xs).sum(-1)
    y = (probs.sum(-1) * ys).sum(-1)
    return torch.stack([x, y], dim=-1)


class Residual(nn.Module):
    """Pre-activation bottleneck residual block (Newell et al.), `in_ch` -> `out_ch` channels,
    resolution kept."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid = out_ch // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_ch, mid, 1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_ch, 1),
        )
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One hourglass of `depth` halvings: (B, C, h, w) -> (B, C, h, w), any h, w."""

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.skip = Residual(channels, channels)
        self.down = Residual(channels, channels)
        self.inner = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.up = Residual(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        low = self.down(F.max_pool2d(x, 2, ceil_mode=True))
        low = self.up(self.inner(low))
        # the exact skip size, so odd sizes round-trip
        return self.skip(x) + F.interpolate(low, size=x.shape[-2:], mode="nearest")


class Stem(nn.Module):
    """Image (B, 3, H, W) -> features (B, C, H / stride, W / stride): a stride-2 7x7 conv,
    then one 2x max-pool per further factor of 2."""

    def __init__(self, stride: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, STEM_CHANNELS, 7, stride=2, padding=3),
            nn.BatchNorm2d(STEM_CHANNELS),
            nn.ReLU(inplace=True),
            Residual(STEM_CHANNELS, channels),
        ]
        for _ in range(stride.bit_length() - 2):
            layers += [nn.MaxPool2d(2), Residual(channels, channels)]
        self.layers = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        return self.layers(images)


class StackHead(nn.Module):
    """After an hourglass: features -> heatmaps, and the input of the next stack."""

    def __init__(self, channels: int, num_keypoints: int, last: bool) -> None:
        super().__init__()
        self.features = nn.Sequential(
            Residual(channels, channels),
            nn.Conv2d(channels, channels, 1),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.heatmap = nn.Conv2d(channels, num_keypoints, 1)
        self.remap_features = None if last else nn.Conv2d(channels, channels, 1)
        self.remap_heatmap = None if last else nn.Conv2d(num_keypoints, channels, 1)

    def forward(self, x: Tensor, hourglass_out: Tensor) -> tuple[Tensor, Tensor | None]:
        """Heatmaps (B, K, h, w) and the next stack's input (None after the last stack)."""
        features = self.features(hourglass_out)
        heatmaps = self.heatmap(features)
        if self.remap_features is None:
            return heatmaps, None
        return heatmaps, x + self.remap_features(features) + self.remap_heatmap(heatmaps)


class KeypointNet(nn.Module):
    """Stacked hourglass: images (B, 3, H, W) in [0, 1] -> `KeypointOutput`.

    num_stacks: hourglasses in sequence, each supervised (intermediate supervision);
    features: channels inside the hourglasses; depth: halvings inside each hourglass;
    stride: image pixels per heatmap cell (2, 4 or 8); H and W must be multiples of it.
    """

    def __init__(
        self,
        num_stacks: int = 2,
        features: int = 128,
        depth: int = 3,
        stride: int = 4,
        num_keypoints: int = NUM_KEYPOINTS,
    ) -> None:
        super().__init__()
        if stride not in HEATMAP_STRIDES:
            raise ValueError(f"heatmap stride must be one of {HEATMAP_STRIDES}, got {stride!r}")
        if num_stacks < 1 or depth < 1 or features < 2 or features % 2:
            raise ValueError(
                "need num_stacks >= 1, depth >= 1 and an even number of features >= 2, got "
                f"num_stacks={num_stacks}, depth={depth}, features={features}"
            )
        self.stride = stride
        self.depth = depth
        self.stem = Stem(stride, features)
        self.hourglasses = nn.ModuleList(Hourglass(depth, features) for _ in range(num_stacks))
        self.heads = nn.ModuleList(
            StackHead(features, num_keypoints, last=k == num_stacks - 1) for k in range(num_stacks)
        )

    def check_image_size(self, height: int, width: int) -> None:
        """Raise ValueError unless heatmap cells tile an H x W image exactly and the innermost
        hourglass level keeps more than one cell (BatchNorm needs it with a batch of one)."""
        if height % self.stride or width % self.stride:
            raise ValueError(
                f"the keypoint branch needs image sides that are multiples of its heatmap "
                f"stride {self.stride}, got {height} x {width}"
            )
        halvings = 2**self.depth
        innermost = math.ceil(height / self.stride / halvings) * math.ceil(
            width / self.stride / halvings
        )
        if innermost < 2:
            raise ValueError(
                f"a {height} x {width} image is too small for the keypoint branch (heatmap "
                f"stride {self.stride}, hourglass depth {self.depth}): its innermost level "
                "would be a single cell; use larger images, a smaller stride or a smaller depth"
            )

    def forward(self, images: Tensor) -> KeypointOutput:
        height, width = images.shape[-2:]
        self.check_image_size(height, width)
        x = self.stem(images - INPUT_SHIFT)
        stacks = []
        for hourglass, head in zip(self.hourglasses, self.heads, strict=True):
            heatmaps, x = head(x, hourglass(x))
            stacks.append(heatmaps)
        heatmaps = torch.stack(stacks, dim=1)
        return KeypointOutput(heatmaps, soft_argmax(heatmaps, (height, width)))
