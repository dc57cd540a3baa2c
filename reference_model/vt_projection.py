"""V-T projection (paper section 4.3): a transformer decoder reads f_early with one learnable
text query and returns the reconstructed text embedding e' in the text-embedding space.
The sine positional encoding is added to f_early before it serves as keys and values
(``nn.TransformerDecoder`` has no separate key positions).

Legend: B batch, S = T*H*W video tokens, C channels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import GroundingConfig


class VTProjection(nn.Module):
    """``forward(f_early [B, S, C], pos [B, S, C]) -> e' [B, C]``."""

    def __init__(self, cfg: GroundingConfig, d_model: int):
        super().__init__()
        layer = nn.TransformerDecoderLayer(d_model, cfg.projection_nheads, cfg.dim_feedforward,
                                           cfg.dropout, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, cfg.projection_layers,
                                             norm=nn.LayerNorm(d_model))
        self.query = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)  # the text query e_0

    def forward(self, f_early: Tensor, pos: Tensor) -> Tensor:
        tgt = self.query.expand(f_early.shape[0], -1, -1)  # [B, 1, C]
        return self.decoder(tgt, f_early + pos)[:, 0]  # [B, C]
