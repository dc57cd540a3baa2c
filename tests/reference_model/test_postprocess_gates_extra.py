"""The two gates of PostProcess, second fixed examples: the mask threshold applies to the
sigmoid of the upsampled logits, strictly; the pair gate to sigmoid of the pair head's
logit (the release's "unrelated" score), inclusively."""

import torch

from reference_model.postprocess import PostProcess, PostProcessConfig


def _outputs(mask_logit: float, pair_logit: float | None):
    return {"pred_logits": torch.zeros(1, 1, 1, 1),
            "pred_masks": torch.full((1, 1, 1, 2, 2), mask_logit),
            "pred_boxes": torch.rand(1, 1, 1, 4),
            "pred_pair": None if pair_logit is None else torch.tensor([pair_logit])}


def test_mask_gate_is_on_the_sigmoid_and_strict():
    post = PostProcess(PostProcessConfig())           # mask_threshold 0.5
    assert not post(_outputs(0.0, None), [(2, 2)])[0]["masks"].any()   # sigmoid 0.5: not > 0.5
    # Logit 0.3: sigmoid 0.574 passes 0.5 (the logit itself would not).
    assert post(_outputs(0.3, None), [(2, 2)])[0]["masks"].all()
    assert not post(_outputs(-0.3, None), [(2, 2)])[0]["masks"].any()


def test_pair_gate_is_on_the_sigmoid_and_inclusive():
    post = PostProcess(PostProcessConfig())           # pair_threshold 0.5
    at, below = post(_outputs(5.0, 0.0), [(2, 2)])[0], post(_outputs(5.0, -0.01), [(2, 2)])[0]
    assert not at["positive"] and not at["masks"].any()           # sigmoid(0) = 0.5 >= 0.5
    assert below["positive"] and below["masks"].all()
    # Logit 0.3 is below 0.55, but its sigmoid 0.574 is above: unrelated, masks emptied.
    gate = PostProcess(PostProcessConfig(pair_threshold=0.55))(_outputs(5.0, 0.3), [(2, 2)])[0]
    assert not gate["positive"] and not gate["masks"].any()
