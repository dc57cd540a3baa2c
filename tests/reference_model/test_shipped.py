"""The shipped tiny model: its files are the recorded ones, it loads, and it reproduces the
scores recorded for it on the demo's R2 dataset."""

from __future__ import annotations

import hashlib

import pytest

from datasets_builder.build import build_dataset
from datasets_builder.synth import SynthConfig, write_source
from reference_model.shipped import CHECKPOINT, TEXT_ENCODER, record, run_shipped
from reference_model.training.probe import clip_probe, grounding_probe


def test_shipped_files_are_the_recorded_ones():
    rec = record()
    assert hashlib.sha256(CHECKPOINT.read_bytes()).hexdigest() == rec["sha256"]
    assert CHECKPOINT.stat().st_size < 10 * 2**20
    assert (TEXT_ENCODER / "config.json").is_file() and (TEXT_ENCODER / "vocab.json").is_file()


@pytest.mark.slow
def test_shipped_model_reproduces_its_recorded_scores(tmp_path):
    rec = record()
    s = rec["train"]["synth"]
    write_source(tmp_path / "src", SynthConfig(videos=s["videos"], train_videos=0,
                                               frames=s["frames"], height=s["size"][0],
                                               width=s["size"][1], seed=s["seed"]))
    build_dataset(tmp_path / "src", "valid", tmp_path / "r2", seed=0)
    got = run_shipped(tmp_path / "r2", tmp_path / "preds")["summary"]
    want = rec["demo_scores"]
    for key in ("J", "F", "JF", "R", "JFR"):
        assert got[key] == pytest.approx(want[key], abs=1e-3), key
    grounding = grounding_probe(str(CHECKPOINT), str(TEXT_ENCODER), str(tmp_path / "src"),
                                "valid")
    assert grounding == pytest.approx(rec["heldout_grounding"], abs=1e-6)
    held = clip_probe(str(CHECKPOINT), str(TEXT_ENCODER), str(tmp_path / "src"), "valid",
                      s["videos"])
    assert held == pytest.approx(rec["heldout_clips"], abs=1e-6)


def test_shipped_model_binds_the_words_and_meets_the_demo_targets():
    """Issue 17's targets on the demo's R2 set and for the pair head on held-out pairs (the
    slow test above checks the model still scores what the record says), and the caption
    choosing the object on held-out clips."""
    rec = record()
    scores, grounding = rec["demo_scores"], rec["heldout_grounding"]
    assert scores["JF"] >= 0.5 and scores["R"] >= 0.6
    assert scores["JFR"] > 0.585  # above the demo's best trivial row (rvos_oracle)
    # a caption-blind model picks the caption's object for about 0.4 of the captions and
    # the same mask whatever the caption (IoU near 1)
    assert grounding["captions"] >= 20 and grounding["grounding_accuracy"] >= 0.6
    assert grounding["same_mask_iou"] <= 0.5
    assert rec["heldout_clips"]["pair_auc"] >= 0.9  # the pair head on held-out pairs


def test_shipped_record_says_it_climbed_the_ladder():
    from reference_model.training.ladder import STAGES

    rec = record()
    assert list(rec["train"]["ladder"]) == list(STAGES)  # every rung, in order
    assert set(rec["train"]["seconds"]) == set(STAGES)
    assert "ladder" in rec["description"] and "minutes" in rec["description"]
    held = rec["heldout_clips"]
    assert held["clips"] == rec["train"]["synth"]["videos"] and 0 <= held["pair_auc"] <= 1
