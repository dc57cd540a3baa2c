"""holdout: whole videos, seeded, linked, and J, F and R measurable on the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datasets_builder.build import build_dataset
from datasets_builder.holdout import held_out_videos, make_holdout
from datasets_builder.synth import SynthConfig, write_source
from r2bench.app.demo import write_oracle_submission
from r2bench.cli import main
from r2bench.refytvos import RefYTVOSRoot
from r2bench.scoring import score_submission


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    cfg = SynthConfig(videos=2, train_videos=20, frames=3, height=32, width=48, seed=4)
    return write_source(tmp_path_factory.mktemp("src") / "src", cfg)


def test_whole_videos_split_and_linked(source, tmp_path):
    report = make_holdout(source, "train", tmp_path / "ho", fraction=0.25, seed=3)
    assert (report.held, report.rest) == (5, 15)
    src = RefYTVOSRoot(source, "train").load_videos()
    held = RefYTVOSRoot(tmp_path / "ho", "valid").load_videos()
    rest = RefYTVOSRoot(tmp_path / "ho", "train").load_videos()
    assert set(held) | set(rest) == set(src) and not set(held) & set(rest)
    assert list(held) == [v for v in src if v in held]             # source order kept
    for vid, meta in held.items():
        assert meta == src[vid]                                     # expressions, obj_id, frames
        jpg = RefYTVOSRoot(tmp_path / "ho", "valid").jpeg_path(vid, meta.frames[0])
        assert jpg.is_symlink() and jpg.resolve() == (source / "train" / "JPEGImages" / vid /
                                                      f"{meta.frames[0]}.jpg").resolve()
    cats = RefYTVOSRoot(tmp_path / "ho", "valid").load_categories()
    assert set(cats) == set(held)
    record = json.loads((tmp_path / "ho" / "holdout.json").read_text())
    assert record["format"] == "r2bench/holdout" and record["valid"] == list(held)


def test_seeded_and_byte_identical(source, tmp_path):
    make_holdout(source, "train", tmp_path / "a", fraction=0.25, seed=3)
    make_holdout(source, "train", tmp_path / "b", fraction=0.25, seed=3)
    for rel in ("holdout.json", "meta_expressions/valid/meta_expressions.json",
                "meta_expressions/train/meta_expressions.json", "valid/meta.json"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    vids = [f"v{i:02d}" for i in range(40)]
    assert held_out_videos(vids, 0.1, 0) == held_out_videos(list(reversed(vids)), 0.1, 0)
    assert held_out_videos(vids, 0.1, 0) != held_out_videos(vids, 0.1, 1)
    assert len(held_out_videos(vids[:3], 0.9, 0)) == 2              # never every video


def test_j_f_and_r_measured_offline(source, tmp_path):
    make_holdout(source, "train", tmp_path / "ho", fraction=0.5, seed=0)
    build_dataset(tmp_path / "ho", "valid", tmp_path / "r2", seed=0)
    preds = write_oracle_submission(tmp_path / "r2", tmp_path / "preds", "oracle")
    s = score_submission(preds, tmp_path / "r2", workers=1)["summary"]
    assert (s["J"], s["F"], s["R"]) == (1.0, 1.0, 1.0)


def test_cli_and_errors(source, tmp_path):
    run = CliRunner().invoke
    res = run(main, ["holdout", str(source), "--out", str(tmp_path / "ho"), "--seed", "2", "-q"])
    assert res.exit_code == 0 and "valid 2 videos" in res.output
    res = run(main, ["holdout", str(source), "--out", str(tmp_path / "x"), "--fraction", "1"])
    assert res.exit_code == 2 and "--fraction" in res.output
    bare = tmp_path / "bare"
    write_source(bare, SynthConfig(videos=4, train_videos=1, frames=2, height=32, width=48,
                                   valid_ground_truth=False))
    res = run(main, ["holdout", str(bare), "--split", "valid", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "ground truth" in res.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("n, fraction, k", [
    (20, 0.15, 3), (20, 0.14, 3), (20, 0.11, 2), (17, 0.15, 3), (7, 0.1, 1), (40, 0.01, 1),
    (3, 0.9, 2)])
def test_held_out_count_is_rounded(n, fraction, k):
    # round(fraction x n), at least 1 and at most n - 1: 20 x 0.14 = 2.8 holds out 3, not 2
    assert len(held_out_videos([f"v{i:02d}" for i in range(n)], fraction, 0)) == k


def test_cli_holds_out_three_of_twenty_at_fifteen_percent(source, tmp_path):
    res = CliRunner().invoke(main, ["holdout", str(source), "--out", str(tmp_path / "ho"),
                                    "--fraction", "0.15", "-q"])
    assert res.exit_code == 0, res.output
    assert "valid 3 videos" in res.output and "train 17 videos" in res.output
    assert len(json.loads((tmp_path / "ho" / "holdout.json").read_text())["valid"]) == 3


def test_no_video_leaks_between_the_splits_on_disk(source, tmp_path):
    make_holdout(source, "train", tmp_path / "ho", fraction=0.3, seed=7)
    src = set(json.loads((source / "meta_expressions" / "train" / "meta_expressions.json")
                         .read_text())["videos"])
    found = {}
    for split in ("valid", "train"):
        meta = tmp_path / "ho" / "meta_expressions" / split / "meta_expressions.json"
        listed = set(json.loads(meta.read_text())["videos"])
        for sub in ("JPEGImages", "Annotations"):
            assert {p.name for p in (tmp_path / "ho" / split / sub).iterdir()} == listed
        cats = json.loads((tmp_path / "ho" / split / "meta.json").read_text())["videos"]
        assert set(cats) == listed
        found[split] = listed
    assert not found["valid"] & found["train"]
    assert found["valid"] | found["train"] == src and len(found["valid"]) == 6
