"""Speed of J+F on 720x1280 frames: the compiled stack kernels against the per-frame port.

Three ways in: the internal `jf_per_frame` on bool stacks, and what users call, the public
`region_similarity` + `contour_accuracy` and `jf` on uint8 0/1 stacks. Run with
``pytest tests/benchmarks --benchmark-enable``; without it each runs once and still checks
that all give the same values.
"""

import numpy as np
import pytest
from davis_reference import ref_f, ref_j
from hd_masks import blob_stack, imperfect

from r2bench.metrics import contour_accuracy, jf, jf_per_frame, region_similarity

T, H, W = 8, 720, 1280


@pytest.fixture(scope="module")
def hd_stack():
    rng = np.random.default_rng(0)
    gt = np.concatenate([blob_stack(rng, T // 2, H, W) for _ in range(2)])
    return gt, imperfect(rng, gt, speckle=2e-4)


@pytest.fixture(scope="module")
def reference_values(hd_stack):
    gt, pred = hd_stack
    return ref_j(gt, pred), ref_f(gt, pred)


def test_bench_jf_stack_kernel(benchmark, hd_stack, reference_values):
    gt, pred = hd_stack
    jf_per_frame(gt[:1], pred[:1])  # compile outside the timing
    j, f, _ = benchmark(jf_per_frame, gt, pred)
    np.testing.assert_allclose(j, reference_values[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, reference_values[1], rtol=0, atol=1e-12)


def test_bench_public_functions_uint8(benchmark, hd_stack, reference_values):
    gt, pred = (m.astype(np.uint8) for m in hd_stack)
    region_similarity(gt[:1], pred[:1])  # compile (or load) outside the timing
    j, f = benchmark(lambda: (region_similarity(gt, pred), contour_accuracy(gt, pred)))
    np.testing.assert_allclose(j, reference_values[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, reference_values[1], rtol=0, atol=1e-12)


def test_bench_public_jf_uint8(benchmark, hd_stack, reference_values):
    gt, pred = (m.astype(np.uint8) for m in hd_stack)
    jf(gt[:1], pred[:1])
    j, f = benchmark(jf, gt, pred)
    np.testing.assert_allclose(j, reference_values[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, reference_values[1], rtol=0, atol=1e-12)


def test_bench_jf_per_frame_port(benchmark, hd_stack, reference_values):
    gt, pred = hd_stack
    j, f = benchmark.pedantic(lambda: (ref_j(gt, pred), ref_f(gt, pred)), rounds=3, iterations=1)
    np.testing.assert_array_equal(j, reference_values[0])
    np.testing.assert_array_equal(f, reference_values[1])
