"""Clip-level Hungarian matching of queries to referred objects (paper section 4.5, eq. 11).

As in DETR, but a query is one slot tracked over the T frames of a clip (ReferFormer's
instance sequence matching): the cost of query n against target object k averages per-frame
costs over the clip, and ``scipy.optimize.linear_sum_assignment`` picks the assignment of
least total cost. Negative pairs (the referred object is absent, label A^ = 0) are not
matched at all.

Each cost is the part of the matching-dependent loss of :mod:`reference_model.criterion`
contributed by the pair (n, k), before the loss weights, so matching minimises (up to the
per-target constants that do not change an assignment) the loss that is then trained:

- score: mean over frames of valid[k, t] * (FL(s_nt, 1) - FL(s_nt, 0)), FL the focal loss
  (a query's score target is valid[k, t] when matched to k and 0 otherwise);
- box: mean over the frames where k is visible of ||b_nt - b^_kt||_1 and of 1 - GIoU
  (0 when k is never visible);
- mask: mean over all T frames of the pixel-mean BCE (or focal loss) and of the Dice loss,
  predicted masks upsampled bilinearly (align_corners=False) to the target resolution. On
  frames where k is not visible its target mask is empty, so the query must predict nothing.

Legend: B videos, T frames, N queries, K target objects, H x W target mask size, P = H W.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from reference_model.box_ops import box_cxcywh_to_xyxy, paired_generalized_box_iou


@dataclass(frozen=True)
class MatcherConfig:
    """Cost weights of eq. 11; defaults are the public ReferFormer / R2VOS ones."""

    cost_class: float = 2.0  # focal score cost (lambda_conf)
    cost_bbox: float = 5.0  # L1 box cost
    cost_giou: float = 2.0  # 1 - GIoU box cost
    cost_mask: float = 2.0  # pixel-wise mask cost (see mask_cost)
    cost_dice: float = 5.0  # Dice mask cost
    mask_cost: Literal["bce", "focal"] = "bce"  # pixel-wise mask cost: sigmoid CE or focal
    focal_alpha: float = 0.25  # alpha of the focal costs (Deformable DETR)
    focal_gamma: float = 2.0  # gamma of the focal costs


def _focal_pos_neg(logits: Tensor, alpha: float, gamma: float) -> tuple[Tensor, Tensor]:
    """Focal loss of every logit against target 1 and against target 0 (same shape each)."""
    prob = logits.sigmoid()
    pos = alpha * (1 - prob) ** gamma * F.softplus(-logits)  # -log(p) = softplus(-x)
    neg = (1 - alpha) * prob**gamma * F.softplus(logits)  # -log(1 - p) = softplus(x)
    return pos, neg


def _pixel_cost(pos: Tensor, neg: Tensor, tgt: Tensor) -> Tensor:
    """Pixel-mean loss of every prediction against every target, from its two branches.

    pos, neg: [T, N, P] per-pixel loss against 1 and against 0; tgt: [T, K, P] in {0, 1}.
    Returns [T, N, K].
    """
    p = tgt.shape[-1]
    return (torch.einsum("tnp,tkp->tnk", pos, tgt)
            + torch.einsum("tnp,tkp->tnk", neg, 1 - tgt)) / p


def _dice_cost(logits: Tensor, tgt: Tensor) -> Tensor:
    """Dice loss of every prediction against every target: [T, N, P], [T, K, P] -> [T, N, K]."""
    prob = logits.sigmoid()
    numerator = 2 * torch.einsum("tnp,tkp->tnk", prob, tgt)
    denominator = prob.sum(-1)[:, :, None] + tgt.sum(-1)[:, None, :]
    return 1 - (numerator + 1) / (denominator + 1)


class HungarianMatcher(nn.Module):
    """Assigns each referred object of a positive video to one query for the whole clip."""

    def __init__(self, cfg: MatcherConfig):
        super().__init__()
        self.cfg = cfg

    @torch.no_grad()
    def forward(self, outputs: dict, targets: list[dict]) -> list[tuple[Tensor, Tensor]]:
        """Match queries to targets, video by video.

        outputs: "pred_logits" [B, T, N, 1], "pred_boxes" [B, T, N, 4] cxcywh,
            "pred_masks" [B, T, N, Hm, Wm] (logits).
        targets: B dicts with "positive" bool [], "boxes" [K, T, 4] cxcywh,
            "masks" [K, T, H, W] in {0, 1}, "valid" [K, T] bool.
        Returns B pairs (query_idx, target_idx), int64 tensors of length min(N, K) (0 for a
        negative video), sorted by query index as scipy returns them.
        """
        indices = []
        for b, target in enumerate(targets):
            if not bool(target["positive"]) or target["boxes"].shape[0] == 0:
                empty = torch.empty(0, dtype=torch.int64)
                indices.append((empty, empty.clone()))
                continue
            cost = self.cost_matrix(outputs, b, target)
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            indices.append((torch.as_tensor(rows, dtype=torch.int64),
                            torch.as_tensor(cols, dtype=torch.int64)))
        return indices

    @torch.no_grad()
    def cost_matrix(self, outputs: dict, b: int, target: dict) -> Tensor:
        """Weighted total cost [N, K] of every query of video b against every target object."""
        cfg = self.cfg
        costs = self.cost_terms(outputs, b, target)
        return (cfg.cost_class * costs["class"] + cfg.cost_bbox * costs["bbox"]
                + cfg.cost_giou * costs["giou"] + cfg.cost_mask * costs["mask"]
                + cfg.cost_dice * costs["dice"])

    @torch.no_grad()
    def cost_terms(self, outputs: dict, b: int, target: dict) -> dict[str, Tensor]:
        """Unweighted costs [N, K] by name: "class", "bbox", "giou", "mask", "dice"."""
        valid = target["valid"].to(outputs["pred_logits"].dtype)  # [K, T]
        costs = {"class": self._class_cost(outputs["pred_logits"][b, ..., 0], valid)}
        costs.update(self._box_costs(outputs["pred_boxes"][b], target["boxes"], valid))
        costs.update(self._mask_costs(outputs["pred_masks"][b], target["masks"]))
        return costs

    def _class_cost(self, logits: Tensor, valid: Tensor) -> Tensor:
        """logits [T, N], valid [K, T] -> [N, K]."""
        pos, neg = _focal_pos_neg(logits, self.cfg.focal_alpha, self.cfg.focal_gamma)
        return torch.einsum("tn,kt->nk", pos - neg, valid) / logits.shape[0]

    def _box_costs(self, boxes: Tensor, tgt_boxes: Tensor, valid: Tensor) -> dict[str, Tensor]:
        """boxes [T, N, 4], tgt_boxes [K, T, 4], valid [K, T] -> {"bbox", "giou"}: [N, K]."""
        # Boxes on frames where the object is not visible carry no meaning (often zeros):
        # replace them by a harmless box so GIoU stays finite, then mask them out.
        tgt_boxes = torch.where(valid[..., None] > 0, tgt_boxes, tgt_boxes.new_tensor(0.5))
        pred = boxes.transpose(0, 1)[:, None]  # [N, 1, T, 4]
        tgt = tgt_boxes[None]  # [1, K, T, 4]
        l1 = (pred - tgt).abs().sum(-1)  # [N, K, T]
        giou = paired_generalized_box_iou(box_cxcywh_to_xyxy(pred), box_cxcywh_to_xyxy(tgt))
        n_valid = valid.sum(-1).clamp(min=1)  # [K]
        return {"bbox": (l1 * valid).sum(-1) / n_valid,
                "giou": ((1 - giou) * valid).sum(-1) / n_valid}

    def _mask_costs(self, masks: Tensor, tgt_masks: Tensor) -> dict[str, Tensor]:
        """masks [T, N, Hm, Wm] logits, tgt_masks [K, T, H, W] -> {"mask", "dice"}: [N, K]."""
        masks = F.interpolate(masks, size=tgt_masks.shape[-2:], mode="bilinear",
                              align_corners=False).flatten(2)  # [T, N, P]
        tgt = tgt_masks.transpose(0, 1).flatten(2).to(masks.dtype)  # [T, K, P]
        if self.cfg.mask_cost == "bce":
            pos, neg = F.softplus(-masks), F.softplus(masks)
        else:
            pos, neg = _focal_pos_neg(masks, self.cfg.focal_alpha, self.cfg.focal_gamma)
        return {"mask": _pixel_cost(pos, neg, tgt).mean(0),
                "dice": _dice_cost(masks, tgt).mean(0)}
