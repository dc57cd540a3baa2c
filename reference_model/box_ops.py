"""Box conversions, IoU and generalised IoU (Rezatofighi et al. 2019), as in DETR's util/box_ops.

Boxes are ``cxcywh`` (centre, width, height) or ``xyxy`` (corners) in the last dimension.
Areas are never divided by exactly zero: unions and enclosing areas are clamped at ``EPS``,
which leaves every value with a non-degenerate union unchanged and sends the GIoU of two
zero-area boxes at distinct places to its limit -1 instead of NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-7


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """[..., 4] (cx, cy, w, h) -> [..., 4] (x0, y0, x1, y1)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def box_xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """[..., 4] (x0, y0, x1, y1) -> [..., 4] (cx, cy, w, h)."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """[..., 4] xyxy -> [...] area."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _check_xyxy(boxes: Tensor) -> None:
    # A box with x1 < x0 has a negative "area" that silently corrupts IoU; DETR asserts the same.
    if (boxes[..., 2:] < boxes[..., :2]).any():
        raise ValueError("xyxy boxes must satisfy x1 >= x0 and y1 >= y0")


def paired_box_iou(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    """IoU and union of boxes paired element-wise (after broadcasting).

    boxes1, boxes2: [..., 4] xyxy, broadcastable. Returns (iou [...], union [...]).
    """
    lt = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    rb = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(boxes1) + box_area(boxes2) - inter
    return inter / union.clamp(min=EPS), union


def paired_generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """GIoU of boxes paired element-wise: IoU - (|C| - |A u B|) / |C|, C the enclosing box.

    boxes1, boxes2: [..., 4] xyxy, broadcastable. Returns [...] in [-1, 1].
    """
    _check_xyxy(boxes1)
    _check_xyxy(boxes2)
    iou, union = paired_box_iou(boxes1, boxes2)
    lt = torch.minimum(boxes1[..., :2], boxes2[..., :2])
    rb = torch.maximum(boxes1[..., 2:], boxes2[..., 2:])
    wh = (rb - lt).clamp(min=0)
    enclosing = (wh[..., 0] * wh[..., 1]).clamp(min=EPS)
    return iou - (enclosing - union) / enclosing


def box_iou(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    """Pairwise IoU and union: boxes1 [N, 4], boxes2 [M, 4] xyxy -> ([N, M], [N, M])."""
    return paired_box_iou(boxes1[:, None, :], boxes2[None, :, :])


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise GIoU: boxes1 [N, 4], boxes2 [M, 4] xyxy -> [N, M]."""
    return paired_generalized_box_iou(boxes1[:, None, :], boxes2[None, :, :])


def masks_to_boxes(masks: Tensor) -> Tensor:
    """Tight boxes around binary masks, in pixel-edge coordinates.

    masks: [..., H, W] (nonzero = foreground). Returns [..., 4] xyxy where a mask whose
    foreground spans columns c0..c1 and rows r0..r1 gets (c0, r0, c1 + 1, r1 + 1): the box
    covers whole pixels, so a full H x W mask gives (0, 0, W, H) and dividing by (W, H, W, H)
    normalises to [0, 1]. (DETR returns (c0, r0, c1, r1) instead.) Empty masks give zeros.
    """
    h, w = masks.shape[-2:]
    fg = masks != 0
    cols = fg.any(dim=-2)  # [..., W]
    rows = fg.any(dim=-1)  # [..., H]
    x = torch.arange(w, device=masks.device)
    y = torch.arange(h, device=masks.device)
    x0 = torch.where(cols, x, w).amin(dim=-1)
    x1 = torch.where(cols, x + 1, 0).amax(dim=-1)
    y0 = torch.where(rows, y, h).amin(dim=-1)
    y1 = torch.where(rows, y + 1, 0).amax(dim=-1)
    boxes = torch.stack([x0, y0, x1, y1], dim=-1).to(torch.float32)
    empty = ~rows.any(dim=-1)
    return boxes.masked_fill(empty[..., None], 0.0)
