"""The R2-VOS training objective as the authors released it (lxa9867/R2VOS
``models/criterion.py`` with ``--use_cycle --add_negative --neg_cls``; paper section 4.5,
eqs. 7-11), in DETR's SetCriterion form.

A batch holds pairs (caption, clip): positive pairs, whose caption refers to an object of
the clip, and negative ones, whose caption is unrelated to the clip. Terms, by name, with the
release's coefficients (``opts.py``; ``docs/training.md`` compares them with the paper):

- segmentation, positive pairs only, after matching (:mod:`reference_model.matcher`), each
  summed over pairs and divided by ``num_boxes``, the number of (pair, frame) with the object
  visible in the whole batch over all processes:
  * ``loss_ce`` (2): focal loss of every score logit of every query and frame, target 1 for
    the matched query on the frames where the object is visible;
  * ``loss_bbox`` (5), ``loss_giou`` (2): L1 and 1 - GIoU of the matched query's boxes on
    all T frames (target all zeros where the object is absent);
  * ``loss_mask`` (2): pixel focal loss averaged over the clip; ``loss_dice`` (5): Dice of
    the clip as one mask; predictions at stride 4 against the target sampled at stride 4;
  * the same for every earlier decoder layer, matched on its own outputs, suffixed _0, _1.
- text cycle, positive pairs of the global batch, e' the student and e the (detached)
  teacher: ``loss_cycle_dist`` (1), ``loss_cycle_angle`` (1), or for the point-wise ablation
  ``loss_cycle_mse`` (1; the release computes it with weight 0). The release all-gathers e
  and e' over its GPUs, one clip each, and only a process's own row carries gradient; DDP
  then averages, so each clip gets 1/N of the relational terms' gradient, N the clips per
  step. By default (``relational_gradient="release"``) the two relational terms keep their
  value and their gradient is divided by N, the positive pairs of the global batch (one per
  clip), which is the release's step whatever the number of processes;
  ``relational_gradient="full"`` keeps the gradient of the value;
- ``loss_cycle_cls`` (1): binary cross-entropy of the pair head's logit, which predicts that
  the pair is *unrelated* (target 1 for negative pairs, 0 for positive ones), mean over pairs;
- ``loss_cycle_contrastive`` (0.1): mean of max(0, 0.5 - ||e' - e||) over the negative pairs
  of the global batch, each pair clamped on its own (the release clamps per GPU, one clip
  each).

Loss functions return unweighted values; every weight is applied in
:meth:`SetCriterion.forward` from :meth:`CriterionConfig.weight_dict`.

Legend: B pairs, T frames, Q queries, h x w mask size, C channels.
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
from reference_model.distributed import gather_with_grad, sum_over_processes, world
from reference_model.matcher import HungarianMatcher, downsample_masks

CycleVariant = Literal["off", "pointwise", "distance", "angle", "both"]
RelationalGradient = Literal["release", "full"]
SEGM_LOSSES = ("labels", "boxes", "masks")


@dataclass(frozen=True)
class CriterionConfig:
    """Loss weights and switches; defaults are the release's ``opts.py`` values."""

    cls_loss_coef: float = 2.0  # focal score loss (lambda_conf)
    bbox_loss_coef: float = 5.0  # L1 box loss
    giou_loss_coef: float = 2.0  # GIoU box loss
    mask_loss_coef: float = 2.0  # pixel focal mask loss
    dice_loss_coef: float = 5.0  # Dice mask loss
    cycle: CycleVariant = "both"  # relational cycle terms (Table 4); "both" is the release
    cycle_loss_dist_coef: float = 1.0  # relational distance (eq. 9)
    cycle_loss_angle_coef: float = 1.0  # relational angle (eq. 10)
    cycle_loss_mse_coef: float = 1.0  # point-wise term, used only when cycle = "pointwise"
    # gradient of the relational terms (distance, angle): "release" divides it by the clips
    # per step (the release's all-gather, one clip per GPU); "full": the value's gradient
    relational_gradient: RelationalGradient = "release"
    cycle_loss_cls_coef: float = 1.0  # pair head (L_align); applied when the model has one
    cycle_loss_contrastive_coef: float = 0.1  # e' of negative pairs away from e
    contrastive_margin: float = 0.5  # --contra_margin
    focal_alpha: float = 0.25  # alpha of the focal losses (Deformable DETR)
    focal_gamma: float = 2.0  # gamma of the focal losses
    mask_stride: int = 4  # predicted masks are at 1/4 of the input size
    aux_loss: bool = True  # also supervise every earlier decoder layer

    def __post_init__(self) -> None:
        if self.relational_gradient not in ("release", "full"):
            raise ValueError(f"relational_gradient must be 'release' or 'full', "
                             f"got {self.relational_gradient!r}")

    def weight_dict(self) -> dict[str, float]:
        """The weight of every loss term by name (auxiliary terms share their base weight)."""
        return {
            "loss_ce": self.cls_loss_coef, "loss_bbox": self.bbox_loss_coef,
            "loss_giou": self.giou_loss_coef, "loss_mask": self.mask_loss_coef,
            "loss_dice": self.dice_loss_coef, "loss_cycle_dist": self.cycle_loss_dist_coef,
            "loss_cycle_angle": self.cycle_loss_angle_coef,
            "loss_cycle_mse": self.cycle_loss_mse_coef,
            "loss_cycle_cls": self.cycle_loss_cls_coef,
            "loss_cycle_contrastive": self.cycle_loss_contrastive_coef,
        }


def _connected_zero(t: Tensor) -> Tensor:
    # Zero that stays in the graph: backward() still reaches t, with zero gradient.
    return t.sum() * 0.0


def _positive_index(targets: list[dict], device: torch.device) -> Tensor:
    return torch.tensor([i for i, t in enumerate(targets) if bool(t["positive"])],
                        dtype=torch.long, device=device)


class SetCriterion(nn.Module):
    """Computes the weighted loss terms of the released objective."""

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

        outputs: the model's dict (``pred_logits`` [B, T, Q, 1], ``pred_boxes`` [B, T, Q, 4],
            ``pred_masks`` [B, T, Q, h, w], ``pred_pair`` [B] or None, ``text_embed`` [B, C],
            ``text_recon`` [B, C] or None, ``aux_outputs`` list of dicts).
        targets: B dicts with "positive" (bool); positive pairs also "boxes" [T, 4] cxcywh
            normalised, "masks" [T, H, W] in {0, 1} (H, W = 4h, 4w), "valid" [T].
        """
        weighted = {name: value * self.weight_of(name)
                    for name, value in self.unweighted_losses(outputs, targets).items()}
        weighted["loss"] = sum(weighted.values())
        return weighted

    def unweighted_losses(self, outputs: dict, targets: list[dict]) -> dict[str, Tensor]:
        """Every loss term by name, before weighting."""
        device = outputs["pred_logits"].device
        visible = sum(float(t["valid"].sum()) for t in targets if bool(t["positive"]))
        # the release's num_boxes: visible (pair, frame)s of all processes, per process
        num_boxes = max(sum_over_processes(visible, device) / world()[1], 1.0)
        losses = self.segm_losses(outputs, targets, num_boxes)
        if self.cfg.aux_loss:
            for layer, aux in enumerate(outputs.get("aux_outputs") or []):
                aux_losses = self.segm_losses(aux, targets, num_boxes)
                losses.update({f"{name}_{layer}": v for name, v in aux_losses.items()})
        positive = torch.tensor([bool(t["positive"]) for t in targets], device=device)
        losses.update(self.loss_pair(outputs, positive))
        losses.update(self.loss_cycle(outputs, positive))
        return losses

    def segm_losses(self, outputs: dict, targets: list[dict],
                    num_boxes: float) -> dict[str, Tensor]:
        """Segmentation terms of one decoder layer, matched on its own outputs."""
        indices = self.matcher(outputs, targets)
        losses = {}
        for name in SEGM_LOSSES:
            losses.update(self._segm_fns[name](outputs, targets, indices, num_boxes))
        return losses

    def _matched(self, outputs: dict, key: str, indices: list) -> Tensor:
        """The matched query's predictions of every positive pair: [P, T, ...]."""
        pred = outputs[key]
        rows = [pred[b, :, q[0]] for b, (q, _) in enumerate(indices) if len(q)]
        return torch.stack(rows) if rows else pred[:0, :, 0]

    def loss_labels(self, outputs: dict, targets: list[dict], indices: list,
                    num_boxes: float) -> dict[str, Tensor]:
        """Focal score loss over every query and frame of the positive pairs."""
        logits = outputs["pred_logits"][..., 0]  # [B, T, Q]
        positive = _positive_index(targets, logits.device)
        target = torch.zeros_like(logits)
        for b, (query_idx, _) in enumerate(indices):
            if len(query_idx):
                target[b, :, int(query_idx[0])] = targets[b]["valid"].to(target)
        loss = L.sigmoid_focal_loss(logits[positive], target[positive], self.cfg.focal_alpha,
                                    self.cfg.focal_gamma, reduction="sum")
        return {"loss_ce": loss / num_boxes}

    def loss_boxes(self, outputs: dict, targets: list[dict], indices: list,
                   num_boxes: float) -> dict[str, Tensor]:
        """L1 and 1 - GIoU of the matched query's boxes over all T frames."""
        pred = self._matched(outputs, "pred_boxes", indices)  # [P, T, 4]
        if not len(pred):
            zero = _connected_zero(outputs["pred_boxes"])
            return {"loss_bbox": zero, "loss_giou": zero.clone()}
        tgt = torch.stack([t["boxes"] for t in targets if bool(t["positive"])]).to(pred)
        giou = paired_generalized_box_iou(box_cxcywh_to_xyxy(pred), box_cxcywh_to_xyxy(tgt))
        return {"loss_bbox": (pred - tgt).abs().sum() / num_boxes,
                "loss_giou": (1 - giou).sum() / num_boxes}

    def loss_masks(self, outputs: dict, targets: list[dict], indices: list,
                   num_boxes: float) -> dict[str, Tensor]:
        """Pixel focal loss (mean over the clip) and Dice (the clip as one mask)."""
        pred = self._matched(outputs, "pred_masks", indices)  # [P, T, h, w]
        if not len(pred):
            zero = _connected_zero(outputs["pred_masks"])
            return {"loss_mask": zero, "loss_dice": zero.clone()}
        tgt = torch.stack([downsample_masks(t["masks"], self.cfg.mask_stride)
                           for t in targets if bool(t["positive"])]).to(pred)  # [P, T, h, w]
        pred, tgt = pred.flatten(1), tgt.flatten(1)  # [P, T*h*w]
        focal = L.sigmoid_focal_loss(pred, tgt, self.cfg.focal_alpha, self.cfg.focal_gamma)
        return {"loss_mask": focal.mean(1).sum() / num_boxes,
                "loss_dice": L.dice_loss(pred, tgt).sum() / num_boxes}

    def loss_pair(self, outputs: dict, positive: Tensor) -> dict[str, Tensor]:
        """BCE of the pair logit [B] (unrelated = 1) against the label; {} without a head."""
        pair = outputs.get("pred_pair")
        if pair is None:
            return {}
        return {"loss_cycle_cls": F.binary_cross_entropy_with_logits(pair, (~positive).to(pair))}

    def loss_cycle(self, outputs: dict, positive: Tensor) -> dict[str, Tensor]:
        """Text-cycle terms over the global batch (every process's pairs); {} without e'."""
        recon = outputs.get("text_recon")
        if recon is None:
            return {}
        e_rec = gather_with_grad(recon)  # [B_all, C]
        e = gather_with_grad(outputs["text_embed"])
        pos = gather_with_grad(positive[:, None].float())[:, 0] > 0.5
        terms = {}
        variant = self.cfg.cycle
        if variant == "pointwise":
            terms["loss_cycle_mse"] = L.pointwise_distance_loss(e_rec[pos], e[pos])
        if variant in ("distance", "both"):
            terms["loss_cycle_dist"] = self._relational(L.rkd_distance_loss(e_rec[pos], e[pos]),
                                                        pos)
        if variant in ("angle", "both"):
            terms["loss_cycle_angle"] = self._relational(L.rkd_angle_loss(e_rec[pos], e[pos]),
                                                         pos)
        if self.cfg.cycle_loss_contrastive_coef and bool((~pos).any()):
            terms["loss_cycle_contrastive"] = L.margin_distance_loss(
                e_rec[~pos], e[~pos], self.cfg.contrastive_margin)
        return terms

    def _relational(self, value: Tensor, positive: Tensor) -> Tensor:
        """A relational term's value, its gradient divided by the clips per step (the
        positive pairs of the global batch ``positive`` [B_all]) unless the config asks for
        the full gradient."""
        if self.cfg.relational_gradient == "full":
            return value
        return L.scale_gradient(value, 1.0 / max(int(positive.sum()), 1))
