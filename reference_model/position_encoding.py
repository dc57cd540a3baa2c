"""Sine positional encoding of DETR (``PositionEmbeddingSine``, normalize=True)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def sine_position_encoding(mask: Tensor, dim: int, temperature: float = 10000.0,
                           scale: float = 2 * math.pi) -> Tensor:
    """mask: [B, H, W] bool, True on padding -> pos [B, dim, H, W].

    The first dim/2 channels encode y, the rest x; cumulative coordinates of valid pixels are
    normalised to (0, scale] so the encoding does not depend on the feature-map size.
    """
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    npf = dim // 2
    not_mask = (~mask).to(torch.float32)
    y = not_mask.cumsum(1)  # [B, H, W]
    x = not_mask.cumsum(2)
    eps = 1e-6
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(npf, dtype=torch.float32, device=mask.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / npf)  # [npf]
    px = x[..., None] / dim_t  # [B, H, W, npf]
    py = y[..., None] / dim_t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).permute(0, 3, 1, 2)  # [B, dim, H, W]


def position_encoding_like(x: Tensor, dim: int) -> Tensor:
    """Sine encoding for an unpadded feature map x: [B, *, H, W] -> [B, dim, H, W]."""
    b, _, h, w = x.shape
    mask = torch.zeros(b, h, w, dtype=torch.bool, device=x.device)
    return sine_position_encoding(mask, dim).to(x.dtype)
