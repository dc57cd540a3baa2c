"""Early grounding, V-T projection, the cross-modal FPN and the dynamic mask head, module by
module, against brute-force references."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_model.config import GroundingConfig, HeadConfig, VTProjectionConfig
from reference_model.cross_modal_fpn import CrossModalFPN
from reference_model.early_grounding import (
    DualVisionLanguageBlock,
    EarlyGrounding,
    adaptive_pool_words,
)
from reference_model.heads import DynamicMaskHead, relative_coordinates
from reference_model.position_encoding import position_encoding_like, sine_position_encoding_1d
from reference_model.text_encoder import TextFeatures
from reference_model.vt_projection import VTProjection

C = 16
GCFG = GroundingConfig(nheads=2, dim_feedforward=32, dropout=0.0, text_pool_size=3)


def text_features(lengths: list[int], width: int | None = None, seed: int = 0,
                  pad_value: float = 0.0) -> TextFeatures:
    """Random words for captions of the given lengths, padded at the end to ``width`` with
    ``pad_value``; positions as the text encoder makes them."""
    width = width or max(lengths)
    gen = torch.Generator().manual_seed(seed)
    words = torch.randn(len(lengths), max(lengths), C, generator=gen)
    pad_mask = torch.tensor([[i >= n for i in range(width)] for n in lengths])
    padded = torch.full((len(lengths), width, C), pad_value)
    padded[:, :words.shape[1]] = words
    padded[pad_mask] = pad_value
    return TextFeatures(padded, pad_mask, sine_position_encoding_1d(pad_mask, C),
                        torch.randn(len(lengths), C, generator=gen))


def pad_more(text: TextFeatures, extra: int, value: float) -> TextFeatures:
    """The same captions with ``extra`` more padding words (of value ``value``) at the end."""
    b, _, c = text.words.shape
    words = torch.cat((text.words, torch.full((b, extra, c), value)), 1)
    pad_mask = torch.cat((text.pad_mask, torch.ones(b, extra, dtype=torch.bool)), 1)
    return TextFeatures(words, pad_mask, sine_position_encoding_1d(pad_mask, c), text.sentence)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 7), min_size=1, max_size=3), k=st.integers(1, 5),
       extra=st.integers(0, 3))
def test_adaptive_pool_words_matches_adaptive_avg_pool(lengths, k, extra):
    width = max(lengths) + extra
    g = torch.randn(len(lengths), width, 3, dtype=torch.float64)
    pad_mask = torch.tensor([[i >= n for i in range(width)] for n in lengths])
    got = adaptive_pool_words(g, pad_mask, k)
    assert got.shape == (len(lengths), k, 3)
    pool = torch.nn.AdaptiveAvgPool1d(k)
    for b, n in enumerate(lengths):  # n < k included: bins then repeat tokens
        want = pool(g[b, :n].T[None])[0].T  # [k, 3] over the caption's own tokens
        torch.testing.assert_close(got[b], want)


def test_adaptive_pool_words_by_hand():
    # 3 tokens in 2 bins: AdaptiveAvgPool1d takes tokens 0-1 and 1-2 (the middle one twice)
    g = torch.tensor([[[1.0], [3.0], [8.0], [100.0]]])
    got = adaptive_pool_words(g, torch.tensor([[False, False, False, True]]), 2)
    torch.testing.assert_close(got, torch.tensor([[[2.0], [5.5]]]))


def _clip_inputs(b: int, t: int, h: int = 3, w: int = 4, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    f = torch.randn(b * t, C, h, w, generator=gen)
    return f, position_encoding_like(f, C)


def test_dual_block_shapes_and_padding_invariance():
    torch.manual_seed(0)
    block = DualVisionLanguageBlock(C, 2, 32, 0.0).eval()
    gen = torch.Generator().manual_seed(1)
    f, f_pos = torch.randn(2, 12, C, generator=gen), torch.randn(2, 12, C, generator=gen)
    text = text_features([3, 5])
    with torch.no_grad():
        f1, g1 = block(f, f_pos, text)
        f2, g2 = block(f, f_pos, pad_more(text, 3, 100.0))
    assert f1.shape == (2, 12, C) and g1.shape == (2, 5, C) and g2.shape == (2, 8, C)
    torch.testing.assert_close(f2, f1, atol=1e-5, rtol=0)
    real = ~text.pad_mask
    torch.testing.assert_close(g2[:, :5][real], g1[real], atol=1e-5, rtol=0)


def test_early_grounding_shapes_and_padding_invariance():
    torch.manual_seed(0)
    module = EarlyGrounding(GCFG, C, groups=4).eval()
    f, f_pos = _clip_inputs(b=2, t=2)
    text = text_features([2, 5])  # caption 0 has fewer tokens (2) than K = 3 kernels
    with torch.no_grad():
        base = module(f, f_pos, text, t=2)
        assert base.shape == f.shape
        # padding words (whatever their value) appended to both captions change nothing
        torch.testing.assert_close(module(f, f_pos, pad_more(text, 4, 100.0), t=2), base,
                                   atol=1e-5, rtol=0)
        # a real word does change its own clip, and only its clip
        words = text.words.clone()
        words[0, 1] += 1.0
        moved = module(f, f_pos, TextFeatures(words, text.pad_mask, text.pos, text.sentence),
                       t=2)
        assert not torch.allclose(moved[:2], base[:2], atol=1e-4)
        torch.testing.assert_close(moved[2:], base[2:])
        # the frames of a clip see each other (v2v attention over T frames), clips do not
        f_moved = f.clone()
        f_moved[1] += 1.0
        moved = module(f_moved, f_pos, text, t=2)
        assert not torch.allclose(moved[0], base[0], atol=1e-4)
        torch.testing.assert_close(moved[2:], base[2:])


def test_vt_projection_shape_and_input_dependence():
    torch.manual_seed(0)
    cfg = VTProjectionConfig(layers=2, nheads=2, dim_feedforward=32, dropout=0.0)
    proj = VTProjection(cfg, C).eval()
    top, pos = _clip_inputs(b=3, t=2)
    with torch.no_grad():
        e = proj(top, pos, t=2)
        assert e.shape == (3, C)
        assert not torch.allclose(e[0], e[1], atol=1e-4)  # depends on the video
        torch.testing.assert_close(proj(top[2:4], pos, t=2), e[1:2], atol=1e-5, rtol=0)
        moved = top.clone()
        moved[1] += 1.0  # the second frame of clip 0 is read too
        e_moved = proj(moved, pos, t=2)
    assert not torch.allclose(e_moved[0], e[0], atol=1e-4)
    torch.testing.assert_close(e_moved[1:], e[1:])


# Backbone map sizes of a 97 x 161 input (ResNet: 7x7/2 conv, 3x3/2 max-pool, then /2 per
# stage, each rounding up): strides 4, 8, 16, 32.
ODD_SIZES = {4: (25, 41), 8: (13, 21), 16: (7, 11), 32: (4, 6)}


@pytest.mark.parametrize("grounding", [True, False])
def test_cross_modal_fpn_resolution(grounding):
    torch.manual_seed(0)
    head = HeadConfig(mask_dim=8, fpn_groups=4)
    gcfg = GroundingConfig(enabled=grounding, nheads=2, dim_feedforward=32, dropout=0.0)
    fpn = CrossModalFPN(head, gcfg, C, stride4_channels=6)
    assert (fpn.grounding is not None) == grounding
    n, t = 4, 2
    memory = [torch.randn(n, C, *ODD_SIZES[s]) for s in (8, 16, 32)]
    f4 = torch.randn(n, 6, *ODD_SIZES[4])
    pos32 = position_encoding_like(memory[2], C)
    mask_features, top = fpn(memory, f4, pos32, text_features([3, 4]), t)
    assert mask_features.shape == (n, 8) + ODD_SIZES[4]  # stride 4, the backbone's size
    assert top.shape == (n, C) + ODD_SIZES[32]
    # the caption reaches the mask features only through early grounding
    other = fpn(memory, f4, pos32, text_features([3, 4], seed=5), t)[0]
    assert torch.allclose(other, mask_features) != grounding


def _dynamic_mask_reference(head: DynamicMaskHead, cfg: HeadConfig, z, ref, feats, image_size):
    """Each query on its own: generated parameters split weights-first, 1x1 F.conv2d layers,
    relative coordinates written out pixel by pixel."""
    n, q, _ = z.shape
    h, w = feats.shape[-2:]
    img_h, img_w = image_size
    dims = [cfg.mask_dim + 2 * cfg.rel_coord] + [cfg.dynamic_channels] * (
        cfg.controller_layers - 1) + [1]
    sizes = [a * b for a, b in itertools.pairwise(dims)] + dims[1:]
    out = torch.empty(n, q, h, w)
    for i in range(n):
        for j in range(q):
            params = list(head.controller(z[i, j]).split(sizes))
            weights, biases = params[:len(dims) - 1], params[len(dims) - 1:]
            x = feats[i]
            if cfg.rel_coord:
                rel = torch.empty(2, h, w)
                for r in range(h):
                    for col in range(w):
                        rel[0, r, col] = ref[i, j, 0] * img_w - (4 * col + 2)
                        rel[1, r, col] = ref[i, j, 1] * img_h - (4 * r + 2)
                x = torch.cat((x, rel))
            x = x[None]
            for layer, (weight, bias) in enumerate(zip(weights, biases)):
                x = F.conv2d(x, weight.view(dims[layer + 1], dims[layer], 1, 1), bias)
                if layer < len(weights) - 1:
                    x = F.relu(x)
            out[i, j] = x[0, 0]
    return out


@pytest.mark.parametrize("rel_coord", [True, False])
def test_dynamic_mask_head_matches_per_query_convolutions(rel_coord):
    torch.manual_seed(0)
    cfg = HeadConfig(mask_dim=8, dynamic_channels=8, controller_layers=3, rel_coord=rel_coord)
    head = DynamicMaskHead(cfg, C)
    if rel_coord:  # CondInst's 169 parameters: (10*8 + 8*8 + 8*1) weights + (8 + 8 + 1) biases
        assert head.controller.layers[-1].out_features == 169
    for layer in head.controller.layers:  # zero-initialised biases would hide a bad split
        torch.nn.init.normal_(layer.bias, std=0.5)
    z, ref = torch.randn(2, 3, C), torch.rand(2, 3, 2)
    feats = torch.randn(2, 8, 5, 7)
    image_size = (20, 28)
    with torch.no_grad():
        got = head(z, ref, feats, image_size)
        want = _dynamic_mask_reference(head, cfg, z, ref, feats, image_size)
    assert got.shape == (2, 3, 5, 7)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-5)


def test_relative_coordinates_by_hand():
    # Image 8 x 16 (H x W), mask 2 x 4 at stride 4: pixel centres x = 2, 6, 10, 14 and
    # y = 2, 6. Reference (0.375, 0.75) is the pixel (x, y) = (6, 6).
    rel = relative_coordinates(torch.tensor([[[0.375, 0.75]]]), 2, 4, (8, 16))
    assert rel.shape == (1, 1, 2, 2, 4)
    want_x = torch.tensor([4.0, 0.0, -4.0, -8.0]).expand(2, 4)  # 6 - x, the same on each row
    want_y = torch.tensor([[4.0], [0.0]]).expand(2, 4)  # 6 - y, the same on each column
    torch.testing.assert_close(rel[0, 0, 0], want_x)
    torch.testing.assert_close(rel[0, 0, 1], want_y)
