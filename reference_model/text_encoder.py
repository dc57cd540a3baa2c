"""Text encoder: a RoBERTa-family language model and the release's projection to the model
width (paper section 4.1; lxa9867/R2VOS ``forward_text``).

- Word features g are the language model's last hidden states, projected by a
  ``FeatureResizer`` (Linear, LayerNorm with eps 1e-12, dropout).
- The sentence embedding e is the language model's *pooler* output (tanh of a linear layer
  on the ``<s>`` token), projected by the *same* FeatureResizer. distilroberta-base ships no
  pooler weights, so the release's pooler is the random initialisation saved in its
  checkpoint; it stays frozen like the rest of the language model.
- Captions are tokenised with padding to the longest caption of the batch and no truncation
  (the release's call). Captions longer than the language model's positions, on which the
  release fails, are cut to fit.
- Word positions: the 1-D sine encoding of :mod:`reference_model.position_encoding`.

The tokenizer and the architecture come from a local folder (``AutoTokenizer`` /
``AutoConfig``, nothing is downloaded); the architecture may instead come from the config
(``TextEncoderConfig.arch``, recorded in checkpoints). Weights come from the folder when it
holds them and ``pretrained`` is set, otherwise from a checkpoint loaded afterwards.

:func:`make_tiny_text_encoder` writes a small random RoBERTa with a byte-level BPE tokenizer
trained on a given corpus, in the same on-disk format as distilroberta-base.

Legend: B captions, L tokens, C model width, C_lm language-model width.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .config import TextEncoderConfig
from .position_encoding import sine_position_encoding_1d

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0..4
ARCH_FIELDS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers",
               "num_attention_heads", "intermediate_size", "max_position_embeddings",
               "type_vocab_size", "pad_token_id", "bos_token_id", "eos_token_id",
               "layer_norm_eps", "hidden_act")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
# distilroberta-base's config.json (the released model's language model), for building a
# model of its size without its files
DISTILROBERTA_BASE_ARCH = {
    "model_type": "roberta", "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 6,
    "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514,
    "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
    "layer_norm_eps": 1e-5, "hidden_act": "gelu",
}


class FeatureResizer(nn.Module):
    """Linear projection to the model width, LayerNorm (eps 1e-12) and dropout."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.layer_norm = nn.LayerNorm(out_dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.layer_norm(self.fc(x)))


@dataclass
class TextFeatures:
    """Encoded captions: ``words`` [B, L, C], ``pad_mask`` [B, L] (True on padding),
    ``pos`` [B, L, C] word positions, ``sentence`` [B, C] (e)."""

    words: Tensor
    pad_mask: Tensor
    pos: Tensor
    sentence: Tensor


def has_weights(path: str | os.PathLike) -> bool:
    """Whether a Hugging Face folder holds model weights (not only tokenizer and config)."""
    return any(os.path.exists(os.path.join(path, f)) for f in WEIGHT_FILES) or bool(
        glob.glob(os.path.join(os.fspath(path), "model-*.safetensors")))


def language_model_arch(path: str | os.PathLike) -> dict:
    """The architecture fields of a local folder's ``config.json``."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(os.fspath(path), local_files_only=True)
    return {k: getattr(config, k) for k in ARCH_FIELDS if hasattr(config, k)}


def build_language_model(arch: dict) -> nn.Module:
    """A randomly initialised language model of the given architecture (no pooler omitted)."""
    from transformers import AutoConfig, AutoModel

    fields = dict(arch)
    config = AutoConfig.for_model(fields.pop("model_type", "roberta"), **fields)
    return AutoModel.from_config(config)


class TextEncoder(nn.Module):
    """``forward(captions: list[str], device) -> TextFeatures`` at width ``hidden_dim``."""

    def __init__(self, cfg: TextEncoderConfig, hidden_dim: int, pretrained: bool = True):
        super().__init__()
        if cfg.path is None and cfg.arch is None:
            raise ValueError("TextEncoderConfig needs a local model folder (path) or an arch")
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = None  # without a folder the encoder holds weights but cannot tokenize
        if cfg.path is not None:
            self.tokenizer = AutoTokenizer.from_pretrained(cfg.path, local_files_only=True)
        if pretrained and cfg.path is not None and has_weights(cfg.path):
            self.language_model = AutoModel.from_pretrained(cfg.path, local_files_only=True)
        else:
            self.language_model = build_language_model(cfg.arch or language_model_arch(cfg.path))
        lm = self.language_model.config
        self.max_tokens = lm.max_position_embeddings - (lm.pad_token_id or 0) - 1
        self.hidden_dim = hidden_dim
        self.freeze = cfg.freeze
        if cfg.freeze:
            self.language_model.requires_grad_(False)
        self.resizer = FeatureResizer(lm.hidden_size, hidden_dim, cfg.dropout)

    def arch(self) -> dict:
        """The language model's architecture fields (what checkpoints record)."""
        config = self.language_model.config
        return {k: getattr(config, k) for k in ARCH_FIELDS if hasattr(config, k)}

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if self.freeze:
            self.language_model.eval()  # no dropout in the frozen language model
        return self

    def tokenize(self, captions: list[str], device: torch.device | str) -> dict[str, Tensor]:
        """Token ids and attention mask [B, L], padded to the longest caption."""
        if self.tokenizer is None:
            raise ValueError("this text encoder was built without a tokenizer folder")
        return self.tokenizer(list(captions), padding="longest", truncation=True,
                              max_length=self.max_tokens, return_tensors="pt").to(device)

    def forward(self, captions: list[str], device: torch.device | str = "cpu") -> TextFeatures:
        tok = self.tokenize(captions, device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            out = self.language_model(input_ids=tok["input_ids"],
                                      attention_mask=tok["attention_mask"])
        pad_mask = tok["attention_mask"].ne(1)  # [B, L]
        words = self.resizer(out.last_hidden_state)  # [B, L, C]
        sentence = self.resizer(out.pooler_output)  # [B, C]
        pos = sine_position_encoding_1d(pad_mask, self.hidden_dim).to(words.dtype)
        return TextFeatures(words, pad_mask, pos, sentence)


def make_tiny_text_encoder(out_dir: str | os.PathLike, corpus: Iterable[str], hidden: int = 64,
                           layers: int = 2, heads: int = 2, seed: int = 0,
                           vocab_size: int = 400, max_positions: int = 64,
                           intermediate: int | None = None, weights: bool = True) -> str:
    """Write a small random RoBERTa and its byte-level BPE tokenizer to ``out_dir``.

    The tokenizer is trained on ``corpus``; the model weights are drawn from a generator seeded
    with ``seed`` (the global RNG is left untouched). ``weights=False`` writes the tokenizer
    and ``config.json`` only. Returns ``out_dir``, which ``AutoModel`` / ``AutoTokenizer``
    then load like distilroberta-base.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(sorted(set(corpus)), vocab_size=vocab_size, min_frequency=1,
                            special_tokens=SPECIAL_TOKENS, show_progress=False)
    bpe.save_model(out_dir)  # vocab.json and merges.txt, as distilroberta-base ships them
    tokenizer = RobertaTokenizerFast.from_pretrained(out_dir, model_max_length=max_positions - 2)
    tokenizer.save_pretrained(out_dir)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                           num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=intermediate or 4 * hidden,
                           max_position_embeddings=max_positions,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2)
    if not weights:
        config.save_pretrained(out_dir)
        return out_dir
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RobertaModel(config)  # with pooler, like the release's RobertaModel
    model.save_pretrained(out_dir)
    return out_dir
