"""The tiny model and the criterion learn: the loss on one small batch halves."""

from __future__ import annotations

import pytest
import torch

from reference_model.build import build_model
from reference_model.config import tiny


def _batch():
    """Two clips of T=2 frames: a positive one with a moving bright square, a negative one."""
    t, h, w = 2, 96, 160
    frames = torch.randn(2, t, 3, h, w, generator=torch.Generator().manual_seed(0)) * 0.1
    masks = torch.zeros(t, h, w)
    boxes = torch.zeros(t, 4)
    for i in range(t):
        y0, x0 = 24, 40 + 24 * i
        frames[0, i, :, y0:y0 + 32, x0:x0 + 48] += 2.0
        masks[i, y0:y0 + 32, x0:x0 + 48] = 1.0
        boxes[i] = torch.tensor([(x0 + 24) / w, (y0 + 16) / h, 48 / w, 32 / h])
    positive = {"positive": True, "boxes": boxes, "masks": masks,
                "valid": torch.ones(t, dtype=torch.bool)}
    negative = {"positive": False}
    return frames, ["the big white square moving right", "the red circle above the star"], \
        [positive, negative]


def test_loss_halves_on_one_batch(tiny_text_dir):
    torch.manual_seed(0)
    model, criterion, _ = build_model(tiny(tiny_text_dir))
    model.train()
    frames, captions, targets = _batch()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    losses = []
    for _ in range(20):  # ratio after 20 steps: 0.35 here, 0.18-0.26 with torch seeds 1-3
        loss = criterion(model(frames, captions), targets)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert min(losses[-5:]) < 0.5 * losses[0], losses


@pytest.mark.slow
def test_tiny_model_memorises_eight_clips_and_their_negatives(tmp_path):
    """Issue 17 section 2: the tiny config trained on 8 clips, each with its own caption and
    an unrelated one, memorises their masks (J&F >= 90 on the grid the mask loss sees: the
    stride-4 masks against the targets sampled every 4th pixel) and its pair head separates
    the positive from the negative pairs (ROC AUC >= 0.95), in OVERFIT_STEPS steps (about
    2.5 CPU-minutes at one thread). At the frame size the same masks score J&F 60-65: thin
    shapes are one or two mask cells wide (docs/training.md, "The overfit test")."""
    from dataclasses import replace

    from datasets_builder.synth import SynthConfig, write_source
    from reference_model.training.config import tiny_train
    from reference_model.training.loop import _write_text_folder
    from reference_model.training.overfit import overfit

    src = tmp_path / "src"
    write_source(src, SynthConfig(videos=8, train_videos=8, frames=8, seed=0), workers=1)
    cfg = tiny_train(tiny())
    _write_text_folder(cfg, str(src), "train", tmp_path / "text")
    cfg = cfg.replace(model=cfg.model.replace(text_encoder=replace(
        cfg.model.text_encoder, path=str(tmp_path / "text"))))
    result = overfit(cfg, str(src), "train", n_clips=8, steps=OVERFIT_STEPS)
    summary = (result.jf_stride, result.jf, result.auc, result.losses[::50])
    assert result.jf_stride >= 90, summary
    assert result.auc >= 0.95, summary


OVERFIT_STEPS = 300
