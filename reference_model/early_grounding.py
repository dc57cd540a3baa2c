"""Early grounding (paper section 4.2), as the release computes it: the top (stride-32) level
of its "dual" cross-modal FPN (``DualCrossModalFPNDecoder``, ``DualVisionLanguageBlock``).

1. :class:`DualVisionLanguageBlock` over the whole clip: the visual tokens of all T frames
   attend to each other (v2v), then read the words (l2v, post-norm, FFN); in parallel the
   words read the video (v2l, with their own projections, post-norm, FFN). Visual queries
   and keys carry the 2-D positions, words the 1-D positions.
2. The updated words are average-pooled to K kernels (``AdaptiveAvgPool1d(K)`` over each
   caption's real tokens) and a linear layer turns each into C channel weights.
3. Dynamic modulation: a 1x1 conv + GN + ReLU of the grounded map is multiplied channel-wise
   by each of the K kernels, the K results are concatenated (K*C channels) and reduced by a
   1x1 conv + GN + ReLU. The result is added to the grounded map; the FPN's 3x3 output
   convolution follows. That sum is the paper's f_early.

The release pools over the padded length of the batch; pooling each caption over its own
tokens gives the release's values at batch size 1 (its inference setting) and makes the
result independent of which captions share a batch.

Legend: B clips, T frames, S = T*h*w visual tokens, L words, K kernels, C channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import GroundingConfig
from .layers import ConvGN
from .text_encoder import TextFeatures


class DualVisionLanguageBlock(nn.Module):
    """``forward(f [B, S, C], f_pos [B, S, C], text) -> (f' [B, S, C], g' [B, L, C])``."""

    def __init__(self, d_model: int, nheads: int, dim_feedforward: int, dropout: float):
        super().__init__()

        def attn() -> nn.MultiheadAttention:
            return nn.MultiheadAttention(d_model, nheads, dropout=dropout, batch_first=True)

        self.v2v_attn, self.l2v_attn, self.v2l_attn = attn(), attn(), attn()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.proj_l_q = nn.Linear(d_model, d_model)
        self.proj_v_kv = nn.Linear(d_model, 2 * d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.linear_v2l_1 = nn.Linear(d_model, dim_feedforward)
        self.linear_v2l_2 = nn.Linear(dim_feedforward, d_model)
        self.norm_v2l_1, self.norm_v2l_2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, f: Tensor, f_pos: Tensor, text: TextFeatures) -> tuple[Tensor, Tensor]:
        drop = self.dropout
        q = f + f_pos
        f = self.norm1(f + drop(self.v2v_attn(q, q, f, need_weights=False)[0]))
        f_read = self.l2v_attn(f + f_pos, text.words + text.pos, text.words,
                               key_padding_mask=text.pad_mask, need_weights=False)[0]
        v_k, v_v = self.proj_v_kv(f).chunk(2, dim=-1)  # [B, S, C] each
        g_read = self.v2l_attn(self.proj_l_q(text.words) + text.pos, v_k + f_pos, v_v,
                               need_weights=False)[0]  # [B, L, C]
        f = self.norm2(f + drop(f_read))
        f = self.norm3(f + drop(self.linear2(drop(F.relu(self.linear1(f))))))
        g = self.norm_v2l_1(text.words + drop(g_read))
        g = self.norm_v2l_2(g + drop(self.linear_v2l_2(drop(F.relu(self.linear_v2l_1(g))))))
        return f, g


def adaptive_pool_words(g: Tensor, pad_mask: Tensor, k: int) -> Tensor:
    """``AdaptiveAvgPool1d(k)`` of each caption's real tokens: g [B, L, C] -> [B, k, C].

    Bin i of a caption with n tokens averages tokens floor(i n / k) .. ceil((i + 1) n / k) - 1.
    """
    n = (~pad_mask).sum(1, keepdim=True)  # [B, 1]
    i = torch.arange(k, device=g.device)[None]  # [1, k]
    start = torch.div(i * n, k, rounding_mode="floor")  # [B, k]
    end = torch.div((i + 1) * n + k - 1, k, rounding_mode="floor")
    tok = torch.arange(g.shape[1], device=g.device)[None, None]  # [1, 1, L]
    inside = (tok >= start[..., None]) & (tok < end[..., None])  # [B, k, L]
    weights = inside.to(g.dtype) / (end - start).clamp(min=1)[..., None].to(g.dtype)
    return weights @ g  # [B, k, C]


class EarlyGrounding(nn.Module):
    """``forward(f [B*T, C, h, w], f_pos [1 or B*T, C, h, w], text, t) -> f_early [B*T, C, h, w]``
    (before the FPN's output convolution)."""

    def __init__(self, cfg: GroundingConfig, d_model: int, groups: int):
        super().__init__()
        self.cross_attn = DualVisionLanguageBlock(d_model, cfg.nheads, cfg.dim_feedforward,
                                                  cfg.dropout)
        self.text_pool_size = cfg.text_pool_size
        self.dyn_filter = nn.Linear(d_model, d_model)
        self.dyn_conv = ConvGN(d_model, d_model, 1, groups, relu=True)
        self.pool_conv = ConvGN(cfg.text_pool_size * d_model, d_model, 1, groups, relu=True)
        nn.init.kaiming_uniform_(self.dyn_filter.weight, a=1)
        nn.init.zeros_(self.dyn_filter.bias)

    def forward(self, f: Tensor, f_pos: Tensor, text: TextFeatures, t: int) -> Tensor:
        bt, c, h, w = f.shape

        def to_clip(x: Tensor) -> Tensor:  # [B*T, C, h, w] -> [B, T*h*w, C]
            return x.flatten(2).transpose(1, 2).reshape(-1, t * h * w, c)

        grounded, words = self.cross_attn(to_clip(f), to_clip(f_pos.expand(bt, -1, -1, -1)),
                                          text)
        grounded = grounded.reshape(bt, h * w, c).transpose(1, 2).reshape(bt, c, h, w)
        kernels = self.dyn_filter(adaptive_pool_words(words, text.pad_mask,
                                                      self.text_pool_size))  # [B, K, C]
        kernels = kernels.repeat_interleave(t, 0)  # [B*T, K, C]
        y = self.dyn_conv(grounded)  # [B*T, C, h, w]
        y = torch.einsum("nchw,nkc->nkchw", y, kernels).flatten(1, 2)  # [B*T, K*C, h, w]
        return grounded + self.pool_conv(y)
