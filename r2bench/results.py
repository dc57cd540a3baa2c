"""The results record (docs/formats.md §4): per-pair values, the summary, and writing them.

Summary rules (README, Metrics): a positive pair's J and F are means over its frames; the summary
J and F are means over positive pairs; J&F = (J + F) / 2; R = 1 - negative area / positive
area (paper §5.1); J&F&R = (J + F + R) / 3. A value that cannot be computed is null, and
``warnings`` says why.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from r2bench.dataset import EvalDataset
from r2bench.fileio import atomic_write_json
from r2bench.measures import measure_values
from r2bench.metrics import mean_or_none, robustness
from r2bench.refytvos import RefYTVOSRoot
from r2bench.submission import Submission
from r2bench.wording import plural

RESULTS_FORMAT = "r2bench/results"


@dataclass(frozen=True)
class PairResult:
    """Scores of one pair: J and F are None for negative pairs or without ground truth.

    ``J_recall`` ... ``F_decay`` are the pair's DAVIS recall and decay over its frames
    (`r2bench.davis_stats`), None where J and F are.
    """

    pair_id: str
    label: str
    J: float | None
    F: float | None
    area: int
    frames: int
    missing: int = 0
    J_recall: float | None = None
    J_decay: float | None = None
    F_recall: float | None = None
    F_decay: float | None = None


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
    summary = {**measure_values(j, f, r),
               "n_positive": len(pos), "n_negative": len(neg),
               "n_frames": sum(p.frames for p in pairs), "n_missing_frames": n_missing}
    return {
        "format": RESULTS_FORMAT, "version": 1, "protocol": "per-expression",
        "dataset": os.fspath(dataset.path.resolve()), "submission": os.fspath(sub.path.resolve()),
        "method": None, "backbone": None, "dataset_sha256": dataset_fingerprint(dataset),
        "split": dataset.split, "mode": dataset.mode, "bound_th": bound_th,
        "r2bench_version": version,
        "summary": summary,
        "warnings": warnings,
        "pairs": [{"pair_id": p.pair_id, "label": p.label, "J": p.J, "F": p.F,
                   "area": p.area, "frames": p.frames, "J_recall": p.J_recall,
                   "J_decay": p.J_decay, "F_recall": p.F_recall, "F_decay": p.F_decay}
                  for p in pairs],
    }


def dataset_fingerprint(dataset: EvalDataset) -> str:
    """sha256 of the file that defines the pairs (``r2_meta.json``, or the split's
    ``meta_expressions.json``): two results compare only when these agree."""
    if dataset.r2 is not None:
        path = dataset.r2.path
    else:
        path = RefYTVOSRoot(dataset.path, dataset.split).meta_expressions_path
    return hashlib.sha256(path.read_bytes()).hexdigest()


def name_submission(results: dict, method: str | None, backbone: str | None) -> dict:
    """The results with the submission's method and backbone set (the leaderboard shows
    them; None leaves it to use the results file's name)."""
    return {**results, "method": method, "backbone": backbone}


def write_results(path: str | os.PathLike, results: dict) -> None:
    """Write the results JSON atomically."""
    atomic_write_json(path, results)
