"""The vectorised bootstrap and permutation test against plain loops, and `r2bench compare`."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from records import random_pairs, results_record, write_json

from leaderboard.bootstrap import (
    BLOCK,
    bootstrap_intervals,
    bootstrap_metrics,
    compare_sums,
    permutation_diffs,
    video_of,
    video_sums,
)
from r2bench.cli import main


def _with_decisions(pairs: list[dict]) -> list[dict]:
    """The pairs with the per-pair fields of the pair-level decisions, derived from their
    area and J (a positive pair with J < 0.5 has one target-absent frame)."""
    out = []
    for p in pairs:
        q = dict(p, empty=p["area"] == 0)
        if p["label"] == "positive":
            inter = round(p["J"] * p["area"])
            absent = int(p["J"] < 0.5)
            q.update(intersection=inter, union=p["area"] + 100 - inter, absent_frames=absent,
                     absent_frames_empty=absent * int(p["F"] < 0.4))
        else:
            q.update(intersection=0, union=p["area"], absent_frames=4,
                     absent_frames_empty=4 if p["area"] == 0 else 1)
        out.append(q)
    return out


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def _plain_metrics(pairs: list[dict]) -> list[float]:
    """J, F, J&F, R, J&F&R, N-acc, T-acc, gIoU, cIoU and frame N-acc of a list of pairs,
    straight from the definitions (the last five NaN for pairs without their fields)."""
    pos = [p for p in pairs if p["label"] == "positive"]
    neg = [p for p in pairs if p["label"] == "negative"]
    j = sum(p["J"] for p in pos) / len(pos)
    f = sum(p["F"] for p in pos) / len(pos)
    pos_area = sum(p["area"] for p in pos)
    r = 1 - sum(p["area"] for p in neg) / pos_area if pos_area else float("nan")
    if not all("empty" in p for p in pairs):
        return [j, f, (j + f) / 2, r, (j + f + r) / 3] + [float("nan")] * 5
    scores = [p["J"] for p in pos] + [float(p["empty"]) for p in neg]
    return [j, f, (j + f) / 2, r, (j + f + r) / 3,
            _ratio(sum(p["empty"] for p in neg), len(neg)),
            _ratio(sum(not p["empty"] for p in pos), len(pos)),
            sum(scores) / len(scores),
            _ratio(sum(p["intersection"] for p in pairs), sum(p["union"] for p in pairs)),
            _ratio(sum(p["absent_frames_empty"] for p in pairs),
                   sum(p["absent_frames"] for p in pairs))]


def _video(pair_id: str) -> str:
    """The oracle's own reading of a pair id: the part before the expression id."""
    parts = pair_id.split("/")
    return parts[-2]


def _by_video(pairs):
    out = {}
    for p in pairs:
        out.setdefault(_video(p["pair_id"]), []).append(p)
    return out


def test_video_of_each_pair_id_form():
    assert video_of("positive/VID/3") == "VID"
    assert video_of("negative/VID/12") == "VID"
    assert video_of("VID/3") == "VID"
    assert video_of("positive/a-b_c/0") == "a-b_c"


def _plain_resamples(res: dict, n: int, seed: int) -> np.ndarray:
    videos = _by_video(res["pairs"])
    names = sorted(videos)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        drawn = rng.integers(0, len(names), size=len(names), dtype=np.int32)
        out.append(_plain_metrics([p for i in drawn for p in videos[names[i]]]))
    return np.array(out)


def test_intervals_are_the_percentiles_of_the_resamples():
    res = results_record(random_pairs(np.random.default_rng(8), 15, 2))
    n = BLOCK + 77
    want = np.percentile(_plain_resamples(res, n, seed=3), [2.5, 97.5], axis=0)   # (2, 5)
    got = bootstrap_intervals(res, n, seed=3)
    for k, key in enumerate(("J", "F", "JF", "R", "JFR")):
        np.testing.assert_allclose(got[key], want[:, k], rtol=0, atol=1e-12)
    wide = bootstrap_intervals(res, n, seed=3, level=0.8)
    want80 = np.percentile(_plain_resamples(res, n, seed=3), [10, 90], axis=0)
    np.testing.assert_allclose(wide["J"], want80[:, 0], rtol=0, atol=1e-12)


def test_permutation_p_value_is_two_sided():
    rng = np.random.default_rng(12)
    pairs = random_pairs(rng, 30, quality=0.6)
    worse = [dict(p, J=max(0.0, p["J"] - 0.1)) if p["label"] == "positive" else dict(p)
             for p in pairs]
    a, b = video_sums(results_record(pairs)), video_sums(results_record(worse))
    ab = {d.metric: d for d in compare_sums(a, b, 1000, seed=4)}
    ba = {d.metric: d for d in compare_sums(b, a, 1000, seed=4)}
    assert ab["J"].diff > 0 > ba["J"].diff
    assert ab["J"].p_value < 0.01 and ba["J"].p_value < 0.01    # B is the worse one
    for key in ("J", "F", "JF", "R", "JFR"):
        assert ba[key].p_value == pytest.approx(ab[key].p_value, abs=1e-12), key


@pytest.mark.parametrize("decisions", [True, False])
def test_bootstrap_equals_a_plain_loop(decisions):
    pairs = random_pairs(np.random.default_rng(3), 12, 3)
    res = results_record(_with_decisions(pairs) if decisions else pairs)
    videos = _by_video(res["pairs"])
    names = sorted(videos)
    n = 3 * BLOCK + 52                               # crosses block boundaries
    rng = np.random.default_rng(7)
    expected = []
    for _ in range(n):
        drawn = rng.integers(0, len(names), size=len(names), dtype=np.int32)
        expected.append(_plain_metrics([p for i in drawn for p in videos[names[i]]]))
    got = bootstrap_metrics(video_sums(res), n, seed=7)
    np.testing.assert_allclose(got, np.array(expected), rtol=0, atol=1e-12)


def test_permutation_equals_a_plain_loop():
    rng = np.random.default_rng(4)
    a = results_record(_with_decisions(random_pairs(rng, 9, 2, quality=0.7)))
    b = results_record(_with_decisions(random_pairs(rng, 9, 2, quality=0.6)))
    va, vb = _by_video(a["pairs"]), _by_video(b["pairs"])
    names = sorted(va)
    rng = np.random.default_rng(11)
    expected = []
    for _ in range(300):
        swap = rng.integers(0, 2, size=len(names), dtype=np.int32)
        a_star = [p for i, v in enumerate(names) for p in (vb[v] if swap[i] else va[v])]
        b_star = [p for i, v in enumerate(names) for p in (va[v] if swap[i] else vb[v])]
        expected.append(np.subtract(_plain_metrics(a_star), _plain_metrics(b_star)))
    got = permutation_diffs(video_sums(a), video_sums(b), 300, seed=11)
    np.testing.assert_allclose(got, np.array(expected), rtol=0, atol=1e-12)


def test_intervals_cover_the_estimate_and_shrink_with_more_videos():
    rng = np.random.default_rng(5)
    small = results_record(random_pairs(rng, 20))
    large = results_record(random_pairs(rng, 500))
    ci_small, ci_large = bootstrap_intervals(small, 2000), bootstrap_intervals(large, 2000)
    for key in ("J", "F", "JF", "R", "JFR"):
        lo, hi = ci_small[key]
        assert lo <= small["summary"][key] <= hi
        assert ci_large[key][1] - ci_large[key][0] < (hi - lo) / 2


def test_no_interval_where_the_measure_is_undefined():
    res = results_record([{"pair_id": "v/0", "label": "positive", "J": 0.5, "F": 0.5,
                           "area": 10}], mode="rvos")
    ci = bootstrap_intervals(res, 200)
    assert ci["R"] is None and ci["JFR"] is None and ci["J"] == (0.5, 0.5)


def _compare(*args):
    return CliRunner().invoke(main, ["compare", *map(str, args)])


def test_compare_finds_a_real_difference(tmp_path):
    rng = np.random.default_rng(6)
    pairs = random_pairs(rng, 60, quality=0.6)
    better = [dict(p, J=min(1.0, p["J"] + 0.05)) if p["label"] == "positive" else dict(p)
              for p in pairs]
    a = write_json(tmp_path / "a.json", results_record(better, "better"))
    b = write_json(tmp_path / "b.json", results_record(pairs, "base"))
    out = tmp_path / "cmp.json"
    res = _compare(a, b, "--resamples", "2000", "--out", out)
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())["measures"]
    assert data["J"]["difference"] > 0.03 and data["J"]["p_value"] < 0.01
    assert data["J"]["interval"][0] > 0
    assert data["F"]["difference"] == 0 and data["F"]["p_value"] == 1.0
    assert "| J | " in res.output and "paired permutation" in res.output


def test_compare_tests_the_pair_level_decisions(tmp_path):
    rng = np.random.default_rng(8)
    pairs = random_pairs(rng, 60, false_alarm=0.6)
    rejecting = [dict(p, area=0) if p["label"] == "negative" else dict(p) for p in pairs]
    a = write_json(tmp_path / "a.json", results_record(_with_decisions(rejecting), "rejects"))
    b = write_json(tmp_path / "b.json", results_record(_with_decisions(pairs), "base"))
    out = tmp_path / "cmp.json"
    res = _compare(a, b, "--resamples", "2000", "--out", out)
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())["measures"]
    n_neg = sum(p["label"] == "negative" for p in pairs)
    base_n_acc = sum(p["area"] == 0 for p in pairs if p["label"] == "negative") / n_neg
    assert data["N_acc"]["a"] == 1.0 and data["N_acc"]["b"] == pytest.approx(base_n_acc)
    assert data["N_acc"]["p_value"] < 0.01 and data["N_acc"]["interval"][0] > 0
    assert data["gIoU"]["difference"] > 0 and data["T_acc"]["difference"] == 0
    assert "| N-acc | 100.0 |" in res.output and "| frame N-acc |" in res.output


def test_compare_with_itself_shows_nothing(tmp_path):
    a = write_json(tmp_path / "a.json", results_record(random_pairs(np.random.default_rng(2),
                                                                    10)))
    res = _compare(a, a, "--resamples", "500")
    assert res.exit_code == 0, res.output
    assert "| J&F&R | " in res.output and "+0.0 | [+0.0, +0.0] | 1.0000 |" in res.output


def test_compare_refuses_other_datasets_and_pair_sets(tmp_path):
    pairs = random_pairs(np.random.default_rng(2), 10)
    a = write_json(tmp_path / "a.json", results_record(pairs))
    other = write_json(tmp_path / "other.json", results_record(pairs, dataset_sha256="f" * 64))
    fewer = write_json(tmp_path / "fewer.json", results_record(pairs[1:]))
    for path, why in ((other, "scored on a different dataset"), (fewer, "its pairs differ")):
        res = _compare(a, path)
        assert res.exit_code == 2
        assert res.output.count("\n") == 1 and str(path) in res.output and why in res.output


@pytest.mark.parametrize("field", ["dataset", "split"])
def test_compare_without_fingerprint_falls_back_to_the_dataset_path(tmp_path, field):
    pairs = random_pairs(np.random.default_rng(2), 6)
    a_rec, b_rec = results_record(pairs), results_record(pairs)
    del a_rec["dataset_sha256"], b_rec["dataset_sha256"]
    b_rec[field] = "elsewhere"
    res = _compare(write_json(tmp_path / "a.json", a_rec), write_json(tmp_path / "b.json", b_rec))
    assert res.exit_code == 2 and "different dataset" in res.output
