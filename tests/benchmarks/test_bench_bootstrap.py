"""Speed of the bootstrap: 10,000 resamples of the videos of a 1,000-pair results file
(250 videos, 2 expressions each, positive and negative), and the paired comparison.

Run with ``pytest tests/benchmarks --benchmark-enable``.
"""

import numpy as np
import pytest
from records import random_pairs, results_record

from leaderboard.bootstrap import bootstrap_intervals, compare_sums, video_sums


@pytest.fixture(scope="module")
def thousand_pairs():
    rng = np.random.default_rng(0)
    a = results_record(random_pairs(rng, 250, 2))
    b = results_record(random_pairs(rng, 250, 2, quality=0.68))
    assert len(a["pairs"]) == 1000
    return a, b


def test_bench_bootstrap_10k(benchmark, thousand_pairs):
    a, _ = thousand_pairs
    ci = benchmark.pedantic(bootstrap_intervals, args=(a, 10_000, 0), rounds=5, iterations=1,
                            warmup_rounds=1)
    assert ci["J"][0] < a["summary"]["J"] < ci["J"][1]


def test_bench_compare_10k(benchmark, thousand_pairs):
    va, vb = (video_sums(r) for r in thousand_pairs)
    diffs = benchmark.pedantic(compare_sums, args=(va, vb, 10_000, 0), rounds=5, iterations=1,
                               warmup_rounds=1)
    measured = [d for d in diffs if d.metric in ("J", "F", "JF", "R", "JFR")]
    assert len(measured) == 5 and all(0 < d.p_value <= 1 for d in measured)
    # these records carry no pair-level decision fields: no p-value for them
    assert all(d.p_value is None for d in diffs if d not in measured)
