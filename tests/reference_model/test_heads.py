"""Early grounding, V-T projection and the mask branch, module by module."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_model.config import GroundingConfig, HeadConfig
from reference_model.early_grounding import EarlyGrounding, pool_tokens
from reference_model.segmentation import DynamicMaskHead, VisualDecoder, relative_coordinates
from reference_model.vt_projection import VTProjection

GCFG = GroundingConfig(nheads=2, num_kernels=3, dim_feedforward=32, dropout=0.0,
                       projection_layers=2, projection_nheads=2)


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 7), min_size=1, max_size=3), k=st.integers(1, 5))
def test_pool_tokens_matches_loop(lengths, k):
    width = 7
    g = torch.randn(len(lengths), width, 2, dtype=torch.float64)
    mask = torch.tensor([[i < n for i in range(width)] for n in lengths])
    got = pool_tokens(g, mask, k)
    assert got.shape == (len(lengths), k, 2)
    for b, n in enumerate(lengths):
        for slot in range(k):
            members = [i for i in range(n) if i * k // n == slot]
            want = g[b, members].mean(0) if members else g[b, :n].mean(0)
            torch.testing.assert_close(got[b, slot], want)


def test_early_grounding_shapes_and_padding_invariance():
    torch.manual_seed(0)
    module = EarlyGrounding(GCFG, 16)
    f, pos = torch.randn(2, 12, 16), torch.randn(2, 12, 16)
    g = torch.randn(2, 5, 16)
    mask = torch.tensor([[True] * 3 + [False] * 2, [True] * 5])
    out = module(f, pos, g, mask)
    assert out.shape == (2, 12, 16)
    module.eval()
    with torch.no_grad():
        base = module(f, pos, g, mask)
        g2 = g.clone()
        g2[0, 3:] = 100.0  # padded words must not matter
        torch.testing.assert_close(module(f, pos, g2, mask), base)
        g2[0, 0] += 1.0  # a valid word must
        assert not torch.allclose(module(f, pos, g2, mask)[0], base[0])


def test_vt_projection_shape_and_query_dependence():
    torch.manual_seed(0)
    proj = VTProjection(GCFG, 16).eval()
    f, pos = torch.randn(3, 10, 16), torch.randn(3, 10, 16)
    e = proj(f, pos)
    assert e.shape == (3, 16)
    assert not torch.allclose(e[0], e[1])  # depends on the video
    torch.testing.assert_close(proj(f[:1], pos[:1]), e[:1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("stride,size", [(8, (12, 20)), (4, (24, 40))])
def test_visual_decoder_resolution(stride, size):
    cfg = HeadConfig(mask_stride=stride, mask_dim=8)
    dec = VisualDecoder(cfg, 16, stride4_channels=6)
    levels = [torch.randn(2, 16, 12, 20), torch.randn(2, 16, 6, 10), torch.randn(2, 16, 3, 5)]
    out = dec(levels, torch.randn(2, 6, 24, 40))
    assert out.shape == (2, 8) + size


def test_dynamic_mask_head():
    cfg = HeadConfig(mask_dim=8, dynamic_channels=8, dynamic_layers=3)
    head = DynamicMaskHead(cfg, 16)
    assert head.num_params == (10 * 8 + 8) + (8 * 8 + 8) + (8 + 1)  # CondInst's 169
    z, ref = torch.randn(2, 5, 16), torch.rand(2, 5, 2)
    feats = torch.randn(2, 8, 6, 7)
    masks = head(z, ref, feats)
    assert masks.shape == (2, 5, 6, 7)
    # query 0 of frame 0 computed by hand from its generated parameters
    p = head.controller(z)[0, 0]
    x = torch.cat((feats[0], relative_coordinates(ref[:1, :1], 6, 7)[0, 0]), 0).flatten(1)
    w1, b1 = p[:80].view(8, 10), p[80:88]
    w2, b2 = p[88:152].view(8, 8), p[152:160]
    w3, b3 = p[160:168].view(1, 8), p[168:169]
    y = torch.relu(w1 @ x + b1[:, None])
    y = torch.relu(w2 @ y + b2[:, None])
    torch.testing.assert_close(masks[0, 0], (w3 @ y + b3[:, None]).view(6, 7), atol=1e-5,
                               rtol=1e-5)


def test_relative_coordinates():
    rel = relative_coordinates(torch.tensor([[[0.375, 0.75]]]), 2, 4)
    assert rel.shape == (1, 1, 2, 2, 4)
    torch.testing.assert_close(rel[0, 0, :, 1, 1], torch.tensor([0.0, 0.0]))  # that pixel
    torch.testing.assert_close(rel[0, 0, :, 0, 0], torch.tensor([0.25, 0.5]))
