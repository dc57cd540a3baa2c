"""Visual backbone (paper section 4.1): torchvision-compatible ResNets with frozen BatchNorm.

The ResNet here is written from scratch but uses torchvision's module names, so its
``state_dict`` keys (``conv1.weight``, ``layer1.0.downsample.1.running_var``, ``fc.bias``...)
are identical to ``torchvision.models.resnet*`` and ImageNet checkpoints load from a local
file. As in DETR, BatchNorm is replaced by :class:`FrozenBatchNorm2d` (statistics and affine
parameters are buffers) and the stem and ``layer1`` are never trained.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .config import BackboneConfig

logger = logging.getLogger(__name__)

NormLayer = Callable[[int], nn.Module]

# block type and blocks per stage of the torchvision architectures
ARCHITECTURES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters, all stored as buffers.

    Loading a BatchNorm2d state dict works: its ``num_batches_tracked`` entry is dropped.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()  # [C]
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, downsample: nn.Module | None,
                 norm: NormLayer):
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(cin, width, stride), norm(width)
        self.conv2, self.bn2 = _conv3x3(width, width), norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 - 3x3 (strided, torchvision "v1.5") - 1x1 convolutions (ResNet-50/101)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, downsample: nn.Module | None,
                 norm: NormLayer):
        super().__init__()
        self.conv1, self.bn1 = _conv1x1(cin, width), norm(width)
        self.conv2, self.bn2 = _conv3x3(width, width, stride), norm(width)
        self.conv3, self.bn3 = _conv1x1(width, width * 4), norm(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet with torchvision's module names.

    ``forward`` returns the outputs of layer1..layer4 (strides 4, 8, 16, 32) in a dict keyed by
    stride; ``fc`` exists only when ``num_classes`` is given (for checkpoint compatibility).
    """

    def __init__(self, name: str = "resnet50", width: int = 64, num_classes: int | None = None,
                 norm: NormLayer = FrozenBatchNorm2d):
        super().__init__()
        kind, blocks = ARCHITECTURES[name]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = width
        self.num_channels: list[int] = []
        for i, n in enumerate(blocks):
            stage, cin = self._stage(block, cin, width * 2**i, n, 1 if i == 0 else 2, norm)
            setattr(self, f"layer{i + 1}", stage)
            self.num_channels.append(cin)
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, num_classes)

    @staticmethod
    def _stage(block: type, cin: int, width: int, n: int, stride: int,
               norm: NormLayer) -> tuple[nn.Sequential, int]:
        cout = width * block.expansion
        down = None
        if stride != 1 or cin != cout:
            down = nn.Sequential(_conv1x1(cin, cout, stride), norm(cout))
        layers = [block(cin, width, stride, down, norm)]
        layers += [block(cout, width, 1, None, norm) for _ in range(n - 1)]
        return nn.Sequential(*layers), cout

    def forward(self, x: Tensor) -> dict[int, Tensor]:
        """x: [B, 3, H, W] -> {4: [B, C1, H/4, W/4], 8: ..., 16: ..., 32: [B, C4, H/32, W/32]}."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = {}
        for i, stride in enumerate((4, 8, 16, 32)):
            x = getattr(self, f"layer{i + 1}")(x)
            out[stride] = x
        return out


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a checkpoint from a local ``.safetensors`` or ``.pth`` file (tensors only)."""
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    return state


def load_backbone_weights(net: ResNet, path: str | os.PathLike) -> None:
    """Load a torchvision-style ResNet checkpoint; the classifier (``fc.*``) is ignored."""
    state = OrderedDict((k, v) for k, v in read_state_dict(path).items()
                        if not k.startswith("fc.") or hasattr(net, "fc"))
    net.load_state_dict(state, strict=True)
    logger.info("loaded backbone weights from %s (%d tensors)", path, len(state))


class Backbone(nn.Module):
    """ResNet body with frozen BatchNorm, the stem and layer1 always frozen (as in DETR).

    ``forward(x [B, 3, H, W])`` returns ``{stride: feature}`` for strides 4, 8, 16, 32;
    ``num_channels[stride]`` gives each feature's channels.
    """

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.body = ResNet(cfg.name, cfg.width)
        if cfg.weights is not None:
            load_backbone_weights(self.body, cfg.weights)
        for name, p in self.body.named_parameters():
            trainable = cfg.train_backbone and name.startswith(("layer2", "layer3", "layer4"))
            p.requires_grad_(trainable)
        self.num_channels = dict(zip((4, 8, 16, 32), self.body.num_channels))

    def forward(self, x: Tensor) -> dict[int, Tensor]:
        return self.body(x)
