"""``r2bench profile --scoring`` on a small generated set: the record and the errors."""

from __future__ import annotations

import functools
import json

import pytest
from click.testing import CliRunner

from r2bench.app import demo
from r2bench.cli import main
from r2bench.dataset import load_eval_dataset
from r2bench.scoring_profile import SHIFT, positive_masks


@pytest.fixture(scope="module")
def speed_set(tmp_path_factory):
    return demo.write_speed_set(tmp_path_factory.mktemp("speed"), videos=4, frames=3,
                                height=96, width=160)


def _run(*args):
    return CliRunner().invoke(main, ["profile", "--scoring", "--iters", "1", "--warmup", "0",
                                     "--workers", "1", "-q", *args])


def test_record_times_both_measurements(speed_set, tmp_path):
    r2, preds = speed_set
    out = tmp_path / "s.json"
    result = _run("--dataset", str(r2), "--preds", str(preds), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "official code, per frame" in result.output and "score / decode only" in result.output
    rec = json.loads(out.read_text())
    assert (rec["format"], rec["version"]) == ("r2bench/scoring-profile", 1)
    ds = load_eval_dataset(r2)
    positives = [p for p in ds.pairs if p.label == "positive"]
    assert rec["jf"]["frames"] == sum(len(p.frames) for p in positives)
    assert rec["jf"]["mask_size"] == [96, 160]
    assert rec["jf"]["max_abs_difference"] < 1e-9  # the scorer equals the official code
    assert rec["end_to_end"]["frames"] == sum(len(p.frames) for p in ds.pairs)
    for row in (rec["jf"]["scorer"], rec["jf"]["official_port"], rec["end_to_end"]["score"],
                rec["end_to_end"]["decode_only"]):
        assert row["fps"] > 0 and row["latency_ms"]["median"] > 0
    assert rec["jf"]["speedup"] == pytest.approx(
        rec["jf"]["scorer"]["fps"] / rec["jf"]["official_port"]["fps"])


def test_predictions_are_the_ground_truth_shifted(speed_set):
    stacks = positive_masks(load_eval_dataset(speed_set[0]), max_pairs=2)
    assert len(stacks) == 2
    for gt, pred in stacks:
        assert gt.dtype == bool and gt.any() and gt.shape == pred.shape
        assert (pred[:, SHIFT[0]:, :SHIFT[1]] == gt[:, :-SHIFT[0], -SHIFT[1]:]).all()


def test_without_a_dataset_a_set_is_generated(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "write_speed_set", functools.partial(
        demo.write_speed_set, videos=4, frames=2, height=64, width=96))
    result = _run("--out", str(tmp_path / "s.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["jf"]["mask_size"] == [64, 96]


def test_dataset_without_preds_is_a_usage_error(speed_set, tmp_path):
    result = _run("--dataset", str(speed_set[0]), "--out", str(tmp_path / "s.json"))
    assert result.exit_code == 2 and "--preds" in result.output
    assert not (tmp_path / "s.json").exists()
