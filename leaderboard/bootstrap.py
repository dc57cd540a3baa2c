"""Confidence intervals and paired tests, resampling videos.

The unit of resampling is the video an expression belongs to: the pairs ``positive/VID/EXP``,
``negative/VID/EXP`` (and ``VID/EXP`` of a plain R-VOS split) all move with VID, because the
expressions of one video, and the negative video they are paired with, are not independent
draws. Every measure is a ratio of sums over videos,

    J = sum_v Jsum_v / sum_v npos_v        F likewise
    R = 1 - sum_v negarea_v / sum_v posarea_v
    J&F = (J + F) / 2                      J&F&R = (J + F + R) / 3,

and so are the pair-level decisions N-acc, T-acc, gIoU, cIoU and frame N-acc
(`r2bench.measures`), so a resample that takes video v ``w_v`` times has J = w . Jsum / w . npos, and R is the ratio
of the resampled sums (not a mean of per-video ratios). One (n, V) matrix of counts times the
(V, 14) matrix of per-video sums gives n resamples at once.

- `bootstrap_intervals`: the percentile bootstrap (2.5th and 97.5th percentiles of n
  resamples of the videos, with replacement).
- `paired_bootstrap`: the same count matrix applied to both submissions, so the interval is
  that of the difference over the same videos.
- `permutation_test`: the paired (swap) permutation test: each video's sums are exchanged
  between the two submissions with probability 1/2; the two-sided p-value is
  (1 + #{|d*| >= |d|}) / (1 + n).

Randomness comes from ``r2bench.seeds.stream(seed)`` (numpy's ``default_rng(seed)``),
drawn in blocks of fixed size, so a seed gives the same numbers on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from r2bench.measures import (
    DECISION_KEYS,
    DECISION_SUMS,
    MEASURES,
    decision_measures,
    decision_sums,
)
from r2bench.seeds import stream

METRICS = (*MEASURES, *DECISION_KEYS)
# Sums of the R2-VOS measures, then those of the pair-level decisions (r2bench.measures).
SUM_FIELDS = ("J", "F", "n_positive", "positive_area", "negative_area", *DECISION_SUMS)
N_BASE = 5   # SUM_FIELDS and METRICS of the R2-VOS measures come first
BLOCK = 256       # resamples drawn at a time: small blocks stay in cache (results do not
                  # depend on it: the draws are one stream)


@dataclass(frozen=True)
class VideoSums:
    """Per-video sums of one results record, in sorted video order.

    ``sums`` is float64 (V, 14) with columns SUM_FIELDS; ``has_jf`` / ``has_r`` say whether
    J and F, and R, are defined for the record at all.
    """

    videos: tuple[str, ...]
    pair_ids: frozenset[str]
    sums: np.ndarray
    has_jf: bool
    has_r: bool


def video_of(pair_id: str) -> str:
    """``positive/VID/EXP``, ``negative/VID/EXP`` or ``VID/EXP`` -> VID."""
    return pair_id.rsplit("/", 2)[-2]


def pair_sums(pairs: list[dict]) -> np.ndarray:
    """(14,) SUM_FIELDS of a list of result pairs (a positive pair without J adds no J; the
    decision sums are NaN where the pairs lack a count, see `r2bench.measures`)."""
    s = np.zeros(N_BASE)
    for p in pairs:
        if p["label"] == "positive":
            s[0] += p["J"] or 0.0
            s[1] += p["F"] or 0.0
            s[2] += 1
            s[3] += p["area"]
        else:
            s[4] += p["area"]
    return np.concatenate([s, decision_sums(pairs)])


def video_sums(results: dict) -> VideoSums:
    """Group a results record's pairs by video."""
    by_video: dict[str, list[dict]] = {}
    for p in results["pairs"]:
        by_video.setdefault(video_of(p["pair_id"]), []).append(p)
    videos = sorted(by_video)
    positives = [p for p in results["pairs"] if p["label"] == "positive"]
    has_jf = bool(positives) and all(p.get("J") is not None and p.get("F") is not None
                                     for p in positives)
    sums = (np.stack([pair_sums(by_video[v]) for v in videos]) if videos
            else np.zeros((0, len(SUM_FIELDS))))
    return VideoSums(tuple(videos), frozenset(p["pair_id"] for p in results["pairs"]), sums,
                     has_jf, results["summary"].get("R") is not None)


def metrics_from_sums(s: np.ndarray, has_jf: bool = True, has_r: bool = True) -> np.ndarray:
    """(..., 14) summed SUM_FIELDS -> (..., 10) METRICS; NaN where a measure is undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        j = s[..., 0] / s[..., 2]
        f = s[..., 1] / s[..., 2]
        r = 1.0 - s[..., 4] / s[..., 3]
    if not has_jf:
        j = f = np.full_like(j, np.nan)
    if not has_r:
        r = np.full_like(r, np.nan)
    r = np.where(s[..., 3] > 0, r, np.nan)
    base = np.stack([j, f, (j + f) / 2, r, (j + f + r) / 3], axis=-1)
    return np.concatenate([base, decision_measures(s[..., N_BASE:])], axis=-1)


def resample_counts(rng: np.random.Generator, n: int, n_videos: int) -> np.ndarray:
    """(n, V) float64: how often each video is drawn in each of n resamples (int32 draws)."""
    idx = rng.integers(0, n_videos, size=(n, n_videos), dtype=np.int32)  # (n, V) drawn
    flat = idx + (n_videos * np.arange(n, dtype=np.int32))[:, None]
    return np.bincount(flat.ravel(), minlength=n * n_videos).reshape(n, n_videos).astype(float)


def _blocks(n: int):
    for start in range(0, n, BLOCK):
        yield min(BLOCK, n - start)


def bootstrap_metrics(vs: VideoSums, n_resamples: int, seed: int) -> np.ndarray:
    """(n, 10) METRICS of n bootstrap resamples of the videos."""
    rng = stream(seed)
    out = [metrics_from_sums(resample_counts(rng, n, len(vs.videos)) @ vs.sums,
                             vs.has_jf, vs.has_r) for n in _blocks(n_resamples)]
    return np.concatenate(out)


def _percentiles(samples: np.ndarray, level: float) -> dict[str, tuple[float, float] | None]:
    """Per metric (lo, hi), None where no resample defines it."""
    tail = 100 * (1 - level) / 2
    out = {}
    for k, name in enumerate(METRICS):
        col = samples[:, k]
        col = col[np.isfinite(col)]
        out[name] = None if col.size == 0 else tuple(
            float(x) for x in np.percentile(col, [tail, 100 - tail]))
    return out


def bootstrap_intervals(results: dict, n_resamples: int = 10_000, seed: int = 0,
                        level: float = 0.95) -> dict[str, tuple[float, float] | None]:
    """The percentile bootstrap interval of each measure: {metric: (lo, hi) or None}."""
    vs = video_sums(results)
    return _percentiles(bootstrap_metrics(vs, n_resamples, seed), level)


@dataclass(frozen=True)
class PairedDifference:
    """One measure of A - B: the observed difference, its interval and p-value."""

    metric: str
    a: float | None
    b: float | None
    diff: float | None
    interval: tuple[float, float] | None
    p_value: float | None


def paired_bootstrap(a: VideoSums, b: VideoSums, n_resamples: int, seed: int) -> np.ndarray:
    """(n, 10) differences A - B of METRICS under the same video resamples."""
    rng = stream(seed)
    out = []
    for n in _blocks(n_resamples):
        w = resample_counts(rng, n, len(a.videos))
        out.append(metrics_from_sums(w @ a.sums, a.has_jf, a.has_r)
                   - metrics_from_sums(w @ b.sums, b.has_jf, b.has_r))
    return np.concatenate(out)


def permutation_diffs(a: VideoSums, b: VideoSums, n_permutations: int,
                      seed: int) -> np.ndarray:
    """(n, 10) differences A* - B* with each video's sums swapped with probability 1/2."""
    rng = stream(seed)
    delta = b.sums - a.sums                                      # (V, 14)
    total_a, total_b = a.sums.sum(0), b.sums.sum(0)
    out = []
    for n in _blocks(n_permutations):
        swap = rng.integers(0, 2, size=(n, len(a.videos)), dtype=np.int32)      # (n, V)
        shift = swap.astype(float) @ delta                                       # (n, 14)
        out.append(metrics_from_sums(total_a + shift, a.has_jf, a.has_r)
                   - metrics_from_sums(total_b - shift, b.has_jf, b.has_r))
    return np.concatenate(out)


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def compare_sums(a: VideoSums, b: VideoSums, n_resamples: int = 10_000, seed: int = 0,
                 level: float = 0.95) -> list[PairedDifference]:
    """Every measure of A against B over the same videos (the caller checks they are)."""
    point_a = metrics_from_sums(a.sums.sum(0), a.has_jf, a.has_r)
    point_b = metrics_from_sums(b.sums.sum(0), b.has_jf, b.has_r)
    observed = point_a - point_b
    intervals = _percentiles(paired_bootstrap(a, b, n_resamples, seed), level)
    perm = permutation_diffs(a, b, n_resamples, seed + 1)
    out = []
    for k, name in enumerate(METRICS):
        d = observed[k]
        p = None
        if np.isfinite(d):
            col = perm[:, k][np.isfinite(perm[:, k])]
            hits = np.count_nonzero(np.abs(col) >= abs(d) - 1e-12)
            p = (1 + hits) / (1 + col.size)
        out.append(PairedDifference(name, _finite(point_a[k]), _finite(point_b[k]),
                                    _finite(d), intervals[name] if p is not None else None,
                                    p))
    return out
