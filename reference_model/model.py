"""The R2-VOS reference model as the authors released it (lxa9867/R2VOS ``ReferFormer`` with
``--use_cycle --mix_query --neg_cls --with_box_refine --binary``; paper section 4, Figure 3).

Pipeline for a clip of T frames and a caption:

1. backbone (strides 4..32) and input projection to C channels at strides 8, 16, 32 and an
   extra stride-64 level, each with 2-D sine positions: text-independent, computed once per
   frame (:meth:`R2VOS.encode_frames`) and shared by every caption of a video;
2. text encoder: words g, sentence embedding e;
3. multiplicative vision-language fusion on all four input levels;
4. deformable encoder;
5. cross-modal FPN over the memory (strides 32, 16, 8) and the backbone's stride-4 feature,
   with early grounding at its top: mask features at stride 4;
6. V-T projection of the grounded top level: the reconstructed text embedding e';
7. queries e + LN(Linear([e; e'])) repeated N times, decoded per frame with shared weights
   (deformable decoder with box refinement); per layer a score logit, a box and a dynamic
   mask per query;
8. the pair head on [e; e']: the logit that caption and video are *unrelated*.

Legend: B clips, T frames, Q queries, C channels, L words, H x W input size,
h x w = H/4 x W/4 mask size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .backbone import Backbone
from .config import R2VOSConfig
from .cross_modal_fpn import CrossModalFPN
from .deformable_transformer import DeformableDecoder, DeformableEncoder
from .fusion import VisionLanguageFusion
from .heads import DynamicMaskHead
from .layers import MLP
from .position_encoding import position_encoding_like
from .text_encoder import FeatureResizer, TextEncoder
from .vt_projection import VTProjection


@dataclass(frozen=True)
class FrameFeatures:
    """Text-independent features of N frames: ``f4`` [N, C4, H/4, W/4] (backbone stride 4),
    ``srcs`` 4 x [N, C, h_l, w_l] (input projections, strides 8..64), ``pos`` 4 x
    [1, C, h_l, w_l], ``image_size`` (H, W)."""

    f4: Tensor
    srcs: list[Tensor]
    pos: list[Tensor]
    image_size: tuple[int, int]

    def tile(self, copies: int) -> FrameFeatures:
        """The same frames for ``copies`` captions: batch N -> copies * N, caption-major.
        ``f4`` stays [N, ...]: the FPN broadcasts it over the captions."""
        if copies == 1:
            return self

        def rep(x: Tensor) -> Tensor:
            return x.repeat(copies, *([1] * (x.dim() - 1)))

        return FrameFeatures(self.f4, [rep(s) for s in self.srcs], self.pos, self.image_size)


class InputProjection(nn.ModuleList):
    """Backbone strides 8, 16, 32 -> C channels (1x1 conv + GN); stride 64 from a 3x3/2 conv
    of the stride-32 feature. Entry l is ``Sequential(conv, GroupNorm)``."""

    def __init__(self, in_channels: dict[int, int], d_model: int, groups: int):
        def block(cin: int, kernel: int, stride: int) -> nn.Sequential:
            conv = nn.Conv2d(cin, d_model, kernel, stride=stride, padding=kernel // 2)
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)
            return nn.Sequential(conv, nn.GroupNorm(groups, d_model))

        super().__init__([block(in_channels[8], 1, 1), block(in_channels[16], 1, 1),
                          block(in_channels[32], 1, 1), block(in_channels[32], 3, 2)])

    def forward(self, feats: dict[int, Tensor]) -> list[Tensor]:
        """{stride: [N, C_s, H/s, W/s]} -> 4 maps [N, C, H/s, W/s], s = 8, 16, 32, 64."""
        return [self[0](feats[8]), self[1](feats[16]), self[2](feats[32]), self[3](feats[32])]


def _flatten_levels(maps: list[Tensor]) -> tuple[Tensor, Tensor]:
    """4 maps [N, C, h_l, w_l] -> tokens [N, S, C] and spatial shapes [L, 2] (h_l, w_l)."""
    shapes = torch.tensor([m.shape[-2:] for m in maps], dtype=torch.long, device=maps[0].device)
    return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1), shapes


def _split_levels(tokens: Tensor, shapes: Tensor, levels: int) -> list[Tensor]:
    """The first ``levels`` levels of [N, S, C] tokens as maps [N, C, h_l, w_l]."""
    sizes = [h * w for h, w in shapes.tolist()]
    maps = []
    for x, (h, w) in list(zip(tokens.split(sizes, 1), shapes.tolist()))[:levels]:
        maps.append(x.transpose(1, 2).reshape(x.shape[0], -1, h, w))
    return maps


class R2VOS(nn.Module):
    """Referring video object segmentation with relational cycle consistency (R2-VOS)."""

    def __init__(self, cfg: R2VOSConfig, pretrained_text: bool = True):
        super().__init__()
        self.cfg = cfg
        tc, h = cfg.transformer, cfg.head
        c = self.hidden_dim = tc.hidden_dim
        self.num_queries = h.num_queries
        self.backbone = Backbone(cfg.backbone)
        self.text_encoder = TextEncoder(cfg.text_encoder, c, pretrained=pretrained_text)
        self.input_proj = InputProjection(self.backbone.num_channels, c, tc.input_proj_groups)
        self.fusion = VisionLanguageFusion(c, tc.fusion_nheads)
        self.level_embed = nn.Parameter(torch.randn(tc.num_feature_levels, c))
        self.encoder = DeformableEncoder(tc)
        self.fpn = CrossModalFPN(h, cfg.grounding, c, self.backbone.num_channels[4])
        self.vt_projection = (VTProjection(cfg.vt_projection, c) if cfg.vt_projection.enabled
                              else None)
        self.query_mixer = FeatureResizer(2 * c, c, dropout=0.0) if h.mix_query else None
        self.query_embed = nn.Embedding(h.num_queries, c)  # query positions
        self.reference_points = nn.Linear(c, 2)
        self.decoder = DeformableDecoder(tc)
        self.class_embed = nn.ModuleList(nn.Linear(c, h.num_classes)
                                         for _ in range(tc.dec_layers))
        self.mask_head = DynamicMaskHead(h, c)
        self.pair_head = MLP(2 * c, c, 1, 3) if h.pair_head else None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.reference_points.weight)
        nn.init.zeros_(self.reference_points.bias)
        prior = -math.log((1 - 0.01) / 0.01)  # score bias for a 1% prior (focal loss)
        for head in self.class_embed:
            nn.init.constant_(head.bias, prior)

    def encode_frames(self, frames: Tensor) -> FrameFeatures:
        """frames [N, 3, H, W] (normalised) -> their text-independent features."""
        feats = self.backbone(frames)  # {stride: [N, C_s, H/s, W/s]}
        srcs = self.input_proj(feats)  # 4 x [N, C, h_l, w_l]
        pos = [position_encoding_like(s, self.hidden_dim) for s in srcs]
        return FrameFeatures(feats[4], srcs, pos, (frames.shape[-2], frames.shape[-1]))

    def forward(self, samples: Tensor, captions: list[str]) -> dict:
        """samples: [B, T, 3, H, W] normalised frames, all of one size (no padding masks);
        captions: B strings. Returns

        - ``pred_logits`` [B, T, Q, 1]: score logits;
        - ``pred_boxes`` [B, T, Q, 4]: normalised cxcywh in [0, 1];
        - ``pred_masks`` [B, T, Q, h, w]: mask logits at stride 4;
        - ``pred_pair`` [B]: logit that the caption does *not* match the clip (None without
          the pair head);
        - ``text_embed`` [B, C]: sentence embedding e;
        - ``text_recon`` [B, C]: reconstructed embedding e' (None without V-T projection);
        - ``aux_outputs``: pred_logits / pred_boxes / pred_masks of the earlier decoder layers.
        """
        b, t = samples.shape[:2]
        if len(captions) != b:
            raise ValueError(f"{len(captions)} captions for a batch of {b} clips")
        return self.forward_features(self.encode_frames(samples.flatten(0, 1)), captions, t)

    def forward_features(self, frames: FrameFeatures, captions: list[str], t: int,
                         aux: bool | None = None) -> dict:
        """The text-dependent part on precomputed frame features of B clips of T frames
        (batch B*T, clip-major). ``aux`` (default: in training) also returns the earlier
        decoder layers' masks; without it only the last layer's masks are computed."""
        b = len(captions)
        aux = self.training if aux is None else aux
        text = self.text_encoder(captions, frames.srcs[0].device)
        srcs = [self._fuse(s, text, t) for s in frames.srcs]  # 4 x [B*T, C, h_l, w_l]
        src, shapes = _flatten_levels(srcs)  # [B*T, S, C]
        pos = torch.cat([p.flatten(2).transpose(1, 2) + self.level_embed[i]
                         for i, p in enumerate(frames.pos)], 1)  # [1, S, C]
        memory = self.encoder(src, pos.expand(src.shape[0], -1, -1), shapes)  # [B*T, S, C]
        mask_features, top = self.fpn(_split_levels(memory, shapes, 3), frames.f4,
                                      frames.pos[2], text, t)
        e, e_rec = text.sentence, None
        if self.vt_projection is not None:
            e_rec = self.vt_projection(top, frames.pos[2], t)  # [B, C]
        hs, boxes = self._decode(memory, shapes, e, e_rec, t)  # [D, B*T, Q, C], [D, B*T, Q, 4]
        logits = torch.stack([head(x) for head, x in zip(self.class_embed, hs)])
        layers = [self._masks(z, bx, mask_features, frames.image_size) if aux or i == len(hs) - 1
                  else None for i, (z, bx) in enumerate(zip(hs, boxes))]
        outs = [{"pred_logits": lo.unflatten(0, (b, t)), "pred_boxes": bx.unflatten(0, (b, t)),
                 "pred_masks": None if m is None else m.unflatten(0, (b, t))}
                for lo, bx, m in zip(logits, boxes, layers)]
        out = dict(outs[-1])
        out["pred_pair"] = None
        if self.pair_head is not None:
            out["pred_pair"] = self.pair_head(torch.cat((e, e_rec), -1))[:, 0]
        out["text_embed"], out["text_recon"] = e, e_rec
        out["aux_outputs"] = outs[:-1] if aux else []
        return out

    def _fuse(self, src: Tensor, text, t: int) -> Tensor:
        """Multiplicative text fusion of one level over whole clips: [B*T, C, h, w]."""
        bt, c, h, w = src.shape
        tokens = src.flatten(2).transpose(1, 2).reshape(bt // t, t * h * w, c)  # [B, T*h*w, C]
        fused = self.fusion(tokens, text)
        return fused.reshape(bt, h * w, c).transpose(1, 2).reshape(bt, c, h, w)

    def _decode(self, memory: Tensor, shapes: Tensor, e: Tensor, e_rec: Tensor | None,
                t: int) -> tuple[Tensor, Tensor]:
        """Queries from the (mixed) text embedding, decoded per frame with shared weights."""
        bt, q = memory.shape[0], self.num_queries
        tgt = e.repeat_interleave(t, 0)[:, None].expand(-1, q, -1)  # [B*T, Q, C]
        if self.query_mixer is not None:
            e_rec_t = e_rec.repeat_interleave(t, 0)[:, None].expand(-1, q, -1)
            tgt = tgt + self.query_mixer(torch.cat((tgt, e_rec_t), -1))
        query_pos = self.query_embed.weight[None].expand(bt, -1, -1)  # [B*T, Q, C]
        ref = self.reference_points(query_pos).sigmoid()  # [B*T, Q, 2]
        return self.decoder(tgt, query_pos, ref, memory, shapes)

    def _masks(self, z: Tensor, boxes: Tensor, mask_features: Tensor,
               image_size: tuple[int, int]) -> Tensor:
        """Dynamic masks of one decoder layer at its (detached) box centres: [B*T, Q, h, w]."""
        return self.mask_head(z, boxes[..., :2].detach(), mask_features, image_size)
