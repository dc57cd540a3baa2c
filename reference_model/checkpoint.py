"""Checkpoints: the r2bench format, and the authors' released ``checkpoint.pth``.

An r2bench checkpoint is one ``.safetensors`` file holding the model's weights; its metadata
holds ``format`` = ``r2bench/checkpoint``, ``version`` = ``1`` and ``r2bench_config``, the
model config as JSON (the language model's architecture included, so the text-encoder folder
only has to provide the tokenizer).

The released checkpoint (lxa9867/R2VOS) is ``{"model": state_dict, ...}`` or a bare
state_dict of the authors' ``ReferFormer`` module. :func:`convert_release_state_dict` maps
every one of its keys to this package's names by the rules in :data:`RELEASE_RULES`; a key
no rule maps, a key the model lacks, a key the model has but the file lacks, or a shape that
differs is an error naming the keys. Keys that hold no weights (the language model's
``position_ids`` / ``token_type_ids`` buffers) are dropped. The release registers the box
MLPs twice (``bbox_embed.*`` and ``transformer.decoder.bbox_embed.*``, one module); both
copies must be equal and become one tensor. The release carries no config: it is inferred
from the tensor shapes (:func:`infer_release_config`), with the release's fixed choices
(8 attention heads everywhere, 4 feature levels, GroupNorm groups 32 / 8) where shapes do
not tell.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import struct
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from r2bench.errors import R2BenchError
from r2bench.fileio import atomic_path

from .config import (
    BackboneConfig,
    GroundingConfig,
    HeadConfig,
    R2VOSConfig,
    TextEncoderConfig,
    TransformerConfig,
    VTProjectionConfig,
)

FORMAT = "r2bench/checkpoint"
VERSION = 1
NON_WEIGHT_KEYS = re.compile(r"^(text_encoder\.)?(language_model\.)?embeddings\."
                             r"(position_ids|token_type_ids)$")


class CheckpointError(R2BenchError):
    """A checkpoint that cannot be read, or does not match the model."""


def _shift(index: str) -> str:
    return str(int(index) - 1)


# (pattern on the release key, replacement) in order; the first full match wins.
RELEASE_RULES: list[tuple[str, str | Callable[[re.Match], str]]] = [
    (r"backbone\.0\.body\.(.+)", r"backbone.body.\1"),
    (r"text_encoder\.(.+)", r"text_encoder.language_model.\1"),
    (r"resizer\.(.+)", r"text_encoder.resizer.\1"),
    (r"input_proj\.(.+)", r"input_proj.\1"),
    (r"fusion_module\.(.+)", r"fusion.\1"),
    (r"transformer\.level_embed", r"level_embed"),
    (r"transformer\.encoder\.(.+)", r"encoder.\1"),
    (r"transformer\.decoder\.layers\.(.+)", r"decoder.layers.\1"),
    (r"(?:transformer\.decoder\.)?bbox_embed\.(.+)", r"decoder.bbox_embed.\1"),
    (r"transformer\.reference_points\.(.+)", r"reference_points.\1"),
    (r"transformer\.query_mixer\.(.+)", r"query_mixer.\1"),
    (r"query_embed\.weight", r"query_embed.weight"),
    (r"class_embed\.(.+)", r"class_embed.\1"),
    (r"controller\.(.+)", r"mask_head.controller.\1"),
    (r"neg_classifier\.(.+)", r"pair_head.\1"),
    (r"pixel_decoder\.adapter_([1-4])\.(.+)",
     lambda m: f"fpn.adapters.{_shift(m[1])}.{m[2]}"),
    (r"pixel_decoder\.layer_([1-4])\.(.+)", lambda m: f"fpn.layers.{_shift(m[1])}.{m[2]}"),
    (r"pixel_decoder\.mask_features\.(.+)", r"fpn.mask_features.\1"),
    (r"pixel_decoder\.(cross_attn|dyn_filter|dyn_conv|pool_conv)\.(.+)",
     r"fpn.grounding.\1.\2"),
    (r"pixel_decoder\.(text_decoder|text_query)\.(.+)", r"vt_projection.\1.\2"),
]
_COMPILED = [(re.compile(p), r) for p, r in RELEASE_RULES]


def release_key(key: str) -> str | None:
    """This package's name for a released key, or None when no rule maps it."""
    for pattern, repl in _COMPILED:
        m = pattern.fullmatch(key)
        if m:
            return repl(m) if callable(repl) else m.expand(repl)
    return None


def _listing(keys: list[str], limit: int = 6) -> str:
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def convert_release_state_dict(state: dict[str, Tensor], path: str | None = None
                               ) -> dict[str, Tensor]:
    """Released keys -> this package's keys; unknown keys or unequal aliases are an error."""
    out: dict[str, Tensor] = {}
    unknown = []
    for key, value in state.items():
        if NON_WEIGHT_KEYS.match(key):
            continue
        new = release_key(key)
        if new is None:
            unknown.append(key)
        elif new in out:
            if out[new].shape != value.shape or not torch.equal(out[new], value):
                raise CheckpointError(path, f"{key} and its alias of {new} differ")
        else:
            out[new] = value
    if unknown:
        raise CheckpointError(path, f"{len(unknown)} unknown keys: {_listing(unknown)}")
    return out


def _count(state: dict[str, Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m[1] for k in state if (m := pattern.match(k))})


def _shape(state: dict[str, Tensor], key: str, path: str | None) -> torch.Size:
    if key not in state:
        raise CheckpointError(path, f"missing key {key}")
    return state[key].shape


def _backbone_config(state: dict[str, Tensor], path: str | None) -> BackboneConfig:
    blocks = _count(state, "backbone.body.layer3.")
    bottleneck = "backbone.body.layer1.0.conv3.weight" in state
    names = {(True, 6): "resnet50", (True, 23): "resnet101", (False, 6): "resnet34",
             (False, 2): "resnet18"}
    if (bottleneck, blocks) not in names:
        raise CheckpointError(path, f"unsupported backbone: layer3 has {blocks} blocks")
    width = _shape(state, "backbone.body.conv1.weight", path)[0]
    return BackboneConfig(name=names[bottleneck, blocks], width=int(width))


def text_arch_from_state(state: dict[str, Tensor], path: str | None = None) -> dict:
    """The language model's architecture read from its weights (RoBERTa family; 64 channels
    per attention head, as every RoBERTa size has)."""
    p = "text_encoder.language_model."
    vocab, hidden = _shape(state, p + "embeddings.word_embeddings.weight", path)
    return {"model_type": "roberta", "vocab_size": int(vocab), "hidden_size": int(hidden),
            "num_hidden_layers": _count(state, p + "encoder.layer."),
            "num_attention_heads": max(1, int(hidden) // 64),
            "intermediate_size": int(_shape(
                state, p + "encoder.layer.0.intermediate.dense.weight", path)[0]),
            "max_position_embeddings": int(_shape(
                state, p + "embeddings.position_embeddings.weight", path)[0]),
            "type_vocab_size": int(_shape(
                state, p + "embeddings.token_type_embeddings.weight", path)[0]),
            "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5,
            "hidden_act": "gelu"}


def _dynamic_channels(num_params: int, mask_dim: int, path: str | None) -> int:
    """Solve num_params = c^2 + (mask_dim + 5) c + 1 (3 dynamic layers, 2 coordinates)."""
    for c in range(1, 257):
        if c * c + (mask_dim + 5) * c + 1 == num_params:
            return c
    raise CheckpointError(path, f"controller output {num_params} fits no 3-layer dynamic head")


def infer_release_config(state: dict[str, Tensor], text_arch: dict | None = None,
                         path: str | None = None) -> R2VOSConfig:
    """The config of a converted release state_dict, from its shapes."""
    hidden = int(_shape(state, "query_embed.weight", path)[1])
    enc_ff = int(_shape(state, "encoder.layers.0.linear1.weight", path)[0])
    heads, levels = 8, 4

    def points(prefix: str) -> int:
        return int(_shape(state, prefix + ".attention_weights.weight", path)[0]) // (
            heads * levels)

    transformer = TransformerConfig(
        hidden_dim=hidden, nheads=heads, enc_layers=_count(state, "encoder.layers."),
        dec_layers=_count(state, "decoder.layers."), dim_feedforward=enc_ff,
        enc_n_points=points("encoder.layers.0.self_attn"),
        dec_n_points=points("decoder.layers.0.cross_attn"))
    grounded = "fpn.grounding.dyn_filter.weight" in state
    grounding = GroundingConfig(enabled=grounded)
    if grounded:
        grounding = replace(grounding, dim_feedforward=int(_shape(
            state, "fpn.grounding.cross_attn.linear1.weight", path)[0]),
            text_pool_size=int(_shape(state, "fpn.grounding.pool_conv.weight", path)[1])
            // hidden)
    vt = "vt_projection.text_query.weight" in state
    vt_projection = VTProjectionConfig(enabled=vt)
    if vt:
        vt_projection = replace(vt_projection, layers=_count(
            state, "vt_projection.text_decoder.layers."), dim_feedforward=int(_shape(
                state, "vt_projection.text_decoder.layers.0.linear1.weight", path)[0]))
    mask_dim = int(_shape(state, "fpn.mask_features.weight", path)[0])
    controller_out = int(_shape(state, "mask_head.controller.layers.2.weight", path)[0])
    head = HeadConfig(
        num_queries=int(_shape(state, "query_embed.weight", path)[0]),
        num_classes=int(_shape(state, "class_embed.0.weight", path)[0]),
        mix_query="query_mixer.fc.weight" in state, pair_head="pair_head.layers.0.weight" in state,
        mask_dim=mask_dim, dynamic_channels=_dynamic_channels(controller_out, mask_dim, path))
    arch = text_arch or text_arch_from_state(state, path)
    return R2VOSConfig(backbone=_backbone_config(state, path),
                       text_encoder=TextEncoderConfig(arch=arch), transformer=transformer,
                       grounding=grounding, vt_projection=vt_projection, head=head)


def _torch_load(path: str) -> object:
    """``torch.load`` restricted to tensors and plain data (no code runs); the release's
    training checkpoints also pickle their ``argparse.Namespace``."""
    with torch.serialization.safe_globals([argparse.Namespace, pathlib.PosixPath,
                                           pathlib.PurePosixPath]):
        return torch.load(path, map_location="cpu", weights_only=True)


def read_checkpoint(path: str | os.PathLike, text_arch: dict | None = None
                    ) -> tuple[dict[str, Tensor], R2VOSConfig]:
    """Weights in this package's names and the model config, from an r2bench checkpoint or
    the authors' released one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(path, "no such checkpoint file")
    if _is_safetensors(path):
        return _read_r2bench(path)
    try:
        obj = _torch_load(path)
    except Exception as e:  # noqa: BLE001  (pickle, zip, EOF, torch errors: all unreadable)
        raise CheckpointError(path, f"not a readable checkpoint ({type(e).__name__}: "
                                    f"{str(e).splitlines()[0][:200]})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise CheckpointError(path, "not a state_dict (expected {'model': state_dict} or a "
                                    "mapping of names to tensors)")
    state = convert_release_state_dict(obj, path)
    return state, infer_release_config(state, text_arch, path)


def _is_safetensors(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _read_r2bench(path: str) -> tuple[dict[str, Tensor], R2VOSConfig]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(path, f"not a readable safetensors file ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(path, f"not an r2bench checkpoint (format "
                                    f"{meta.get('format')!r}, expected {FORMAT!r})")
    if meta.get("version") != str(VERSION):
        raise CheckpointError(path, f"unsupported checkpoint version {meta.get('version')!r}")
    try:
        cfg = R2VOSConfig.from_dict(json.loads(meta["r2bench_config"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(path, f"bad r2bench_config metadata ({e})") from None
    return state, cfg


def check_state(state: dict[str, Tensor], expected: dict[str, torch.Size],
                path: str | None = None) -> None:
    """Every expected key present with its shape and nothing else, or an error naming them."""
    state_keys = {k for k in state if not NON_WEIGHT_KEYS.match(k)}
    missing = sorted(set(expected) - state_keys)
    unexpected = sorted(state_keys - set(expected))
    wrong = sorted(k for k in set(expected) & state_keys if state[k].shape != expected[k])
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} mis-shaped keys: " + _listing(
            [f"{k} {tuple(state[k].shape)} (model {tuple(expected[k])})" for k in wrong]))
    if problems:
        raise CheckpointError(path, "; ".join(problems))


def model_shapes(model: torch.nn.Module) -> dict[str, torch.Size]:
    """The shapes of every weight the model saves (non-weight buffers excluded)."""
    return {k: v.shape for k, v in model.state_dict().items() if not NON_WEIGHT_KEYS.match(k)}


def model_shapes_for_config(cfg: R2VOSConfig) -> dict[str, torch.Size]:
    """The weight shapes of the model a config describes, without allocating it (built on
    the meta device; the language model from ``cfg.text_encoder.arch``)."""
    from .model import R2VOS

    cfg = cfg.replace(backbone=replace(cfg.backbone, weights=None))
    with torch.device("meta"):
        return model_shapes(R2VOS(cfg, pretrained_text=False))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Tensor], cfg: R2VOSConfig,
                    extra_metadata: dict[str, str] | None = None) -> None:
    """Write an r2bench checkpoint atomically (weights as stored, contiguous, unshared)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()
               if not NON_WEIGHT_KEYS.match(k)}
    meta = {"format": FORMAT, "version": str(VERSION),
            "r2bench_config": json.dumps(cfg.to_dict(), sort_keys=True)}
    meta.update(extra_metadata or {})
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)
        _sort_metadata(tmp)


def _sort_metadata(path: str) -> None:
    """Rewrite a safetensors header with its metadata keys sorted, in place. The writer
    emits them in hash order, which differs between processes: without this the same
    weights and config give different bytes. The header keeps its length."""
    with open(path, "r+b") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        raw = f.read(size)
        header = json.loads(raw)
        if "__metadata__" not in header:
            return
        header = {"__metadata__": dict(sorted(header.pop("__metadata__").items())), **header}
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        f.seek(8)
        f.write(text.ljust(size, b" "))  # same content reordered: never longer
