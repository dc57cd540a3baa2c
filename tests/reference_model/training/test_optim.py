"""The release's AdamW parameter groups and step schedule."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reference_model.build import build_model
from reference_model.config import tiny
from reference_model.training.config import OptimConfig
from reference_model.training.optim import build_optimizer, build_scheduler, param_groups


def _model(tiny_text_dir, freeze: bool):
    cfg = tiny(tiny_text_dir)
    cfg = cfg.replace(text_encoder=dataclasses.replace(cfg.text_encoder, freeze=freeze))
    return build_model(cfg)[0]


@pytest.mark.parametrize("freeze", [True, False])
def test_every_trainable_parameter_is_in_one_group_at_its_rate(tiny_text_dir, freeze):
    model = _model(tiny_text_dir, freeze)
    cfg = OptimConfig(lr=1e-4, lr_backbone=5e-5, lr_text_encoder=1e-5, lr_linear_proj_mult=0.5)
    groups = param_groups(model, cfg)
    by_id = {id(p): g for g in groups for p in g["params"]}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert sum(len(g["params"]) for g in groups) == len(by_id) == len(trainable)
    for name, p in trainable.items():
        group = by_id[id(p)]
        if name.startswith("backbone."):
            assert (group["name"], group["lr"]) == ("backbone", 5e-5), name
        elif name.startswith("text_encoder.language_model."):
            assert (group["name"], group["lr"]) == ("text_encoder", 1e-5), name
        elif "sampling_offsets" in name or "reference_points" in name:
            assert (group["name"], group["lr"]) == ("linear_proj", 5e-5), name
        else:
            assert (group["name"], group["lr"]) == ("default", 1e-4), name
    names = [g["name"] for g in groups]
    assert ("text_encoder" in names) == (not freeze)  # frozen: no group, no parameters
    assert {"backbone", "linear_proj", "default"} <= set(names)
    # the projection after the language model trains at the default rate, as the release's
    assert any(n.startswith("text_encoder.resizer") for n in trainable)


def test_rates_drop_by_gamma_after_the_listed_epochs(tiny_text_dir):
    cfg = OptimConfig(lr=1e-3, lr_backbone=5e-4, lr_drop=(2, 4), gamma=0.1)
    optimizer = build_optimizer(_model(tiny_text_dir, True), cfg)
    scheduler = build_scheduler(optimizer, cfg)
    rates = []
    for _ in range(5):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5])
    assert all(g["weight_decay"] == cfg.weight_decay for g in optimizer.param_groups)
    assert isinstance(optimizer, torch.optim.AdamW)
