"""Speed of the ref-davis protocol on DAVIS-sized videos (480x854, three objects, ReferFormer's
indexed output with a spurious proposal). Run with ``pytest tests/benchmarks --benchmark-enable``.
"""

import numpy as np
import pytest
from refdavis_data import disc_video, save_indexed, write_davis, write_expressions

from datasets_builder.refdavis import convert_davis
from r2bench.davis_protocol import RUN_FOLDERS, score_ref_davis

N_VIDEOS, T, H, W = 2, 8, 480, 854


@pytest.fixture(scope="module")
def davis_submission(tmp_path_factory):
    rng = np.random.default_rng(0)
    tmp = tmp_path_factory.mktemp("davis_bench")
    videos = {f"v{i}": disc_video(rng, T, H, W, 3) for i in range(N_VIDEOS)}
    write_davis(tmp / "DAVIS", videos, list(videos))
    write_expressions(tmp / "exps", {v: 3 for v in videos})
    convert_davis(tmp / "DAVIS", tmp / "exps", tmp / "root")
    for run, (folder, _) in enumerate(RUN_FOLDERS):
        for vid, ids in videos.items():
            pred = np.roll(np.where(ids == 255, 0, ids), 10 + 3 * run, axis=2)
            pred[:, :40, :40] = 4                                    # a proposal of nothing
            for t, frame in enumerate(pred):
                save_indexed(frame, tmp / "preds" / folder / vid / f"{t:05d}.png")
    return tmp / "preds", tmp / "root"


def test_bench_ref_davis(benchmark, davis_submission):
    preds, root = davis_submission
    res = benchmark.pedantic(score_ref_davis, args=(preds, root, "valid"),
                             kwargs={"workers": 2}, rounds=3, iterations=1, warmup_rounds=1)
    s = res["summary"]
    assert s["n_positive"] == 4 * 3 * N_VIDEOS and 0.5 < s["J"] < 1 and 0.2 < s["F"] < 1
