"""Unweighted loss functions of the R2-VOS objective as the authors released it
(lxa9867/R2VOS ``models/criterion.py`` and ``models/segmentation.py``; paper section 4.5).

Small pure functions; :mod:`reference_model.criterion` looks them up, reduces them and applies
the weights. Segmentation terms follow Deformable DETR (sigmoid focal loss, Dice). The text
terms are the relational knowledge distillation losses of Park et al. 2019 (RKD) between the
reconstructed sentence embeddings e' (the student) and the sentence embeddings e (the
teacher, detached as the release does); the paper's eqs. 9-10 write the same relations
without the detachment and averaged over distinct tuples only (``docs/training.md``).

Legend: M masks or pairs, P pixels, N embeddings, C channels.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Reduction = Literal["none", "mean", "sum"]
_EPS = 1e-12  # the release's clamp before the square root of squared distances


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


def dice_loss(inputs: Tensor, targets: Tensor, smooth: float = 1.0) -> Tensor:
    """Dice loss per mask: 1 - (2 sum(p y) + s) / (sum(p) + sum(y) + s), p = sigmoid(inputs).

    inputs (logits), targets: [M, *] -> [M]. ``smooth`` = 1 as in DETR, so two empty masks
    have loss 0. A clip is one mask here: the release flattens T x h x w together.
    """
    prob = inputs.sigmoid().flatten(1)  # [M, P]
    targets = targets.flatten(1)  # [M, P]
    numerator = 2 * (prob * targets).sum(1)
    denominator = prob.sum(1) + targets.sum(1)
    return 1 - (numerator + smooth) / (denominator + smooth)


def _connected_zero(*tensors: Tensor) -> Tensor:
    # A zero that is still part of the graph, so backward() works and gives zero gradients.
    return sum(t.sum() for t in tensors) * 0.0


def pairwise_distances(x: Tensor) -> Tensor:
    """Euclidean distances ||x_i - x_j|| with an exact zero diagonal: [N, C] -> [N, N].

    Computed as the release does (from the Gram matrix, squared distances clamped at 1e-12
    before the root), which keeps the gradient finite where two rows coincide.
    """
    sq = x.pow(2).sum(1)  # [N]
    d = (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp(min=_EPS).sqrt()  # [N, N]
    return d * (1 - torch.eye(len(x), dtype=d.dtype, device=d.device))


def _mean_normalised(d: Tensor) -> Tensor:
    """Distances divided by their mean over the positive entries (phi_D of eq. 9)."""
    positive = d > 0
    mean = d[positive].mean() if bool(positive.any()) else d.new_tensor(1.0)
    return d / mean


def rkd_distance_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """RKD distance term (eq. 9 as released): smooth-L1 (Huber, delta 1) between the
    mean-normalised distance matrices of student and detached teacher, averaged over all
    N x N entries (the zero diagonal included).

    student (e'), teacher (e): [N, C]. Fewer than 2 rows -> 0.
    """
    if len(student) < 2:
        return _connected_zero(student)
    with torch.no_grad():
        t = _mean_normalised(pairwise_distances(teacher))
    s = _mean_normalised(pairwise_distances(student))
    return F.smooth_l1_loss(s, t)


def angle_cosines(x: Tensor) -> Tensor:
    """cos of the angle at x_i between x_j - x_i and x_k - x_i: [N, C] -> [N, N, N] (i, j, k);
    0 where j = i or k = i (a zero vector stays zero when normalised)."""
    diff = F.normalize(x[None, :, :] - x[:, None, :], p=2, dim=2)  # [N, N, C]: x_j - x_i
    return torch.bmm(diff, diff.transpose(1, 2))


def rkd_angle_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """RKD angle term (eq. 10 as released): smooth-L1 between the angle cosines of student
    and detached teacher, averaged over all N^3 index triples (degenerate ones included).

    student, teacher: [N, C]. Fewer than 3 rows -> 0 (no proper angle exists).
    """
    if len(student) < 3:
        return _connected_zero(student)
    with torch.no_grad():
        t = angle_cosines(teacher)
    return F.smooth_l1_loss(angle_cosines(student), t)


def pointwise_distance_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Point-wise cycle term (the release's ``loss_cycle_mse``): mean over rows of
    ||e'_i - e_i|| (``F.pairwise_distance``, eps 1e-6), gradient into both. No rows -> 0."""
    if len(student) == 0:
        return _connected_zero(student, teacher)
    return F.pairwise_distance(student, teacher, p=2).mean()


def margin_distance_loss(student: Tensor, teacher: Tensor, margin: float) -> Tensor:
    """The release's negative-pair term (``loss_cycle_contrastive``): mean_i max(0, margin -
    ||e'_i - e_i||) over unrelated pairs, pushing e' away from e. Each pair is clamped on its
    own, as the release clamps per process with one clip per GPU (a pair already past the
    margin neither pulls nor hides another). No rows -> 0."""
    if len(student) == 0:
        return _connected_zero(student, teacher)
    return (margin - F.pairwise_distance(student, teacher, p=2)).clamp(min=0).mean()


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by a constant."""

    @staticmethod
    def forward(ctx, x: Tensor, factor: float) -> Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.factor, None


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """``x`` unchanged (same values, bit for bit) whose gradient is multiplied by ``factor``."""
    return _ScaleGradient.apply(x, float(factor))
