"""DAVIS mean/recall/decay against a plain port of ``db_statistics``, and the CSV layout."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from davis_reference import ref_db_statistics
from hypothesis import given, settings
from hypothesis import strategies as st
from r2data import write_preds, write_r2

from r2bench.cli import main
from r2bench.davis_stats import db_statistics, decay_bin_edges, write_davis_csv
from r2bench.errors import R2BenchError


@settings(max_examples=300, deadline=None)
@given(t=st.integers(1, 256), seed=st.integers(0, 2**32 - 1), nan=st.booleans())
def test_db_statistics_equals_upstream_port(t, seed, nan):
    rng = np.random.default_rng(seed)
    values = rng.random(t)
    values[rng.random(t) < 0.3] = 0.5          # ties at the recall threshold
    if nan:
        values[rng.random(t) < 0.2] = np.nan
    ours = db_statistics(values)
    ref = ref_db_statistics(values)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15, equal_nan=True)


def test_short_sequences_by_hand():
    assert db_statistics(np.array([0.7])) == (0.7, 1.0, 0.0)
    # T=2: edges [0, 0, 1, 1, 1]; first bin frame 0, last bin frame 1
    assert db_statistics(np.array([0.9, 0.3])) == pytest.approx((0.6, 0.5, 0.6))
    assert list(decay_bin_edges(8)) == [0, 2, 4, 5, 7]
    # T=8: first bin frames 0..2, last bin frames 5..7
    v = np.array([1, 1, 1, 0, 0, 0, 0.5, 0.25])
    assert db_statistics(v)[2] == pytest.approx(1 - 0.25)


def test_long_sequences_keep_their_last_bin():
    # upstream's uint8 edges wrap past 256 frames; ours do not
    v = np.r_[np.ones(150), np.zeros(150)]
    assert db_statistics(v)[2] == 1.0


def _results():
    pairs = [{"pair_id": "positive/va/0", "label": "positive", "J": 0.5, "F": 0.25,
              "J_recall": 1.0, "J_decay": 0.1, "F_recall": 0.0, "F_decay": -0.2},
             {"pair_id": "positive/vb/3", "label": "positive", "J": 1.0, "F": 0.75,
              "J_recall": 0.5, "J_decay": 0.3, "F_recall": 1.0, "F_decay": 0.0},
             {"pair_id": "negative/va/0", "label": "negative", "J": None, "F": None,
              "J_recall": None, "J_decay": None, "F_recall": None, "F_decay": None}]
    return {"pairs": pairs}


def test_csv_layout(tmp_path):
    write_davis_csv(tmp_path, _results())
    g = (tmp_path / "global_results.csv").read_text()
    assert g == ("J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n"
                 "0.625,0.750,0.750,0.200,0.500,0.500,-0.100\n")
    s = (tmp_path / "per-sequence_results.csv").read_text()
    assert s == "Sequence,J-Mean,F-Mean\nva_0,0.500,0.250\nvb_3,1.000,0.750\n"
    assert pd.read_csv(tmp_path / "global_results.csv")["J-Mean"][0] == 0.75


def test_csv_refuses_results_without_statistics(tmp_path):
    res = _results()
    del res["pairs"][0]["J_decay"]
    with pytest.raises(R2BenchError, match="older r2bench"):
        write_davis_csv(tmp_path / "out", res)
    assert not (tmp_path / "out").exists()


def test_scorer_stores_recall_and_decay(tmp_path):
    h, w = 12, 16
    va = np.zeros((4, h, w), np.uint8)
    va[:, 2:8, 2:8] = 1
    write_r2(tmp_path / "r2", {"va": va, "vb": va.copy()},
             {"va": {"0": ("a square", "1")}, "vb": {"0": ("a square", "1")}},
             {"va": "vb", "vb": "va"})
    good = va == 1
    late = good.copy()
    late[2:] = False                      # right in frames 0-1, empty in frames 2-3
    write_preds(tmp_path / "p", {"positive/va/0": good, "positive/vb/0": late,
                                 "negative/va/0": np.zeros_like(good),
                                 "negative/vb/0": np.zeros_like(good)})
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["score", str(tmp_path / "p"), "--dataset",
                                    str(tmp_path / "r2"), "--out", str(out), "-q",
                                    "--name", "m", "--backbone", "ResNet-50"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert (data["method"], data["backbone"]) == ("m", "ResNet-50")
    by_id = {p["pair_id"]: p for p in data["pairs"]}
    assert by_id["positive/va/0"]["J_recall"] == 1.0 and by_id["positive/va/0"]["J_decay"] == 0
    # T=4: edges [0, 1, 2, 3, 3]: first bin frames 0-1 (J 1), last bin frame 3 (J 0)
    assert by_id["positive/vb/0"]["J_recall"] == 0.5 and by_id["positive/vb/0"]["J_decay"] == 1
    assert by_id["positive/vb/0"]["F_decay"] == 1
    assert by_id["negative/va/0"]["J_recall"] is None
