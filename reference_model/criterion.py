"""The R2-VOS training objective (paper section 4.5, eqs. 7-11), in DETR's SetCriterion form.

L = lambda_text L_text + lambda_segm L_segm + lambda_align L_align (eq. 7):

- L_segm (eq. 11), only over positive pairs (the 1(A^) gate): after clip-level Hungarian
  matching (:mod:`reference_model.matcher`),
  * "labels": focal loss on every score logit S_nt of every query of every positive video,
    target valid[k, t] for the query matched to object k and 0 for the others;
  * "boxes": L1 and 1 - GIoU between matched boxes, on the frames where the object is visible;
  * "masks": pixel focal loss (or BCE) and Dice between matched masks, predicted masks upsampled
    bilinearly to the target size; on every frame (an invisible object has an empty mask).
  Each per-object term is averaged over its frames, summed over objects and divided by the
  number of referred objects in the positive videos (at least 1), as DETR divides by
  num_boxes; the score loss is summed over queries and frames and divided by that number
  times T. Negative videos add nothing, so adding one to a batch leaves these terms unchanged.
  The same terms are computed for every intermediate decoder layer, suffixed _0, _1, ...
- L_align: binary cross-entropy of the pair head's logit, which (as released) predicts that
  the pair is *unrelated*: target 1 for negative pairs, 0 for positive ones.
- L_text (eqs. 8-10), over the positive pairs of the batch: relational cycle consistency
  between sentence embeddings e and reconstructions e' (RKD distance and angle terms), or a
  point-wise loss, per ``CriterionConfig.cycle``.

Loss functions return unweighted values and are looked up by name; every weight is applied in
:meth:`SetCriterion.forward` from :meth:`CriterionConfig.weight_dict`.

Legend: B videos, T frames, N queries, K objects of a video, M matched pairs in the batch,
Q positive videos, C channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reference_model import losses as L
from reference_model.box_ops import box_cxcywh_to_xyxy, paired_generalized_box_iou
from reference_model.matcher import HungarianMatcher

CycleVariant = Literal["off", "pointwise", "distance", "angle", "both"]
SEGM_LOSSES = ("labels", "boxes", "masks")


@dataclass(frozen=True)
class CriterionConfig:
    """Loss weights and variants. Segmentation weights are the public ReferFormer / R2VOS ones."""

    cls_coef: float = 2.0  # focal score loss (lambda_conf)
    bbox_coef: float = 5.0  # L1 box loss
    giou_coef: float = 2.0  # GIoU box loss
    mask_coef: float = 2.0  # pixel-wise mask loss (see mask_loss)
    dice_coef: float = 5.0  # Dice mask loss
    segm_coef: float = 1.0  # lambda_segm of eq. 7, multiplies the five weights above
    align_coef: float = 1.0  # lambda_align of eq. 7 (the paper gives no value)
    text_coef: float = 1.0  # lambda_text of eq. 7 (the paper gives no value)
    angle_coef: float = 2.0  # lambda_angle of eq. 8: RKD's angle/distance ratio (2 vs 1)
    cycle: CycleVariant = "both"  # text cycle consistency: "both" = eq. 8; "off" disables it
    pointwise_kind: Literal["mse", "cosine"] = "cosine"  # the loss of cycle="pointwise"
    mask_loss: Literal["focal", "bce"] = "focal"  # pixel-wise mask loss (ReferFormer: focal)
    focal_alpha: float = 0.25  # alpha of the focal losses (Deformable DETR)
    focal_gamma: float = 2.0  # gamma of the focal losses
    huber_delta: float = 1.0  # delta of the Huber loss l_delta of eqs. 9-10
    aux_loss: bool = True  # also supervise every intermediate decoder layer

    def weight_dict(self) -> dict[str, float]:
        """The weight of every loss term, by name (auxiliary terms share their base weight)."""
        s = self.segm_coef
        return {
            "loss_ce": s * self.cls_coef, "loss_bbox": s * self.bbox_coef,
            "loss_giou": s * self.giou_coef, "loss_mask": s * self.mask_coef,
            "loss_dice": s * self.dice_coef, "loss_align": self.align_coef,
            "loss_text_point": self.text_coef, "loss_text_dist": self.text_coef,
            "loss_text_angle": self.text_coef * self.angle_coef,
        }


def _connected_zero(t: Tensor) -> Tensor:
    # Zero that stays in the graph: backward() still reaches t, with zero gradient.
    return t.sum() * 0.0


class SetCriterion(nn.Module):
    """Computes the weighted loss terms of eq. 7 from model outputs and targets."""

    def __init__(self, cfg: CriterionConfig, matcher: HungarianMatcher):
        super().__init__()
        self.cfg = cfg
        self.matcher = matcher
        self.weights = cfg.weight_dict()
        self._segm_fns: dict[str, Callable[..., dict[str, Tensor]]] = {
            "labels": self.loss_labels, "boxes": self.loss_boxes, "masks": self.loss_masks,
        }

    def weight_of(self, name: str) -> float:
        """Weight of a term; "loss_ce_1" (decoder layer 1) weighs as "loss_ce"."""
        if name in self.weights:
            return self.weights[name]
        base, _, layer = name.rpartition("_")
        if layer.isdigit() and base in self.weights:
            return self.weights[base]
        raise KeyError(f"no weight for loss term {name!r}")

    def forward(self, outputs: dict, targets: list[dict]) -> dict[str, Tensor]:
        """Weighted loss terms by name, plus "loss", their sum.

        outputs: the model's dict (``pred_logits`` [B, T, N, 1], ``pred_boxes`` [B, T, N, 4],
            ``pred_masks`` [B, T, N, Hm, Wm], ``pred_pair`` [B] or None, ``text_embed`` [B, C],
            ``text_recon`` [B, C] or None, ``aux_outputs`` list of dicts).
        targets: B dicts with "positive" bool [], "boxes" [K, T, 4], "masks" [K, T, H, W],
            "valid" [K, T].
        """
        weighted = {name: value * self.weight_of(name)
                    for name, value in self.unweighted_losses(outputs, targets).items()}
        weighted["loss"] = sum(weighted.values())
        return weighted

    def unweighted_losses(self, outputs: dict, targets: list[dict]) -> dict[str, Tensor]:
        """Every loss term by name, before weighting."""
        is_positive = [bool(t["positive"]) for t in targets]
        positive = torch.tensor(is_positive, device=outputs["pred_logits"].device)  # [B]
        # DETR's num_boxes: referred objects of the positive videos (single process, no all-reduce).
        num_targets = max(sum(t["boxes"].shape[0] for t, p in zip(targets, is_positive,
                                                                   strict=True) if p), 1)
        losses = self.segm_losses(outputs, targets, positive, num_targets)
        if self.cfg.aux_loss:
            for layer, aux in enumerate(outputs.get("aux_outputs") or []):
                aux_losses = self.segm_losses(aux, targets, positive, num_targets)
                losses.update({f"{name}_{layer}": v for name, v in aux_losses.items()})
        losses.update(self.loss_align(outputs, positive))
        losses.update(self.loss_text(outputs, positive))
        return losses

    def segm_losses(self, outputs: dict, targets: list[dict], positive: Tensor,
                    num_targets: int) -> dict[str, Tensor]:
        """L_segm terms of one decoder layer, matched on its own outputs."""
        indices = self.matcher(outputs, targets)
        losses = {}
        for name in SEGM_LOSSES:
            losses.update(self._segm_fns[name](outputs, targets, indices, positive, num_targets))
        return losses

    def loss_labels(self, outputs: dict, targets: list[dict], indices: list,
                    positive: Tensor, num_targets: int) -> dict[str, Tensor]:
        """Focal score loss over all queries and frames of the positive videos."""
        logits = outputs["pred_logits"][..., 0]  # [B, T, N]
        target = torch.zeros_like(logits)
        for b, (query_idx, target_idx) in enumerate(indices):
            valid = targets[b]["valid"][target_idx].to(logits.dtype)  # [m, T]
            target[b, :, query_idx.to(logits.device)] = valid.T.to(logits.device)
        loss = L.sigmoid_focal_loss(logits[positive], target[positive], self.cfg.focal_alpha,
                                    self.cfg.focal_gamma, reduction="sum")
        return {"loss_ce": loss / (num_targets * logits.shape[1])}

    def loss_boxes(self, outputs: dict, targets: list[dict], indices: list,
                   positive: Tensor, num_targets: int) -> dict[str, Tensor]:
        """L1 and 1 - GIoU of matched boxes, averaged over the frames where the object is seen."""
        device = outputs["pred_boxes"].device
        batch_idx = torch.cat([torch.full_like(q, b) for b, (q, _) in enumerate(indices)])
        query_idx = torch.cat([q for q, _ in indices])
        pred = outputs["pred_boxes"][batch_idx.to(device), :, query_idx.to(device)]  # [M, T, 4]
        target_idx = [k for _, k in indices]
        tgt = torch.cat([t["boxes"][k] for t, k in zip(targets, target_idx, strict=True)])
        valid = torch.cat([t["valid"][k] for t, k in zip(targets, target_idx, strict=True)])
        tgt, valid = tgt.to(pred), valid.to(pred)  # [M, T, 4], [M, T]
        # Boxes of invisible frames are meaningless (often zeros): keep GIoU finite, mask them.
        tgt = torch.where(valid[..., None] > 0, tgt, tgt.new_tensor(0.5))  # [M, T, 4]
        n_valid = valid.sum(-1).clamp(min=1)  # [M]
        l1 = (pred - tgt).abs().sum(-1)  # [M, T]
        giou = paired_generalized_box_iou(box_cxcywh_to_xyxy(pred), box_cxcywh_to_xyxy(tgt))
        return {"loss_bbox": ((l1 * valid).sum(-1) / n_valid).sum() / num_targets,
                "loss_giou": (((1 - giou) * valid).sum(-1) / n_valid).sum() / num_targets}

    def loss_masks(self, outputs: dict, targets: list[dict], indices: list,
                   positive: Tensor, num_targets: int) -> dict[str, Tensor]:
        """Pixel focal loss (or BCE) and Dice of matched masks, averaged over all T frames."""
        pred_masks = outputs["pred_masks"]  # [B, T, N, Hm, Wm]
        pixel, dice = [], []
        for b, (query_idx, target_idx) in enumerate(indices):
            if len(query_idx) == 0:
                continue
            tgt = targets[b]["masks"][target_idx].to(pred_masks)  # [m, T, H, W]
            src = pred_masks[b][:, query_idx.to(pred_masks.device)]  # [T, m, Hm, Wm]
            src = F.interpolate(src, size=tgt.shape[-2:], mode="bilinear",
                                align_corners=False).transpose(0, 1)  # [m, T, H, W]
            pixel.append(self._pixel_mask_loss(src, tgt).flatten(2).mean(-1).mean(-1))  # [m]
            dice.append(L.dice_loss(src.flatten(0, 1), tgt.flatten(0, 1))
                        .view(tgt.shape[:2]).mean(-1))  # [m]
        if not pixel:
            zero = _connected_zero(pred_masks)
            return {"loss_mask": zero, "loss_dice": zero.clone()}
        return {"loss_mask": torch.cat(pixel).sum() / num_targets,
                "loss_dice": torch.cat(dice).sum() / num_targets}

    def _pixel_mask_loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        if self.cfg.mask_loss == "focal":
            return L.sigmoid_focal_loss(inputs, targets, self.cfg.focal_alpha,
                                        self.cfg.focal_gamma)
        return L.sigmoid_bce_loss(inputs, targets)

    def loss_align(self, outputs: dict, positive: Tensor) -> dict[str, Tensor]:
        """L_align: BCE of the pair logit [B] (unrelated = 1) and the label; {} without a head."""
        pair = outputs.get("pred_pair")
        if pair is None:
            return {}
        return {"loss_align": F.binary_cross_entropy_with_logits(pair, (~positive).to(pair))}

    def loss_text(self, outputs: dict, positive: Tensor) -> dict[str, Tensor]:
        """L_text over the positive videos: the terms chosen by ``cfg.cycle``."""
        recon = outputs.get("text_recon")
        if self.cfg.cycle == "off" or recon is None:
            return {}
        e, e_rec = outputs["text_embed"][positive], recon[positive]  # [Q, C]
        delta = self.cfg.huber_delta
        if self.cfg.cycle == "pointwise":
            return {"loss_text_point": L.pointwise_cycle_loss(e, e_rec, self.cfg.pointwise_kind)}
        terms = {}
        if self.cfg.cycle in ("distance", "both"):
            terms["loss_text_dist"] = L.rkd_distance_loss(e, e_rec, delta)
        if self.cfg.cycle in ("angle", "both"):
            terms["loss_text_angle"] = L.rkd_angle_loss(e, e_rec, delta)
        return terms
