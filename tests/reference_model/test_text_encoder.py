"""Text encoder: the tiny RoBERTa on disk, loading through Auto*, projections and pooling."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from reference_model.config import TextEncoderConfig
from reference_model.text_encoder import TextEncoder, make_tiny_text_encoder, masked_mean


def _encode(model_dir: str, texts: list[str]) -> torch.Tensor:
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).last_hidden_state


def test_tiny_encoder_loads_like_roberta(tiny_text_dir, captions):
    from transformers import AutoModel, AutoTokenizer, RobertaModel

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert {"config.json", "tokenizer.json", "model.safetensors"} <= set(os.listdir(tiny_text_dir))
    tok = AutoTokenizer.from_pretrained(tiny_text_dir)
    model = AutoModel.from_pretrained(tiny_text_dir)
    assert isinstance(model, RobertaModel)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    ids = tok("the small red circle moving left")["input_ids"]
    assert ids[0] == tok.bos_token_id == 0 and ids[-1] == tok.eos_token_id == 2
    assert tok.pad_token_id == 1
    assert tok.decode(ids, skip_special_tokens=True) == "the small red circle moving left"
    # corpus words became whole tokens: 6 words + <s> + </s>
    assert len(ids) == 8
    # weights on disk are exactly those loaded
    on_disk = load_file(os.path.join(tiny_text_dir, "model.safetensors"))
    name = next(k for k in on_disk if k.endswith("word_embeddings.weight"))
    torch.testing.assert_close(model.embeddings.word_embeddings.weight, on_disk[name])


def test_tiny_encoder_is_reproducible(tmp_path, tiny_text_dir, captions):
    rng_before = torch.get_rng_state()
    same = make_tiny_text_encoder(tmp_path / "a", captions, hidden=32, layers=2, heads=2, seed=0)
    other = make_tiny_text_encoder(tmp_path / "b", captions, hidden=32, layers=2, heads=2, seed=1)
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG untouched
    texts = ["the big blue star moving up", "the square below the red circle"]
    reference = _encode(tiny_text_dir, texts)
    assert reference.shape[:2] == (2, 8)
    torch.testing.assert_close(_encode(tiny_text_dir, texts), reference, atol=0, rtol=0)
    torch.testing.assert_close(_encode(same, texts), reference, atol=0, rtol=0)
    assert not torch.allclose(_encode(other, texts), reference)


def test_text_encoder_shapes_and_freezing(tiny_text_dir):
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, max_length=6, dropout=0.0), 48)
    texts = ["the red star", "the square below the blue star moving left"]
    g, mask, e = enc(texts)
    assert g.shape == (2, 6, 48) and e.shape == (2, 48)  # truncated to max_length
    assert mask.dtype == torch.bool
    assert mask.tolist() == [[True] * 5 + [False], [True] * 6]
    assert not any(p.requires_grad for p in enc.language_model.parameters())
    assert all(p.requires_grad for p in enc.word_proj.parameters())
    enc.train()
    assert enc.training and not enc.language_model.training
    (g.sum() + e.sum()).backward()
    assert enc.sentence_proj.fc.weight.grad is not None


def test_sentence_embedding_ignores_padding(tiny_text_dir):
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, dropout=0.0), 16).eval()
    short = "the tiny green hexagon"
    with torch.no_grad():
        g1, m1, e1 = enc([short])
        g2, m2, e2 = enc([short, "the big yellow triangle next to the purple circle moving up"])
    assert m2.shape[1] > m1.shape[1]
    torch.testing.assert_close(e2[0], e1[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g2[0, : m1.shape[1]], g1[0], atol=1e-5, rtol=1e-5)


def test_unfrozen_text_encoder_trains(tiny_text_dir):
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, freeze=False), 16)
    _, _, e = enc(["the red circle"])
    e.sum().backward()
    grads = [p.grad for p in enc.language_model.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)


def test_missing_path_is_an_error():
    with pytest.raises(ValueError, match="path"):
        TextEncoder(TextEncoderConfig(path=None), 16)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=3))
def test_masked_mean_property(mask_rows):
    mask = torch.tensor(mask_rows)
    x = torch.randn(len(mask_rows), 4, 3, dtype=torch.float64)
    got = masked_mean(x, mask)
    for b, row in enumerate(mask_rows):
        want = x[b][np.array(row)].mean(0) if any(row) else torch.zeros(3, dtype=torch.float64)
        torch.testing.assert_close(got[b], want)
