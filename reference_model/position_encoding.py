"""Sine positional encodings of the released model (DETR's, with the release's offsets).

- 2-D, for feature maps: DETR's ``PositionEmbeddingSine`` with normalize=True, except that
  the release subtracts 0.5 from the cumulative coordinates before normalising, so the first
  row/column sits at 0.5 / n * 2 pi rather than 1 / n * 2 pi.
- 1-D, for words: the same construction along the sentence (no 0.5 offset), normalised by
  the number of real tokens, so padding at the end does not change the real tokens' codes.

Channels interleave sin and cos: (sin f_0 x, cos f_1 x, sin f_2 x, cos f_3 x, ...), with
f_i = 1 / temperature^(2 floor(i / 2) / n).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SCALE = 2 * math.pi
EPS = 1e-6


def _frequencies(n: int, temperature: float, device) -> Tensor:
    dim_t = torch.arange(n, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / n)  # [n]


def _sin_cos(coords: Tensor, n: int, temperature: float) -> Tensor:
    """coords [...] -> [..., n]: interleaved sin / cos codes."""
    p = coords[..., None] / _frequencies(n, temperature, coords.device)
    return torch.stack((p[..., 0::2].sin(), p[..., 1::2].cos()), dim=-1).flatten(-2)


def sine_position_encoding_2d(pad_mask: Tensor, dim: int,
                              temperature: float = 10000.0) -> Tensor:
    """pad_mask: [B, H, W] bool, True on padding -> pos [B, dim, H, W] (y codes, then x)."""
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    not_mask = (~pad_mask).to(torch.float32)
    y = not_mask.cumsum(1)  # [B, H, W]
    x = not_mask.cumsum(2)
    y = (y - 0.5) / (y[:, -1:, :] + EPS) * SCALE
    x = (x - 0.5) / (x[:, :, -1:] + EPS) * SCALE
    n = dim // 2
    pos = torch.cat((_sin_cos(y, n, temperature), _sin_cos(x, n, temperature)), dim=3)
    return pos.permute(0, 3, 1, 2)  # [B, dim, H, W]


def position_encoding_like(x: Tensor, dim: int) -> Tensor:
    """Encoding of an unpadded feature map x: [N, *, H, W] -> [1, dim, H, W] in x's dtype.

    Every frame of an unpadded batch has the same code, so one copy is returned; it
    broadcasts over the batch.
    """
    h, w = x.shape[-2:]
    mask = torch.zeros(1, h, w, dtype=torch.bool, device=x.device)
    return sine_position_encoding_2d(mask, dim).to(x.dtype)


def sine_position_encoding_1d(pad_mask: Tensor, dim: int,
                              temperature: float = 10000.0) -> Tensor:
    """pad_mask: [B, L] bool, True on padding -> pos [B, L, dim]."""
    not_mask = (~pad_mask).to(torch.float32)
    x = not_mask.cumsum(1)  # [B, L]
    x = x / (x[:, -1:] + EPS) * SCALE
    return _sin_cos(x, dim, temperature)
