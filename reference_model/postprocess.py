"""From model outputs to one mask track per video (paper section 4.6, eq. 12).

The slot is s = argmax_n sum_t sigmoid(S_nt): eq. 12 sums the confidences S; we sum the
probabilities rather than the raw logits so that one frame with a very negative logit cannot
outweigh the rest of the clip (both pick the same slot whenever one slot scores highest in
every frame). The masks of that slot are resized to the original frame size (bilinear on
logits, align_corners=False) and thresholded at ``mask_threshold`` on the sigmoid. The
video-level alignment sigmoid(A) gates them (the 1(A) of eq. 12): below ``align_threshold``
every mask is emptied. A model without the consensus head has no A; its alignment is then 1.

Crop rule for padded inputs. When frames were resized to ``input_size`` (h_in, w_in) and then
zero-padded at the bottom/right to ``padded_size`` (H_pad, W_pad), the predicted mask grid
covers the padded frame. The masks are then first resized to (H_pad, W_pad), cropped to
[:h_in, :w_in] (the image), and that crop is resized to the original size, as DETR's
PostProcessSegm and ReferFormer do. ``padded_size`` defaults to the per-axis maximum of
``input_size`` over the batch, which is what padding a batch to a common size produces.

Legend: B videos, T frames, N queries, Hm x Wm predicted mask size, h x w original size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Sizes = Sequence[Sequence[int]] | Tensor  # B pairs (h, w), or a tensor [B, 2]


@dataclass(frozen=True)
class PostProcessConfig:
    """Thresholds of eq. 12."""

    mask_threshold: float = 0.5  # a pixel is foreground when sigmoid(mask logit) > this
    align_threshold: float = 0.5  # the video is positive when sigmoid(A) >= this


def _as_pairs(sizes: Sizes) -> list[tuple[int, int]]:
    if isinstance(sizes, Tensor):
        sizes = sizes.tolist()
    return [(int(h), int(w)) for h, w in sizes]


def _resize(logits: Tensor, size: tuple[int, int]) -> Tensor:
    """[T, H, W] -> [T, *size], bilinear, align_corners=False."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0]


class PostProcess(nn.Module):
    """Selects the best slot of each video and turns its masks into binary masks."""

    def __init__(self, cfg: PostProcessConfig):
        super().__init__()
        self.cfg = cfg

    @torch.no_grad()
    def forward(self, outputs: dict, orig_sizes: Sizes, input_size: Sizes | None = None,
                padded_size: Sequence[int] | None = None) -> list[dict]:
        """One dict per video.

        outputs: ``pred_logits`` [B, T, N, 1], ``pred_masks`` [B, T, N, Hm, Wm] (logits),
            ``pred_align`` [B] or None.
        orig_sizes: B pairs (h, w), the size the masks are returned at.
        input_size, padded_size: see the module docstring; None = no padding to undo.
        Returns dicts with "masks" bool [T, h, w], "slot" int, "scores" [T] (sigmoid scores
        of the slot), "align" float (sigmoid(A), or 1.0), "positive" bool.
        """
        orig = _as_pairs(orig_sizes)
        scores = outputs["pred_logits"][..., 0].sigmoid()  # [B, T, N]
        slots = scores.sum(1).argmax(-1)  # [B]
        align = outputs.get("pred_align")
        align = (torch.ones(len(orig)) if align is None else align.sigmoid()).tolist()
        crops = self._crops(input_size, padded_size, len(orig))
        results = []
        for b, slot in enumerate(slots.tolist()):
            logits = outputs["pred_masks"][b, :, slot]  # [T, Hm, Wm]
            if crops is not None:
                (h_pad, w_pad), (h_in, w_in) = crops[b]
                logits = _resize(logits, (h_pad, w_pad))[:, :h_in, :w_in]
            masks = _resize(logits, orig[b]).sigmoid() > self.cfg.mask_threshold  # [T, h, w]
            positive = align[b] >= self.cfg.align_threshold
            results.append({"masks": masks if positive else torch.zeros_like(masks),
                            "slot": slot, "scores": scores[b, :, slot], "align": align[b],
                            "positive": positive})
        return results

    @staticmethod
    def _crops(input_size: Sizes | None, padded_size: Sequence[int] | None,
               batch: int) -> list[tuple[tuple[int, int], tuple[int, int]]] | None:
        """Per video ((H_pad, W_pad), (h_in, w_in)), or None when there is nothing to crop."""
        if input_size is None:
            return None
        inputs = _as_pairs(input_size)
        if len(inputs) != batch:
            raise ValueError(f"input_size has {len(inputs)} entries for {batch} videos")
        if padded_size is None:
            padded = (max(h for h, _ in inputs), max(w for _, w in inputs))
        else:
            padded = (int(padded_size[0]), int(padded_size[1]))
        if any(h > padded[0] or w > padded[1] for h, w in inputs):
            raise ValueError(f"input_size {inputs} exceeds padded_size {padded}")
        return [(padded, size) for size in inputs]
