"""Deformable transformer encoder and decoder (Deformable DETR, as the release uses them).

The encoder refines the flattened multi-scale features with deformable self-attention. The
decoder refines instance queries with self-attention, deformable cross-attention to the
encoder memory and an FFN (post-norm), and iteratively refines a reference box per query
("with box refine"): each layer owns a box MLP whose output is a correction in logit space;
the first layer refines the 2-d reference point into a box. Frames are folded into the batch,
so one decoder with shared weights serves every frame.

Frames of a batch share one size, so there is no padding and every valid ratio is 1.
Module and parameter names follow Deformable DETR so that released weights map one to one.

Legend: N batch (B*T), Q queries, S tokens over all levels, L levels, C channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import TransformerConfig
from .layers import MLP
from .ms_deform_attn import MSDeformAttn


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    """logit(x) with x clamped to [eps, 1 - eps]."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def encoder_reference_points(spatial_shapes: Tensor, num_levels: int, device) -> Tensor:
    """Pixel centres of every token, normalised, repeated per level: [S, L, 2] as (x, y)."""
    refs = []
    for h, w in spatial_shapes.tolist():
        ys, xs = torch.meshgrid(
            (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h,
            (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w, indexing="ij")
        refs.append(torch.stack((xs.flatten(), ys.flatten()), -1))  # [H*W, 2]
    return torch.cat(refs, 0)[:, None, :].expand(-1, num_levels, -1)


class DeformableEncoderLayer(nn.Module):
    """Deformable self-attention, then FFN, each with residual and post-LayerNorm."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        c = cfg.hidden_dim
        self.self_attn = MSDeformAttn(c, cfg.num_feature_levels, cfg.nheads, cfg.enc_n_points)
        self.norm1 = nn.LayerNorm(c)
        self.linear1 = nn.Linear(c, cfg.dim_feedforward)
        self.linear2 = nn.Linear(cfg.dim_feedforward, c)
        self.norm2 = nn.LayerNorm(c)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, src: Tensor, pos: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor) -> Tensor:
        """src, pos: [N, S, C]; reference_points: [N, S, L, 2] -> [N, S, C]."""
        y = self.self_attn(src + pos, reference_points, src, spatial_shapes)
        src = self.norm1(src + self.dropout(y))
        y = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout(y))


class DeformableEncoder(nn.Module):
    """Stack of deformable self-attention layers over the flattened multi-scale features."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.layers = nn.ModuleList(DeformableEncoderLayer(cfg) for _ in range(cfg.enc_layers))
        self.num_levels = cfg.num_feature_levels

    def forward(self, src: Tensor, pos: Tensor, spatial_shapes: Tensor) -> Tensor:
        """src, pos: [N, S, C]; spatial_shapes: [L, 2] -> memory [N, S, C]."""
        ref = encoder_reference_points(spatial_shapes, self.num_levels, src.device)
        ref = ref[None].expand(src.shape[0], -1, -1, -1).to(src.dtype)  # [N, S, L, 2]
        for layer in self.layers:
            src = layer(src, pos, ref, spatial_shapes)
        return src


class DeformableDecoderLayer(nn.Module):
    """Query self-attention, deformable cross-attention to the memory, FFN (post-norm)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        c = cfg.hidden_dim
        self.cross_attn = MSDeformAttn(c, cfg.num_feature_levels, cfg.nheads, cfg.dec_n_points)
        self.norm1 = nn.LayerNorm(c)
        self.self_attn = nn.MultiheadAttention(c, cfg.nheads, dropout=cfg.dropout,
                                               batch_first=True)
        self.norm2 = nn.LayerNorm(c)
        self.linear1 = nn.Linear(c, cfg.dim_feedforward)
        self.linear2 = nn.Linear(cfg.dim_feedforward, c)
        self.norm3 = nn.LayerNorm(c)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, tgt: Tensor, query_pos: Tensor, reference_points: Tensor, memory: Tensor,
                spatial_shapes: Tensor) -> Tensor:
        """tgt, query_pos: [N, Q, C]; reference_points: [N, Q, L, 2 or 4];
        memory: [N, S, C] -> [N, Q, C]."""
        q = k = tgt + query_pos
        y = self.self_attn(q, k, tgt, need_weights=False)[0]
        tgt = self.norm2(tgt + self.dropout(y))
        y = self.cross_attn(tgt + query_pos, reference_points, memory, spatial_shapes)
        tgt = self.norm1(tgt + self.dropout(y))
        y = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout(y))


class DeformableDecoder(nn.Module):
    """Decoder with iterative box refinement; returns every layer's output and boxes."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        c = cfg.hidden_dim
        self.layers = nn.ModuleList(DeformableDecoderLayer(cfg) for _ in range(cfg.dec_layers))
        self.bbox_embed = nn.ModuleList(MLP(c, c, 4, 3) for _ in range(cfg.dec_layers))
        for box in self.bbox_embed:
            nn.init.zeros_(box.layers[-1].weight)
            nn.init.zeros_(box.layers[-1].bias)
        with torch.no_grad():
            self.bbox_embed[0].layers[-1].bias[2:] = -2.0  # the first layer starts small boxes
        self.num_levels = cfg.num_feature_levels

    def forward(self, tgt: Tensor, query_pos: Tensor, reference_points: Tensor, memory: Tensor,
                spatial_shapes: Tensor) -> tuple[Tensor, Tensor]:
        """tgt, query_pos: [N, Q, C]; reference_points: [N, Q, 2] normalised (x, y);
        memory: [N, S, C] -> (hs [D, N, Q, C], boxes [D, N, Q, 4] cxcywh in [0, 1]) with D
        the number of decoder layers."""
        hs, boxes = [], []
        ref = reference_points
        for layer, bbox_embed in zip(self.layers, self.bbox_embed):
            ref_in = ref[:, :, None].expand(-1, -1, self.num_levels, -1)  # [N, Q, L, 2|4]
            tgt = layer(tgt, query_pos, ref_in, memory, spatial_shapes)
            delta = bbox_embed(tgt)  # [N, Q, 4]
            if ref.shape[-1] == 4:
                new_ref = (delta + inverse_sigmoid(ref)).sigmoid()
            else:
                new_ref = torch.cat((delta[..., :2] + inverse_sigmoid(ref), delta[..., 2:]),
                                    -1).sigmoid()
            hs.append(tgt)
            boxes.append(new_ref)
            ref = new_ref.detach()  # as in Deformable DETR: no gradient through references
        return torch.stack(hs), torch.stack(boxes)
