"""From model outputs to one mask track per video, as the release's ``inference_ytvos.py``
does it (paper section 4.6, eq. 12).

- Slot: s = argmax_n mean_t sigmoid(S_nt), the query with the highest frame-mean score.
- Masks: that slot's stride-4 logits, resized bilinearly (align_corners=False) to the
  original frame size, foreground where sigmoid > ``mask_threshold`` (0.5).
- Pair gate (the 1(A) of eq. 12): the release's pair head predicts that caption and video
  are *unrelated*; when sigmoid of its logit is >= ``pair_threshold`` (0.5) every mask of
  the video is emptied. A model without the pair head never empties.

`PostProcess` is the one post-processing path: ``run-reference`` (whole video or windowed,
combining per-window scores before it decides, ``reference_model.inference``), training's
validation (which runs it) and ``r2bench profile`` all decide through its methods, with the
thresholds of the checkpoint's config (``R2VOSConfig.postprocess``).

Legend: B videos, T frames, Q queries, h x w predicted mask size, H x W original size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class PostProcessConfig:
    """Thresholds of eq. 12."""

    mask_threshold: float = 0.5  # a pixel is foreground when sigmoid(mask logit) > this
    pair_threshold: float = 0.5  # the pair is unrelated when sigmoid(pair logit) >= this


def select_slot(mean_scores: Tensor) -> int:
    """mean_scores [Q, K]: per query and class the frame-mean sigmoid score -> slot index."""
    return int(mean_scores.max(-1)[0].max(-1)[1])


def binarize(logits: Tensor, size: tuple[int, int], threshold: float = 0.5) -> Tensor:
    """logits [T, h, w] -> bool masks [T, H, W]: bilinear resize, then sigmoid > threshold."""
    up = F.interpolate(logits[None].float(), size=size, mode="bilinear", align_corners=False)
    return up[0].sigmoid() > threshold


def is_unrelated(pair_logit: Tensor | float | None, threshold: float = 0.5) -> bool:
    """The pair head's verdict: sigmoid(logit) >= threshold; no head (None) -> related."""
    if pair_logit is None:
        return False
    return bool(torch.as_tensor(pair_logit, dtype=torch.float32).sigmoid() >= threshold)


class PostProcess(nn.Module):
    """Selects the best slot of each video and turns its masks into binary masks."""

    def __init__(self, cfg: PostProcessConfig):
        super().__init__()
        self.cfg = cfg

    def slot(self, mean_scores: Tensor) -> int:
        """mean_scores [Q, K] (frame-mean sigmoid scores) -> the chosen query."""
        return select_slot(mean_scores)

    def masks(self, logits: Tensor, size: tuple[int, int]) -> Tensor:
        """The slot's mask logits [T, h, w] -> bool masks [T, H, W] at the frames' size."""
        return binarize(logits, size, self.cfg.mask_threshold)

    def unrelated(self, pair_prob: float | None) -> bool:
        """The gate on the pair head's probability (its sigmoid, or a frame-weighted mean of
        it); None (no pair head) -> related."""
        return pair_prob is not None and bool(pair_prob >= self.cfg.pair_threshold)

    @torch.no_grad()
    def forward(self, outputs: dict, orig_sizes: list[tuple[int, int]]) -> list[dict]:
        """One dict per video.

        outputs: ``pred_logits`` [B, T, Q, K], ``pred_masks`` [B, T, Q, h, w] (logits),
            ``pred_pair`` [B] or None.
        orig_sizes: B pairs (H, W), the size the masks are returned at.
        Returns dicts with "masks" bool [T, H, W], "slot" int, "scores" [T] (sigmoid scores
        of the slot), "pair" float (sigmoid of the pair logit, or 0.0), "positive" bool.
        """
        scores = outputs["pred_logits"].sigmoid()  # [B, T, Q, K]
        pairs = outputs.get("pred_pair")
        results = []
        for b, size in enumerate(orig_sizes):
            slot = self.slot(scores[b].mean(0))
            masks = self.masks(outputs["pred_masks"][b, :, slot], tuple(size))
            pair = None if pairs is None else pairs[b]
            positive = not is_unrelated(pair, self.cfg.pair_threshold)
            results.append({"masks": masks if positive else torch.zeros_like(masks),
                            "slot": slot, "scores": scores[b, :, slot].max(-1)[0],
                            "pair": 0.0 if pair is None else float(pair.sigmoid()),
                            "positive": positive})
        return results
