"""Build a ready-to-run model from a checkpoint file and a text-encoder folder.

The checkpoint (r2bench or the authors' release, see :mod:`reference_model.checkpoint`)
gives the weights and the config; the folder gives the tokenizer (and, for a release
checkpoint, the language model's architecture from its ``config.json``). The language
model's weights come from the checkpoint when it holds them, else from the folder.
"""

from __future__ import annotations

import os
from dataclasses import replace

import torch

from .checkpoint import CheckpointError, check_state, model_shapes, read_checkpoint
from .config import R2VOSConfig
from .model import R2VOS
from .text_encoder import has_weights, language_model_arch

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")
LM_PREFIX = "text_encoder.language_model."


def check_text_folder(path: str | os.PathLike) -> None:
    """A text-encoder folder must exist and hold tokenizer files and a config."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise CheckpointError(path, "no such text-encoder folder")
    if not any(os.path.isfile(os.path.join(path, f)) for f in TOKENIZER_FILES):
        raise CheckpointError(path, "no tokenizer files (tokenizer.json, or vocab.json and "
                                    "merges.txt) in the text-encoder folder")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise CheckpointError(path, "no config.json in the text-encoder folder")


def load_model(checkpoint: str | os.PathLike, text_dir: str | os.PathLike,
               device: torch.device | str = "cpu") -> tuple[R2VOS, R2VOSConfig]:
    """The model in eval mode on ``device`` and its config (text-encoder path set)."""
    check_text_folder(text_dir)
    text_dir = os.fspath(text_dir)
    state, cfg = read_checkpoint(checkpoint, text_arch=language_model_arch(text_dir))
    # the checkpoint holds every weight: no ImageNet file to read, the tokenizer from text_dir
    cfg = cfg.replace(text_encoder=replace(cfg.text_encoder, path=text_dir),
                      backbone=replace(cfg.backbone, weights=None))
    lm_in_checkpoint = any(k.startswith(LM_PREFIX) for k in state)
    if not lm_in_checkpoint and not has_weights(text_dir):
        raise CheckpointError(text_dir, "the checkpoint holds no language-model weights and "
                                        "the text-encoder folder has none either")
    model = R2VOS(cfg, pretrained_text=not lm_in_checkpoint)
    expected = model_shapes(model)
    if not lm_in_checkpoint:
        expected = {k: v for k, v in expected.items() if not k.startswith(LM_PREFIX)}
    check_state(state, expected, os.fspath(checkpoint))
    vocab = len(model.text_encoder.tokenizer)
    rows = model.text_encoder.language_model.get_input_embeddings().weight.shape[0]
    if vocab > rows:
        raise CheckpointError(text_dir, f"tokenizer has {vocab} tokens but the language model "
                                        f"embeds {rows}: not the checkpoint's text encoder")
    model.load_state_dict(state, strict=False)
    return model.to(device).eval(), cfg
