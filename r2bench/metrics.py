"""J (region similarity), F (contour accuracy) and R (robustness): the README's Metrics.

J and F equal the DAVIS 2017 evaluation (``db_eval_iou`` and ``db_eval_boundary`` in
davisvideochallenge/davis2017-evaluation) to 1e-6 on every frame, edge cases included:

- J = |gt & pred| / |gt | pred|, and 1 when both masks are empty;
- F uses one-pixel boundaries by the ``seg2bmap`` neighbour rule (the image border is never
  a boundary, a transition is marked on its top/left pixel), a dilation radius
  ``ceil(bound_th * sqrt(H^2 + W^2))`` computed in float64 (450x600 -> 6, 900x1200 -> 12),
  the digital disk ``dx^2 + dy^2 <= r^2``, and the upstream precision/recall rules when one
  side has no boundary (both empty: F = 1; one empty: F = 0).

Shapes: masks are (H, W) or (T, H, W); any dtype, non-zero = foreground (bool and integer
masks are read as they are, without a converted copy). Results are
float64 (T,) with T = 1 for a single (H, W) frame. The work runs in compiled kernels over
the whole stack (`r2bench._boundary`); there is no Python loop over frames or pixels.

R (paper §5.1) = 1 - sum of predicted foreground over negative pairs / the same sum over
positive pairs; J&F = (J + F) / 2 and J&F&R = (J + F + R) / 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_BOUND_TH = 0.008


def _kernels():
    """The compiled kernels, imported on first use: numba takes a third of a second to
    import, which commands that never compute a metric (``check``) need not pay."""
    from r2bench import _boundary

    return _boundary


def _dims(shape: tuple[int, ...]) -> str:
    """(2, 720, 1280) -> '2x720x1280', as sizes are written (HxW)."""
    return "x".join(map(str, shape)) or "a scalar"


def _as_stack(mask: np.ndarray, name: str) -> np.ndarray:
    """(H, W) or (T, H, W) -> C-contiguous (T, H, W) that the kernels read as it is.

    Bool and integer masks are only viewed (a bool stack as uint8), never converted: the
    kernels compare with 0 themselves. Other dtypes (float) are compared with 0 once.
    """
    a = np.asarray(mask)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or 0 in a.shape:
        raise ValueError(f"{name}: expected a non-empty HxW or TxHxW array, got "
                         f"{_dims(np.shape(mask))}")
    if a.dtype.kind not in "biu":
        a = a != 0
    a = np.ascontiguousarray(a)
    return a.view(np.uint8) if a.dtype == np.bool_ else a


def _pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = _as_stack(gt, "gt")
    p = _as_stack(pred, "pred")
    if g.shape != p.shape:
        raise ValueError(f"gt is {_dims(g.shape)} but pred {_dims(p.shape)} (TxHxW): the sizes "
                         "must match")
    return g, p


def boundary_radius(height: int, width: int, bound_th: float = DEFAULT_BOUND_TH) -> int:
    """The dilation radius in pixels: ``bound_th`` itself when >= 1, else a fraction of the
    diagonal rounded up, with the diagonal in float64 exactly as upstream computes it."""
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"bound_th >= 1 must be a whole number of pixels, got {bound_th}")
        return int(bound_th)
    if bound_th <= 0:
        raise ValueError(f"bound_th must be positive, got {bound_th}")
    diagonal = np.linalg.norm(np.array([height, width]))
    return int(np.ceil(bound_th * diagonal))


def disk_half_widths(radius: int) -> np.ndarray:
    """(radius + 1,) int64: for each row offset d, the largest dx with dx^2 + d^2 <= r^2."""
    r2 = radius * radius
    return np.array([math.isqrt(r2 - d * d) for d in range(radius + 1)], dtype=np.int64)


@dataclass(frozen=True)
class FrameScores:
    """Per-frame values of one (T, H, W) prediction against its ground truth.

    ``j``, ``f``: float64 (T,) (``f`` NaN when not computed); ``pred_area``, ``gt_area``,
    ``intersection``: int64 (T,) pixel counts.
    """

    j: np.ndarray
    f: np.ndarray
    pred_area: np.ndarray
    gt_area: np.ndarray
    intersection: np.ndarray


def frame_scores(gt: np.ndarray, pred: np.ndarray, bound_th: float = DEFAULT_BOUND_TH,
                 want_f: bool = True) -> FrameScores:
    """J, F and the pixel counts of every frame in one pass over the masks (the counts are
    the ones J is made of, so they cost nothing more)."""
    g, p = _pair(gt, pred)
    widths = disk_half_widths(boundary_radius(g.shape[1], g.shape[2], bound_th))
    j, f, counts = _kernels().jf_kernel(g, p, widths, want_f)   # counts: (T, 3)
    return FrameScores(j, f, counts[:, 0], counts[:, 1], counts[:, 2])


def jf_per_frame(gt: np.ndarray, pred: np.ndarray, bound_th: float = DEFAULT_BOUND_TH,
                 want_f: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """J, F and predicted area of every frame in one pass.

    Returns float64 (T,) J, float64 (T,) F (NaN without ``want_f``) and int64 (T,)
    foreground pixel counts of ``pred``. J and the area cost little more than reading the
    masks, so they are always computed.
    """
    s = frame_scores(gt, pred, bound_th, want_f)
    return s.j, s.f, s.pred_area


def jf(gt: np.ndarray, pred: np.ndarray,
       bound_th: float = DEFAULT_BOUND_TH) -> tuple[np.ndarray, np.ndarray]:
    """J and F per frame, float64 (T,) each, in one pass over the masks.

    The same values as `region_similarity` and `contour_accuracy`, for half the reading.
    """
    j, f, _ = jf_per_frame(gt, pred, bound_th)
    return j, f


def region_similarity(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """J per frame, float64 (T,): IoU, 1 when both masks are empty (DAVIS ``db_eval_iou``)."""
    return jf_per_frame(gt, pred, want_f=False)[0]


def contour_accuracy(gt: np.ndarray, pred: np.ndarray,
                     bound_th: float = DEFAULT_BOUND_TH) -> np.ndarray:
    """F per frame, float64 (T,): the DAVIS boundary F-measure (``db_eval_boundary``)."""
    return jf_per_frame(gt, pred, bound_th)[1]


def foreground_area(mask: np.ndarray) -> int:
    """Number of foreground (non-zero) pixels of a mask or a stack of masks."""
    a = np.asarray(mask)
    if a.dtype.kind in "biu" and a.size:
        a = np.ascontiguousarray(a)
        return int(_kernels().foreground_count(a.view(np.uint8) if a.dtype == np.bool_ else a))
    return int(np.count_nonzero(a))


def robustness(negative_area: int, positive_area: int) -> float | None:
    """R = 1 - negative area / positive area; None when the positive area is 0."""
    if positive_area == 0:
        return None
    return 1.0 - negative_area / positive_area


def mean_or_none(values: list[float | None]) -> float | None:
    """The mean of values, or None when the list is empty or any value is None."""
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(np.asarray(values, dtype=np.float64)))
