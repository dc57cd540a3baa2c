"""Instance-sequence matching of queries to the referred object (paper eq. 11, as released:
lxa9867/R2VOS ``models/matcher.py``, ReferFormer's matcher).

An expression refers to one object, so a positive pair has one target: its boxes, masks and
visibility over the T frames of the clip. A query is one slot tracked over the clip; the
cost of query n is a clip-level average of per-frame costs, and the query of least cost is
the match (the assignment problem with one target; the release calls it a "MinCost
Matcher"). Negative pairs are not matched.

Costs of query n, before the weights:

- score: mean over the frames where the object is visible of FL(s_nt, 1) - FL(s_nt, 0), the
  focal loss against 1 and against 0 (log of the probability plus 1e-8, as released);
- box: mean over *all* T frames of ||b_nt - b^_t||_1 and of -GIoU (on frames where the
  object is absent the target box is all zeros, as in the release's data);
- mask: the pixel focal loss averaged over the clip's T x h x w pixels and minus the Dice
  coefficient of the clip taken as one mask, the target sampled at the prediction's stride
  (every 4th pixel from offset 2, :func:`downsample_masks`).

Legend: B pairs, T frames, Q queries, H x W target size, h x w = H/4 x W/4 prediction size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reference_model.box_ops import box_cxcywh_to_xyxy, paired_generalized_box_iou
from reference_model.losses import sigmoid_focal_loss

_LOG_EPS = 1e-8  # the release's epsilon inside the logs of the score cost


@dataclass(frozen=True)
class MatcherConfig:
    """Cost weights of eq. 11; defaults are the release's ``--set_cost_*``."""

    cost_class: float = 2.0  # focal score cost (lambda_conf)
    cost_bbox: float = 5.0  # L1 box cost
    cost_giou: float = 2.0  # -GIoU box cost
    cost_mask: float = 2.0  # pixel focal mask cost
    cost_dice: float = 5.0  # -Dice coefficient mask cost
    focal_alpha: float = 0.25  # alpha of the focal costs (fixed in the release)
    focal_gamma: float = 2.0  # gamma of the focal costs
    mask_stride: int = 4  # predicted masks are at 1/4 of the input size


def downsample_masks(masks: Tensor, stride: int = 4) -> Tensor:
    """Target masks [..., H, W] sampled at the prediction's stride, as the release does:
    pixel (stride/2 + stride*i, stride/2 + stride*j) of the input -> (i, j). H and W must be
    multiples of ``stride``."""
    h, w = masks.shape[-2:]
    if h % stride or w % stride:
        raise ValueError(f"mask size {h}x{w} is not a multiple of the stride {stride}")
    start = stride // 2
    return masks[..., start::stride, start::stride]


def _score_cost(logits: Tensor, valid: Tensor, alpha: float, gamma: float) -> Tensor:
    """logits [T, Q], valid [T] -> [Q]: focal cost of being the object, on visible frames."""
    prob = logits.sigmoid()
    neg = (1 - alpha) * prob**gamma * -(1 - prob + _LOG_EPS).log()
    pos = alpha * (1 - prob) ** gamma * -(prob + _LOG_EPS).log()
    keep = valid.bool()
    if not bool(keep.any()):
        return logits.new_zeros(logits.shape[1])
    return (pos - neg)[keep].mean(0)


def _focal_coef(masks: Tensor, target: Tensor, alpha: float, gamma: float) -> Tensor:
    """masks [Q, P] logits, target [P] -> [Q]: pixel-mean focal loss of each query."""
    return sigmoid_focal_loss(masks, target.expand_as(masks), alpha, gamma).mean(1)


def _dice_coef(masks: Tensor, target: Tensor) -> Tensor:
    """masks [Q, P] logits, target [P] -> [Q]: Dice coefficient (not 1 - Dice)."""
    prob = masks.sigmoid()
    return (2 * (prob * target).sum(1) + 1) / (prob.sum(1) + target.sum() + 1)


class HungarianMatcher(nn.Module):
    """Picks, for each positive pair, the query that tracks the referred object."""

    def __init__(self, cfg: MatcherConfig):
        super().__init__()
        self.cfg = cfg

    @torch.no_grad()
    def forward(self, outputs: dict, targets: list[dict]) -> list[tuple[Tensor, Tensor]]:
        """Match every pair.

        outputs: "pred_logits" [B, T, Q, 1], "pred_boxes" [B, T, Q, 4] cxcywh,
            "pred_masks" [B, T, Q, h, w] logits.
        targets: B dicts with "positive" (bool); positives also "boxes" [T, 4] cxcywh,
            "masks" [T, H, W] in {0, 1}, "valid" [T].
        Returns B pairs (query_idx, target_idx) of int64 tensors, of length 1 for a positive
        pair (target index 0) and 0 for a negative one.
        """
        indices = []
        for b, target in enumerate(targets):
            if not bool(target["positive"]):
                empty = torch.empty(0, dtype=torch.int64)
                indices.append((empty, empty.clone()))
                continue
            query = int(self.cost(outputs, b, target).argmin())
            indices.append((torch.tensor([query]), torch.tensor([0])))
        return indices

    @torch.no_grad()
    def cost(self, outputs: dict, b: int, target: dict) -> Tensor:
        """Weighted total cost [Q] of every query of pair b."""
        c = self.cfg
        terms = self.cost_terms(outputs, b, target)
        return (c.cost_class * terms["class"] + c.cost_bbox * terms["bbox"]
                + c.cost_giou * terms["giou"] + c.cost_mask * terms["mask"]
                + c.cost_dice * terms["dice"])

    @torch.no_grad()
    def cost_terms(self, outputs: dict, b: int, target: dict) -> dict[str, Tensor]:
        """Unweighted costs [Q] by name: "class", "bbox", "giou", "mask", "dice"."""
        c = self.cfg
        logits = outputs["pred_logits"][b, ..., 0]  # [T, Q]
        boxes = outputs["pred_boxes"][b]  # [T, Q, 4]
        tgt_boxes = target["boxes"].to(boxes)[:, None]  # [T, 1, 4]
        giou = paired_generalized_box_iou(box_cxcywh_to_xyxy(boxes),
                                          box_cxcywh_to_xyxy(tgt_boxes))  # [T, Q]
        masks = outputs["pred_masks"][b].transpose(0, 1).flatten(1)  # [Q, T*h*w]
        tgt = downsample_masks(target["masks"], c.mask_stride).to(masks).flatten()  # [T*h*w]
        return {
            "class": _score_cost(logits, target["valid"].to(logits.device), c.focal_alpha,
                                 c.focal_gamma),
            "bbox": (boxes - tgt_boxes).abs().sum(-1).mean(0),
            "giou": -giou.mean(0),
            "mask": _focal_coef(masks, tgt, c.focal_alpha, c.focal_gamma),
            "dice": -_dice_coef(masks, tgt),
        }
