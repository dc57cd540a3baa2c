"""The two gates of PostProcess, second fixed examples: the mask threshold applies to the
sigmoid of the upsampled logits, strictly; the alignment gate to sigmoid(A), inclusively."""

import torch

from reference_model.postprocess import PostProcess, PostProcessConfig


def _outputs(mask_logit: float, align_logit: float | None):
    return {"pred_logits": torch.zeros(1, 1, 1, 1),
            "pred_masks": torch.full((1, 1, 1, 2, 2), mask_logit),
            "pred_boxes": torch.rand(1, 1, 1, 4),
            "pred_align": None if align_logit is None else torch.tensor([align_logit])}


def test_mask_gate_is_on_the_sigmoid_and_strict():
    post = PostProcess(PostProcessConfig())           # mask_threshold 0.5
    assert not post(_outputs(0.0, None), [(2, 2)])[0]["masks"].any()   # sigmoid 0.5: not > 0.5
    # Logit 0.3: sigmoid 0.574 passes 0.5 (the logit itself would not).
    assert post(_outputs(0.3, None), [(2, 2)])[0]["masks"].all()
    assert not post(_outputs(-0.3, None), [(2, 2)])[0]["masks"].any()


def test_alignment_gate_is_on_the_sigmoid_and_inclusive():
    post = PostProcess(PostProcessConfig())           # align_threshold 0.5
    at, below = post(_outputs(5.0, 0.0), [(2, 2)])[0], post(_outputs(5.0, -0.01), [(2, 2)])[0]
    assert at["positive"] and at["masks"].all()                   # sigmoid(0) = 0.5 >= 0.5
    assert not below["positive"] and not below["masks"].any()
    # Logit 0.3 is below 0.55, but its sigmoid 0.574 is above.
    gate = PostProcess(PostProcessConfig(align_threshold=0.55))(_outputs(5.0, 0.3), [(2, 2)])[0]
    assert gate["positive"] and gate["masks"].all()
