"""Measure definitions.

# -- pair-level decisions (issue 19 §1) ---------------------------------------------------

The measures of generalised referring segmentation (GRES / gRefCOCO, Liu, Ding and Jiang,
CVPR 2023; evaluation code: henghuiding/ReLA, ``gres_model/evaluation/refer_evaluation.py``),
carried from images to (expression, video) pairs:

- a pair is *empty* when its predicted foreground over all its frames is at most
  ``empty_area`` pixels (0 by default: no foreground pixel at all);
- N_acc = negative pairs predicted empty / negative pairs (no-target accuracy);
- T_acc = positive pairs predicted non-empty / positive pairs (target accuracy);
- gIoU = mean over all pairs of a per-pair score: J for a positive pair, 1 for an empty
  negative pair and 0 for a non-empty one;
- cIoU = total intersection / total union over all frames of all pairs; a negative pair has
  no target, so it adds nothing to the intersection and its predicted area to the union;
- N_acc_frame = target-absent frames predicted empty / target-absent frames, where a frame is
  target-absent when it belongs to a negative pair, or to a positive pair whose object is not
  annotated in it, and is predicted empty when its foreground is at most ``empty_area``.

Every measure is a ratio of sums over pairs, so one function (`decision_measures`) turns
summed counts into measures, for the whole dataset (`r2bench.results`) as for bootstrap
resamples of its videos (`leaderboard.bootstrap`). A measure whose denominator is 0, or
whose counts are unknown (no ground truth), is NaN here and null in a results file.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# The summary keys of the pair-level decisions, in table order.
DECISION_KEYS = ("N_acc", "T_acc", "gIoU", "cIoU", "N_acc_frame")
DECISION_TITLES = {"N_acc": "N-acc", "T_acc": "T-acc", "gIoU": "gIoU", "cIoU": "cIoU",
                   "N_acc_frame": "frame N-acc"}
# What `decision_sums` adds up over pairs, in column order.
DECISION_SUMS = ("n_positive", "n_negative", "positive_nonempty", "negative_empty",
                 "pair_score", "intersection", "union", "absent_frames", "absent_frames_empty")
# The per-pair fields of a results file that the sums are made of.
PAIR_FIELDS = ("empty", "intersection", "union", "absent_frames", "absent_frames_empty")


def is_empty(area: int, empty_area: int = 0) -> bool:
    """A prediction (a pair's frames, or one frame) counts as empty at <= ``empty_area`` px."""
    return area <= empty_area


def pair_score(label: str, j: float | None, empty: bool) -> float | None:
    """gIoU's per-pair score: J for a positive pair (None without ground truth); for a
    negative pair 1 when predicted empty, else 0."""
    if label == "positive":
        return j
    return 1.0 if empty else 0.0


def _number(value: object) -> float:
    """A count or score as float; NaN where it is unknown (None or absent)."""
    return float("nan") if value is None else float(value)


def pair_decision_sums(pair: dict) -> np.ndarray:
    """(9,) float64 DECISION_SUMS of one results pair; NaN where the pair does not know a
    value (no ground truth, or a results file written before these fields existed)."""
    positive = pair["label"] == "positive"
    empty = pair.get("empty")
    known = empty is not None
    score = pair_score(pair["label"], pair.get("J"), bool(empty)) if known else None
    return np.array([
        float(positive), float(not positive),
        _number(None if not known else float(positive and not empty)),
        _number(None if not known else float(not positive and empty)),
        _number(score),
        _number(pair.get("intersection")), _number(pair.get("union")),
        _number(pair.get("absent_frames")), _number(pair.get("absent_frames_empty")),
    ])


def decision_sums(pairs: Iterable[dict]) -> np.ndarray:
    """(9,) float64 DECISION_SUMS over results pairs (NaN where any pair lacks a value)."""
    total = np.zeros(len(DECISION_SUMS))
    for p in pairs:
        total += pair_decision_sums(p)
    return total


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def decision_measures(sums: np.ndarray) -> np.ndarray:
    """(..., 9) summed DECISION_SUMS -> (..., 5) DECISION_KEYS; NaN where undefined."""
    s = np.asarray(sums, dtype=np.float64)
    n_pos, n_neg = s[..., 0], s[..., 1]
    return np.stack([
        _ratio(s[..., 3], n_neg),              # N_acc
        _ratio(s[..., 2], n_pos),              # T_acc
        _ratio(s[..., 4], n_pos + n_neg),      # gIoU
        _ratio(s[..., 5], s[..., 6]),          # cIoU
        _ratio(s[..., 8], s[..., 7]),          # N_acc_frame
    ], axis=-1)


def decision_summary(pairs: Iterable[dict]) -> dict[str, float | None]:
    """The summary values of DECISION_KEYS over results pairs (None where undefined)."""
    values = decision_measures(decision_sums(pairs))
    return {k: (float(v) if np.isfinite(v) else None) for k, v in zip(DECISION_KEYS, values)}
