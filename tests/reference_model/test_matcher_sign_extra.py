"""The matcher minimises cost: a second, fixed example where the right assignment is a swap."""

import torch

from reference_model.matcher import HungarianMatcher, MatcherConfig


def test_each_query_goes_to_the_target_it_reproduces():
    # Two targets, two queries, one frame: query 0 reproduces target 1 exactly (box, mask,
    # confident score) and query 1 reproduces target 0. Maximising, or flipping the sign
    # of any cost, would keep the identity instead.
    masks = torch.tensor([[[1.0, 1.0], [0.0, 0.0]],       # target 0: top row
                          [[0.0, 0.0], [1.0, 1.0]]])      # target 1: bottom row
    boxes = torch.tensor([[0.5, 0.25, 1.0, 0.5], [0.5, 0.75, 1.0, 0.5]])  # cxcywh
    target = {"positive": torch.tensor(True), "boxes": boxes[:, None],     # [K=2, T=1, 4]
              "masks": masks[:, None], "valid": torch.ones(2, 1, dtype=torch.bool)}
    swap = [1, 0]
    outputs = {"pred_logits": torch.full((1, 1, 2, 1), 4.0),
               "pred_boxes": boxes[swap][None, None],                        # [1, 1, 2, 4]
               "pred_masks": (20 * (2 * masks[swap] - 1))[None, None]}       # [1, 1, 2, 2, 2]
    (queries, targets), = HungarianMatcher(MatcherConfig())(outputs, [target])
    assert queries.tolist() == [0, 1] and targets.tolist() == [1, 0]
    only_score = MatcherConfig(cost_bbox=0, cost_giou=0, cost_mask=0, cost_dice=0)
    outputs["pred_logits"] = torch.tensor([-4.0, 4.0]).reshape(1, 1, 2, 1)
    single = {**target, "boxes": boxes[:1, None], "masks": masks[:1, None],
              "valid": torch.ones(1, 1, dtype=torch.bool)}
    (queries, _), = HungarianMatcher(only_score)(outputs, [single])
    assert queries.tolist() == [1]   # the confident query, by the score cost alone
