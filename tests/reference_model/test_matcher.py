"""Hungarian matcher: cost against a slow per-pair reference, assignment against brute force."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_model.box_ops import box_cxcywh_to_xyxy, generalized_box_iou
from reference_model.losses import dice_loss, sigmoid_bce_loss, sigmoid_focal_loss
from reference_model.matcher import HungarianMatcher, MatcherConfig


def random_video(gen, t, n, k, hm=3, wm=4, scale=2, positive=True):
    """Outputs of one video (B = 1) and its target, drawn from ``gen``."""
    outputs = {
        "pred_logits": torch.randn(1, t, n, 1, generator=gen, dtype=torch.float64),
        "pred_boxes": 0.2 + 0.6 * torch.rand(1, t, n, 4, generator=gen, dtype=torch.float64),
        "pred_masks": 2 * torch.randn(1, t, n, hm, wm, generator=gen, dtype=torch.float64),
    }
    valid = torch.rand(k, t, generator=gen) > 0.3
    valid[:, 0] = True  # every object visible at least once
    boxes = 0.2 + 0.6 * torch.rand(k, t, 4, generator=gen, dtype=torch.float64)
    masks = (torch.rand(k, t, hm * scale, wm * scale, generator=gen) > 0.5).double()
    masks = masks * valid[..., None, None]  # invisible -> empty mask
    target = {"positive": torch.tensor(positive), "boxes": boxes, "masks": masks,
              "valid": valid}
    return outputs, target


def reference_cost(cfg, outputs, target, n, k):
    """Weighted cost of query n vs object k, frame by frame with the loss functions."""
    logits = outputs["pred_logits"][0, :, n, 0]  # [T]
    t_count = logits.shape[0]
    valid = target["valid"][k]
    total = 0.0
    for t in range(t_count):
        if valid[t]:
            one, zero = torch.ones(()).double(), torch.zeros(()).double()
            gain = (sigmoid_focal_loss(logits[t], one, cfg.focal_alpha, cfg.focal_gamma)
                    - sigmoid_focal_loss(logits[t], zero, cfg.focal_alpha, cfg.focal_gamma))
            total += cfg.cost_class * gain.item() / t_count
        mask = F.interpolate(outputs["pred_masks"][0, t, n][None, None],
                             size=target["masks"].shape[-2:], mode="bilinear",
                             align_corners=False)[0]  # [1, H, W]
        tgt_mask = target["masks"][k, t][None]
        total += cfg.cost_mask * sigmoid_bce_loss(mask, tgt_mask, "mean").item() / t_count
        total += cfg.cost_dice * dice_loss(mask, tgt_mask).item() / t_count
    frames = [t for t in range(t_count) if valid[t]]
    for t in frames:
        pred, tgt = outputs["pred_boxes"][0, t, n], target["boxes"][k, t]
        giou = generalized_box_iou(box_cxcywh_to_xyxy(pred[None]), box_cxcywh_to_xyxy(tgt[None]))
        total += cfg.cost_bbox * (pred - tgt).abs().sum().item() / len(frames)
        total += cfg.cost_giou * (1 - giou.item()) / len(frames)
    return total


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 5), k=st.integers(1, 3),
       t=st.integers(1, 3))
def test_matching_is_optimal_against_brute_force(seed, n, k, t):
    k = min(k, n)
    gen = torch.Generator().manual_seed(seed)
    outputs, target = random_video(gen, t, n, k)
    cfg = MatcherConfig()
    matcher = HungarianMatcher(cfg)
    ref = [[reference_cost(cfg, outputs, target, i, j) for j in range(k)] for i in range(n)]
    torch.testing.assert_close(matcher.cost_matrix(outputs, 0, target),
                               torch.tensor(ref, dtype=torch.float64))
    # Brute force: each object gets a distinct query; every injective map is a permutation
    # prefix of the queries.
    best = min(sum(ref[q][j] for j, q in enumerate(queries))
               for queries in itertools.permutations(range(n), k))
    (query_idx, target_idx), = matcher(outputs, [target])
    assert sorted(target_idx.tolist()) == list(range(k))
    assert len(set(query_idx.tolist())) == k
    got = sum(ref[q][j] for q, j in zip(query_idx.tolist(), target_idx.tolist(), strict=True))
    assert got == pytest.approx(best, rel=1e-9, abs=1e-9)


def test_focal_mask_cost_matches_reference():
    gen = torch.Generator().manual_seed(3)
    outputs, target = random_video(gen, t=2, n=3, k=2, scale=1)
    cfg = MatcherConfig(mask_cost="focal")
    costs = HungarianMatcher(cfg).cost_terms(outputs, 0, target)
    for n, k in itertools.product(range(3), range(2)):
        per_frame = [sigmoid_focal_loss(outputs["pred_masks"][0, t, n], target["masks"][k, t],
                                        reduction="mean") for t in range(2)]
        assert costs["mask"][n, k].item() == pytest.approx(sum(per_frame).item() / 2)


def test_the_query_that_reproduces_the_target_wins():
    gen = torch.Generator().manual_seed(0)
    outputs, target = random_video(gen, t=2, n=4, k=1, scale=1)
    outputs["pred_boxes"][0, :, 2] = target["boxes"][0]
    outputs["pred_masks"][0, :, 2] = 20 * (2 * target["masks"][0] - 1)
    outputs["pred_logits"][0, :, 2] = 5.0
    (query_idx, target_idx), = HungarianMatcher(MatcherConfig())(outputs, [target])
    assert query_idx.tolist() == [2] and target_idx.tolist() == [0]
    assert query_idx.dtype == torch.int64 and target_idx.dtype == torch.int64


def test_negative_pairs_are_not_matched():
    gen = torch.Generator().manual_seed(1)
    outputs, positive = random_video(gen, t=2, n=3, k=1)
    _, negative = random_video(gen, t=2, n=3, k=1, positive=False)
    empty = {"positive": torch.tensor(False), "boxes": torch.zeros(0, 2, 4),
             "masks": torch.zeros(0, 2, 6, 8), "valid": torch.zeros(0, 2, dtype=torch.bool)}
    batch = {key: value.expand(3, *value.shape[1:]) for key, value in outputs.items()}
    indices = HungarianMatcher(MatcherConfig())(batch, [negative, positive, empty])
    assert [len(q) for q, _ in indices] == [0, 1, 0]
    assert all(q.dtype == torch.int64 and j.dtype == torch.int64 for q, j in indices)


def test_matcher_records_no_gradient():
    gen = torch.Generator().manual_seed(2)
    outputs, target = random_video(gen, t=2, n=3, k=1)
    outputs = {key: value.requires_grad_() for key, value in outputs.items()}
    matcher = HungarianMatcher(MatcherConfig())
    assert not matcher.cost_matrix(outputs, 0, target).requires_grad
    matcher(outputs, [target])
    assert all(value.grad is None for value in outputs.values())
