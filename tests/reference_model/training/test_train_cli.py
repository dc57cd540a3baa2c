"""``r2bench train`` on bad input: one line, exit status 2, nothing trained."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner
from training_micro import micro_config

from r2bench.cli import main
from r2bench.cli.train_cmd import parse_overrides
from reference_model.checkpoint import read_checkpoint
from reference_model.training.loop import RunOptions, Trainer, train


@pytest.fixture(scope="module")
def micro_run(micro_source, tiny_text_dir, tmp_path_factory):
    """A one-step run of the micro config: a real checkpoint of a different configuration."""
    run = tmp_path_factory.mktemp("micro_run") / "run"
    train(micro_config(tiny_text_dir, max_steps=1), str(micro_source), "train", run,
          RunOptions(device="cpu", workers=0, threads=1, progress=False))
    return run


def run_cli(*args):
    return CliRunner().invoke(main, ["train", "--config", "tiny", "-q", "--workers", "0",
                                     "--threads", "1", *args])


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("r2bench: "), result.output
    for f in fragments:
        assert f in lines[0], lines[0]


def test_corrupt_checkpoint_is_refused_on_resume(micro_source, tmp_path):
    ckpt = tmp_path / "run" / "checkpoints" / "step-00000004"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer.pt").write_bytes(b"PK\x03\x04 truncated")
    (ckpt / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    result = run_cli("--data", str(micro_source), "--out", str(tmp_path / "run"),
                     "--resume", str(tmp_path / "run"))
    one_line_error(result, "trainer.pt", "not a readable training state")


def test_checkpoint_of_another_config_is_refused_on_resume(micro_source, micro_run, tmp_path):
    result = run_cli("--data", str(micro_source), "--out", str(tmp_path / "new"),
                     "--resume", str(micro_run))
    one_line_error(result, "step-00000001", "written by a different configuration")


def test_mismatched_or_corrupt_init_is_refused(micro_source, micro_run, tmp_path):
    result = run_cli("--data", str(micro_source), "--out", str(tmp_path / "a"),
                     "--init", str(micro_run / "model.safetensors"))
    one_line_error(result, "model.safetensors", "mis-shaped keys")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    result = run_cli("--data", str(micro_source), "--out", str(tmp_path / "b"), "--init",
                     str(junk))
    one_line_error(result, "junk.pth", "not a readable checkpoint")
    # a refused --init leaves no run folder behind (no run.json, no text_encoder/)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_run_folder_is_not_overwritten(micro_source, micro_run):
    result = run_cli("--data", str(micro_source), "--out", str(micro_run))
    one_line_error(result, "already holds a run")


def test_data_without_ground_truth_is_refused(micro_source, tmp_path):
    result = run_cli("--data", str(micro_source), "--split", "nosuch", "--out",
                     str(tmp_path / "r"))
    one_line_error(result, "meta_expressions.json")


def test_overrides_parse_as_json_or_text():
    assert parse_overrides(("optim.lr=3e-4", "model.criterion.cycle=angle",
                            "model.head.pair_head=false")) == {
        "optim": {"lr": 3e-4},
        "model": {"criterion": {"cycle": "angle"}, "head": {"pair_head": False}}}
    result = run_cli("--data", ".", "--out", "x", "--set", "optim.nosuch=1")
    one_line_error(result, "--set", "nosuch")
    result = run_cli("--data", ".", "--out", "x", "--set", "optim.lr_drop=6")  # not [6]
    one_line_error(result, "--set", "lr_drop", "expected a list")


def test_init_starts_from_the_checkpoint(micro_source, micro_run, tiny_text_dir, tmp_path):
    trainer = Trainer(micro_config(tiny_text_dir, max_steps=1), str(micro_source), "train",
                      tmp_path / "ft", RunOptions(device="cpu", workers=0, threads=1,
                                                  progress=False),
                      init=str(micro_run / "model.safetensors"))
    want, _ = read_checkpoint(micro_run / "model.safetensors")
    got = trainer.model.state_dict()
    assert want.keys() <= got.keys() and all(torch.equal(got[k], want[k]) for k in want)


def test_sigterm_to_the_whole_group_checkpoints_and_stops(micro_source, tmp_path):
    # `pkill` or a scheduler's preemption signals every process, loader workers included:
    # the run still stops through its own handler, with a checkpoint, not a dead worker.
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "r2bench", "train", "--config", "tiny", "--data",
         str(micro_source), "--out", str(run), "--workers", "1", "--threads", "1",
         "--max-steps", "100000", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "log.jsonl").is_file() or \
                len((run / "log.jsonl").read_text().splitlines()) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in out + err and "internal error" not in err
    assert list((run / "checkpoints").iterdir())


def test_a_bad_val_dataset_is_refused_before_training(micro_source, tmp_path):
    for val, fragment in ((tmp_path / "missing", "does not exist"),
                          (micro_source, "not an R2 dataset")):
        run = tmp_path / f"run_{val.name}"
        result = run_cli("--data", str(micro_source), "--out", str(run), "--val", str(val))
        one_line_error(result, str(val), fragment)
        assert not run.exists()  # nothing trained, no run folder


def test_a_bad_data_folder_is_refused_before_the_run_folder_is_made(tmp_path):
    for stage in ("video", "image"):
        run = tmp_path / f"run_{stage}"
        result = run_cli("--data", str(tmp_path / "missing"), "--out", str(run),
                         "--stage", stage)
        one_line_error(result, str(tmp_path / "missing"), "does not exist")
        assert not run.exists()


def test_partial_init_leaves_out_absent_parts_only(micro_source, micro_run, tiny_text_dir,
                                                   tmp_path):
    """partial_init (ablate --init): the pair head's weights are left out of a model without
    one; a model with a part the checkpoint lacks is still refused."""
    from dataclasses import replace

    from r2bench.errors import R2BenchError
    from reference_model.training.state import init_from_checkpoint

    cfg = micro_config(tiny_text_dir, max_steps=1)
    no_head = cfg.replace(model=cfg.model.replace(head=replace(cfg.model.head,
                                                               pair_head=False)))
    opts = RunOptions(device="cpu", workers=0, threads=1, progress=False)
    with pytest.raises(R2BenchError, match="unexpected keys"):
        Trainer(no_head, str(micro_source), "train", tmp_path / "strict", opts,
                init=str(micro_run / "model.safetensors"))
    trainer = Trainer(no_head, str(micro_source), "train", tmp_path / "ft", opts,
                      init=str(micro_run / "model.safetensors"), partial_init=True)
    want, _ = read_checkpoint(micro_run / "model.safetensors")
    got = trainer.model.state_dict()
    kept = {k for k in want if not k.startswith("pair_head.")}
    assert kept < want.keys() and all(torch.equal(got[k], want[k]) for k in kept)
    lacking = tmp_path / "lacking.safetensors"
    trainer.model.eval()
    from reference_model.checkpoint import save_checkpoint

    save_checkpoint(lacking, trainer.model.state_dict(), trainer.cfg.model)
    full = Trainer(cfg, str(micro_source), "train", tmp_path / "full", opts)
    with pytest.raises(R2BenchError, match="missing keys"):
        init_from_checkpoint(full.model, lacking, drop_unused=True)
