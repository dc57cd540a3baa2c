"""The training loop: it learns, it resumes exactly after SIGTERM, and two gloo processes
take the one-process step."""

from __future__ import annotations

import json
import os
import signal
import socket

import pytest
import torch
import torch.multiprocessing as mp
from training_micro import ddp_worker, gradients, micro_config

from reference_model.checkpoint import read_checkpoint
from reference_model.training.loop import RunOptions, Trainer, train

QUIET = RunOptions(device="cpu", workers=0, threads=1, progress=False, keep=5)


def losses(run) -> dict[int, float]:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in lines if "loss" in r}


def test_a_short_run_lowers_the_loss(micro_source, tiny_text_dir, tmp_path):
    cfg = micro_config(tiny_text_dir, max_steps=16, optim=micro_config(tiny_text_dir).optim)
    result = train(cfg, str(micro_source), "train", tmp_path / "run", QUIET)
    got = losses(tmp_path / "run")
    assert result.step == 16 and sorted(got) == list(range(1, 17))
    first, last = sum(got[s] for s in (1, 2, 3)) / 3, sum(got[s] for s in (14, 15, 16)) / 3
    assert last < 0.8 * first, got
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_resume_after_sigterm_gives_the_same_losses(micro_source, tiny_text_dir, tmp_path,
                                                    monkeypatch):
    cfg = micro_config(tiny_text_dir, max_steps=5)
    train(cfg, str(micro_source), "train", tmp_path / "straight", QUIET)

    step = Trainer.step

    def step_then_sigterm(self, batch):
        out = step(self, batch)
        if self.position.step == 1:  # the signal arrives during the second step
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(Trainer, "step", step_then_sigterm)
    stopped = train(cfg, str(micro_source), "train", tmp_path / "killed", QUIET)
    assert stopped.stopped_by == "SIGTERM" and stopped.step == 2
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is put back
    monkeypatch.setattr(Trainer, "step", step)
    resumed = train(cfg, str(micro_source), "train", tmp_path / "killed", QUIET,
                    resume=str(tmp_path / "killed"))
    assert resumed.step == 5
    assert losses(tmp_path / "killed") == losses(tmp_path / "straight")  # bitwise
    times = [json.loads(line)["time"] for line in
             (tmp_path / "killed" / "log.jsonl").read_text().splitlines() if '"time"' in line]
    assert times == sorted(times)  # "time" counts on across the resume
    a, _ = read_checkpoint(tmp_path / "straight" / "model.safetensors")
    b, _ = read_checkpoint(tmp_path / "killed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_take_the_one_process_step(micro_source, tiny_text_dir, tmp_path):
    # Adam's first step moves every weight by about lr whatever the gradient's scale, so the
    # comparison is on the averaged gradients (and the losses) of the same global batch.
    single = Trainer(micro_config(tiny_text_dir, max_steps=1), str(micro_source), "train",
                     tmp_path / "single", QUIET)
    single.run()
    ddp = tmp_path / "ddp"
    mp.start_processes(ddp_worker, args=(2, _free_port(), str(micro_source), tiny_text_dir,
                                         str(ddp), 1), nprocs=2, start_method="spawn")
    assert losses(ddp)[1] == pytest.approx(losses(tmp_path / "single")[1], rel=1e-6)
    want, got = gradients(single.model), torch.load(ddp / "grads.pt")
    assert want.keys() == got.keys() and len(want) > 100
    # float32 sums in another order: 1e-5 of the whole gradient's norm, and no tensor off by
    # more than 1e-3 of its own scale (a wrong DDP step is off by factors, not by rounding)
    diff = torch.cat([(got[n] - g).flatten() for n, g in want.items()])
    whole = torch.cat([g.flatten() for g in want.values()])
    assert diff.norm() <= 1e-5 * whole.norm()
    for name, g in want.items():
        assert (got[name] - g).abs().max() <= 1e-3 * g.abs().max() + 1e-12, name


def _with_dropout(cfg, p: float = 0.2):
    from dataclasses import replace

    m = cfg.model
    return cfg.replace(model=m.replace(
        transformer=replace(m.transformer, dropout=p), grounding=replace(m.grounding, dropout=p),
        vt_projection=replace(m.vt_projection, dropout=p)))


def test_resume_with_dropout_reproduces_the_uninterrupted_losses(micro_source, tiny_text_dir,
                                                                 tmp_path, monkeypatch):
    # dropout draws from the torch generator at every step: a resume that does not bring back
    # the random state draws other masks and other losses
    cfg = _with_dropout(micro_config(tiny_text_dir, max_steps=4))
    train(cfg, str(micro_source), "train", tmp_path / "straight", QUIET)
    step = Trainer.step

    def step_then_sigterm(self, batch):
        out = step(self, batch)
        if self.position.step == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(Trainer, "step", step_then_sigterm)
    assert train(cfg, str(micro_source), "train", tmp_path / "killed", QUIET).step == 2
    monkeypatch.setattr(Trainer, "step", step)
    torch.manual_seed(12345)           # whatever the process drew in between
    train(cfg, str(micro_source), "train", tmp_path / "killed", QUIET,
          resume=str(tmp_path / "killed"))
    assert losses(tmp_path / "killed") == losses(tmp_path / "straight")     # bitwise


def test_rates_in_the_log_drop_after_the_listed_epochs(micro_source, tiny_text_dir, tmp_path):
    from dataclasses import replace

    base = micro_config(tiny_text_dir)
    cfg = base.replace(epochs=3, batch_size=8,
                       optim=replace(base.optim, lr_drop=(2,), gamma=0.25))
    train(cfg, str(micro_source), "train", tmp_path / "run", QUIET)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text()
               .splitlines()]
    steps = [r for r in records if "loss" in r]
    per_epoch = {}
    for r in steps:
        per_epoch.setdefault(r["epoch"], set()).add(json.dumps(r["lr"], sort_keys=True))
    assert len(per_epoch) == 3 and all(len(v) == 1 for v in per_epoch.values())
    lr = {e: json.loads(next(iter(v))) for e, v in per_epoch.items()}
    for name, rate in lr[0].items():
        assert lr[1][name] == rate                                  # epoch 2: as epoch 1
        assert lr[2][name] == pytest.approx(rate * 0.25, rel=1e-12)  # after epoch 2
