"""Speed of the deformable attention core on one frame of the r50 encoder (360x640 input:
levels 45x80, 23x40, 12x20, 6x10; 8 heads of 32 channels, 4 points): the gather form the
model uses on CPU against the plain per-level grid_sample form.

Run with ``pytest tests/benchmarks --benchmark-enable``; without it each runs once and still
checks that both give the same values.
"""

import pytest
import torch

from reference_model.ms_deform_attn import ms_deform_attn_gather, ms_deform_attn_grid_sample

SHAPES = torch.tensor([[45, 80], [23, 40], [12, 20], [6, 10]])
M, D, P = 8, 32, 4


@pytest.fixture(scope="module")
def encoder_inputs():
    gen = torch.Generator().manual_seed(0)
    s = int(SHAPES.prod(-1).sum())
    value = torch.randn(1, s, M, D, generator=gen)
    loc = torch.rand(1, s, M, len(SHAPES), P, 2, generator=gen) * 1.2 - 0.1
    weights = torch.rand(1, s, M, len(SHAPES) * P, generator=gen).softmax(-1)
    return value, loc, weights.view(1, s, M, len(SHAPES), P)


@pytest.fixture(scope="module")
def plain_output(encoder_inputs):
    value, loc, weights = encoder_inputs
    return ms_deform_attn_grid_sample(value, SHAPES, loc, weights)


@pytest.mark.parametrize("core", [ms_deform_attn_gather, ms_deform_attn_grid_sample],
                         ids=["gather", "grid_sample"])
def test_bench_ms_deform_attn(benchmark, core, encoder_inputs, plain_output):
    value, loc, weights = encoder_inputs
    with torch.inference_mode():
        out = benchmark(core, value, SHAPES, loc, weights)
    torch.testing.assert_close(out, plain_output, atol=1e-5, rtol=1e-5)
