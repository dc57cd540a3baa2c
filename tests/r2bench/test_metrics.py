"""J and F against the plain per-frame port of the DAVIS 2017 code, frame by frame."""

import numpy as np
import pytest
from davis_reference import ref_boundary_f, ref_f, ref_iou, ref_j, ref_seg2bmap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r2bench.metrics import (
    _as_stack,
    boundary_radius,
    contour_accuracy,
    disk_half_widths,
    foreground_area,
    jf,
    jf_per_frame,
    region_similarity,
    robustness,
)


def _pattern(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    if kind == "empty":
        return np.zeros((h, w), bool)
    if kind == "full":
        return np.ones((h, w), bool)
    if kind == "noise":
        return rng.random((h, w)) < rng.uniform(0.05, 0.95)
    if kind == "rect":  # often touching the border
        y0, y1 = sorted(rng.integers(0, h + 1, 2))
        x0, x1 = sorted(rng.integers(0, w + 1, 2))
        m = np.zeros((h, w), bool)
        m[y0:y1 + 1, x0:x1 + 1] = True
        return m
    # a blob: an ellipse, possibly partly outside the frame
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(-0.2, 1.2) * h, rng.uniform(-0.2, 1.2) * w
    ry, rx = rng.uniform(0.5, 0.8 * h + 1), rng.uniform(0.5, 0.8 * w + 1)
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


KINDS = ["empty", "full", "noise", "rect", "blob"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 40), w=st.integers(1, 40), t=st.integers(1, 3),
       kinds=st.tuples(st.sampled_from(KINDS), st.sampled_from(KINDS)),
       seed=st.integers(0, 2**32 - 1))
def test_jf_equal_reference_on_random_masks(h, w, t, kinds, seed):
    rng = np.random.default_rng(seed)
    gt = np.stack([_pattern(rng, kinds[0], h, w) for _ in range(t)])
    pred = np.stack([_pattern(rng, kinds[1], h, w) for _ in range(t)])
    j, f, area = jf_per_frame(gt, pred)
    np.testing.assert_allclose(j, ref_j(gt, pred), rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, ref_f(gt, pred), rtol=0, atol=1e-12)
    assert area.tolist() == [int(p.sum()) for p in pred]


@settings(max_examples=40, deadline=None)
@given(h=st.integers(100, 700), w=st.integers(100, 900), seed=st.integers(0, 2**32 - 1),
       bound_th=st.sampled_from([0.008, 0.004, 0.02, 3.0]))
def test_f_equal_reference_at_larger_radii(h, w, seed, bound_th):
    rng = np.random.default_rng(seed)
    gt = _pattern(rng, "blob", h, w)
    pred = gt.copy() if rng.random() < 0.2 else _pattern(rng, "blob", h, w)
    pred[rng.integers(0, h), :] ^= rng.random() < 0.5  # a stray line: far boundary points
    assert contour_accuracy(gt, pred, bound_th)[0] == pytest.approx(
        ref_boundary_f(gt, pred, bound_th), abs=1e-12)


def test_edge_cases_fixed():
    z = np.zeros((5, 7), bool)
    o = np.ones((5, 7), bool)
    assert region_similarity(z, z).tolist() == [1.0]          # empty/empty
    assert contour_accuracy(z, z).tolist() == [1.0]
    assert region_similarity(o, z).tolist() == [0.0]
    assert contour_accuracy(o, o).tolist() == [1.0]           # full frame: no boundary
    assert not ref_seg2bmap(o).any()
    assert contour_accuracy(o, z).tolist() == [1.0]           # neither has a boundary
    one = z.copy()
    one[2, 3] = True
    assert contour_accuracy(one, z).tolist() == [0.0]         # gt boundary, none predicted
    assert contour_accuracy(z, one).tolist() == [0.0]
    for shape in [(1, 1), (1, 9), (9, 1), (2, 2)]:
        for a in (np.zeros(shape, bool), np.ones(shape, bool)):
            for b in (np.zeros(shape, bool), np.ones(shape, bool)):
                assert region_similarity(a, b)[0] == ref_iou(a, b)
                assert contour_accuracy(a, b)[0] == ref_boundary_f(a, b)


def test_transition_marked_on_top_left_pixel():
    m = np.zeros((4, 6), bool)
    m[:, 3:] = True  # vertical edge between columns 2 and 3
    b = ref_seg2bmap(m)
    assert b[:3, 2].all() and not b[:, 3].any()
    # A prediction shifted by one column still matches within the radius.
    p = np.roll(m, 1, axis=1)
    assert contour_accuracy(m, p)[0] == pytest.approx(ref_boundary_f(m, p), abs=1e-12)


def test_radius_from_float64_diagonal():
    assert boundary_radius(450, 600) == 6      # 0.008 * 750 = 6.0 exactly
    assert boundary_radius(900, 1200) == 12    # 0.008 * 1500 = 12.0 exactly
    assert boundary_radius(720, 1280) == 12
    assert boundary_radius(1, 1) == 1
    assert boundary_radius(10, 10, bound_th=3) == 3
    with pytest.raises(ValueError):
        boundary_radius(10, 10, bound_th=2.5)


def test_disk_is_the_digital_disk():
    for r in range(15):
        widths = disk_half_widths(r)
        d = np.arange(-r, r + 1)
        disk = d[:, None] ** 2 + d[None, :] ** 2 <= r * r
        assert [int(row.sum()) for row in disk[r:]] == [2 * w + 1 for w in widths]


def test_shapes_dtypes_and_errors():
    rng = np.random.default_rng(0)
    gt = rng.random((3, 16, 20)) < 0.5
    pred = rng.random((3, 16, 20)) < 0.5
    j = region_similarity(gt, pred)
    assert j.shape == (3,) and j.dtype == np.float64
    assert region_similarity(gt[0], pred[0]).shape == (1,)
    # non-zero is foreground whatever the dtype
    np.testing.assert_array_equal(region_similarity(gt.astype(np.uint8) * 255, pred.astype(np.uint16) * 7), j)
    np.testing.assert_array_equal(contour_accuracy(gt.astype(np.float32), pred), contour_accuracy(gt, pred))
    with pytest.raises(ValueError):
        region_similarity(gt, pred[:, :-1])
    with pytest.raises(ValueError):
        region_similarity(np.zeros((0, 4)), np.zeros((0, 4)))


def test_hd_frames_equal_reference():
    rng = np.random.default_rng(1)
    gt = np.stack([_pattern(rng, "blob", 720, 1280) for _ in range(2)])
    pred = np.stack([_pattern(rng, "blob", 720, 1280) for _ in range(2)])
    pred[1] = np.roll(gt[1], (3, -5), axis=(0, 1))
    j, f, _ = jf_per_frame(gt, pred)
    np.testing.assert_allclose(j, ref_j(gt, pred), rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, ref_f(gt, pred), rtol=0, atol=1e-12)


def test_area_and_robustness():
    assert foreground_area(np.array([[0, 3], [255, 0]], np.uint8)) == 2
    assert foreground_area(np.ones((2, 3, 4), bool)) == 24
    assert robustness(25, 100) == 0.75
    assert robustness(300, 100) == -2.0
    assert robustness(5, 0) is None


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 60), vertical=st.booleans(), t=st.integers(1, 3),
       density=st.tuples(st.floats(0, 1), st.floats(0, 1)), seed=st.integers(0, 2**32 - 1))
def test_jf_equal_reference_on_1xn_and_nx1(n, vertical, t, density, seed):
    rng = np.random.default_rng(seed)
    shape = (t, n, 1) if vertical else (t, 1, n)
    gt = rng.random(shape) < density[0]
    pred = rng.random(shape) < density[1]
    j, f, _ = jf_per_frame(gt, pred)
    np.testing.assert_allclose(j, ref_j(gt, pred), rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, ref_f(gt, pred), rtol=0, atol=1e-12)


# Foreground values that a kernel reading the wrong bytes would miss: 256 and 1 << 16 have
# a zero low byte, -1 has every bit set.
FOREGROUND = {np.uint8: [1, 255], np.int8: [1, -1, -128], np.uint16: [1, 256, 65535],
              np.int32: [1, 1 << 16, -1], np.int64: [1 << 40, -1]}
# Each (gt, pred) dtype pair is one compiled specialisation (seconds the first time), so a
# few pairs cover one-, two-, four- and eight-byte, signed and unsigned masks.
DTYPE_PAIRS = [(np.uint8, np.uint8), (np.int32, np.uint16), (np.int64, np.int8)]


def _encode(mask: np.ndarray, dtype, rng: np.random.Generator) -> np.ndarray:
    """A bool mask as ``dtype``, each foreground pixel one of the dtype's awkward values."""
    values = np.asarray(FOREGROUND[dtype], dtype=dtype)
    return np.where(mask, values[rng.integers(0, len(values), mask.shape)], 0).astype(dtype)


@settings(max_examples=120, deadline=None)
@given(h=st.integers(1, 30), w=st.sampled_from([1, 7, 8, 16, 24, 29]), t=st.integers(1, 2),
       dtypes=st.sampled_from(DTYPE_PAIRS),
       seed=st.integers(0, 2**32 - 1))
def test_every_integer_dtype_equals_reference(h, w, t, dtypes, seed):
    rng = np.random.default_rng(seed)
    gt = np.stack([_pattern(rng, "blob", h, w) for _ in range(t)])
    pred = np.stack([_pattern(rng, "noise", h, w) for _ in range(t)])
    g, p = _encode(gt, dtypes[0], rng), _encode(pred, dtypes[1], rng)
    j, f = jf(g, p)
    np.testing.assert_allclose(j, ref_j(gt, pred), rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, ref_f(gt, pred), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(region_similarity(g, p), j)
    np.testing.assert_array_equal(contour_accuracy(g, p), f)
    assert foreground_area(p) == int(pred.sum())


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int32, np.uint16, np.int64])
def test_integer_masks_are_read_without_a_copy(dtype):
    m = np.zeros((2, 6, 16), dtype)
    assert np.shares_memory(_as_stack(m, "gt"), m)
    assert np.shares_memory(_as_stack(m[0], "gt"), m)   # (H, W) is viewed as (1, H, W)
    assert not np.shares_memory(_as_stack(m[:, :, ::2], "gt"), m)  # strided: one copy


def test_jf_returns_both_measures():
    rng = np.random.default_rng(3)
    gt = rng.random((3, 40, 56)) < 0.3
    pred = np.roll(gt, 2, axis=2).astype(np.uint8) * 255
    j, f = jf(gt, pred)
    np.testing.assert_array_equal(j, region_similarity(gt, pred))
    np.testing.assert_array_equal(f, contour_accuracy(gt, pred))
    np.testing.assert_array_equal(jf(gt, pred, bound_th=3)[1], contour_accuracy(gt, pred, 3))


def test_radius_from_float64_diagonal_second_example():
    # Diagonals of 750 and 875 px: 0.008 x the float64 diagonal is 6.0 and 7.0 exactly, but
    # in float32 it rounds up past the integer (radius 7 and 8).
    assert boundary_radius(210, 720) == 6
    assert boundary_radius(245, 840) == 7
    rng = np.random.default_rng(5)
    gt = _pattern(rng, "blob", 210, 720)
    pred = np.roll(gt, (7, 0), axis=(0, 1))   # 7 rows off: within a radius of 7, not of 6
    assert contour_accuracy(gt, pred)[0] == pytest.approx(ref_boundary_f(gt, pred), abs=1e-12)


def test_seg2bmap_last_row_and_last_column_by_hand():
    """3x3 frames. Last row: a pixel compares with its right neighbour only; last column:
    with the pixel below only; the corner never. Radius 1 (bound_th = 1): the plus shape."""
    last_row = np.zeros((3, 3), bool)
    last_row[2, 1] = True          # boundary {(1,0), (1,1), (2,0), (2,1)}
    last_col = np.zeros((3, 3), bool)
    last_col[1, 2] = True          # boundary {(0,1), (0,2), (1,1), (1,2)}
    corner = np.zeros((3, 3), bool)
    corner[0, 0] = True            # boundary {(0,0)}
    assert np.argwhere(ref_seg2bmap(last_row)).tolist() == [[1, 0], [1, 1], [2, 0], [2, 1]]
    assert np.argwhere(ref_seg2bmap(last_col)).tolist() == [[0, 1], [0, 2], [1, 1], [1, 2]]
    assert np.argwhere(ref_seg2bmap(corner)).tolist() == [[0, 0]]
    # Prediction (0,0) against each: precision 1 (a ground-truth point 1 px away), recall
    # 1/4 (only that point is within 1 px): F = 2 * 1 * 0.25 / 1.25 = 0.4.
    gt = np.stack([last_row, last_col])
    pred = np.stack([corner, corner])
    np.testing.assert_allclose(contour_accuracy(gt, pred, bound_th=1), [0.4, 0.4],
                               rtol=0, atol=1e-15)
    np.testing.assert_allclose(contour_accuracy(gt, pred, bound_th=1), ref_f(gt, pred, 1),
                               rtol=0, atol=1e-15)
