"""Throughput of the visual corruptions at 480x854, in frames per second on one core.

Run with ``pytest tests/benchmarks/test_bench_perturb.py --benchmark-enable``; each case
records ``fps`` (frames / mean time) in its extra info. The goal is at least 200 frames per
second per core for the noise and colour corruptions (gaussian, shot, impulse and speckle
noise; contrast, brightness, saturate). Every kernel runs on one thread, so the figure is
per core; ``r2bench perturb`` runs one process per core over the videos.

``test_bench_perturb_video`` times what a worker does for one video: decode the JPEG
frames, corrupt them, encode them at quality 95.
"""

from __future__ import annotations

import numpy as np
import pytest
from clips import natural_clip
from PIL import Image

from datasets_builder.perturb.catalog import VISUAL
from datasets_builder.perturb.draws import Draws
from datasets_builder.perturb.driver import VideoJob, render_video

T, H, W = 4, 480, 854
DRAWS = Draws(1, tuple(range(T)))


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return natural_clip(frames=T, height=H, width=W, seed=0)


@pytest.mark.parametrize("name", VISUAL)
def test_bench_corruption(benchmark, frames, name):
    fn = VISUAL[name]
    fn(frames[:1], 3, Draws(1, (0,)))                     # compile, build tables
    out = benchmark.pedantic(fn, args=(frames, 3, DRAWS), rounds=3, iterations=1)
    if benchmark.stats:
        benchmark.extra_info["fps"] = T / benchmark.stats.stats.mean
    assert out.shape == frames.shape and out.dtype == np.uint8


@pytest.mark.parametrize("name", ["gaussian_noise", "contrast"])
def test_bench_perturb_video(benchmark, frames, tmp_path, name):
    sources = []
    for t, frame in enumerate(frames):
        path = tmp_path / f"{5 * t:05d}.jpg"
        Image.fromarray(frame).save(path, quality=90)
        sources.append(str(path))
    outputs = tuple(str(tmp_path / "out" / f"{t}.jpg") for t in range(T))
    job = VideoJob("v", tuple(sources), outputs, seed=1, visual=name, severities=(3,) * T)
    n = benchmark.pedantic(render_video, args=(job,), rounds=3, iterations=1)
    if benchmark.stats:
        benchmark.extra_info["fps"] = T / benchmark.stats.stats.mean
    assert n == T and all(Image.open(p).size == (W, H) for p in outputs)
