"""Text encoder (paper section 4.1): a frozen RoBERTa plus projections to the model width.

The language model is loaded with ``AutoModel``/``AutoTokenizer.from_pretrained`` from a local
directory (roberta-base for the paper's config). Word features g are the last hidden states;
the sentence embedding e is their **mean over valid (non-padding) tokens**, special tokens
included. Mean pooling is used instead of RoBERTa's pooler because the pooler was never trained
by RoBERTa's objective (and is random in the tiny encoder). Both are projected to the hidden
size by Linear + LayerNorm + Dropout.

:func:`make_tiny_text_encoder` writes a small random RoBERTa with a byte-level BPE tokenizer
trained on a given corpus, in the same on-disk format as roberta-base, for tests and CPU runs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .config import TextEncoderConfig

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0..4


class FeatureResizer(nn.Module):
    """Linear projection to the model width followed by LayerNorm and dropout."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.norm(self.fc(x)))


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """x: [B, L, C], mask: [B, L] True on valid tokens -> [B, C]."""
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class TextEncoder(nn.Module):
    """Tokenise captions and encode them.

    ``forward(captions: list[str], device)`` returns ``(g [B, L, C], mask [B, L] True on valid
    tokens, e [B, C])`` with C = ``hidden_dim``.
    """

    def __init__(self, cfg: TextEncoderConfig, hidden_dim: int):
        super().__init__()
        if cfg.path is None:
            raise ValueError("TextEncoderConfig.path must name a local model directory")
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(cfg.path, local_files_only=True)
        self.language_model = AutoModel.from_pretrained(cfg.path, local_files_only=True)
        self.language_model.pooler = None  # unused: e is the mean of the word features
        self.freeze = cfg.freeze
        self.max_length = cfg.max_length
        if cfg.freeze:
            self.language_model.requires_grad_(False)
        width = self.language_model.config.hidden_size
        self.word_proj = FeatureResizer(width, hidden_dim, cfg.dropout)
        self.sentence_proj = FeatureResizer(width, hidden_dim, cfg.dropout)

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if self.freeze:
            self.language_model.eval()  # no dropout in the frozen language model
        return self

    def encode(self, captions: list[str], device: torch.device | str) -> tuple[Tensor, Tensor]:
        """Language-model features before projection: ([B, L, C_lm], mask [B, L])."""
        tok = self.tokenizer(list(captions), padding="longest", truncation=True,
                             max_length=self.max_length, return_tensors="pt").to(device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            out = self.language_model(input_ids=tok["input_ids"],
                                      attention_mask=tok["attention_mask"])
        return out.last_hidden_state, tok["attention_mask"].bool()

    def forward(self, captions: list[str],
                device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
        hidden, mask = self.encode(captions, device)  # [B, L, C_lm], [B, L]
        g = self.word_proj(hidden)  # [B, L, C]
        e = self.sentence_proj(masked_mean(hidden, mask))  # [B, C]
        return g, mask, e


def make_tiny_text_encoder(out_dir: str | os.PathLike, corpus: Iterable[str], hidden: int = 64,
                           layers: int = 2, heads: int = 2, seed: int = 0,
                           vocab_size: int = 400, max_positions: int = 64) -> str:
    """Write a small random RoBERTa and its byte-level BPE tokenizer to ``out_dir``.

    The tokenizer is trained on ``corpus``; the model weights are drawn from a generator seeded
    with ``seed`` (the global RNG is left untouched). Returns ``out_dir``, which
    ``AutoModel``/``AutoTokenizer.from_pretrained`` then load like roberta-base.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(corpus), vocab_size=vocab_size, min_frequency=1,
                            special_tokens=SPECIAL_TOKENS, show_progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = bpe.save_model(tmp)
        tokenizer = RobertaTokenizerFast(vocab=vocab, merges=merges,
                                         model_max_length=max_positions - 2)
        tokenizer.save_pretrained(out_dir)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                           num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=4 * hidden, max_position_embeddings=max_positions,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RobertaModel(config)  # with pooler, like roberta-base
    model.save_pretrained(out_dir)
    return out_dir
