"""The matcher minimises cost: with only the score cost, the confident query is matched."""

import torch

from reference_model.matcher import HungarianMatcher, MatcherConfig


def test_the_confident_query_wins_on_the_score_cost_alone():
    # One frame, two queries, a target the boxes and masks cannot tell apart: only the
    # score cost decides. Maximising the cost, or flipping its sign, picks query 0.
    mask = torch.zeros(1, 8, 8)
    mask[0, :4] = 1.0
    target = {"positive": True, "boxes": torch.tensor([[0.5, 0.25, 1.0, 0.5]]), "masks": mask,
              "valid": torch.tensor([True])}
    outputs = {"pred_logits": torch.tensor([-4.0, 4.0]).reshape(1, 1, 2, 1),
               "pred_boxes": torch.full((1, 1, 2, 4), 0.5),
               "pred_masks": torch.zeros(1, 1, 2, 2, 2)}
    only_score = MatcherConfig(cost_bbox=0, cost_giou=0, cost_mask=0, cost_dice=0)
    (queries, targets), = HungarianMatcher(only_score)(outputs, [target])
    assert queries.tolist() == [1] and targets.tolist() == [0]
    outputs["pred_logits"] = -outputs["pred_logits"]
    (queries, _), = HungarianMatcher(only_score)(outputs, [target])
    assert queries.tolist() == [0]
