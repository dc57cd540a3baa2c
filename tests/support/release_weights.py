"""Seeded weights for a released-R2VOS-shaped state_dict, and the fixture's input frames.

Shared by the script that runs the authors' code to make the equivalence fixture
(``tests/support/make_release_fixture.py``) and by the test that checks this package against
it, so the weights never need to be stored: the key list, its shapes and the seed rebuild them.

Every tensor is drawn from one ``torch.Generator`` in key order, then scaled so that
activations stay of order one: 1-D ``weight`` (norm scales) 1 + 0.1 N, ``running_var``
1 + 0.1 |N|, other 1-D tensors 0.1 N, tensors of two or more dimensions N / sqrt(fan_in).
``overrides`` replace single tensors after drawing.
"""

from __future__ import annotations

import math

import numpy as np
import torch

RECIPE = "r2bench-release-weights-1"


def release_weights(keys: list[tuple[str, list[int]]], seed: int,
                    overrides: dict[str, list[float]] | None = None) -> dict[str, torch.Tensor]:
    """{key: tensor} for the (key, shape) list, reproducibly from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in keys:
        w = torch.randn(shape, generator=g, dtype=torch.float32)
        if key.endswith("running_var"):
            w = 1 + 0.1 * w.abs()
        elif len(shape) == 1 and key.endswith("weight"):
            w = 1 + 0.1 * w
        elif len(shape) <= 1:
            w = 0.1 * w
        else:
            w = w / math.sqrt(math.prod(shape[1:]))
        out[key] = w
    for key, values in (overrides or {}).items():
        out[key] = torch.tensor(values, dtype=torch.float32).view(out[key].shape)
    return out


def fixture_frames(seed: int, t: int, h: int, w: int) -> np.ndarray:
    """Smooth random RGB frames [t, h, w, 3] uint8: a few moving blobs on a gradient."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = np.empty((t, h, w, 3), np.uint8)
    centres = rng.uniform([0, 0], [h, w], size=(3, 2))
    velocity = rng.uniform(-3, 3, size=(3, 2))
    colours = rng.uniform(0, 255, size=(3, 3))
    base = rng.uniform(0, 255, size=3)
    for i in range(t):
        img = np.broadcast_to(base * (0.5 + 0.5 * xs[..., None] / w), (h, w, 3)).copy()
        for c, v, col in zip(centres, velocity, colours):
            cy, cx = c + i * v
            blob = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * (0.15 * min(h, w)) ** 2))
            img = img * (1 - blob[..., None]) + col * blob[..., None]
        frames[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return frames


def matcher_trials(targets: list[dict[str, np.ndarray]], n: int, seed: int, queries: int = 5,
                   stride: int = 4) -> list[dict[str, torch.Tensor]]:
    """``n`` random sets of predictions for the matcher, each against ``targets[i % len]``
    (dicts of "boxes" [T, 4] cxcywh, "masks" [T, H, W], "valid" [T]): float64
    ``pred_logits`` [1, T, Q, 1], ``pred_boxes`` [1, T, Q, 4], ``pred_masks`` [1, T, Q, H/s,
    W/s]. Every trial draws its own scale for each kind of prediction, so that each cost
    term decides some matches."""
    g = torch.Generator().manual_seed(seed)
    trials = []
    for i in range(n):
        tgt = targets[i % len(targets)]
        boxes = torch.from_numpy(tgt["boxes"]).double()
        masks = torch.from_numpy(tgt["masks"]).double()[:, stride // 2::stride, stride // 2::stride]
        t = len(boxes)
        s = torch.exp(torch.rand(4, generator=g, dtype=torch.float64) * 3 - 2)  # 0.14 .. 2.7
        logits = torch.randn(1, t, queries, 1, generator=g, dtype=torch.float64) * s[0]
        centre = torch.where(boxes[:, None, :] > 0, boxes[:, None, :], torch.full_like(
            boxes[:, None, :], 0.5))
        pred_boxes = (centre + 0.1 * s[1] * torch.randn(t, queries, 4, generator=g,
                                                        dtype=torch.float64)).clamp(0.02, 0.98)
        sign = 2 * masks[:, None] - 1  # [T, 1, h, w]
        noise = torch.randn(t, queries, *masks.shape[1:], generator=g, dtype=torch.float64)
        weight = torch.rand(1, queries, 1, 1, generator=g, dtype=torch.float64)
        pred_masks = 3 * s[2] * weight * sign + 2 * s[3] * noise
        trials.append({"pred_logits": logits, "pred_boxes": pred_boxes[None],
                       "pred_masks": pred_masks[None]})
    return trials
