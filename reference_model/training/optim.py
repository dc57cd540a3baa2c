"""AdamW with the release's learning rate per parameter group and its step schedule
(lxa9867/R2VOS ``main.py``).

Groups, by parameter name (first match wins; frozen parameters are left out):

- ``backbone``: names containing "backbone." (the release's "backbone.0"), ``lr_backbone``;
- ``text_encoder``: the language model ("text_encoder.language_model"), ``lr_text_encoder``
  (the release freezes it, so the group is usually empty; the projection after it,
  "text_encoder.resizer", is the release's top-level "resizer" and trains at ``lr``);
- ``linear_proj``: "reference_points" and "sampling_offsets", ``lr * lr_linear_proj_mult``;
- ``default``: everything else, ``lr``.

The schedule multiplies every rate by ``gamma`` after each epoch listed in ``lr_drop``
(``MultiStepLR``, stepped once per epoch).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import OptimConfig

LINEAR_PROJ_NAMES = ("reference_points", "sampling_offsets")


def group_of(name: str) -> str:
    """The parameter group of a parameter name."""
    if "backbone." in name:
        return "backbone"
    if "text_encoder.language_model" in name:
        return "text_encoder"
    if any(k in name for k in LINEAR_PROJ_NAMES):
        return "linear_proj"
    return "default"


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """AdamW parameter groups (with a "name" key each), empty groups left out."""
    lrs = {"default": cfg.lr, "backbone": cfg.lr_backbone, "text_encoder": cfg.lr_text_encoder,
           "linear_proj": cfg.lr * cfg.lr_linear_proj_mult}
    params: dict[str, list] = {name: [] for name in lrs}
    for name, p in model.named_parameters():
        if p.requires_grad:
            params[group_of(name)].append(p)
    return [{"name": g, "params": params[g], "lr": lrs[g]} for g in lrs if params[g]]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig
                    ) -> torch.optim.lr_scheduler.MultiStepLR:
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.lr_drop), gamma=cfg.gamma)
