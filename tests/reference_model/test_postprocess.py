"""PostProcess (eq. 12) on constructed outputs: slot choice, resizing, thresholds, the A gate."""

import math

import pytest
import torch

from reference_model.postprocess import PostProcess, PostProcessConfig

# A 2x2 mask logit map, +2 in the left column and -2 in the right one. Bilinear to 4x4
# (align_corners=False) samples source columns -0.25 (clamped), 0.25, 0.75, 1.25 (clamped):
# 2, 2 * 3/4 - 2 * 1/4 = 1, -1, -2.
LEFT = torch.tensor([[2.0, -2.0], [2.0, -2.0]])


def outputs_with(logits, masks, align=None):
    """logits [B, T, N], masks [B, T, N, Hm, Wm]."""
    return {"pred_logits": logits[..., None], "pred_masks": masks,
            "pred_boxes": torch.rand(*logits.shape, 4), "pred_align": align}


def test_slot_with_the_highest_summed_sigmoid_score_wins():
    # Slot 0: logits (3, 3), sigmoid sum 1.905. Slot 1: (20, -10), sigmoid sum 1.00005 but the
    # larger logit sum 10. Slot 2: (0, 0), sigmoid sum 1. The documented rule picks slot 0.
    logits = torch.tensor([[[3.0, 20.0, 0.0], [3.0, -10.0, 0.0]]])  # [1, T=2, N=3]
    masks = torch.zeros(1, 2, 3, 2, 2)
    masks[0, :, 0] = LEFT
    result, = PostProcess(PostProcessConfig())(outputs_with(logits, masks), [(4, 4)])
    assert result["slot"] == 0
    torch.testing.assert_close(result["scores"], torch.sigmoid(torch.tensor([3.0, 3.0])))
    assert result["masks"].dtype == torch.bool and result["masks"].shape == (2, 4, 4)
    expected_row = torch.tensor([True, True, False, False])
    assert torch.equal(result["masks"], expected_row.expand(2, 4, 4))


def test_threshold_is_applied_to_the_upsampled_sigmoid():
    logits = torch.zeros(1, 1, 1)
    masks = LEFT.reshape(1, 1, 1, 2, 2)
    # sigmoid(2) = 0.88 passes 0.8, sigmoid(1) = 0.73 does not: only column 0 stays.
    assert math.isclose(torch.sigmoid(torch.tensor(1.0)).item(), 0.731, abs_tol=1e-3)
    result, = PostProcess(PostProcessConfig(mask_threshold=0.8))(outputs_with(logits, masks),
                                                                  [(4, 4)])
    assert result["masks"].sum().item() == 4 and result["masks"][:, :, 0].all()


def test_masks_come_back_at_each_original_size():
    logits = torch.zeros(2, 3, 2)
    masks = torch.randn(2, 3, 2, 4, 6)
    results = PostProcess(PostProcessConfig())(outputs_with(logits, masks),
                                               torch.tensor([[8, 12], [5, 7]]))
    assert [r["masks"].shape for r in results] == [(3, 8, 12), (3, 5, 7)]


def test_alignment_below_threshold_empties_every_mask():
    logits = torch.zeros(2, 1, 1)
    masks = torch.full((2, 1, 1, 2, 2), 5.0)  # every pixel foreground
    align = torch.tensor([-1.0, 1.0])
    negative, positive = PostProcess(PostProcessConfig())(outputs_with(logits, masks, align),
                                                          [(3, 3), (3, 3)])
    assert not negative["positive"] and not negative["masks"].any()
    assert negative["masks"].shape == (1, 3, 3)
    assert negative["align"] == pytest.approx(1 / (1 + math.e))
    assert positive["positive"] and positive["masks"].all()
    assert positive["align"] == pytest.approx(1 / (1 + math.exp(-1)))
    strict = PostProcess(PostProcessConfig(align_threshold=0.8))(
        outputs_with(logits, masks, align), [(3, 3), (3, 3)])
    assert not strict[1]["positive"] and not strict[1]["masks"].any()  # 0.73 < 0.8


def test_without_consensus_head_alignment_is_one():
    logits = torch.zeros(1, 1, 1)
    result, = PostProcess(PostProcessConfig())(
        outputs_with(logits, torch.full((1, 1, 1, 2, 2), 5.0)), [(2, 2)])
    assert result["align"] == 1.0 and result["positive"] and result["masks"].all()


def test_padding_is_cropped_before_resizing():
    # The 4x4 mask grid covers an 8x8 padded input whose top 4x8 half is the image. Logits:
    # +5 on the top two grid rows, -5 on the bottom two. Upsampled to 8x8, rows 0-3 are
    # >= 5 * 3/4 - 5 * 1/4 = 2.5, so the cropped image is all foreground.
    logits = torch.zeros(1, 1, 1)
    masks = torch.tensor([5.0, 5.0, -5.0, -5.0])[:, None].expand(4, 4).reshape(1, 1, 1, 4, 4)
    post = PostProcess(PostProcessConfig())
    uncropped, = post(outputs_with(logits, masks), [(2, 4)])
    cropped, = post(outputs_with(logits, masks), [(2, 4)], input_size=[(4, 8)],
                    padded_size=(8, 8))
    assert cropped["masks"].shape == (1, 2, 4) and cropped["masks"].all()
    assert torch.equal(uncropped["masks"][0, :, 0], torch.tensor([True, False]))


def test_padded_size_defaults_to_the_largest_input():
    logits = torch.zeros(2, 1, 1)
    masks = torch.tensor([5.0, 5.0, -5.0, -5.0])[:, None].expand(4, 4).reshape(1, 1, 1, 4, 4)
    masks = masks.expand(2, 1, 1, 4, 4)
    post = PostProcess(PostProcessConfig())
    # Video 0 fills the padded 8x8 frame, video 1 is its top half.
    full, top = post(outputs_with(logits, masks), [(2, 4), (2, 4)],
                     input_size=[(8, 8), (4, 8)])
    assert top["masks"].all()
    assert torch.equal(full["masks"][0, :, 0], torch.tensor([True, False]))
    with pytest.raises(ValueError):
        post(outputs_with(logits, masks), [(2, 4), (2, 4)], input_size=[(8, 8), (4, 8)],
             padded_size=(6, 8))


def test_postprocess_records_no_gradient():
    logits = torch.zeros(1, 1, 2, requires_grad=True)
    masks = torch.randn(1, 1, 2, 2, 2, requires_grad=True)
    result, = PostProcess(PostProcessConfig())(outputs_with(logits, masks), [(2, 2)])
    assert not result["scores"].requires_grad and not result["masks"].requires_grad
