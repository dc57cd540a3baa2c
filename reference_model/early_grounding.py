"""Early grounding (paper section 4.2, eqs. 4-6).

Video and text exchange information with multi-head cross-attention (MCA), each followed by a
residual, LayerNorm and an FFN (eqs. 4-5). The updated words g' are pooled to K slots and a
linear layer turns each slot into a 1x1 kernel theta_i in R^C (one output channel, as in the
paper). The K response maps theta_i^T f' are concatenated, mapped back to C channels by a 1x1
convolution phi, added to f' and batch-normalised (eq. 6).

Where it applies: the model calls it on the stride-32 level (the paper's f, after the input
projection to C channels), with the T frames of a clip flattened into one sequence of T*H*W
tokens so that grounding sees the whole clip. f_early replaces that level in the encoder input.

Pooling of g' to K slots is mask-aware: the n valid tokens of a caption are split into K
contiguous, nearly equal bins (token i goes to bin floor(i * K / n)) and each bin is averaged;
when n < K the empty bins take the mean of all valid tokens.

Legend: B batch, S = T*H*W video tokens, L words, K kernels, C channels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import GroundingConfig
from .deformable_transformer import FFN
from .text_encoder import masked_mean


class CrossAttentionBlock(nn.Module):
    """h = LN(MCA(x, y) + x); out = LN(FFN(h) + h)."""

    def __init__(self, d_model: int, nheads: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, nheads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.ffn = FFN(d_model, dim_feedforward, dropout)

    def forward(self, x: Tensor, y: Tensor, x_pos: Tensor | None = None,
                y_pos: Tensor | None = None, y_padding: Tensor | None = None) -> Tensor:
        """x: [B, Sx, C] attends to y: [B, Sy, C]; y_padding: [B, Sy] True on padding."""
        q = x if x_pos is None else x + x_pos
        k = y if y_pos is None else y + y_pos
        h = self.attn(q, k, y, key_padding_mask=y_padding, need_weights=False)[0]
        return self.ffn(self.norm(x + self.dropout(h)))


def pool_tokens(g: Tensor, mask: Tensor, k: int) -> Tensor:
    """Mask-aware pooling of words to K slots: g [B, L, C], mask [B, L] (valid) -> [B, K, C]."""
    valid = mask.to(g.dtype)
    n = valid.sum(1, keepdim=True).clamp(min=1)  # [B, 1]
    rank = valid.cumsum(1) - 1  # index of each valid token among the valid ones, [B, L]
    bins = torch.div(rank * k, n, rounding_mode="floor").clamp(0, k - 1).long()
    assign = nn.functional.one_hot(bins, k).to(g.dtype) * valid[..., None]  # [B, L, K]
    counts = assign.sum(1)  # [B, K]
    pooled = torch.einsum("blk,blc->bkc", assign, g) / counts.clamp(min=1)[..., None]
    fallback = masked_mean(g, mask)[:, None, :]  # [B, 1, C]
    return torch.where(counts[..., None] > 0, pooled, fallback)


class EarlyGrounding(nn.Module):
    """``forward(f [B, S, C], pos [B, S, C], g [B, L, C], mask [B, L]) -> f_early [B, S, C]``."""

    def __init__(self, cfg: GroundingConfig, d_model: int):
        super().__init__()
        args = (d_model, cfg.nheads, cfg.dim_feedforward, cfg.dropout)
        self.video_to_text = CrossAttentionBlock(*args)  # eq. 4: video queries the text
        self.text_to_video = CrossAttentionBlock(*args)  # eq. 5: text queries the video
        self.num_kernels = cfg.num_kernels
        self.kernel_fc = nn.Linear(d_model, d_model)
        self.reduce = nn.Conv1d(cfg.num_kernels, d_model, 1)  # phi: K responses -> C channels
        self.norm = nn.BatchNorm1d(d_model)

    def forward(self, f: Tensor, pos: Tensor, g: Tensor, mask: Tensor) -> Tensor:
        f1 = self.video_to_text(f, g, x_pos=pos, y_padding=~mask)  # f' [B, S, C]
        g1 = self.text_to_video(g, f, y_pos=pos)  # g' [B, L, C]
        kernels = self.kernel_fc(pool_tokens(g1, mask, self.num_kernels))  # [B, K, C]
        responses = torch.einsum("bkc,bsc->bks", kernels, f1)  # [B, K, S]
        responses = responses / f1.shape[-1] ** 0.5  # keep the scale independent of C
        out = self.norm(self.reduce(responses) + f1.transpose(1, 2))  # [B, C, S]
        return out.transpose(1, 2)  # [B, S, C]
