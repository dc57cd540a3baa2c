"""Mask branch of the referring segmentation (paper section 4.4).

:class:`VisualDecoder` is an FPN: it walks the encoder memory top-down (strides 32 -> 16 -> 8)
and, for ``mask_stride=4``, adds the backbone's stride-4 feature, then projects to
``mask_dim`` channels (f_out). :class:`DynamicMaskHead` turns each instance embedding z into
the parameters of a small stack of dynamic 1x1 convolutions (CondInst / ReferFormer style)
applied to f_out concatenated with the coordinates relative to the query's reference point,
giving one mask logit map per query: M_t = w_t^T f_out,t.

Legend: N = B*T frames, Q queries, C channels, D = mask_dim, h, w mask resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import HeadConfig
from .deformable_transformer import MLP


def conv_gn_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    """Conv (no bias) + GroupNorm + ReLU, the FPN's basic block."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
                         nn.GroupNorm(gn_groups(cout), cout), nn.ReLU(inplace=True))


def gn_groups(c: int) -> int:
    """Up to 32 GroupNorm groups, dividing c."""
    return max(g for g in (32, 16, 8, 4, 2, 1) if c % g == 0)


class VisualDecoder(nn.Module):
    """FPN over the encoder memory: ``forward(levels, f4) -> f_out [N, D, h, w]``.

    ``levels`` are the memory maps at strides 8, 16, 32 ([N, C, H/s, W/s]); ``f4`` is the
    backbone's stride-4 feature [N, C4, H/4, W/4], used only when ``mask_stride`` is 4.
    """

    def __init__(self, cfg: HeadConfig, d_model: int, stride4_channels: int):
        super().__init__()
        self.mask_stride = cfg.mask_stride
        self.blocks = nn.ModuleList(conv_gn_relu(d_model, d_model) for _ in range(3))
        if cfg.mask_stride == 4:
            self.lateral4 = nn.Sequential(nn.Conv2d(stride4_channels, d_model, 1, bias=False),
                                          nn.GroupNorm(gn_groups(d_model), d_model))
            self.block4 = conv_gn_relu(d_model, d_model)
        self.out = nn.Conv2d(d_model, cfg.mask_dim, 3, padding=1)

    def forward(self, levels: list[Tensor], f4: Tensor | None = None) -> Tensor:
        y = self.blocks[0](levels[2])  # stride 32
        for block, lateral in zip(self.blocks[1:], (levels[1], levels[0])):  # 16, 8
            y = block(lateral + F.interpolate(y, size=lateral.shape[-2:], mode="nearest"))
        if self.mask_stride == 4:
            lateral = self.lateral4(f4)
            y = self.block4(lateral + F.interpolate(y, size=lateral.shape[-2:], mode="nearest"))
        return self.out(y)  # [N, D, h, w]


def relative_coordinates(reference: Tensor, h: int, w: int) -> Tensor:
    """reference: [N, Q, 2] normalised (x, y) -> [N, Q, 2, h, w] = reference - pixel centre."""
    ys = (torch.arange(h, dtype=reference.dtype, device=reference.device) + 0.5) / h
    xs = (torch.arange(w, dtype=reference.dtype, device=reference.device) + 0.5) / w
    loc = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), 0)  # [2, h, w] as (x, y)
    return reference[..., None, None] - loc


class DynamicMaskHead(nn.Module):
    """``forward(z [N, Q, C], reference [N, Q, 2], f_out [N, D, h, w]) -> [N, Q, h, w]``."""

    def __init__(self, cfg: HeadConfig, d_model: int):
        super().__init__()
        cin = cfg.mask_dim + 2  # mask features + relative coordinates
        self.dims = [cin] + [cfg.dynamic_channels] * (cfg.dynamic_layers - 1) + [1]
        self.num_params = sum((a + 1) * b for a, b in zip(self.dims[:-1], self.dims[1:]))
        self.controller = MLP(d_model, d_model, self.num_params, 3)

    def forward(self, z: Tensor, reference: Tensor, f_out: Tensor) -> Tensor:
        n, q, _ = z.shape
        h, w = f_out.shape[-2:]
        params = self.controller(z)  # [N, Q, P]
        rel = relative_coordinates(reference, h, w)  # [N, Q, 2, h, w]
        x = torch.cat((f_out[:, None].expand(-1, q, -1, -1, -1), rel), 2).flatten(3)
        offset = 0
        for i, (cin, cout) in enumerate(zip(self.dims[:-1], self.dims[1:])):
            weight = params[..., offset:offset + cin * cout].view(n, q, cout, cin)
            offset += cin * cout
            bias = params[..., offset:offset + cout]  # [N, Q, cout]
            offset += cout
            x = torch.einsum("nqoi,nqis->nqos", weight, x) + bias[..., None]  # [N, Q, cout, hw]
            if i < len(self.dims) - 2:
                x = F.relu(x)
        return x.view(n, q, h, w)
