"""The pre-training ladder (``r2bench train --stage``): each rung trains what it names and
nothing else, writes checkpoints the next rung starts from, and resumes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from training_micro import micro_config

from datasets_builder.scene import COLOURS, SHAPES
from r2bench.cli import main
from r2bench.errors import R2BenchError
from reference_model.checkpoint import read_checkpoint
from reference_model.training.config import TrainConfig
from reference_model.training.ladder import (
    frame_labels,
    mask_tokens,
    stage_config,
    train_backbone,
    train_text,
)

SCENE = {"shapes": SHAPES, "colours": COLOURS}   # what the backbone rung classifies


def _weights(run):
    return read_checkpoint(run / "model.safetensors")[0]


def _changed(a, b, prefix):
    keys = [k for k in a if k.startswith(prefix)]
    return keys and any(not torch.equal(a[k], b[k]) for k in keys)


def _same_outside(a, b, prefix):
    return all(torch.equal(a[k], b[k]) for k in a if not k.startswith(prefix))


def test_frame_labels_name_each_objects_shape_and_nearest_colour():
    frame = np.zeros((4, 6, 3), np.uint8)
    labels = np.zeros((4, 6), np.int64)
    frame[:2, :3] = (200, 40, 40)  # reddish: red
    labels[:2, :3] = 1
    frame[2:, 3:] = (45, 75, 230)  # blue
    labels[2:, 3:] = 2
    shape, colour = frame_labels(frame, labels, {"1": "star", "2": "ring", "3": "heart"},
                                 SHAPES, COLOURS)
    assert (shape[:2, :3] == SHAPES.index("star") + 1).all()
    assert (shape[2:, 3:] == SHAPES.index("ring") + 1).all()
    assert (colour[:2, :3] == list(COLOURS).index("red") + 1).all()
    assert (colour[2:, 3:] == list(COLOURS).index("blue") + 1).all()
    assert shape[labels == 0].sum() == 0 and colour[labels == 0].sum() == 0


def test_mask_tokens_masks_only_ordinary_tokens_and_labels_only_those():
    ids = torch.arange(10, 10 + 400).reshape(20, 20)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    inputs, labels = mask_tokens(ids, special, mask_id=4, vocab=500,
                                 gen=torch.Generator().manual_seed(0))
    chosen = labels != -100
    assert not chosen[special].any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])
    assert 0.08 < chosen.float().mean() < 0.22  # 15 % of the ordinary tokens
    assert (inputs[chosen] == 4).float().mean() > 0.6  # mostly <mask>


def test_image_stage_is_single_frames_with_twice_the_clips():
    cfg = TrainConfig()
    image = stage_config(cfg, "image")
    assert image.model.num_frames == 1 and image.batch_size == 2 * cfg.batch_size
    # the ladder's settings: a frozen language model, two objects asked of each frame
    assert image.model.text_encoder.freeze and image.data.positives_per_clip == 2
    assert replace(image.data, positives_per_clip=1) == cfg.data
    assert image.model.replace(num_frames=cfg.model.num_frames, text_encoder=cfg.model.
                               text_encoder) == cfg.model
    assert image.optim == cfg.optim
    assert stage_config(cfg, "video") == cfg


def test_excluded_words_leave_expressions_out_as_positives_and_negatives(micro_source):
    from reference_model.training.clips import build_clip_index

    full = build_clip_index(micro_source, "train", 1)
    cut = build_clip_index(micro_source, "train", 1, exclude_words=("moving",))
    moving = [e for e in full.expressions if "moving" in e.text.split()]
    assert moving and len(moving) < len(full.expressions)  # the source has both kinds
    assert cut.expressions == tuple(e for e in full.expressions if e not in moving)
    assert {cut.expressions[s.expression] for s in cut.samples} == set(cut.expressions)
    for v in cut.videos:  # negatives are drawn among the expressions that are left
        assert all("moving" not in cut.expressions[i].text for i in cut.unrelated_to(v))


def test_backbone_stage_trains_the_whole_backbone_only_and_resumes(micro_source, tiny_text_dir,
                                                                   tmp_path):
    cfg = micro_config(tiny_text_dir)
    torch.manual_seed(0)
    a = train_backbone(cfg, str(micro_source), "train", tmp_path / "a", **SCENE, steps=3, batch=2,
                       threads=1, save_every=2, progress=False)
    b0 = train_backbone(cfg, str(micro_source), "train", tmp_path / "b", **SCENE, steps=2, batch=2,
                        threads=1, save_every=2, progress=False)
    b = train_backbone(cfg, str(micro_source), "train", b0, **SCENE, steps=3, batch=2, resume=True,
                       threads=1, save_every=2, progress=False)
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "a resumed run differs"
    init = _fresh(cfg, micro_source, tmp_path)
    for part in ("backbone.body.conv1.", "backbone.body.layer1.", "backbone.body.layer4.",
                 "backbone.body.bn1.running_mean"):
        assert _changed(init, wa, part), part  # stem, layer1 and BatchNorm statistics too
    assert _same_outside(init, wa, "backbone.")
    log = [json.loads(line) for line in (a / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]


def _fresh(cfg, source, tmp_path):
    """The weights every stage starts from without --init (seeded by the config)."""
    from reference_model.training.ladder import _prepare

    _, model = _prepare(cfg, str(source), "train", tmp_path / "fresh", None, 1)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_text_stage_trains_the_language_model_only_and_chains_with_init(micro_source,
                                                                         tiny_text_dir, tmp_path):
    cfg = micro_config(tiny_text_dir)
    bb = train_backbone(cfg, str(micro_source), "train", tmp_path / "bb", **SCENE, steps=1, batch=2,
                        threads=1, progress=False)
    tx = train_text(cfg, str(micro_source), "train", tmp_path / "tx", steps=3, batch=8,
                    init=str(bb / "model.safetensors"), threads=1, progress=False)
    wb, wt = _weights(bb), _weights(tx)
    assert _changed(wb, wt, "text_encoder.language_model.")
    assert _same_outside(wb, wt, "text_encoder.language_model.")  # the backbone carried over
    log = [json.loads(line) for line in (tx / "log.jsonl").read_text().splitlines()]
    assert log[-1]["mlm_ce"] < log[0]["mlm_ce"] + 1.0 and "bow_bce" in log[0]


def test_stage_image_trains_at_one_frame(micro_source, tiny_text_dir, tmp_path):
    result = CliRunner().invoke(main, [
        "train", "--config", "tiny", "-q", "--workers", "0", "--threads", "1",
        "--data", str(micro_source), "--out", str(tmp_path / "im"), "--stage", "image",
        "--text-encoder", tiny_text_dir, "--max-steps", "1", "--batch-size", "2",
        "--set", "model.input_size=[32, 48]", "--set", "data.augment.scales=[32]",
        "--set", "data.augment.max_size=48"])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "im" / "run.json").read_text())
    assert run["config"]["model"]["num_frames"] == 1
    assert run["config"]["batch_size"] == 4
    assert read_checkpoint(tmp_path / "im" / "model.safetensors")[1].num_frames == 1


def test_a_refused_rung_leaves_no_run_folder(micro_source, tiny_text_dir, tmp_path):
    cfg = micro_config(tiny_text_dir)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    cases = [(["--data", str(tmp_path / "missing")], "dataset folder does not exist"),
             (["--data", str(micro_source), "--init", str(bad)], "bad.safetensors")]
    for k, (args, message) in enumerate(cases):
        out = tmp_path / f"run{k}"
        res = CliRunner().invoke(main, ["train", "--stage", "text", "--config", "tiny", *args,
                                        "--text-encoder", str(tiny_text_dir), "--out", str(out),
                                        "--steps", "1", "-q"])
        assert res.exit_code == 2, res.output
        assert message in res.output and res.output.count("\n") == 1
        assert not out.exists()
    with pytest.raises(R2BenchError):
        train_backbone(cfg, str(micro_source), "train", tmp_path / "bb", **SCENE,
                       init=str(bad), steps=1, progress=False)
    assert not (tmp_path / "bb").exists()


def test_video_rung_settings_are_the_ladders_with_the_pair_term_weighted():
    from reference_model.training.config import with_overrides
    from reference_model.training.ladder import VIDEO_RUNG_SETTINGS

    cfg = TrainConfig()
    video = with_overrides(cfg, VIDEO_RUNG_SETTINGS)
    image = stage_config(cfg, "image")
    assert video.model.text_encoder == image.model.text_encoder and video.data == image.data
    weights, base = video.model.criterion.weight_dict(), cfg.model.criterion.weight_dict()
    assert weights["loss_cycle_cls"] == 5 * base["loss_cycle_cls"]
    assert {k: v for k, v in weights.items() if k != "loss_cycle_cls"} == \
        {k: v for k, v in base.items() if k != "loss_cycle_cls"}
