"""Multi-scale deformable attention against a hand-written loop reference, its gather form
against the plain grid_sample form; the deformable encoder and decoder shapes and box
refinement."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_model.config import TransformerConfig
from reference_model.deformable_transformer import (
    DeformableDecoder,
    DeformableEncoder,
    encoder_reference_points,
    inverse_sigmoid,
)
from reference_model.ms_deform_attn import (
    MSDeformAttn,
    ms_deform_attn_core,
    ms_deform_attn_gather,
    ms_deform_attn_grid_sample,
)

CORES = [ms_deform_attn_grid_sample, ms_deform_attn_gather]


def bilinear_zero_pad(img: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """img [D, H, W] sampled at normalised (x, y) with align_corners=False, zeros outside."""
    _, h, w = img.shape
    px, py = x * w - 0.5, y * h - 0.5  # pixel centres sit at integer + 0.5
    x0, y0 = math.floor(px), math.floor(py)
    out = torch.zeros(img.shape[0], dtype=img.dtype)
    for yy in (y0, y0 + 1):
        for xx in (x0, x0 + 1):
            if 0 <= yy < h and 0 <= xx < w:
                weight = (1 - abs(px - xx)) * (1 - abs(py - yy))
                out += weight * img[:, yy, xx]
    return out


def slow_ms_deform_attn(value, shapes, locations, weights):
    """Loop reference: value [N, S, M, D], shapes [(H, W)], locations [N, Lq, M, L, P, 2],
    weights [N, Lq, M, L, P] -> [N, Lq, M * D]."""
    n, _, m, d = value.shape
    _, lq, _, _, p, _ = locations.shape
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(n, lq, m, d, dtype=value.dtype)
    for b in range(n):
        for q in range(lq):
            for head in range(m):
                for lvl, (h, w) in enumerate(shapes):
                    img = value[b, starts[lvl]:starts[lvl + 1], head].T.reshape(d, h, w)
                    for pt in range(p):
                        x, y = locations[b, q, head, lvl, pt].tolist()
                        out[b, q, head] += weights[b, q, head, lvl, pt] * bilinear_zero_pad(
                            img, x, y)
    return out.reshape(n, lq, m * d)


def random_inputs(gen, n, lq, m, d, shapes, p):
    s = sum(h * w for h, w in shapes)
    value = torch.randn(n, s, m, d, generator=gen, dtype=torch.float64)
    loc = torch.rand(n, lq, m, len(shapes), p, 2, generator=gen, dtype=torch.float64) * 1.2 - 0.1
    weights = torch.rand(n, lq, m, len(shapes) * p, generator=gen, dtype=torch.float64)
    weights = weights.softmax(-1).view(n, lq, m, len(shapes), p)
    return value, loc, weights


@pytest.mark.parametrize("core", CORES, ids=["grid_sample", "gather"])
@pytest.mark.parametrize("n,lq,m,d,shapes,p", [
    (1, 3, 1, 2, [(4, 5)], 1),
    (2, 4, 2, 3, [(6, 8), (3, 4), (2, 2), (1, 1)], 2),
    (1, 5, 4, 2, [(5, 3), (2, 7)], 3),
    (2, 2, 3, 4, [(1, 6), (7, 1), (4, 4)], 4),
])
def test_core_matches_loop_reference(core, n, lq, m, d, shapes, p):
    gen = torch.Generator().manual_seed(n * 100 + lq * 10 + p)
    value, loc, weights = random_inputs(gen, n, lq, m, d, shapes, p)
    got = core(value, torch.tensor(shapes), loc, weights)
    want = slow_ms_deform_attn(value, shapes, loc, weights)
    assert got.shape == (n, lq, m * d)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), x=st.floats(-0.2, 1.2), y=st.floats(-0.2, 1.2))
def test_core_single_point_property(h, w, x, y):
    """One level, one point, weight 1: the output is the bilinear sample itself."""
    value = torch.arange(h * w * 2, dtype=torch.float64).view(1, h * w, 1, 2).sin()
    loc = torch.tensor([x, y], dtype=torch.float64).view(1, 1, 1, 1, 1, 2)
    got = ms_deform_attn_core(value, torch.tensor([[h, w]]), loc,
                              torch.ones(1, 1, 1, 1, 1, dtype=torch.float64))
    img = value[0, :, 0].T.reshape(2, h, w)
    torch.testing.assert_close(got[0, 0], bilinear_zero_pad(img, x, y), atol=1e-6, rtol=1e-6)


def test_core_gradients():
    gen = torch.Generator().manual_seed(3)
    value, loc, weights = random_inputs(gen, 1, 2, 2, 2, [(3, 4), (2, 2)], 2)
    loc = loc.clamp(0.05, 0.95)  # keep clear of the kinks at the borders
    inputs = tuple(t.requires_grad_() for t in (value, loc, weights))
    assert torch.autograd.gradcheck(
        lambda v, lc, wt: ms_deform_attn_core(v, torch.tensor([[3, 4], [2, 2]]), lc, wt),
        inputs, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 3), lq=st.integers(1, 7),
       m=st.integers(1, 4), d=st.integers(1, 5), p=st.integers(1, 4),
       shapes=st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=4),
       on_grid=st.booleans())
def test_gather_equals_grid_sample_float32(seed, n, lq, m, d, p, shapes, on_grid):
    """The gather form computes the plain form's sum to float rounding, points far outside,
    on borders and (``on_grid``) exactly on pixel centres and edges included."""
    gen = torch.Generator().manual_seed(seed)
    value, loc, weights = (t.float() for t in random_inputs(gen, n, lq, m, d, shapes, p))
    loc = loc * 2 - 0.5  # [-0.7, 1.9]: many points outside their level
    if on_grid:  # multiples of a half pixel of the finest level
        h, w = shapes[0]
        loc = (loc * torch.tensor([2 * w, 2 * h])).round() / torch.tensor([2 * w, 2 * h])
    st_ = torch.tensor(shapes)
    want = ms_deform_attn_grid_sample(value, st_, loc, weights)
    got = ms_deform_attn_gather(value, st_, loc, weights)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_gather_gradients_equal_grid_sample():
    gen = torch.Generator().manual_seed(5)
    shapes = torch.tensor([[5, 7], [3, 4], [1, 2]])
    value, loc, weights = random_inputs(gen, 2, 6, 2, 3, shapes.tolist(), 3)
    grads = []
    for core in CORES:
        inputs = [t.clone().requires_grad_() for t in (value, loc, weights)]
        out = core(inputs[0], shapes, *inputs[1:])
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads.append([t.grad for t in inputs])
    for want, got in zip(*grads):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)


def test_core_uses_the_gather_form_on_cpu():
    gen = torch.Generator().manual_seed(2)
    shapes = torch.tensor([[4, 6], [2, 3]])
    value, loc, weights = (t.float() for t in random_inputs(gen, 1, 5, 2, 4, shapes.tolist(), 2))
    assert torch.equal(ms_deform_attn_core(value, shapes, loc, weights),
                       ms_deform_attn_gather(value, shapes, loc, weights))


def test_module_matches_reference_with_random_projections():
    torch.manual_seed(0)
    attn = MSDeformAttn(d_model=16, n_levels=3, n_heads=4, n_points=2).double()
    for lin in (attn.sampling_offsets, attn.attention_weights):  # non-trivial offsets/weights
        torch.nn.init.normal_(lin.weight, std=0.5)
    shapes = [(5, 6), (3, 3), (2, 1)]
    s = sum(h * w for h, w in shapes)
    query = torch.randn(2, 4, 16, dtype=torch.float64)
    value = torch.randn(2, s, 16, dtype=torch.float64)
    ref = torch.rand(2, 4, 3, 2, dtype=torch.float64)
    st_ = torch.tensor(shapes)
    out = attn(query, ref, value, st_)
    loc, w = attn.sampling(query, ref, st_)
    v = attn.value_proj(value).view(2, s, 4, 4)
    want = attn.output_proj(slow_ms_deform_attn(v, shapes, loc, w))
    assert out.shape == (2, 4, 16)
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.sum((-1, -2)), torch.ones(2, 4, 4, dtype=torch.float64))


def test_sampling_offsets_are_in_pixels_of_each_level():
    attn = MSDeformAttn(d_model=8, n_levels=2, n_heads=2, n_points=1)
    shapes = torch.tensor([[4, 10], [2, 5]])
    query = torch.randn(1, 3, 8)
    ref2 = torch.rand(1, 3, 2, 2)
    loc, _ = attn.sampling(query, ref2, shapes)
    # initial offsets: head 0 points at +x (1, 0) one pixel away, head 1 at -x
    torch.testing.assert_close(loc[0, :, 0, 0, 0] - ref2[0, :, 0], torch.tensor([[0.1, 0.0]] * 3))
    torch.testing.assert_close(loc[0, :, 1, 1, 0] - ref2[0, :, 1], torch.tensor([[-0.2, 0.0]] * 3),
                               atol=1e-6, rtol=0)
    box = torch.tensor([0.5, 0.5, 0.4, 0.2]).expand(1, 3, 2, 4)
    loc, _ = attn.sampling(query, box, shapes)
    # box references: offset / n_points * wh / 2
    torch.testing.assert_close(loc[0, 0, 0, 0, 0], torch.tensor([0.5 + 0.2, 0.5]))
    with pytest.raises(ValueError):
        attn.sampling(query, torch.rand(1, 3, 2, 3), shapes)


def test_encoder_reference_points():
    ref = encoder_reference_points(torch.tensor([[2, 3], [1, 1]]), 2, "cpu")
    assert ref.shape == (7, 2, 2)
    torch.testing.assert_close(ref[:3, 0], torch.tensor([[1 / 6, 0.25], [0.5, 0.25], [5 / 6, 0.25]]))
    torch.testing.assert_close(ref[6, 1], torch.tensor([0.5, 0.5]))


def test_encoder_and_decoder_shapes():
    torch.manual_seed(0)
    cfg = TransformerConfig(hidden_dim=32, nheads=4, enc_layers=2, dec_layers=3,
                            dim_feedforward=64, dropout=0.0, enc_n_points=2, dec_n_points=2)
    shapes = torch.tensor([[6, 8], [3, 4], [2, 2], [1, 1]])
    s = int((shapes[:, 0] * shapes[:, 1]).sum())
    src, pos = torch.randn(2, s, 32), torch.randn(2, s, 32)
    memory = DeformableEncoder(cfg)(src, pos, shapes)
    assert memory.shape == (2, s, 32)
    decoder = DeformableDecoder(cfg)
    ref = torch.rand(2, 5, 2)
    hs, boxes = decoder(torch.randn(2, 5, 32), torch.randn(2, 5, 32), ref, memory, shapes)
    assert hs.shape == (3, 2, 5, 32) and boxes.shape == (3, 2, 5, 4)
    assert ((boxes > 0) & (boxes < 1)).all()
    # the zero-initialised box MLP keeps the reference centre and a sigmoid(-2) size
    torch.testing.assert_close(boxes[0, ..., :2], ref)
    torch.testing.assert_close(boxes[0, ..., 2:], torch.full((2, 5, 2), torch.sigmoid(
        torch.tensor(-2.0)).item()))
    hs.sum().backward()
    assert decoder.layers[0].cross_attn.value_proj.weight.grad is not None


def test_inverse_sigmoid():
    x = torch.tensor([0.1, 0.5, 0.9])
    torch.testing.assert_close(inverse_sigmoid(x).sigmoid(), x)
    assert torch.isfinite(inverse_sigmoid(torch.tensor([0.0, 1.0]))).all()


def test_query_chunks_give_the_unchunked_result(monkeypatch):
    import reference_model.ms_deform_attn as mda

    torch.manual_seed(0)
    attn = mda.MSDeformAttn(32, n_levels=2, n_heads=4, n_points=2)
    shapes = torch.tensor([[6, 5], [3, 3]])
    value = torch.randn(2, 39, 32)
    query = torch.randn(2, 7, 32)
    ref = torch.rand(2, 7, 2, 2)
    whole = attn(query, ref, value, shapes)
    monkeypatch.setattr(mda, "SAMPLE_BUDGET", 1)  # one query per chunk
    torch.testing.assert_close(attn(query, ref, value, shapes), whole, rtol=0, atol=0)
