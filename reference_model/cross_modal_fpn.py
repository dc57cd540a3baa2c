"""The mask branch's cross-modal FPN (the release's ``DualCrossModalFPNDecoder``).

Top-down over the encoder memory at strides 32, 16, 8 and the backbone's stride-4 feature:
each level is adapted by a 1x1 conv + GN, the coarser result is upsampled (nearest) and
added, and a 3x3 conv + GN + ReLU follows. At the top (stride 32) early grounding
(:mod:`reference_model.early_grounding`) replaces the plain adapter output when enabled.
A final 3x3 convolution gives the ``mask_dim`` mask features at stride 4.

Besides the mask features it returns the top level after its output convolution, which the
V-T projection reads.

Legend: N = B*T frames, C channels, D = mask_dim, h_s x w_s the size at stride s.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .config import GroundingConfig, HeadConfig
from .early_grounding import EarlyGrounding
from .layers import ConvGN
from .text_encoder import TextFeatures


class CrossModalFPN(nn.Module):
    """``forward(memory, f4, pos32, text, t) -> (mask_features [N, D, h_4, w_4],
    top [N, C, h_32, w_32])``.

    ``memory``: the encoder output at strides 8, 16, 32 as maps [N, C, h_s, w_s];
    ``f4``: the backbone's stride-4 feature [N, C4, h_4, w_4], or [T, C4, h_4, w_4] shared
    by the B = N / T captions of one clip (the caption-independent adapter then runs once
    per frame); ``pos32``: the 2-D positions of the stride-32 level [1 or N, C, h_32, w_32].
    """

    def __init__(self, head: HeadConfig, grounding: GroundingConfig, d_model: int,
                 stride4_channels: int):
        super().__init__()
        g = head.fpn_groups
        cins = [stride4_channels, d_model, d_model, d_model]  # strides 4, 8, 16, 32
        self.adapters = nn.ModuleList(ConvGN(cin, d_model, 1, g, relu=False) for cin in cins)
        self.layers = nn.ModuleList(ConvGN(d_model, d_model, 3, g, relu=True) for _ in cins)
        self.mask_features = nn.Conv2d(d_model, head.mask_dim, 3, padding=1)
        nn.init.kaiming_uniform_(self.mask_features.weight, a=1)
        nn.init.zeros_(self.mask_features.bias)
        self.grounding = (EarlyGrounding(grounding, d_model, g) if grounding.enabled else None)

    def forward(self, memory: list[Tensor], f4: Tensor, pos32: Tensor, text: TextFeatures,
                t: int) -> tuple[Tensor, Tensor]:
        y = self.adapters[3](memory[2])  # stride 32
        if self.grounding is not None:
            y = self.grounding(y, pos32, text, t)
        y = top = self.layers[3](y)
        for level, x in ((2, memory[1]), (1, memory[0]), (0, f4)):  # strides 16, 8, 4
            x = self.adapters[level](x)
            up = F.interpolate(y, size=x.shape[-2:], mode="nearest")
            # f4 may hold each frame once for all B captions: [T, ...] broadcast over B
            y = self.layers[level]((up.unflatten(0, (-1, x.shape[0])) + x).flatten(0, 1))
        return self.mask_features(y), top
