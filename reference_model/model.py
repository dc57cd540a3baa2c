"""The R2-VOS reference model (paper section 4, Figure 3).

Pipeline for a clip of T frames and its caption:
backbone (strides 4..32) -> input projection (4 levels, strides 8..64) -> early grounding on
the stride-32 level (f_early, section 4.2) -> V-T projection (e', section 4.3) -> deformable
encoder -> instance queries from the fused text embedding -> deformable decoder shared over
frames (z_t) -> box / score heads and dynamic-convolution masks (section 4.4); the semantic
consensus head scores the alignment A of the clip and the caption.

Legend: B batch, T frames, Q = N instance queries, C hidden channels, L words, H, W input size.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .backbone import Backbone
from .config import R2VOSConfig
from .deformable_transformer import MLP, DeformableDecoder, DeformableEncoder
from .early_grounding import EarlyGrounding
from .position_encoding import position_encoding_like
from .segmentation import DynamicMaskHead, VisualDecoder, gn_groups
from .text_encoder import TextEncoder
from .vt_projection import VTProjection


class InputProjection(nn.Module):
    """Backbone strides 8, 16, 32 -> C channels (1x1 conv + GN); stride 64 from a 3x3/2 conv."""

    def __init__(self, in_channels: dict[int, int], d_model: int):
        super().__init__()
        gn = gn_groups(d_model)
        self.lateral = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels[s], d_model, 1), nn.GroupNorm(gn, d_model))
            for s in (8, 16, 32))
        self.extra = nn.Sequential(nn.Conv2d(in_channels[32], d_model, 3, stride=2, padding=1),
                                   nn.GroupNorm(gn, d_model))
        for conv in [m[0] for m in self.lateral] + [self.extra[0]]:
            nn.init.xavier_uniform_(conv.weight, gain=1)
            nn.init.zeros_(conv.bias)

    def forward(self, feats: dict[int, Tensor]) -> list[Tensor]:
        """{stride: [N, C_s, H/s, W/s]} -> 4 maps [N, C, H/s, W/s], s = 8, 16, 32, 64."""
        out = [proj(feats[s]) for proj, s in zip(self.lateral, (8, 16, 32))]
        return out + [self.extra(feats[32])]


def _flatten_levels(maps: list[Tensor]) -> tuple[Tensor, Tensor]:
    """4 maps [N, C, h_l, w_l] -> tokens [N, S, C] and spatial shapes [L, 2] (h_l, w_l)."""
    shapes = torch.tensor([m.shape[-2:] for m in maps], dtype=torch.long, device=maps[0].device)
    return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1), shapes


def _split_levels(tokens: Tensor, shapes: Tensor) -> list[Tensor]:
    """Inverse of :func:`_flatten_levels`: [N, S, C] -> maps [N, C, h_l, w_l]."""
    sizes = [h * w for h, w in shapes.tolist()]
    return [x.transpose(1, 2).unflatten(2, (h, w))
            for x, (h, w) in zip(tokens.split(sizes, 1), shapes.tolist())]


class R2VOS(nn.Module):
    """Referring video object segmentation with relational cycle consistency (R2-VOS)."""

    def __init__(self, cfg: R2VOSConfig):
        super().__init__()
        self.cfg = cfg
        c, h = cfg.transformer.hidden_dim, cfg.head
        self.hidden_dim, self.num_queries = c, h.num_queries
        self.backbone = Backbone(cfg.backbone)
        self.text_encoder = TextEncoder(cfg.text_encoder, c)
        self.input_proj = InputProjection(self.backbone.num_channels, c)
        self.level_embed = nn.Parameter(torch.randn(cfg.transformer.num_feature_levels, c) * 0.02)
        self.encoder = DeformableEncoder(cfg.transformer)
        self.decoder = DeformableDecoder(cfg.transformer, h.box_mlp_layers)
        grounded = cfg.grounding.enabled
        self.grounding = EarlyGrounding(cfg.grounding, c) if grounded else None
        self.vt_projection = VTProjection(cfg.grounding, c) if grounded else None
        self.text_fusion = nn.Linear(2 * c, c) if h.text_fusion else None
        self.consensus_head = MLP(2 * c, c, 1, 2) if h.consensus_head else None
        self.query_embed = nn.Embedding(h.num_queries, c)  # query positional embeddings
        self.reference_points = nn.Linear(c, 2)
        self.score_head = MLP(c, c, 1, 2)
        nn.init.constant_(self.score_head.layers[-1].bias, -math.log((1 - 0.01) / 0.01))
        self.visual_decoder = VisualDecoder(h, c, self.backbone.num_channels[4])
        self.mask_head = DynamicMaskHead(h, c)

    def forward(self, samples: Tensor, captions: list[str]) -> dict:
        """samples: [B, T, 3, H, W] normalised frames, all of one size (no padding masks);
        captions: B strings. Returns

        - ``pred_logits`` [B, T, Q, 1]: score logits;
        - ``pred_boxes`` [B, T, Q, 4]: normalised cxcywh in [0, 1];
        - ``pred_masks`` [B, T, Q, Hm, Wm]: mask logits, Hm = ceil(H / mask_stride);
        - ``pred_align`` [B]: alignment logit A, None without the consensus head;
        - ``text_embed`` [B, C]: sentence embedding e;
        - ``text_recon`` [B, C]: reconstructed embedding e', None without early grounding;
        - ``aux_outputs``: one dict of pred_logits/pred_boxes/pred_masks per earlier decoder
          layer.
        """
        b, t = samples.shape[:2]
        if len(captions) != b:
            raise ValueError(f"{len(captions)} captions for a batch of {b} clips")
        feats = self.backbone(samples.flatten(0, 1))  # {stride: [B*T, C_s, H/s, W/s]}
        g, text_mask, e = self.text_encoder(captions, samples.device)  # [B, L, C], [B, L], [B, C]
        srcs = self.input_proj(feats)  # 4 x [B*T, C, h_l, w_l]
        pos = [position_encoding_like(s, self.hidden_dim) for s in srcs]
        e_rec = None
        if self.grounding is not None:
            srcs[2], e_rec = self._ground(srcs[2], pos[2], g, text_mask, b)
        src, shapes = _flatten_levels(srcs)  # [B*T, S, C]
        pos_tokens = torch.cat([p.flatten(2).transpose(1, 2) + self.level_embed[i]
                                for i, p in enumerate(pos)], 1)  # [B*T, S, C]
        memory = self.encoder(src, pos_tokens, shapes)  # [B*T, S, C]
        hs, boxes = self._decode(memory, shapes, e, e_rec, t)  # [D, B*T, Q, C], [D, B*T, Q, 4]
        f_out = self.visual_decoder(_split_levels(memory, shapes)[:3], feats[4])
        masks = torch.stack([self.mask_head(z, bx[..., :2], f_out)
                             for z, bx in zip(hs, boxes)])  # [D, B*T, Q, Hm, Wm]
        logits = self.score_head(hs)  # [D, B*T, Q, 1]
        layers = [{"pred_logits": lo.unflatten(0, (b, t)), "pred_boxes": bx.unflatten(0, (b, t)),
                   "pred_masks": m.unflatten(0, (b, t))}
                  for lo, bx, m in zip(logits, boxes, masks)]
        out = dict(layers[-1])
        out["pred_align"] = None
        if self.consensus_head is not None:
            out["pred_align"] = self.consensus_head(torch.cat((e, e_rec), -1)).squeeze(-1)
        out["text_embed"], out["text_recon"] = e, e_rec
        out["aux_outputs"] = layers[:-1]
        return out

    def _ground(self, f: Tensor, pos: Tensor, g: Tensor, text_mask: Tensor,
                b: int) -> tuple[Tensor, Tensor]:
        """Early grounding over whole clips, then V-T projection.

        f, pos: [B*T, C, h, w] -> (f_early [B*T, C, h, w], e' [B, C]).
        """
        bt, c, h, w = f.shape
        t = bt // b

        def to_clip(x: Tensor) -> Tensor:  # [B*T, C, h, w] -> [B, T*h*w, C]
            return x.view(b, t, c, h * w).permute(0, 1, 3, 2).reshape(b, t * h * w, c)

        f_clip, pos_clip = to_clip(f), to_clip(pos)
        f_early = self.grounding(f_clip, pos_clip, g, text_mask)  # [B, T*h*w, C]
        e_rec = self.vt_projection(f_early, pos_clip)  # [B, C]
        f_early = f_early.view(b, t, h * w, c).permute(0, 1, 3, 2).reshape(bt, c, h, w)
        return f_early, e_rec

    def _decode(self, memory: Tensor, shapes: Tensor, e: Tensor, e_rec: Tensor | None,
                t: int) -> tuple[Tensor, Tensor]:
        """Queries from the (fused) text embedding, decoded per frame with shared weights."""
        text = e if self.text_fusion is None else self.text_fusion(torch.cat((e, e_rec), -1))
        bt, q = memory.shape[0], self.num_queries
        tgt = text.repeat_interleave(t, 0)[:, None].expand(-1, q, -1)  # [B*T, Q, C]
        query_pos = self.query_embed.weight[None].expand(bt, -1, -1)  # [B*T, Q, C]
        ref = self.reference_points(query_pos).sigmoid()  # [B*T, Q, 2]
        return self.decoder(tgt, query_pos, ref, memory, shapes)
