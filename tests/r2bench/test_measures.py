"""The pair-level decisions (N-acc, T-acc, gIoU, cIoU, frame N-acc) on a hand-made R2 dataset
whose every value is worked out by hand below: the all-empty submission, the oracle, the
rvos_oracle, a mixed set, and the same mixed set with ``--empty-area 3``."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from r2data import write_preds, write_r2

from r2bench.cli import main
from r2bench.measures import decision_measures, decision_sums, pair_score

H, W = 10, 12


def _videos():
    """``a``: 3 frames; object 1 a 4x4 square (16 px) in frames 0 and 1, absent from frame
    2; object 2 a 2x3 bar (6 px) in every frame. ``b``: 2 frames; object 1 a 5x2 post."""
    a = np.zeros((3, H, W), np.uint8)
    a[:2, 2:6, 2:6] = 1
    a[:, 7:9, 8:11] = 2
    b = np.zeros((2, H, W), np.uint8)
    b[:, 1:6, 9:11] = 1
    return {"a": a, "b": b}


EXPS = {"a": {"0": ("the square", "1"), "1": ("the bar", "2")}, "b": {"0": ("the post", "1")}}
NEGATIVE_OF = {"a": "b", "b": "a"}  # negative/a/* cover b's 2 frames, negative/b/0 a's 3


def _gt(video, obj):
    return _videos()[video] == obj


def _empty(video):
    return np.zeros_like(_gt(video, 1))


def _submission(kind):
    """(T, H, W) bool masks per pair_id."""
    pos = {"positive/a/0": _gt("a", 1), "positive/a/1": _gt("a", 2),
           "positive/b/0": _gt("b", 1)}
    if kind == "oracle":
        neg = {"negative/a/0": _empty("b"), "negative/a/1": _empty("b"),
               "negative/b/0": _empty("a")}
    elif kind == "rvos_oracle":     # an object of the negative video, as the demo's
        neg = {"negative/a/0": _gt("b", 1), "negative/a/1": _gt("b", 1),
               "negative/b/0": _gt("a", 1)}
    elif kind == "empty":
        pos = {k: np.zeros_like(v) for k, v in pos.items()}
        neg = {"negative/a/0": _empty("b"), "negative/a/1": _empty("b"),
               "negative/b/0": _empty("a")}
    else:
        assert kind == "mixed"
        a0 = _gt("a", 1).copy()
        a0[1] = False                 # frame 1 missed (J 0)
        a0[2, 0:2, 0:2] = True        # 4 px where the target is absent (J 0)
        b0 = np.zeros_like(_gt("b", 1))
        b0[:, 1:6, 9] = True          # half the post: J 0.5 in both frames
        na1 = _empty("b")
        na1[1, 0, 0:3] = True         # 3 px in frame 1
        nb0 = _empty("a")
        nb0[0, 0:2, 0:4] = True       # 8 px in frame 0
        pos = {"positive/a/0": a0, "positive/a/1": np.zeros_like(_gt("a", 2)),
               "positive/b/0": b0}
        neg = {"negative/a/0": _empty("b"), "negative/a/1": na1, "negative/b/0": nb0}
    return {**pos, **neg}


@pytest.fixture(scope="module")
def r2(tmp_path_factory):
    root = tmp_path_factory.mktemp("gres")
    write_r2(root / "r2", _videos(), EXPS, NEGATIVE_OF)
    return root


def _score(root, kind, *extra):
    preds = root / kind
    if not preds.exists():
        write_preds(preds, _submission(kind))
    out = root / f"{kind}{'_'.join(extra)}.json"
    res = CliRunner().invoke(main, ["score", str(preds), "--dataset", str(root / "r2"),
                                    "--out", str(out), "--overwrite", "-q", "--workers", "1",
                                    *extra])
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text()), res.output


# (N_acc, T_acc, gIoU, cIoU, N_acc_frame), worked out by hand. Target-absent frames: frame 2
# of positive/a/0, and the 2 + 2 + 3 frames of the negatives: 8.
EXPECTED = {
    # every pair right: intersection 32 + 18 + 20 = 70 = the union
    "oracle": (1, 1, 1, 1, 1),
    # negatives segmented: gIoU (1 + 1 + 1 + 0 + 0 + 0) / 6; union 70 + 20 + 20 + 32;
    # absent frames predicted empty: frame 2 of positive/a/0 and of negative/b/0
    "rvos_oracle": (0, 1, 0.5, 70 / 142, 2 / 8),
    # positive J: a/0 (0 + 0 + 1) / 3 (frame 2 is empty/empty), a/1 0, b/0 0
    "empty": (1, 0, (1 / 3 + 3) / 6, 0, 1),
    # positive J: a/0 1/3, a/1 0, b/0 0.5; negatives empty: a/0 only;
    # intersection 16 + 0 + 10, union 36 + 18 + 20 + 0 + 3 + 8;
    # absent frames predicted empty: negative/a/0 2, negative/a/1 1, negative/b/0 2
    "mixed": (1 / 3, 2 / 3, (1 / 3 + 0.5 + 1) / 6, 26 / 85, 5 / 8),
}
KEYS = ("N_acc", "T_acc", "gIoU", "cIoU", "N_acc_frame")


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_hand_computed_values(r2, kind):
    results, _ = _score(r2, kind)
    s = results["summary"]
    assert [s[k] for k in KEYS] == pytest.approx(EXPECTED[kind], abs=1e-12)
    assert s["n_absent_frames"] == 8
    assert results["empty_area"] == 0


def test_per_pair_fields_of_the_mixed_set(r2):
    results, _ = _score(r2, "mixed")
    pairs = {p["pair_id"]: p for p in results["pairs"]}
    assert {k: p["empty"] for k, p in pairs.items()} == {
        "positive/a/0": False, "positive/a/1": True, "positive/b/0": False,
        "negative/a/0": True, "negative/a/1": False, "negative/b/0": False}
    a0 = pairs["positive/a/0"]
    assert (a0["intersection"], a0["union"], a0["absent_frames"],
            a0["absent_frames_empty"]) == (16, 36, 1, 0)
    nb0 = pairs["negative/b/0"]
    assert (nb0["intersection"], nb0["union"], nb0["absent_frames"],
            nb0["absent_frames_empty"]) == (0, 8, 3, 2)


def test_empty_area_moves_the_decisions_not_the_pixels(r2):
    results, _ = _score(r2, "mixed", "--empty-area", "3")
    s = results["summary"]
    # negative/a/1 (3 px) now counts as empty, in the pair and in its frame 1; positive/a/0
    # (20 px, 4 of them in the absent frame) does not. cIoU counts pixels: unchanged.
    assert [s[k] for k in KEYS] == pytest.approx(
        (2 / 3, 2 / 3, (1 / 3 + 0.5 + 1 + 1) / 6, 26 / 85, 6 / 8), abs=1e-12)
    assert results["empty_area"] == 3


def test_score_prints_the_decisions(r2):
    _, output = _score(r2, "mixed")
    head, _, row = output.splitlines()[:3]
    assert head.split()[-7:] == ["J&F&R", "N-acc", "T-acc", "gIoU", "cIoU", "frame", "N-acc"]
    assert row.split()[-5:] == ["33.3", "66.7", "30.6", "30.6", "62.5"]


def test_without_ground_truth_only_the_decisions_that_need_none(tmp_path):
    write_r2(tmp_path / "r2", _videos(), EXPS, NEGATIVE_OF, with_gt=False)
    write_preds(tmp_path / "mixed", _submission("mixed"))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["score", str(tmp_path / "mixed"), "--dataset",
                                    str(tmp_path / "r2"), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    s = json.loads(out.read_text())["summary"]
    assert (s["N_acc"], s["T_acc"]) == pytest.approx((1 / 3, 2 / 3))
    assert s["gIoU"] is None and s["cIoU"] is None and s["N_acc_frame"] is None
    assert s["n_absent_frames"] is None


def test_negative_empty_area_is_a_usage_error(r2):
    res = CliRunner().invoke(main, ["score", str(r2 / "x"), "--dataset", str(r2 / "r2"),
                                    "--empty-area", "-1"])
    assert res.exit_code == 2 and "--empty-area" in res.output


def test_the_measures_from_sums_against_the_definitions():
    """`decision_measures` of summed counts equals each definition computed directly."""
    rng = np.random.default_rng(5)
    pairs = []
    for i in range(40):
        positive = i % 3 != 0
        area = int(rng.integers(0, 3)) * int(rng.integers(0, 50))
        inter = int(rng.integers(0, area + 1)) if positive else 0
        union = area + (int(rng.integers(1, 40)) if positive else 0) - inter
        absent = int(rng.integers(0, 4))
        pairs.append({"label": "positive" if positive else "negative",
                      "J": float(rng.random()) if positive else None, "empty": area == 0,
                      "intersection": inter, "union": union, "absent_frames": absent,
                      "absent_frames_empty": int(rng.integers(0, absent + 1))})
    pos = [p for p in pairs if p["label"] == "positive"]
    neg = [p for p in pairs if p["label"] == "negative"]
    expected = [
        sum(p["empty"] for p in neg) / len(neg),
        sum(not p["empty"] for p in pos) / len(pos),
        np.mean([pair_score(p["label"], p["J"], p["empty"]) for p in pairs]),
        sum(p["intersection"] for p in pairs) / sum(p["union"] for p in pairs),
        sum(p["absent_frames_empty"] for p in pairs) / sum(p["absent_frames"] for p in pairs),
    ]
    np.testing.assert_allclose(decision_measures(decision_sums(pairs)), expected, atol=1e-12)


def test_undefined_measures_are_nan():
    one_negative = [{"label": "negative", "J": None, "empty": False, "intersection": 0,
                     "union": 0, "absent_frames": 0, "absent_frames_empty": 0}]
    n_acc, t_acc, giou, ciou, frame = decision_measures(decision_sums(one_negative))
    assert n_acc == 0 and giou == 0
    assert np.isnan(t_acc) and np.isnan(ciou) and np.isnan(frame)   # 0 / 0
    old = [{"label": "positive", "J": 0.5, "F": 0.5, "area": 3}]     # before these fields
    assert np.isnan(decision_measures(decision_sums(old))).all()
