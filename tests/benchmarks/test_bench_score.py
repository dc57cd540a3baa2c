"""Speed of `score_submission` against merely decoding the same PNGs (`check_submission`).

An R2 dataset of HD (720x1280) videos with realistic predictions; both runs use the same
worker count. Run with ``pytest tests/benchmarks --benchmark-enable``.
"""

import numpy as np
import pytest
from hd_masks import blob_stack, imperfect
from r2data import write_preds, write_r2

from r2bench.scoring import check_submission, score_submission

N_VIDEOS, T, H, W = 4, 4, 720, 1280


@pytest.fixture(scope="module")
def hd_submission(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("hd")
    videos, exps, preds = {}, {}, {}
    for v in range(N_VIDEOS):
        vid = f"v{v}"
        a, b = blob_stack(rng, T, H, W), blob_stack(rng, T, H, W)
        ids = np.where(a, 1, 0).astype(np.uint8)
        ids[b & ~a] = 2
        videos[vid] = ids
        exps[vid] = {"0": ("the first thing", "1"), "1": ("the second thing", "2")}
        for e, obj in (("0", 1), ("1", 2)):
            preds[f"positive/{vid}/{e}"] = imperfect(rng, ids == obj)
    neg = {f"v{v}": f"v{(v + 1) % N_VIDEOS}" for v in range(N_VIDEOS)}
    for v in range(N_VIDEOS):
        for e in ("0", "1"):  # an R-VOS-like model: segments something in the negative video
            preds[f"negative/v{v}/{e}"] = imperfect(rng, videos[neg[f"v{v}"]] == 1)
    write_r2(root / "r2", videos, exps, neg)
    write_preds(root / "preds", preds)
    return root / "preds", root / "r2"


def test_bench_score_hd(benchmark, hd_submission):
    preds, r2 = hd_submission
    res = benchmark.pedantic(score_submission, args=(preds, r2), kwargs={"workers": 2},
                             rounds=3, iterations=1, warmup_rounds=1)
    s = res["summary"]
    assert s["n_positive"] == 2 * N_VIDEOS and s["n_frames"] == 4 * N_VIDEOS * T
    assert 0.5 < s["J"] < 1 and 0.5 < s["F"] < 1 and s["R"] < 0.7


def test_bench_decode_only_hd(benchmark, hd_submission):
    preds, r2 = hd_submission
    report = benchmark.pedantic(check_submission, args=(preds, r2), kwargs={"workers": 2},
                                rounds=3, iterations=1, warmup_rounds=1)
    assert report.frames == 4 * N_VIDEOS * T and report.problems == ()
