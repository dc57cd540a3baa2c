"""``r2bench compare A B``: is A's difference from B more than resampling noise?

Both results must come from the same dataset (the same ``dataset_sha256``, or where a file
predates it, the same dataset path, split and mode) and hold the same pairs with the same
frame counts. The difference of each measure (J, F, J&F, R, J&F&R and the pair-level
decisions N-acc, T-acc, gIoU, cIoU and frame N-acc) then gets a paired bootstrap interval and
a paired permutation p-value over the videos (`leaderboard.bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderboard.bootstrap import PairedDifference, compare_sums, video_sums
from leaderboard.records import RecordError, ScoredSubmission, same_dataset
from r2bench.measures import TITLES, fmt_percent


def check_comparable(a: ScoredSubmission, b: ScoredSubmission) -> None:
    """Raise `RecordError` naming B unless A and B were scored on the same pairs."""
    if not same_dataset(a, b):
        raise RecordError(b.path, f"scored on a different dataset than {a.path}: the two "
                                  "cannot be compared pair by pair")
    pa = {p["pair_id"]: (p["label"], p.get("frames")) for p in a.results["pairs"]}
    pb = {p["pair_id"]: (p["label"], p.get("frames")) for p in b.results["pairs"]}
    if pa.keys() != pb.keys():
        only_a, only_b = sorted(pa.keys() - pb.keys()), sorted(pb.keys() - pa.keys())
        example = (f"{only_a[0]} is only in {a.path}" if only_a
                   else f"{only_b[0]} is only in this file")
        raise RecordError(b.path, f"its pairs differ from those of {a.path} ({example})")
    for pid, info in pa.items():
        if pb[pid] != info:
            raise RecordError(b.path, f"pair {pid} differs from {a.path} in label or frame "
                                      "count: not the same dataset")


@dataclass(frozen=True)
class Comparison:
    a: ScoredSubmission
    b: ScoredSubmission
    n_videos: int
    n_pairs: int
    n_resamples: int
    seed: int
    differences: list[PairedDifference]


def compare(a: ScoredSubmission, b: ScoredSubmission, n_resamples: int = 10_000,
            seed: int = 0) -> Comparison:
    """A against B over the same videos; raises `RecordError` if they are not comparable."""
    check_comparable(a, b)
    va, vb = video_sums(a.results), video_sums(b.results)
    diffs = compare_sums(va, vb, n_resamples, seed)
    return Comparison(a, b, len(va.videos), len(va.pair_ids), n_resamples, seed, diffs)


def format_comparison(c: Comparison) -> str:
    """A markdown table: A, B, A - B, its 95% interval and the p-value of each measure."""
    lines = [f"| Measure | A: {c.a.method} | B: {c.b.method} | A - B | 95% interval | p |",
             "|:---|---:|---:|---:|---:|---:|"]
    for d in c.differences:
        ci = "-" if d.interval is None else f"[{fmt_percent(d.interval[0], True)}, " \
                                            f"{fmt_percent(d.interval[1], True)}]"
        p = "-" if d.p_value is None else f"{d.p_value:.4f}"
        lines.append(f"| {TITLES[d.metric]} | {fmt_percent(d.a)} | {fmt_percent(d.b)} | "
                     f"{fmt_percent(d.diff, True)} | {ci} | {p} |")
    note = (f"A = {c.a.path}, B = {c.b.path}: {c.n_pairs} pairs in {c.n_videos} videos. "
            f"Interval: paired bootstrap of the videos ({c.n_resamples} resamples, seed "
            f"{c.seed}); p: two-sided paired permutation test (each video's results swapped "
            f"between A and B with probability 1/2, {c.n_resamples} permutations). \"-\": "
            "the measure is not defined for one of the files.")
    lines += ["", note]
    return "\n".join(lines) + "\n"


def comparison_record(c: Comparison) -> dict:
    """The comparison as JSON-ready data (fractions, like the results files)."""
    return {"format": "r2bench/comparison", "version": 1,
            "a": str(c.a.path), "b": str(c.b.path), "n_videos": c.n_videos,
            "n_pairs": c.n_pairs, "n_resamples": c.n_resamples, "seed": c.seed,
            "measures": {d.metric: {"a": d.a, "b": d.b, "difference": d.diff,
                                    "interval": None if d.interval is None else list(d.interval),
                                    "p_value": d.p_value} for d in c.differences}}
