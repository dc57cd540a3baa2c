"""Text encoder: the tiny RoBERTa on disk, loading through Auto*, the shared FeatureResizer on
words and pooler output, padding, freezing, and building from a folder without weights."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file

from reference_model.config import TextEncoderConfig
from reference_model.position_encoding import sine_position_encoding_1d
from reference_model.text_encoder import (
    TextEncoder,
    has_weights,
    language_model_arch,
    make_tiny_text_encoder,
)


def _encode(model_dir: str, texts: list[str]):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch)


def test_tiny_encoder_loads_like_roberta(tiny_text_dir, captions):
    from transformers import AutoModel, AutoTokenizer, RobertaModel

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert {"config.json", "tokenizer.json", "model.safetensors"} <= set(os.listdir(tiny_text_dir))
    assert has_weights(tiny_text_dir)
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
    # weights on disk are exactly those loaded, the pooler included (the release uses it)
    on_disk = load_file(os.path.join(tiny_text_dir, "model.safetensors"))
    for suffix, param in (("word_embeddings.weight", model.embeddings.word_embeddings.weight),
                          ("pooler.dense.weight", model.pooler.dense.weight)):
        name = next(k for k in on_disk if k.endswith(suffix))
        torch.testing.assert_close(param, on_disk[name])


def test_tiny_encoder_is_reproducible(tmp_path, tiny_text_dir, captions):
    rng_before = torch.get_rng_state()
    same = make_tiny_text_encoder(tmp_path / "a", captions, hidden=32, layers=2, heads=2, seed=0)
    other = make_tiny_text_encoder(tmp_path / "b", captions, hidden=32, layers=2, heads=2, seed=1)
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG untouched
    texts = ["the big blue star moving up", "the square below the red circle"]
    reference = _encode(tiny_text_dir, texts)
    assert reference.last_hidden_state.shape[:2] == (2, 8)
    for out in (_encode(tiny_text_dir, texts), _encode(same, texts)):
        torch.testing.assert_close(out.last_hidden_state, reference.last_hidden_state,
                                   atol=0, rtol=0)
        torch.testing.assert_close(out.pooler_output, reference.pooler_output, atol=0, rtol=0)
    assert not torch.allclose(_encode(other, texts).last_hidden_state,
                              reference.last_hidden_state)


def test_text_encoder_outputs(tiny_text_dir):
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, dropout=0.0), 48).eval()
    texts = ["the red star", "the square below the blue star moving left"]
    with torch.no_grad():
        out = enc(texts)
        lm = enc.language_model(**enc.tokenize(texts, "cpu"))
    assert out.words.shape == (2, 10, 48) and out.pos.shape == (2, 10, 48)  # 8 words + 2
    assert out.sentence.shape == (2, 48)
    assert out.pad_mask.dtype == torch.bool
    assert out.pad_mask.tolist() == [[False] * 5 + [True] * 5, [False] * 10]  # True on padding
    torch.testing.assert_close(out.pos, sine_position_encoding_1d(out.pad_mask, 48))
    # one FeatureResizer for both: words from the last hidden states, e from the pooler
    torch.testing.assert_close(out.words, enc.resizer(lm.last_hidden_state))
    torch.testing.assert_close(out.sentence, enc.resizer(lm.pooler_output))
    fc, ln = enc.resizer.fc, enc.resizer.layer_norm
    by_hand = torch.nn.functional.layer_norm(lm.pooler_output @ fc.weight.T + fc.bias, (48,),
                                             ln.weight, ln.bias, eps=1e-12)
    torch.testing.assert_close(out.sentence, by_hand)


def test_padding_does_not_change_a_caption(tiny_text_dir):
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, dropout=0.0), 16).eval()
    short = "the tiny green hexagon"
    with torch.no_grad():
        alone = enc([short])
        batch = enc([short, "the big yellow triangle next to the purple circle moving up"])
    n = alone.words.shape[1]
    assert batch.words.shape[1] > n and batch.pad_mask[0, n:].all()
    torch.testing.assert_close(batch.sentence[0], alone.sentence[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.words[0, :n], alone.words[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.pos[0, :n], alone.pos[0], atol=1e-6, rtol=0)


def test_long_captions_are_cut_to_the_positions(tiny_text_dir):
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, dropout=0.0), 16).eval()
    # 64 positions, RoBERTa's first at pad_token_id + 1 = 2: at most 62 tokens
    assert enc.max_tokens == 62
    with torch.no_grad():
        out = enc([" ".join(["the red circle"] * 40), "the red circle"])
    assert out.words.shape == (2, 62, 16) and not out.pad_mask[0].any()
    assert torch.isfinite(out.sentence).all()


def test_freezing(tiny_text_dir):
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, dropout=0.5), 16)
    assert enc.freeze and not any(p.requires_grad for p in enc.language_model.parameters())
    assert all(p.requires_grad for p in enc.resizer.parameters())
    enc.train()
    assert enc.training and enc.resizer.training and not enc.language_model.training
    out = enc(["the red star", "the blue circle moving up"])
    (out.words.sum() + out.sentence.sum()).backward()
    assert enc.resizer.fc.weight.grad is not None
    assert all(p.grad is None for p in enc.language_model.parameters())


def test_unfrozen_text_encoder_trains(tiny_text_dir):
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, freeze=False), 16).train()
    assert enc.language_model.training
    out = enc(["the red circle"])
    # not out.sentence.sum(): the resizer ends in a LayerNorm, whose outputs sum to a constant,
    # so that gradient is rounding noise (this test failed on it now and then)
    (out.sentence * torch.linspace(-1, 1, 16)).sum().backward()
    grads = [p.grad for p in enc.language_model.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)


def test_folder_without_weights_builds_the_same_architecture(tmp_path, tiny_text_dir, captions):
    bare = make_tiny_text_encoder(tmp_path / "bare", captions, hidden=32, layers=2, heads=2,
                                  seed=0, weights=False)
    assert not has_weights(bare) and has_weights(tiny_text_dir)
    assert {"config.json", "tokenizer.json"} <= set(os.listdir(bare))
    assert language_model_arch(bare) == language_model_arch(tiny_text_dir)
    loaded = TextEncoder(TextEncoderConfig(path=tiny_text_dir), 16)
    for pretrained in (False, True):  # no weights in the folder: random either way
        torch.manual_seed(123)  # seed 0 would redraw make_tiny_text_encoder's weights
        built = TextEncoder(TextEncoderConfig(path=bare), 16, pretrained=pretrained).eval()
        assert built.arch() == loaded.arch() == language_model_arch(bare)
        want = {k: v.shape for k, v in loaded.language_model.state_dict().items()}
        assert {k: v.shape for k, v in built.language_model.state_dict().items()} == want
        assert not torch.equal(built.language_model.pooler.dense.weight,
                               loaded.language_model.pooler.dense.weight)
        with torch.no_grad():
            out = built(["the red star moving up"])
        assert out.words.shape == (1, 7, 16) and torch.isfinite(out.sentence).all()
    # pretrained=False ignores weights that are there
    torch.manual_seed(123)
    fresh = TextEncoder(TextEncoderConfig(path=tiny_text_dir), 16, pretrained=False)
    assert not torch.equal(fresh.language_model.pooler.dense.weight,
                           loaded.language_model.pooler.dense.weight)


def test_arch_from_the_config_overrides_the_folder(tiny_text_dir):
    arch = dict(language_model_arch(tiny_text_dir), num_hidden_layers=1)
    enc = TextEncoder(TextEncoderConfig(path=tiny_text_dir, arch=arch), 16, pretrained=False)
    assert enc.arch() == arch and len(enc.language_model.encoder.layer) == 1


def test_missing_path_is_an_error():
    with pytest.raises(ValueError, match="path"):
        TextEncoder(TextEncoderConfig(path=None), 16)
