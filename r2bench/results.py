"""The results record (docs/formats.md §4): per-pair values, the summary, and writing them.

Summary rules (README, Metrics): a positive pair's J and F are means over its frames; the summary
J and F are means over positive pairs; J&F = (J + F) / 2; R = 1 - negative area / positive
area (paper §5.1); J&F&R = (J + F + R) / 3. A value that cannot be computed is null, and
``warnings`` says why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from r2bench.dataset import EvalDataset
from r2bench.fileio import atomic_write_json
from r2bench.metrics import mean_or_none, robustness
from r2bench.submission import Submission
from r2bench.wording import plural

RESULTS_FORMAT = "r2bench/results"


@dataclass(frozen=True)
class PairResult:
    """Scores of one pair: J and F are None for negative pairs or without ground truth."""

    pair_id: str
    label: str
    J: float | None
    F: float | None
    area: int
    frames: int
    missing: int = 0


def _mean3(a: float | None, b: float | None, c: float | None) -> float | None:
    return None if a is None or b is None or c is None else (a + b + c) / 3


def summarise(dataset: EvalDataset, sub: Submission, pairs: list[PairResult],
              n_missing: int, bound_th: float, version: str) -> dict:
    """Accumulate pair results into the results record."""
    pos = [p for p in pairs if p.label == "positive"]
    neg = [p for p in pairs if p.label == "negative"]
    warnings = []
    j = f = None
    if dataset.gt_root is None:
        warnings.append(f"J and F not available: {dataset.gt_missing}")
    else:
        j = mean_or_none([p.J for p in pos])
        f = mean_or_none([p.F for p in pos])
    jf = None if j is None or f is None else (j + f) / 2
    r = None
    if dataset.mode == "r2":
        pos_area, neg_area = sum(p.area for p in pos), sum(p.area for p in neg)
        r = robustness(neg_area, pos_area)
        if r is None:
            warnings.append("R not available: the predictions have no foreground on the "
                            "positive pairs, so the negative area has nothing to be "
                            "measured against")
    if n_missing:
        warnings.append(f"{plural(n_missing, 'missing frame')} scored as empty masks "
                        "(--allow-missing)")
    summary = {"J": j, "F": f, "JF": jf, "R": r, "JFR": _mean3(j, f, r),
               "n_positive": len(pos), "n_negative": len(neg),
               "n_frames": sum(p.frames for p in pairs), "n_missing_frames": n_missing}
    return {
        "format": RESULTS_FORMAT, "version": 1,
        "dataset": os.fspath(dataset.path.resolve()), "submission": os.fspath(sub.path.resolve()),
        "split": dataset.split, "mode": dataset.mode, "bound_th": bound_th,
        "r2bench_version": version,
        "summary": summary,
        "warnings": warnings,
        "pairs": [{"pair_id": p.pair_id, "label": p.label, "J": p.J, "F": p.F,
                   "area": p.area, "frames": p.frames} for p in pairs],
    }


def write_results(path: str | os.PathLike, results: dict) -> None:
    """Write the results JSON atomically."""
    atomic_write_json(path, results)
