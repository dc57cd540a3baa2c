"""run-reference end to end on a synthetic R2 dataset with a seeded tiny checkpoint."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from datasets_builder.build import build_dataset
from datasets_builder.synth import SynthConfig, write_source
from r2bench.cli import main
from r2bench.scoring import score_submission
from reference_model import inference as inf
from reference_model.checkpoint import save_checkpoint
from reference_model.config import tiny
from reference_model.inference import InferenceConfig, plan_groups, run_reference
from reference_model.loading import load_model
from reference_model.model import R2VOS
from reference_model.postprocess import binarize, select_slot
from reference_model.preprocess import preprocess_frames

FRAMES = 4


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_text_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runref")
    src = write_source(root / "src", SynthConfig(videos=2, train_videos=1, frames=FRAMES,
                                                 seed=3), workers=1)
    build_dataset(src, "valid", root / "r2", seed=0)
    cfg = tiny(tiny_text_dir)
    torch.manual_seed(0)
    model = R2VOS(cfg)
    arch_cfg = cfg.replace(text_encoder=replace(cfg.text_encoder, path=None,
                                                arch=model.text_encoder.arch()))
    save_checkpoint(root / "tiny.safetensors", model.state_dict(), arch_cfg)
    return {"root": root, "src": src, "r2": root / "r2", "ckpt": root / "tiny.safetensors",
            "text": Path(tiny_text_dir)}


def _run(data, out, *extra) -> object:
    args = ["run-reference", "--dataset", str(data["r2"]), "--checkpoint", str(data["ckpt"]),
            "--text-encoder", str(data["text"]), "--out", str(out), "--device", "cpu", "-q",
            *extra]
    return CliRunner().invoke(main, args)


def _tree(folder: Path) -> dict[str, str]:
    return {os.fspath(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def _assert_same_masks(ours: Path, ref: Path, prefix: str = "") -> None:
    """Every mask of ``ours`` equals ``ref``'s (under ``prefix``) up to float rounding: a
    different batch of captions changes logits by ~1e-6, which may flip a pixel whose logit
    is that close to 0, never a decision (slot or pair) and so never a whole mask."""
    files = sorted(ours.rglob("*.png"))
    assert files
    differ = total = 0
    for p in files:
        a = np.asarray(Image.open(p))
        b = np.asarray(Image.open(ref / prefix / p.relative_to(ours)))
        differ += int((a != b).sum())
        total += a.size
    assert differ <= 1e-4 * total, f"{differ} of {total} pixels differ"


@pytest.fixture(scope="module")
def reference_preds(data) -> Path:
    out = data["root"] / "preds_all"
    result = _run(data, out)
    assert result.exit_code == 0, result.output
    return out


def test_complete_submission_that_scores(data, reference_preds, tmp_path):
    res = score_submission(reference_preds, data["r2"])  # raises on any missing/extra frame
    assert res["summary"]["n_positive"] == res["summary"]["n_negative"] > 0
    groups = plan_groups(data["r2"], None, reference_preds)
    for g in groups:
        size = Image.open(g.frame_paths[0]).size
        for item in g.items:
            pngs = sorted(item.out.glob("*.png"))
            assert [p.stem for p in pngs] == list(g.frames)
            for p in pngs:
                im = Image.open(p)
                assert im.mode == "L" and im.size == size
                assert set(np.unique(np.asarray(im))) <= {0, 255}
    assert not [p for p in reference_preds.rglob("*") if p.name.startswith(".")]


def test_score_flag_prints_the_table_and_writes_results(data, tmp_path):
    result = _run(data, tmp_path / "p", "--score", "--results", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert "J&F&R" in result.output and (tmp_path / "r.json").is_file()


@pytest.mark.parametrize("n", (12000, 20000))
def test_score_flag_refuses_a_hostile_mask_in_one_line(data, reference_preds, tmp_path, n):
    """A finished folder is not rewritten, so a mask swapped in from outside is scored: one
    whose header claims n x n pixels is refused before Pillow decodes or warns about it."""
    import shutil
    import warnings

    from r2data import huge_png

    out = tmp_path / "p"
    shutil.copytree(reference_preds, out)
    victim = min(out.rglob("*.png"))
    h, w = np.asarray(Image.open(victim)).shape
    victim.write_bytes(huge_png(n, n))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _run(data, out, "--score", "--results", str(tmp_path / "r.json"))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"r2bench: {victim}: mask is {n}x{n}, the video is {h}x{w}"]
    assert not [c for c in caught if issubclass(c.category, Image.DecompressionBombWarning)]
    assert not (tmp_path / "r.json").exists()


def test_plain_root_writes_vid_exp_frame(data, tmp_path):
    args = ["run-reference", "--dataset", str(data["src"]), "--split", "valid", "--checkpoint",
            str(data["ckpt"]), "--text-encoder", str(data["text"]), "--out", str(tmp_path / "p"),
            "--device", "cpu", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    res = score_submission(tmp_path / "p", data["src"], split="valid")
    assert res["mode"] == "rvos" and res["summary"]["J"] is not None
    # the positive half of the R2 run: the same frames, other captions in the batch
    _assert_same_masks(tmp_path / "p", data["root"] / "preds_all", "positive")


def test_window_covering_the_video_equals_all(data, reference_preds, tmp_path):
    assert _run(data, tmp_path / "w", "--window", str(FRAMES)).exit_code == 0
    assert _tree(tmp_path / "w") == _tree(reference_preds)


def _run_first_group(data, out, cfg: InferenceConfig):
    model, mcfg = load_model(data["ckpt"], data["text"])
    inf.check_writable(out)
    group = plan_groups(data["r2"], None, out)[0]
    inf.ReferenceRunner(model, mcfg.short_side, cfg, out).run_group(group)
    return model, mcfg, group


def test_caption_batching_does_not_change_masks(data, reference_preds, tmp_path):
    out = tmp_path / "b"
    _, _, group = _run_first_group(data, out, InferenceConfig(batch_expressions=8))
    assert len(group.items) > 1
    _assert_same_masks(out, reference_preds)


def test_windows_decide_slot_and_pair_over_the_whole_video(data, tmp_path):
    model, cfg, group = _run_first_group(data, tmp_path / "w2", InferenceConfig(window=3))
    frames = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in group.frame_paths])
    item = group.items[0]
    scores, pair, logits = 0, 0.0, []
    with torch.no_grad():
        for window in (range(3), range(3, FRAMES)):  # the two clips, by hand
            x = preprocess_frames(frames[window.start:window.stop], cfg.short_side)
            o = model(x[None], [item.text])
            scores = scores + o["pred_logits"][0].sigmoid().sum(0).double()
            pair += float(o["pred_pair"][0].sigmoid()) * len(window)
            logits.append(o["pred_masks"][0])
    slot = select_slot(scores / FRAMES)
    expected = binarize(torch.cat(logits)[:, slot], frames.shape[1:3]).numpy()
    if pair / FRAMES >= 0.5:
        expected[:] = False
    written = np.stack([np.asarray(Image.open(item.out / f"{f}.png")) for f in group.frames])
    np.testing.assert_array_equal(written, expected.astype(np.uint8) * 255)


def test_resume_after_interruption(data, reference_preds, tmp_path, monkeypatch):
    model, cfg = load_model(data["ckpt"], data["text"])
    out = tmp_path / "resume"
    calls = {"n": 0}
    real = inf.ReferenceRunner.run_group

    def interrupted(self, group):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, group)

    monkeypatch.setattr(inf.ReferenceRunner, "run_group", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_reference(data["r2"], None, model, cfg.short_side, out, InferenceConfig())
    monkeypatch.setattr(inf.ReferenceRunner, "run_group", real)
    partial = _tree(out)
    assert partial and len(partial) < len(_tree(reference_preds))
    assert not list(out.glob(".r2bench-run.*"))  # no staging left behind
    counts = run_reference(data["r2"], None, model, cfg.short_side, out, InferenceConfig())
    assert counts["skipped"] == len({Path(k).parent for k in partial})
    assert _tree(out) == _tree(reference_preds)


@pytest.mark.slow
def test_a_killed_runs_staging_is_removed_and_a_live_ones_kept(data, tmp_path, caplog):
    """run-reference stages each video in OUT; ranks run side by side, so the next run
    removes only the staging of processes that have ended (r2bench/fileio.py)."""
    from r2bench.fileio import staging_prefix

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "o"
        mine = staging_prefix(out / "r2bench-run")
        stale = out / (mine.replace(f"-{os.getpid()}.", f"-{ended.pid}.") + "abcd1234.tmp")
        live = out / (mine.replace(f"-{os.getpid()}.", f"-{alive.pid}.") + "abcd1234.tmp")
        for d in (stale, live):
            (d / "item0").mkdir(parents=True)
        model, cfg = load_model(data["ckpt"], data["text"])
        inf.ReferenceRunner(model, cfg.short_side, InferenceConfig(), out).clear_stale()
        assert not stale.exists() and live.exists()
        assert f"{stale}: removed" in caplog.text
    finally:
        alive.kill()
        alive.wait()


def test_torchrun_two_processes_write_what_one_writes(data, reference_preds, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29517", "-m", "r2bench", "run-reference", "--dataset",
           str(data["r2"]), "--checkpoint", str(data["ckpt"]), "--text-encoder",
           str(data["text"]), "--out", str(out), "--device", "cpu", "-q"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "process 0/2" in proc.stdout and "process 1/2" in proc.stdout
    assert _tree(out) == _tree(reference_preds)


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_checkpoint_that_does_not_match_is_refused(data, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(data["ckpt"], framework="pt") as f:
        meta = f.metadata()
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    del state["query_embed.weight"]
    state["fpn.mask_features.bias"] = torch.zeros(3)
    save_file(state, tmp_path / "bad.safetensors", metadata=meta)
    data = dict(data, ckpt=tmp_path / "bad.safetensors")
    line = _one_line_error(_run(data, tmp_path / "p"))
    assert "missing keys: query_embed.weight" in line and "fpn.mask_features.bias" in line
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())


def test_text_folder_without_tokenizer_is_refused(data, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "config.json").write_text("{}")
    line = _one_line_error(_run(dict(data, text=tmp_path / "t"), tmp_path / "p"))
    assert "no tokenizer files" in line and str(tmp_path / "t") in line


def test_missing_frame_is_refused_and_leaves_no_partial_video(data, tmp_path):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(data["src"], src)
    r2 = tmp_path / "r2"
    build_dataset(src, "valid", r2, seed=0)
    victim = min((src / "valid" / "JPEGImages").iterdir()) / "00010.jpg"
    victim.unlink()
    line = _one_line_error(_run(dict(data, r2=r2), tmp_path / "p"))
    assert "missing frame image" in line and victim.parent.name in line
    assert not (tmp_path / "p" / "positive" / victim.parent.name).exists()


def test_unwritable_output_is_refused(data, tmp_path):
    (tmp_path / "file").write_text("x")
    line = _one_line_error(_run(data, tmp_path / "file" / "preds"))
    assert "cannot write predictions" in line or "file" in line


@pytest.mark.parametrize("window", [None, 2])
def test_the_checkpoints_thresholds_decide_the_masks(data, tmp_path, window):
    """run-reference post-processes through the model config's PostProcessConfig (as
    profiling and validation do), not fixed 0.5 thresholds."""
    from reference_model.postprocess import PostProcessConfig

    model, cfg = load_model(data["ckpt"], data["text"])
    assert model.pair_head is not None   # the pair gate is exercised
    icfg = InferenceConfig(window=window)
    model.cfg = replace(model.cfg, postprocess=PostProcessConfig(mask_threshold=0.0,
                                                                 pair_threshold=2.0))
    run_reference(data["r2"], None, model, cfg.short_side, tmp_path / "all", icfg)
    masks = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "all").rglob("*.png"))]
    assert masks and all((m == 255).all() for m in masks)    # sigmoid > 0 everywhere
    model.cfg = replace(model.cfg, postprocess=PostProcessConfig(pair_threshold=0.0))
    run_reference(data["r2"], None, model, cfg.short_side, tmp_path / "none", icfg)
    masks = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "none").rglob("*.png"))]
    assert masks and not any(m.any() for m in masks)         # every pair gated unrelated


def test_bad_options_and_datasets_are_rejected_before_preds_is_created(data, tmp_path):
    model, cfg = load_model(data["ckpt"], data["text"])
    out = tmp_path / "preds"
    with pytest.raises(inf.R2BenchError, match="needs a CUDA device"):
        run_reference(data["r2"], None, model, cfg.short_side, out,
                      InferenceConfig(precision="fp16"))
    with pytest.raises(inf.DatasetError, match="split"):
        run_reference(data["r2"], "train", model, cfg.short_side, out, InferenceConfig())
    assert not out.exists()
