"""Post-processing as released (eq. 12) on constructed outputs: slot choice, resizing,
thresholds and the pair gate."""

import math

import pytest
import torch

from reference_model.postprocess import (
    PostProcess,
    PostProcessConfig,
    binarize,
    is_unrelated,
    select_slot,
)

# A 2x2 mask logit map, +2 in the left column and -2 in the right one. Bilinear to 4x4
# (align_corners=False) samples source columns -0.25 (clamped), 0.25, 0.75, 1.25 (clamped):
# 2, 2 * 3/4 - 2 * 1/4 = 1, -1, -2. With align_corners=True it would sample columns 0, 1/3,
# 2/3, 1: 2, 2/3, -2/3, -2.
LEFT = torch.tensor([[2.0, -2.0], [2.0, -2.0]])


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def outputs_with(logits, masks, pair=None):
    """logits [B, T, Q] (or [B, T, Q, K]), masks [B, T, Q, h, w]."""
    if logits.dim() == 3:
        logits = logits[..., None]
    return {"pred_logits": logits, "pred_masks": masks,
            "pred_boxes": torch.rand(*logits.shape[:3], 4), "pred_pair": pair}


def test_select_slot_takes_the_best_frame_mean_over_classes():
    # [Q=3, K=2] frame-mean scores: query 1 holds the highest class score
    assert select_slot(torch.tensor([[0.2, 0.5], [0.7, 0.1], [0.6, 0.6]])) == 1
    # ties go to the first query (torch.max returns the first maximal index)
    assert select_slot(torch.tensor([[0.3], [0.8], [0.8]])) == 1
    assert select_slot(torch.tensor([[0.5], [0.5], [0.5]])) == 0


def test_slot_is_the_frame_mean_not_the_frame_max():
    # Slot 0 scores 0.6 on both frames (mean 0.6); slot 1 scores 0.95 then 0.1 (mean 0.525,
    # the highest single score); slot 2 is 0.5 throughout.
    logits = torch.tensor([[[logit(0.6), logit(0.95), 0.0],
                            [logit(0.6), logit(0.1), 0.0]]])  # [1, T=2, Q=3]
    masks = torch.zeros(1, 2, 3, 2, 2)
    masks[0, :, 0] = LEFT
    result, = PostProcess(PostProcessConfig())(outputs_with(logits, masks), [(4, 4)])
    assert result["slot"] == 0
    torch.testing.assert_close(result["scores"], torch.tensor([0.6, 0.6]))
    assert result["masks"].dtype == torch.bool and result["masks"].shape == (2, 4, 4)
    assert torch.equal(result["masks"], torch.tensor([True, True, False, False]).expand(2, 4, 4))


def test_binarize_resizes_bilinearly_without_aligned_corners():
    # threshold 0.7 is logit 0.85: column 1 passes at 1 (align_corners=False), not at 2/3
    got = binarize(LEFT[None], (4, 4), threshold=0.7)
    assert got.shape == (1, 4, 4) and got.dtype == torch.bool
    assert torch.equal(got[0], torch.tensor([True, True, False, False]).expand(4, 4))
    # threshold 0.8 is logit 1.39: only column 0 (logit 2) passes
    assert torch.equal(binarize(LEFT[None], (4, 4), threshold=0.8)[0],
                       torch.tensor([True, False, False, False]).expand(4, 4))
    # default 0.5 is logit 0: strictly greater, so a zero map is empty
    assert not binarize(torch.zeros(2, 3, 3), (5, 7)).any()
    assert binarize(torch.zeros(2, 3, 3), (5, 7)).shape == (2, 5, 7)


def test_is_unrelated_threshold():
    assert is_unrelated(0.0)  # sigmoid(0) = 0.5 >= 0.5: unrelated at the boundary
    assert is_unrelated(torch.tensor(0.0))
    assert not is_unrelated(-1e-4)
    assert is_unrelated(torch.tensor(3.0)) and not is_unrelated(torch.tensor(-3.0))
    assert not is_unrelated(None)  # no pair head: always related
    assert not is_unrelated(1.0, threshold=0.8)  # sigmoid(1) = 0.73
    assert is_unrelated(2.0, threshold=0.8)  # sigmoid(2) = 0.88


def test_masks_come_back_at_each_original_size():
    logits = torch.zeros(2, 3, 2)
    masks = torch.randn(2, 3, 2, 4, 6)
    results = PostProcess(PostProcessConfig())(outputs_with(logits, masks),
                                               torch.tensor([[8, 12], [5, 7]]))
    assert [r["masks"].shape for r in results] == [(3, 8, 12), (3, 5, 7)]


def test_unrelated_pairs_get_empty_masks():
    logits = torch.zeros(3, 1, 1)
    masks = torch.full((3, 1, 1, 2, 2), 5.0)  # every pixel foreground
    pair = torch.tensor([1.0, -1.0, 0.0])
    unrelated, related, boundary = PostProcess(PostProcessConfig())(
        outputs_with(logits, masks, pair), [(3, 3)] * 3)
    assert not unrelated["positive"] and not unrelated["masks"].any()
    assert unrelated["masks"].shape == (1, 3, 3)
    assert unrelated["pair"] == pytest.approx(1 / (1 + math.exp(-1)))
    assert related["positive"] and related["masks"].all()
    assert related["pair"] == pytest.approx(1 / (1 + math.e))
    assert not boundary["positive"] and not boundary["masks"].any()  # 0.5 >= 0.5
    lenient = PostProcess(PostProcessConfig(pair_threshold=0.8))(
        outputs_with(logits, masks, pair), [(3, 3)] * 3)
    assert all(r["positive"] and r["masks"].all() for r in lenient)  # 0.73 < 0.8


def test_without_pair_head_every_pair_is_related():
    logits = torch.zeros(1, 1, 1)
    result, = PostProcess(PostProcessConfig())(
        outputs_with(logits, torch.full((1, 1, 1, 2, 2), 5.0)), [(2, 2)])
    assert result["pair"] == 0.0 and result["positive"] and result["masks"].all()


def test_mask_threshold_is_configurable():
    logits = torch.zeros(1, 1, 1)
    masks = LEFT.reshape(1, 1, 1, 2, 2)
    result, = PostProcess(PostProcessConfig(mask_threshold=0.8))(outputs_with(logits, masks),
                                                                  [(4, 4)])
    assert result["masks"].sum().item() == 4 and result["masks"][:, :, 0].all()


def test_postprocess_records_no_gradient():
    logits = torch.zeros(1, 1, 2, requires_grad=True)
    masks = torch.randn(1, 1, 2, 2, 2, requires_grad=True)
    result, = PostProcess(PostProcessConfig())(outputs_with(logits, masks), [(2, 2)])
    assert not result["scores"].requires_grad and not result["masks"].requires_grad
