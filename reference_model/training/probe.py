"""Held-out probes of a trained checkpoint: does it bind the words to the objects, and does
its pair head tell related from unrelated pairs?

:func:`clip_probe` runs the first clip of N videos with its own caption and with one
unrelated caption: J, F and J&F of the selected masks (no pair gate) and the pair head's
ROC AUC between the positive and the negative pairs.

:func:`grounding_probe` asks the first clip of every held-out video that holds two or more
referred objects for each of them, by its caption, and looks at the masks the model selects
(the post-processing's query choice and threshold, at the frame size, no pair gate):

- ``grounding_accuracy``: the share of captions whose selected mask overlaps the caption's
  own object more than every other object of the clip (a tie is a miss). A model that
  segments whatever object stands out, whatever the caption, scores about one over the
  number of objects (0.35-0.45 on ``r2bench synth`` videos);
- ``same_mask_iou``: the mean IoU between the masks selected for two captions of different
  objects of the same clip: near 1 when the caption changes nothing.

Legend: T frames, H x W frame size.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import numpy as np
import torch
from torch import Tensor

from .clips import build_clip_index
from .config import AugmentConfig, tiny_train
from .dataset import ItemKey, PairDataset, collate_pairs
from .loop import PairForward
from .overfit import fixed_batch, score_batch


def _iou(a: Tensor, b: Tensor) -> float:
    """IoU of two bool masks [T, H, W] over the whole clip (1 when both are empty)."""
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0


def clip_grounding(picked: list[Tensor], targets: list[Tensor]) -> tuple[int, list[float]]:
    """One clip asked for K objects: ``picked`` the K selected masks, ``targets`` the K
    objects' masks (bool [T, H, W] each, caption k refers to object k). Returns how many
    captions picked their own object (it overlaps the mask more than every other object
    does: a tie is a miss) and the IoU of every pair of picked masks."""
    hits = 0
    for k, mask in enumerate(picked):
        overlaps = [_iou(mask, target) for target in targets]
        others = overlaps[:k] + overlaps[k + 1:]
        hits += int(overlaps[k] > max(others, default=0.0))
    return hits, [_iou(a, b) for a, b in combinations(picked, 2)]


@torch.no_grad()
def grounding_probe(checkpoint: str, text_encoder: str, data: str, split: str) -> dict:
    """``grounding_accuracy``, ``same_mask_iou`` and the number of captions and clips probed
    (see the module's docstring) of a checkpoint on ``data``/``split``."""
    from reference_model.loading import load_model
    from reference_model.postprocess import binarize, select_slot

    model, model_cfg = load_model(checkpoint, text_encoder, "cpu")
    cfg = tiny_train(model_cfg)
    t, size = model_cfg.num_frames, tuple(model_cfg.input_size)
    index = build_clip_index(data, split, t)
    first: dict[str, int] = {}  # video -> the sample of its first clip, first expression
    for i, s in enumerate(index.samples):
        if s.anchor == 0:
            first.setdefault(index.expressions[s.expression].video, i)
    # every other object visible in the clip comes as an extra positive of the same frames
    most = max(len({e.obj_id for e in index.expressions if e.video == v}) for v in first)
    data_cfg = replace(cfg.data, negatives_per_clip=0, positives_per_clip=most,
                       augment=AugmentConfig(flip_prob=0.0, crop_prob=0.0, photometric=False))
    dataset = PairDataset(index, data_cfg, t, cfg.seed)
    forward = PairForward(model)
    hits, captions, same, clips = 0, 0, [], 0
    for position, (_, sample) in enumerate(sorted(first.items())):
        batch = collate_pairs([dataset[ItemKey(sample, 0, position, size)]])
        if len(batch.captions) < 2:  # one referred object in the clip: nothing to choose
            continue
        out = forward(batch.normalised_frames("cpu"), batch.clip_of_pair, batch.captions)
        picked = [binarize(out["pred_masks"][p][:, select_slot(
            out["pred_logits"][p].sigmoid().mean(0))], size) for p in range(len(batch.captions))]
        clip_hits, ious = clip_grounding(picked, [tg["masks"].bool() for tg in batch.targets])
        hits, same = hits + clip_hits, same + ious
        captions += len(batch.captions)
        clips += 1
    return {"captions": captions, "clips": clips,
            "grounding_accuracy": hits / captions if captions else float("nan"),
            "same_mask_iou": float(np.mean(same)) if same else float("nan")}


def clip_probe(checkpoint: str, text_encoder: str, data: str, split: str,
               n_clips: int) -> dict[str, float]:
    """A trained checkpoint on the first clip of ``n_clips`` videos of ``split`` (each with its
    caption and one unrelated caption, as :func:`~.overfit.fixed_batch`): J, F, J&F of the
    selected masks (percent, no pair gate) and the pair head's ROC AUC."""
    from reference_model.loading import load_model

    model, model_cfg = load_model(checkpoint, text_encoder, "cpu")
    batch = fixed_batch(tiny_train(model_cfg), data, split, n_clips)
    j, f, jf, auc, _ = score_batch(model, batch)
    return {"clips": n_clips, "J": j, "F": f, "JF": jf, "pair_auc": auc}
