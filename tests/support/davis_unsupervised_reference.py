"""A plain port of the DAVIS 2017 *unsupervised* evaluation, kept as the reference.

Written from the behaviour of davisvideochallenge/davis2017-evaluation (``davis2017/davis.py``
``get_all_masks``, ``results.py`` ``read_masks``, ``evaluation.py``
``_evaluate_unsupervised`` and ``evaluate``, ``utils.py`` ``db_statistics``, ``metrics.py``
with void pixels): ground-truth objects 1..max id of the first frame, 255 void; proposals
1..max value over all frames; zero padding to the number of objects; J and F of every pair on
every frame, void left out of the IoU's sums and multiplied out of both masks before the
boundaries; Hungarian assignment on the mean of J and F; statistics per object, then means
over all objects. Deliberately simple and slow: full 4-D arrays, one frame at a time, the
per-frame J/F of ``davis_reference`` (OpenCV dilation), and upstream's order of results.
"""

from __future__ import annotations

import warnings

import numpy as np
from davis_reference import ref_boundary_f
from scipy.optimize import linear_sum_assignment


def ref_gt_masks(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W) ids with 255 void -> (n_obj, T, H, W) bool objects and (T, H, W) void."""
    masks = ids.astype(np.float64)
    void = masks == 255
    masks[void] = 0
    n = int(np.max(masks[0]))
    objects = np.arange(1, n + 1)[:, None, None, None] == masks[None]
    return objects, void


def ref_proposals(ids: np.ndarray) -> np.ndarray:
    """(T, H, W) predicted values -> (n, T, H, W) bool, n = the largest value of any frame."""
    n = int(np.max(ids))
    return np.arange(1, n + 1)[:, None, None, None] == ids[None].astype(np.float64)


def ref_iou_void(gt: np.ndarray, pred: np.ndarray, void: np.ndarray) -> np.ndarray:
    """Per-frame J of (T, H, W) stacks with void pixels left out of both sums."""
    gt, pred, keep = gt.astype(bool), pred.astype(bool), ~void.astype(bool)
    inter = np.sum((pred & gt) & keep, axis=(-2, -1))
    union = np.sum((pred | gt) & keep, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        j = inter / union
    j[np.isclose(union, 0)] = 1
    return j


def ref_f_void(gt: np.ndarray, pred: np.ndarray, void: np.ndarray) -> np.ndarray:
    """Per-frame F of (T, H, W) stacks, both masks multiplied by not-void first."""
    keep = ~void.astype(bool)
    return np.array([ref_boundary_f(g * k, p * k) for g, p, k in zip(gt, pred, keep)])


def ref_evaluate_unsupervised(gt_ids: np.ndarray, pred_ids: np.ndarray
                              ) -> tuple[np.ndarray, np.ndarray]:
    """(n_obj, T) J and F after the assignment, in upstream's row order."""
    gt, void = ref_gt_masks(gt_ids)
    res = ref_proposals(pred_ids)
    if res.shape[0] > 20:
        raise ValueError("more than 20 proposals")
    if res.shape[0] < gt.shape[0]:
        pad = np.zeros((gt.shape[0] - res.shape[0], *res.shape[1:]), bool)
        res = np.concatenate([res, pad], axis=0)
    j = np.zeros((res.shape[0], gt.shape[0], gt.shape[1]))
    f = np.zeros_like(j)
    for ii in range(gt.shape[0]):
        for jj in range(res.shape[0]):
            j[jj, ii] = ref_iou_void(gt[ii], res[jj], void)
            f[jj, ii] = ref_f_void(gt[ii], res[jj], void)
    rows, cols = linear_sum_assignment(-(np.mean(j, axis=2) + np.mean(f, axis=2)) / 2)
    return j[rows, cols], f[rows, cols]


def ref_db_statistics(values: np.ndarray) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        m = np.nanmean(values)
        o = np.nanmean(values > 0.5)
    ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.uint8)
    bins = [values[ids[i]:ids[i + 1] + 1] for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        d = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return float(m), float(o), float(d)


def ref_evaluate(sequences: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """One run over ``{VID: (gt_ids, pred_ids)}``: the global table davis2017-evaluation
    prints (J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay) and the
    per-object means keyed ``VID_<row+1>`` as its per-sequence table names them."""
    out = {k: [] for k in ("JM", "JR", "JD", "FM", "FR", "FD")}
    per_object = {}
    for seq, (gt_ids, pred_ids) in sequences.items():
        j, f = ref_evaluate_unsupervised(gt_ids, pred_ids)
        for ii in range(j.shape[0]):
            jm, jr, jd = ref_db_statistics(j[ii])
            fm, fr, fd = ref_db_statistics(f[ii])
            for key, v in zip(out, (jm, jr, jd, fm, fr, fd)):
                out[key].append(v)
            per_object[f"{seq}_{ii + 1}"] = (jm, fm)
    g = {"J-Mean": np.mean(out["JM"]), "J-Recall": np.mean(out["JR"]),
         "J-Decay": np.mean(out["JD"]), "F-Mean": np.mean(out["FM"]),
         "F-Recall": np.mean(out["FR"]), "F-Decay": np.mean(out["FD"])}
    g["J&F-Mean"] = (g["J-Mean"] + g["F-Mean"]) / 2
    return {"global": g, "per_object": per_object}
