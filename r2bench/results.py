"""The results record (docs/formats.md §4): per-pair values, the summary, and writing them.

Summary rules (README, Metrics): a positive pair's J and F are means over its frames; the summary
J and F are means over positive pairs; J&F = (J + F) / 2; R = 1 - negative area / positive
area (paper §5.1); J&F&R = (J + F + R) / 3; the pair-level decisions N_acc, T_acc, gIoU,
cIoU and N_acc_frame as `r2bench.measures` defines them. A value that cannot be computed is
null, and ``warnings`` says why for J, F and R.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from r2bench.dataset import EvalDataset
from r2bench.fileio import atomic_write_json
from r2bench.measures import decision_summary, measure_values
from r2bench.metrics import mean_or_none, robustness
from r2bench.refytvos import RefYTVOSRoot
from r2bench.submission import Submission
from r2bench.wording import plural

RESULTS_FORMAT = "r2bench/results"


@dataclass(frozen=True)
class PairResult:
    """Scores of one pair: J and F are None for negative pairs or without ground truth.

    ``J_recall`` ... ``F_decay`` are the pair's DAVIS recall and decay over its frames
    (`r2bench.davis_stats`), None where J and F are. ``empty`` and the pixel and frame
    counts after it feed the pair-level decisions (`r2bench.measures`): the intersection
    and union with the target over all frames, the frames where the target is absent and
    how many of those are predicted empty; None for a positive pair without ground truth.
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
    empty: bool = False
    intersection: int | None = None
    union: int | None = None
    absent_frames: int | None = None
    absent_frames_empty: int | None = None


def pair_record(p: PairResult) -> dict:
    """One entry of the results' ``pairs`` list."""
    return {"pair_id": p.pair_id, "label": p.label, "J": p.J, "F": p.F, "area": p.area,
            "frames": p.frames, "empty": p.empty, "J_recall": p.J_recall,
            "J_decay": p.J_decay, "F_recall": p.F_recall, "F_decay": p.F_decay,
            "intersection": p.intersection, "union": p.union,
            "absent_frames": p.absent_frames, "absent_frames_empty": p.absent_frames_empty}


def summarise(dataset: EvalDataset, sub: Submission, pairs: list[PairResult],
              n_missing: int, bound_th: float, version: str, empty_area: int = 0) -> dict:
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
    records = [pair_record(p) for p in pairs]
    absent = [p.absent_frames for p in pairs]
    summary = {**measure_values(j, f, r),
               **decision_summary(records),
               "n_positive": len(pos), "n_negative": len(neg),
               "n_frames": sum(p.frames for p in pairs), "n_missing_frames": n_missing,
               "n_absent_frames": None if None in absent else sum(absent)}
    return {
        "format": RESULTS_FORMAT, "version": 1, "protocol": "per-expression",
        "dataset": os.fspath(dataset.path.resolve()), "submission": os.fspath(sub.path.resolve()),
        "method": None, "backbone": None, "dataset_sha256": dataset_fingerprint(dataset),
        "split": dataset.split, "mode": dataset.mode, "bound_th": bound_th,
        "empty_area": empty_area, "r2bench_version": version,
        "summary": summary,
        "warnings": warnings,
        "pairs": records,
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
