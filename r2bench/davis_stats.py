"""The DAVIS 2017 per-object statistics (mean, recall, decay) and its two CSV files.

Reproduces ``db_statistics`` of davisvideochallenge/davis2017-evaluation (``davis2017/utils.py``)
and the layout of the CSV files its ``evaluation_method.py`` writes, so that numbers can be
compared with papers that report J-Recall or F-Decay:

- mean   = the NaN-ignoring mean of the per-frame values;
- recall = the fraction of frames whose value is above 0.5 (a NaN frame counts as not above);
- decay  = the mean of the first of four frame bins minus the mean of the last. The bin edges
  are ``round(linspace(1, T, 5) + 1e-10) - 1`` and bin i spans frames ``ids[i] .. ids[i + 1]``
  inclusive, so neighbouring bins share their edge frame and a one-frame sequence has decay 0.
  Upstream stores the edges as uint8, which wraps for sequences longer than 256 frames; here
  they are int64 (the same bins up to 256 frames, the intended ones beyond).

Upstream treats each object of a sequence separately and averages the statistics over
objects; here the object is a positive pair (one expression in its video), so J-Recall is the
mean over positive pairs of each pair's recall, and so on.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from r2bench.errors import R2BenchError
from r2bench.fileio import atomic_write_bytes

N_BINS = 4
GLOBAL_CSV = "global_results.csv"
PER_SEQUENCE_CSV = "per-sequence_results.csv"
GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
STAT_KEYS = ("J_recall", "J_decay", "F_recall", "F_decay")


def decay_bin_edges(t: int) -> np.ndarray:
    """(N_BINS + 1,) int64 frame indices bounding the decay bins of a T-frame sequence."""
    return (np.round(np.linspace(1, t, N_BINS + 1) + 1e-10) - 1).astype(np.int64)


def db_statistics(per_frame: np.ndarray) -> tuple[float, float, float]:
    """(mean, recall, decay) of one object's per-frame values, float64 (T,)."""
    v = np.asarray(per_frame, dtype=np.float64)
    ids = decay_bin_edges(len(v))
    with warnings.catch_warnings():  # empty or all-NaN input gives NaN, as upstream
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(v)
        recall = np.nanmean(v > 0.5)
        decay = np.nanmean(v[ids[0]:ids[1] + 1]) - np.nanmean(v[ids[N_BINS - 1]:ids[N_BINS] + 1])
    return float(mean), float(recall), float(decay)


def sequence_name(pair_id: str) -> str:
    """The per-sequence CSV name of a positive pair: ``positive/VID/EXP`` -> ``VID_EXP``."""
    parts = pair_id.split("/")
    if parts[0] == "positive":
        parts = parts[1:]
    return "_".join(parts)


def davis_tables(results: dict) -> tuple[list[dict], list[dict]]:
    """The rows of the global and the per-sequence table of a results record.

    Raises `R2BenchError` when the positive pairs have no J and F or no recall and decay
    (results written before r2bench stored them: score again).
    """
    pos = [p for p in results["pairs"] if p["label"] == "positive"]
    if not pos or any(p.get("J") is None or p.get("F") is None for p in pos):
        raise R2BenchError(None, "the results have no J and F for the positive pairs, so "
                                 "there are no DAVIS statistics")
    if any(p.get(k) is None for p in pos for k in STAT_KEYS):
        raise R2BenchError(None, "the results have no per-pair recall and decay "
                                 "(written by an older r2bench: score the predictions again)")
    col = {k: np.array([p[k] for p in pos], dtype=np.float64)
           for k in ("J", "F", *STAT_KEYS)}
    g = {"J&F-Mean": (col["J"].mean() + col["F"].mean()) / 2,
         "J-Mean": col["J"].mean(), "J-Recall": col["J_recall"].mean(),
         "J-Decay": col["J_decay"].mean(), "F-Mean": col["F"].mean(),
         "F-Recall": col["F_recall"].mean(), "F-Decay": col["F_decay"].mean()}
    per_seq = [{"Sequence": sequence_name(p["pair_id"]), "J-Mean": p["J"], "F-Mean": p["F"]}
               for p in pos]
    return [{k: float(g[k]) for k in GLOBAL_COLUMNS}], per_seq


def _csv_bytes(rows: list[dict], columns: tuple[str, ...]) -> bytes:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(columns))
    return frame.to_csv(index=False, float_format="%.3f", lineterminator="\n").encode("utf-8")


def write_davis_csv(out_dir: str | os.PathLike, results: dict) -> None:
    """Write ``global_results.csv`` and ``per-sequence_results.csv`` into ``out_dir``, in the
    layout of davis2017-evaluation (three decimals, no index column), each atomically."""
    global_rows, per_seq = davis_tables(results)
    out = Path(out_dir)
    global_csv = _csv_bytes(global_rows, GLOBAL_COLUMNS)
    per_seq_csv = _csv_bytes(per_seq, ("Sequence", "J-Mean", "F-Mean"))
    atomic_write_bytes(out / GLOBAL_CSV, global_csv)
    atomic_write_bytes(out / PER_SEQUENCE_CSV, per_seq_csv)
