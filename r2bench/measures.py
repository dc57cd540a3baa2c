"""The measures of a results record: their keys, their titles, and how they are printed.

Keys, in the order every table shows them: J (region similarity), F (contour accuracy),
JF (their mean), R (robustness to negative pairs), JFR (the mean of J, F and R). Values are
fractions (at most 1; R may be negative); tables show them x100 with one decimal and '-'
where not available.

Beside them, the pair-level decisions (DECISION_KEYS): the measures of generalised
referring segmentation (GRES / gRefCOCO, Liu, Ding and Jiang, CVPR 2023; evaluation code:
henghuiding/ReLA, ``gres_model/evaluation/refer_evaluation.py``), carried from images to
(expression, video) pairs:

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

MEASURES = ("J", "F", "JF", "R", "JFR")
TITLES = {"J": "J", "F": "F", "JF": "J&F", "R": "R", "JFR": "J&F&R"}
LATEX = {"J": r"$\mathcal{J}$", "F": r"$\mathcal{F}$", "JF": r"$\mathcal{J}\&\mathcal{F}$",
         "R": r"$\mathcal{R}$", "JFR": r"$\mathcal{J}\&\mathcal{F}\&\mathcal{R}$"}
# The summary keys of the pair-level decisions, in table order.
DECISION_KEYS = ("N_acc", "T_acc", "gIoU", "cIoU", "N_acc_frame")
DECISION_TITLES = {"N_acc": "N-acc", "T_acc": "T-acc", "gIoU": "gIoU", "cIoU": "cIoU",
                   "N_acc_frame": "frame N-acc"}
# What `decision_sums` adds up over pairs, in column order.
DECISION_SUMS = ("n_positive", "n_negative", "positive_nonempty", "negative_empty",
                 "pair_score", "intersection", "union", "absent_frames", "absent_frames_empty")
# The per-pair fields of a results file that the sums are made of.
PAIR_FIELDS = ("empty", "intersection", "union", "absent_frames", "absent_frames_empty")
TITLES.update(DECISION_TITLES)
LATEX.update({"N_acc": "N-acc", "T_acc": "T-acc", "gIoU": "gIoU", "cIoU": "cIoU",
              "N_acc_frame": "frame N-acc"})
ALL_MEASURES = MEASURES + DECISION_KEYS
COLUMNS = tuple((TITLES[k], k) for k in MEASURES)   # (title, key) of the summary table
DECISION_COLUMNS = tuple((TITLES[k], k) for k in DECISION_KEYS)   # `score` prints them too


def joint_scores(j: float | None, f: float | None, r: float | None
                 ) -> tuple[float | None, float | None]:
    """(J&F, J&F&R) = ((J + F) / 2, (J + F + R) / 3), None where a part is None."""
    jf = None if j is None or f is None else (j + f) / 2
    jfr = None if jf is None or r is None else (j + f + r) / 3
    return jf, jfr


def measure_values(j: float | None, f: float | None, r: float | None) -> dict:
    """The five measures from J, F and R, keyed and ordered as MEASURES."""
    jf, jfr = joint_scores(j, f, r)
    return {"J": j, "F": f, "JF": jf, "R": r, "JFR": jfr}


def fmt_percent(value: float | None, sign: bool = False, unit: str = "") -> str:
    """0.8531 -> '85.3' (``sign``: '+85.3'; ``unit="%"``: '85.3%'); None -> '-'."""
    if value is None:
        return "-"
    return f"{100 * value:+.1f}{unit}" if sign else f"{100 * value:.1f}{unit}"


def format_summary_table(rows: list[tuple[str, dict]],
                         columns: tuple[tuple[str, str], ...] = COLUMNS) -> str:
    """A fixed-width table, one line per (name, results) with the results' summary values
    of ``columns`` ((title, summary key) pairs; a value the results do not hold is "-")."""
    names = [name for name, _ in rows]
    width = max([len("submission"), *map(len, names)])
    widths = [max(6, len(title)) for title, _ in columns]
    head = f"{'submission':<{width}}  " + "  ".join(f"{title:>{w}}" for (title, _), w
                                                     in zip(columns, widths))
    lines = [head, "-" * len(head)]
    for name, res in rows:
        s = res["summary"]
        lines.append(f"{name:<{width}}  " + "  ".join(f"{fmt_percent(s.get(k)):>{w}}"
                                                      for (_, k), w in zip(columns, widths)))
    return "\n".join(lines)


# -- pair-level decisions ------------------------------------------------------------------

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
