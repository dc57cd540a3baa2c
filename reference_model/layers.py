"""Small building blocks shared by the model's parts."""

from __future__ import annotations

import itertools

import torch.nn.functional as F
from torch import Tensor, nn


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU in between (none after the last)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class ConvGN(nn.Conv2d):
    """Convolution without bias, GroupNorm, optional ReLU (the release's FPN ``Conv2d`` with
    ``norm="GN"``; its state_dict keys are ``weight`` and ``norm.{weight,bias}``)."""

    def __init__(self, cin: int, cout: int, kernel: int, groups: int, relu: bool):
        super().__init__(cin, cout, kernel, padding=kernel // 2, bias=False)
        self.norm = nn.GroupNorm(groups, cout)
        self.relu = relu
        nn.init.kaiming_uniform_(self.weight, a=1)  # detectron2's c2_xavier_fill

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(super().forward(x))
        return F.relu(x) if self.relu else x
