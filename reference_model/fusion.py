"""Multiplicative vision-language fusion of the released model (``VisionLanguageFusionModule``).

Every visual token attends to the words (keys: words + their positions, values: words) and is
multiplied element-wise by what it reads: f' = f * MHA(q=f, k=g + pos, v=g). The release
applies it to each of the four input levels before the deformable encoder; padding words are
masked out.

Legend: B clips, S visual tokens of a clip, L words, C channels.
"""

from __future__ import annotations

from torch import Tensor, nn

from .text_encoder import TextFeatures


class VisionLanguageFusion(nn.Module):
    """``forward(f [B, S, C], text) -> [B, S, C]``."""

    def __init__(self, d_model: int, nheads: int):
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nheads, dropout=0.0,
                                                    batch_first=True)

    def forward(self, f: Tensor, text: TextFeatures) -> Tensor:
        read = self.multihead_attn(f, text.words + text.pos, text.words,
                                   key_padding_mask=text.pad_mask, need_weights=False)[0]
        return f * read
