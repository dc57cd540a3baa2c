"""Statistics of a seeded ablation (``r2bench ablate --seeds N``).

Every variant is trained with N seeds. Per variant and measure: the mean over the seeds and
its 95 % interval (Student's t over the seeds: mean +- t(0.975, N-1) * sd / sqrt(N)). Against
``full``, per seed, the paired test of ``r2bench compare`` (paired bootstrap interval and
permutation p-value over the videos, same seed for both runs); a variant's difference counts
as significant when the N per-seed tests all give p < 0.05 with the same sign, and the mean
difference over the seeds has its own t interval.

Legend: N seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from r2bench.measures import MEASURES, TITLES, fmt_percent

ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    """Mean of N values and its 95 % t interval (None bounds for N < 2)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int


def t_interval(values: list[float | None]) -> Interval:
    """Mean and 95 % Student-t interval of the non-missing ``values``."""
    from scipy import stats

    xs = [v for v in values if v is not None]
    if not xs:
        return Interval(None, None, None, 0)
    mean = sum(xs) / len(xs)
    if len(xs) < 2:
        return Interval(mean, None, None, len(xs))
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    half = float(stats.t.ppf(1 - ALPHA / 2, len(xs) - 1)) * sd / math.sqrt(len(xs))
    return Interval(mean, mean - half, mean + half, len(xs))


@dataclass(frozen=True)
class VersusFull:
    """One measure of variant - full over the seeds."""

    diff: Interval  # of the per-seed differences
    p_values: tuple[float | None, ...]  # the per-seed paired tests (r2bench compare)
    signs: tuple[int, ...]  # the per-seed differences' signs

    @property
    def significant(self) -> bool:
        ps = [p for p in self.p_values if p is not None]
        return (len(ps) == len(self.p_values) > 0 and max(ps) < ALPHA
                and len(set(self.signs)) == 1 and self.signs[0] != 0)


def seed_summary(results: list[dict]) -> dict[str, Interval]:
    """Per measure, the interval over the seeds' results."""
    return {m: t_interval([r["summary"].get(m) for r in results]) for m in MEASURES}


def versus_full(full: list[tuple[Path, dict]], variant: list[tuple[Path, dict]],
                resamples: int = 2000) -> dict[str, VersusFull]:
    """variant - full per measure, seed by seed (same order), with ``r2bench compare``."""
    from leaderboard.compare import compare
    from leaderboard.records import ScoredSubmission

    diffs: dict[str, list] = {m: [] for m in MEASURES}
    ps: dict[str, list] = {m: [] for m in MEASURES}
    for seed, ((pf, rf), (pv, rv)) in enumerate(zip(full, variant)):
        c = compare(ScoredSubmission(pv, "variant", None, rv),
                    ScoredSubmission(pf, "full", None, rf),
                    resamples, seed)
        for d in c.differences:
            if d.metric in diffs:
                diffs[d.metric].append(d.diff)
                ps[d.metric].append(d.p_value)
    return {m: VersusFull(t_interval(diffs[m]), tuple(ps[m]),
                          tuple(0 if d is None else (d > 0) - (d < 0) for d in diffs[m]))
            for m in MEASURES}


def _cell(i: Interval, sign: bool = False) -> str:
    if i.low is None:
        return fmt_percent(i.mean, sign)
    return f"{fmt_percent(i.mean, sign)} [{fmt_percent(i.low, sign)}, {fmt_percent(i.high, sign)}]"


def format_seeded_table(rows: list[tuple[str, dict[str, Interval], dict[str, VersusFull] | None]],
                        seeds: int) -> str:
    """A markdown table: per variant the J&F, R and J&F&R means with 95 % intervals over the
    seeds, and J&F&R and R against ``full`` (mean difference, interval, per-seed p-values,
    '*' when significant)."""
    head = (f"| variant | J&F | R | J&F&R | J&F&R - full | R - full | p per seed "
            f"(N = {seeds}) |")
    lines = [head, "|:---|---:|---:|---:|---:|---:|:---|"]
    for name, summary, vs in rows:
        cells = [_cell(summary[m]) for m in ("JF", "R", "JFR")]
        if vs is None:
            cells += ["", "", ""]
        else:
            for m in ("JFR", "R"):
                star = " *" if vs[m].significant else ""
                cells.append(_cell(vs[m].diff, True) + star)
            cells.append("; ".join(
                f"{TITLES[m]} " + ", ".join("-" if p is None else f"{p:.3f}"
                                            for p in vs[m].p_values) for m in ("JFR", "R")))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Intervals: 95 %, Student's t over the seeds. * : every seed's paired test "
                 f"(r2bench compare) gives p < {ALPHA} with the same sign.")
    return "\n".join(lines) + "\n"
