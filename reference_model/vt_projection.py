"""V-T projection (paper section 4.3), as released: a transformer decoder (post-norm layers,
final LayerNorm) in which one learnable text query reads the grounded video feature (the
FPN's top level after early grounding, plus its 2-D positions, over all T frames of the clip)
and returns the reconstructed text embedding e'.

Legend: B clips, S = T*h*w visual tokens, C channels.
"""

from __future__ import annotations

from torch import Tensor, nn

from .config import VTProjectionConfig


class VTProjection(nn.Module):
    """``forward(top [B*T, C, h, w], pos [1 or B*T, C, h, w], t) -> e' [B, C]``."""

    def __init__(self, cfg: VTProjectionConfig, d_model: int):
        super().__init__()
        layer = nn.TransformerDecoderLayer(d_model, cfg.nheads, cfg.dim_feedforward,
                                           cfg.dropout, batch_first=True)
        self.text_decoder = nn.TransformerDecoder(layer, cfg.layers, norm=nn.LayerNorm(d_model))
        self.text_query = nn.Embedding(1, d_model)

    def forward(self, top: Tensor, pos: Tensor, t: int) -> Tensor:
        bt, c = top.shape[:2]
        memory = (top + pos).flatten(2).transpose(1, 2).reshape(bt // t, -1, c)  # [B, S, C]
        query = self.text_query.weight[None].expand(memory.shape[0], -1, -1)  # [B, 1, C]
        return self.text_decoder(query, memory)[:, 0]  # [B, C]
