"""Unweighted loss functions of the R2-VOS objective (paper section 4.5, eqs. 8-11).

Small pure functions; :mod:`reference_model.criterion` looks them up, reduces them and applies
the weights. Segmentation terms follow DETR / Deformable DETR (sigmoid focal loss, Dice,
BCE); the text-reconstruction terms are the relational knowledge distillation losses of Park
et al. 2019 (RKD), written here between the sentence embeddings e and their reconstructions e'.

Legend: M masks or pairs, P pixels, C channels, Q positive pairs (videos) in a batch.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Reduction = Literal["none", "mean", "sum"]
_EPS = 1e-12  # keeps sqrt and division away from 0 where identical embeddings would NaN


def _reduce(loss: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"unknown reduction {reduction!r}")


def sigmoid_focal_loss(inputs: Tensor, targets: Tensor, alpha: float = 0.25,
                       gamma: float = 2.0, reduction: Reduction = "none") -> Tensor:
    """Focal loss (Lin et al. 2017) on logits, element-wise.

    FL = -alpha_t (1 - p_t)^gamma log(p_t), p_t = p if y = 1 else 1 - p, alpha_t = alpha if
    y = 1 else 1 - alpha; alpha < 0 disables the alpha weighting. inputs, targets: same shape.
    """
    prob = inputs.sigmoid()
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def sigmoid_bce_loss(inputs: Tensor, targets: Tensor, reduction: Reduction = "none") -> Tensor:
    """Binary cross-entropy on logits, element-wise (the mask "BCE" of eq. 11)."""
    return _reduce(F.binary_cross_entropy_with_logits(inputs, targets, reduction="none"),
                   reduction)


def dice_loss(inputs: Tensor, targets: Tensor, smooth: float = 1.0) -> Tensor:
    """Dice loss per mask: 1 - (2 sum(p y) + s) / (sum(p) + sum(y) + s), p = sigmoid(inputs).

    inputs (logits), targets: [M, *] -> [M]. ``smooth`` = 1 as in DETR, so two empty masks
    have loss 0.
    """
    prob = inputs.sigmoid().flatten(1)  # [M, P]
    targets = targets.flatten(1)  # [M, P]
    numerator = 2 * (prob * targets).sum(1)
    denominator = prob.sum(1) + targets.sum(1)
    return 1 - (numerator + smooth) / (denominator + smooth)


def huber_loss(inputs: Tensor, targets: Tensor, delta: float = 1.0) -> Tensor:
    """Element-wise Huber loss: d^2 / 2 if |d| <= delta else delta (|d| - delta / 2).

    With delta = 1 this is the l_delta of eqs. 9-10 (and PyTorch's smooth L1 with beta = 1).
    """
    diff = (inputs - targets).abs()
    return torch.where(diff <= delta, 0.5 * diff**2, delta * (diff - 0.5 * delta))


def _connected_zero(*tensors: Tensor) -> Tensor:
    # A zero that is still part of the graph, so backward() works and gives zero gradients.
    return sum(t.sum() for t in tensors) * 0.0


def pairwise_distances(x: Tensor) -> Tensor:
    """Euclidean distances ||x_i - x_j||: [Q, C] -> [Q, Q], differentiable at 0."""
    sq = (x[:, None, :] - x[None, :, :]).pow(2).sum(-1)  # [Q, Q]
    return sq.clamp(min=_EPS).sqrt()


def _normalized_distances(x: Tensor, off_diag: Tensor) -> Tensor:
    """phi_D of eq. 9 for every ordered pair i != j: ||x_i - x_j|| / mu, mu the mean distance."""
    dist = pairwise_distances(x)[off_diag]  # [Q(Q-1)]
    return dist / dist.mean().clamp(min=_EPS)


def rkd_distance_loss(e: Tensor, e_rec: Tensor, delta: float = 1.0) -> Tensor:
    """L_dist of eq. 9, averaged over ordered pairs (i, j), i != j.

    e, e_rec: [Q, C] sentence embeddings and their reconstructions. Fewer than 2 rows -> 0.
    """
    q = e.shape[0]
    if q < 2:
        return _connected_zero(e, e_rec)
    off_diag = ~torch.eye(q, dtype=torch.bool, device=e.device)
    return huber_loss(_normalized_distances(e, off_diag),
                      _normalized_distances(e_rec, off_diag), delta).mean()


def _angle_cosines(x: Tensor) -> Tensor:
    """cos of the angle at x_j between x_i - x_j and x_k - x_j: [Q, C] -> [Q, Q, Q] (i, j, k)."""
    diff = F.normalize(x[:, None, :] - x[None, :, :], dim=-1, eps=_EPS)  # [Q, Q, C]: x_i - x_j
    return torch.einsum("ijc,kjc->ijk", diff, diff)


def rkd_angle_loss(e: Tensor, e_rec: Tensor, delta: float = 1.0) -> Tensor:
    """L_angle of eq. 10, averaged over ordered triples (i, j, k) of distinct indices.

    e, e_rec: [Q, C]. Fewer than 3 rows -> 0.
    """
    q = e.shape[0]
    if q < 3:
        return _connected_zero(e, e_rec)
    idx = torch.arange(q, device=e.device)
    i, j, k = idx[:, None, None], idx[None, :, None], idx[None, None, :]
    distinct = (i != j) & (j != k) & (i != k)  # [Q, Q, Q]
    return huber_loss(_angle_cosines(e)[distinct], _angle_cosines(e_rec)[distinct], delta).mean()


def pointwise_cycle_loss(e: Tensor, e_rec: Tensor,
                         kind: Literal["mse", "cosine"] = "cosine") -> Tensor:
    """The point-wise alternative to eqs. 9-10: mean over rows of MSE or 1 - cos(e_i, e'_i).

    e, e_rec: [Q, C]. No rows -> 0. "mse" averages over channels too.
    """
    if e.shape[0] == 0:
        return _connected_zero(e, e_rec)
    if kind == "mse":
        return F.mse_loss(e_rec, e)
    if kind == "cosine":
        return (1 - F.cosine_similarity(e, e_rec, dim=-1, eps=_EPS)).mean()
    raise ValueError(f"unknown point-wise cycle loss {kind!r}")
