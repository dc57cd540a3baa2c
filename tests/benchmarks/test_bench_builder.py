"""Builder speed at Ref-Youtube-VOS scale and beyond (run with --benchmark-enable).

The issue's target: 20,000 videos and 100,000 expressions in under 10 s, cost growing about
linearly. Measured: everything build-dataset computes and checks in memory (load and
validate the JSON, the constraint masks, the matching, the r2_meta.json record and its
bytes, and verify-dataset's permutation and pair-by-pair unrelatedness checks); the
per-frame links are not measured (a meta-only source has no frames).
"""

from __future__ import annotations

import json

import pytest
from builder_sources import write_meta_source, youtube_like

from datasets_builder.build import dumps_r2_meta, plan_r2_meta
from datasets_builder.verify import check_pairs, check_permutation
from r2bench.dataset import parse_r2_meta
from r2bench.source import load_source


@pytest.mark.parametrize("videos", [5_000, 20_000])
def test_bench_plan_r2_dataset(benchmark, tmp_path, videos):
    meta_exp, objects = youtube_like(videos, 5 * videos, seed=0)
    root = write_meta_source(tmp_path, "valid", meta_exp, objects)
    sizes = {v: [720, 1280] for v in objects}

    def build() -> tuple[bytes, list[str]]:
        meta = plan_r2_meta(load_source(root, "valid"), seed=0, sizes=sizes)
        typed = parse_r2_meta(meta, "r2_meta.json")
        return dumps_r2_meta(meta), check_permutation(typed) + check_pairs(typed)

    data, problems = benchmark.pedantic(build, rounds=3, iterations=1)
    checks = json.loads(data)["checks"]
    assert (checks["videos"], checks["expressions"], problems) == (videos, 5 * videos, [])
