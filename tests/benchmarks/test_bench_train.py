"""Speed of one training step of the ``tiny`` preset on ``r2bench synth`` frames (96 x 160):
4 clips of 2 frames, each with its caption and an unrelated one (8 pairs), forward, loss,
backward and update, one torch thread (the setting of the CPU result in docs/training.md).
Run with ``pytest tests/benchmarks --benchmark-enable``.
"""

import pytest
import torch

from datasets_builder.synth import SynthConfig, write_source
from reference_model.config import tiny
from reference_model.training.config import tiny_train
from reference_model.training.loop import RunOptions, Trainer


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_train")
    write_source(root / "src", SynthConfig(videos=2, train_videos=6, frames=4, seed=1),
                 workers=1)
    threads = torch.get_num_threads()
    trainer = Trainer(tiny_train(tiny()), str(root / "src"), "train", root / "run",
                      RunOptions(device="cpu", workers=0, threads=1, progress=False))
    yield trainer
    torch.set_num_threads(threads)


def test_bench_tiny_train_step(benchmark, trainer):
    trainer.sampler.set_epoch(0)
    batch = next(iter(trainer.loader))
    losses, norm = benchmark(trainer.step, batch)
    assert torch.isfinite(losses["loss"]) and norm > 0
    assert batch.frames.shape[:2] == (4, 2) and len(batch.captions) == 8
