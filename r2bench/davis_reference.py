"""A plain per-frame port of the DAVIS 2017 evaluation measures, kept as the reference.

Written from the behaviour of ``db_eval_iou`` / ``db_eval_boundary`` in
davisvideochallenge/davis2017-evaluation (``davis2017/metrics.py``): a boolean IoU with
1 for empty/empty, and the boundary F-measure that finds one-pixel boundaries with the
``seg2bmap`` neighbour rule, dilates them with OpenCV by a digital disk of radius
``ceil(bound_th * ||(H, W)||)`` and matches them. Deliberately simple and slow: one frame
at a time, full-frame operations, the same library calls as upstream.

It is what the scorer's metrics (``r2bench.metrics``) are tested against, and what
``r2bench profile --scoring`` times them against. The scorer never uses it. F needs OpenCV
(the ``profile`` extra, or ``test``), imported on first use.
"""

from __future__ import annotations

import math

import numpy as np


def ref_iou(gt: np.ndarray, pred: np.ndarray) -> float:
    gt = gt.astype(bool)
    pred = pred.astype(bool)
    inter = np.sum(gt & pred)
    union = np.sum(gt | pred)
    return 1.0 if union == 0 else inter / union


def ref_seg2bmap(seg: np.ndarray) -> np.ndarray:
    seg = seg.astype(bool)
    right = np.zeros_like(seg)
    down = np.zeros_like(seg)
    diag = np.zeros_like(seg)
    right[:, :-1] = seg[:, 1:]
    down[:-1, :] = seg[1:, :]
    diag[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ right) | (seg ^ down) | (seg ^ diag)
    b[-1, :] = seg[-1, :] ^ right[-1, :]
    b[:, -1] = seg[:, -1] ^ down[:, -1]
    b[-1, -1] = False
    return b


def ref_disk(radius: float) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1)
    dx, dy = np.meshgrid(offsets, offsets)
    return (dx**2 + dy**2 <= radius**2).astype(np.uint8)


def ref_boundary_f(gt: np.ndarray, pred: np.ndarray, bound_th: float = 0.008) -> float:
    import cv2

    bound_pix = bound_th if bound_th >= 1 else math.ceil(
        bound_th * np.linalg.norm(np.asarray(pred.shape, dtype=np.float64)))
    fg_b = ref_seg2bmap(pred)
    gt_b = ref_seg2bmap(gt)
    kernel = ref_disk(bound_pix)
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), kernel)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel)
    gt_match = gt_b * fg_dil
    fg_match = fg_b * gt_dil
    n_fg = np.sum(fg_b)
    n_gt = np.sum(gt_b)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision = np.sum(fg_match) / float(n_fg)
        recall = np.sum(gt_match) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def ref_j(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-frame J of (T, H, W) stacks, one frame at a time."""
    return np.array([ref_iou(g, p) for g, p in zip(gt, pred)], dtype=np.float64)


def ref_f(gt: np.ndarray, pred: np.ndarray, bound_th: float = 0.008) -> np.ndarray:
    """Per-frame F of (T, H, W) stacks, one frame at a time."""
    return np.array([ref_boundary_f(g, p, bound_th) for g, p in zip(gt, pred)],
                    dtype=np.float64)
