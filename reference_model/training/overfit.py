"""The overfit check (issue 17 section 2): the tiny model memorises a handful of clips.

One fixed batch of ``n_clips`` clips (no augmentation, one frame size), each paired with its
own caption and with one unrelated caption, is trained on for ``steps`` steps with the
training loop's step (:class:`~reference_model.training.loop.PairForward`, the criterion,
AdamW with the preset's parameter groups). Then the model in eval mode is scored on the same
pairs: J&F of the selected query's masks on the positive pairs (the post-processing's slot
choice and threshold), and the ROC AUC of the pair head between positive and negative pairs.

Legend: B clips, P pairs, T frames.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from reference_model.build import build_model

from .clips import build_clip_index
from .config import AugmentConfig, TrainConfig
from .dataset import Batch, ItemKey, PairDataset, collate_pairs
from .loop import PairForward
from .optim import build_optimizer


@dataclass(frozen=True)
class OverfitResult:
    """Scores on the memorised pairs, the loss curve and the time taken."""

    jf: float  # mean J&F (percent) of the positive pairs' selected masks, at the frame size
    j: float
    f: float
    auc: float  # pair head's ROC AUC: negative pairs should score higher than positive ones
    losses: list[float]
    seconds: float
    jf_stride: float = 0.0  # the same J&F on the loss's grid: targets sampled every 4th pixel
    model: object = None  # the trained model (eval mode)


def roc_auc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """P(a negative pair's 'unrelated' logit > a positive pair's), ties counted 1/2."""
    pos, neg = np.asarray(positive_scores)[:, None], np.asarray(negative_scores)[None, :]
    return float(((neg > pos) + 0.5 * (neg == pos)).mean())


def fixed_batch(cfg: TrainConfig, data: str, split: str, n_clips: int) -> Batch:
    """The first ``n_clips`` samples of distinct videos, without augmentation, at the
    config's input size, each with one unrelated caption."""
    index = build_clip_index(data, split, cfg.model.num_frames)
    data_cfg = replace(cfg.data, negatives_per_clip=1,
                       augment=AugmentConfig(flip_prob=0.0, crop_prob=0.0, photometric=False))
    dataset = PairDataset(index, data_cfg, cfg.model.num_frames, cfg.seed)
    picked, seen = [], set()
    for i, s in enumerate(index.samples):
        video = index.expressions[s.expression].video
        if video not in seen:
            seen.add(video)
            picked.append(i)
        if len(picked) == n_clips:
            break
    size = tuple(cfg.model.input_size)
    return collate_pairs([dataset[ItemKey(i, 0, p, size)] for p, i in enumerate(picked)])


@torch.no_grad()
def score_batch(model, batch: Batch) -> tuple[float, float, float, float, float]:
    """(J, F, J&F, pair AUC, J&F on the mask grid) of ``model`` (eval mode) on the pairs of
    ``batch``. J and F compare the selected query's masks, resized to the frame as
    ``run-reference`` resizes them, with the full-size targets; the last value compares the
    stride-4 masks (logit > 0) with the targets sampled as the loss samples them."""
    from r2bench.metrics import jf as jf_frames
    from reference_model.matcher import downsample_masks
    from reference_model.postprocess import binarize, select_slot

    model.eval()
    out = PairForward(model)(batch.normalised_frames("cpu"), batch.clip_of_pair, batch.captions)
    js, fs, grid, pos, neg = [], [], [], [], []
    for p, target in enumerate(batch.targets):
        logit = float(out["pred_pair"][p]) if out["pred_pair"] is not None else 0.0
        (pos if target["positive"] else neg).append(logit)
        if not target["positive"]:
            continue
        scores = out["pred_logits"][p].sigmoid().mean(0)  # [Q, 1]
        slot = select_slot(scores)
        gt = target["masks"].numpy().astype(bool)
        pred = binarize(out["pred_masks"][p][:, slot], gt.shape[-2:]).numpy()
        j, f = jf_frames(gt, pred)
        js.append(j.mean())
        fs.append(f.mean())
        logits = out["pred_masks"][p][:, slot]
        j4, f4 = jf_frames(downsample_masks(target["masks"], 4).numpy().astype(bool),
                           (logits > 0).numpy())
        grid.append((j4.mean() + f4.mean()) / 2)
    j, f = 100 * float(np.mean(js)), 100 * float(np.mean(fs))
    return j, f, (j + f) / 2, roc_auc(np.array(pos), np.array(neg)), 100 * float(np.mean(grid))


def overfit(cfg: TrainConfig, data: str, split: str = "train", n_clips: int = 8,
            steps: int = 300, seed: int = 0) -> OverfitResult:
    """Train ``cfg``'s model on one fixed batch of ``n_clips`` clips for ``steps`` steps."""
    batch = fixed_batch(cfg, data, split, n_clips)
    torch.manual_seed(seed)
    model, criterion, _ = build_model(cfg.model)
    optimizer = build_optimizer(model, cfg.optim)
    forward = PairForward(model)
    frames = batch.normalised_frames("cpu")
    losses = []
    start = time.perf_counter()
    model.train()
    for _ in range(steps):
        loss = criterion(forward(frames, batch.clip_of_pair, batch.captions), batch.targets)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.clip_max_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_max_norm)
        optimizer.step()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break
    seconds = time.perf_counter() - start
    j, f, jf, auc, jf_grid = score_batch(model, batch)
    return OverfitResult(jf, j, f, auc, losses, seconds, jf_grid, model)
