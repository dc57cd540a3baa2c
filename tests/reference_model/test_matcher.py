"""The release's matcher: costs against a slow frame-by-frame reference, the argmin, and the
stride-4 target sampling."""

import math

import pytest
import torch

from reference_model.box_ops import box_cxcywh_to_xyxy, generalized_box_iou
from reference_model.matcher import HungarianMatcher, MatcherConfig, downsample_masks


def random_pair(gen, t=3, q=4, h=2, w=3, positive=True):
    """Outputs of one pair (B = 1) and its target; the object is absent in frame 1."""
    outputs = {
        "pred_logits": torch.randn(1, t, q, 1, generator=gen, dtype=torch.float64),
        "pred_boxes": 0.2 + 0.6 * torch.rand(1, t, q, 4, generator=gen, dtype=torch.float64),
        "pred_masks": 2 * torch.randn(1, t, q, h, w, generator=gen, dtype=torch.float64),
    }
    valid = torch.ones(t, dtype=torch.bool)
    valid[1] = False
    boxes = (0.2 + 0.6 * torch.rand(t, 4, generator=gen, dtype=torch.float64)) * valid[:, None]
    masks = (torch.rand(t, 4 * h, 4 * w, generator=gen) > 0.5).double() * valid[:, None, None]
    return outputs, {"positive": positive, "boxes": boxes, "masks": masks, "valid": valid}


def reference_cost(cfg, outputs, target, n):
    """Weighted cost of query n, written out frame by frame and pixel by pixel."""
    a, g = cfg.focal_alpha, cfg.focal_gamma
    logits = outputs["pred_logits"][0, :, n, 0]
    score = []
    for t, visible in enumerate(target["valid"]):
        p = torch.sigmoid(logits[t]).item()
        if visible:
            score.append(a * (1 - p) ** g * -math.log(p + 1e-8)
                         - (1 - a) * p ** g * -math.log(1 - p + 1e-8))
    l1, giou = [], []
    for t in range(len(target["valid"])):
        pb, tb = outputs["pred_boxes"][0, t, n], target["boxes"][t]
        l1.append((pb - tb).abs().sum().item())
        giou.append(-generalized_box_iou(box_cxcywh_to_xyxy(pb[None]),
                                         box_cxcywh_to_xyxy(tb[None]))[0, 0].item())
    small = target["masks"][:, 2::4, 2::4]  # pixel (2 + 4i, 2 + 4j)
    pm = outputs["pred_masks"][0, :, n]
    focal, inter, psum = [], 0.0, 0.0
    for x, y in zip(pm.flatten().tolist(), small.flatten().tolist()):
        p = 1 / (1 + math.exp(-x))
        ce = -(y * math.log(p) + (1 - y) * math.log(1 - p))
        p_t = p * y + (1 - p) * (1 - y)
        focal.append((a * y + (1 - a) * (1 - y)) * ce * (1 - p_t) ** g)
        inter, psum = inter + p * y, psum + p
    dice = (2 * inter + 1) / (psum + small.sum().item() + 1)
    return (cfg.cost_class * sum(score) / len(score) + cfg.cost_bbox * sum(l1) / len(l1)
            + cfg.cost_giou * sum(giou) / len(giou) + cfg.cost_mask * sum(focal) / len(focal)
            - cfg.cost_dice * dice)


@pytest.mark.parametrize("seed", range(4))
def test_cost_matches_the_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    outputs, target = random_pair(gen)
    matcher = HungarianMatcher(MatcherConfig())
    got = matcher.cost(outputs, 0, target)
    expected = torch.tensor([reference_cost(matcher.cfg, outputs, target, n) for n in range(4)],
                            dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-7, atol=1e-9)
    (query, tgt), = matcher(outputs, [target])
    assert query.tolist() == [int(expected.argmin())] and tgt.tolist() == [0]


def test_the_query_that_fits_wins():
    gen = torch.Generator().manual_seed(7)
    outputs, target = random_pair(gen, q=5)
    good = 3
    outputs["pred_boxes"][0, :, good] = target["boxes"].clamp(min=0.01)
    small = target["masks"][:, 2::4, 2::4]
    outputs["pred_masks"][0, :, good] = 20 * (2 * small - 1)
    outputs["pred_logits"][0, :, good, 0] = 20 * (2 * target["valid"].double() - 1)
    (query, _), = HungarianMatcher(MatcherConfig())(outputs, [target])
    assert query.tolist() == [good]


def test_negative_pairs_are_not_matched():
    gen = torch.Generator().manual_seed(1)
    pos_out, pos = random_pair(gen)
    neg_out, _ = random_pair(gen)
    outputs = {k: torch.cat([pos_out[k], neg_out[k]]) for k in pos_out}
    indices = HungarianMatcher(MatcherConfig())(outputs, [pos, {"positive": False}])
    assert len(indices[0][0]) == 1 and len(indices[1][0]) == 0 and len(indices[1][1]) == 0


def test_downsample_takes_every_fourth_pixel_from_offset_two():
    masks = torch.arange(2 * 8 * 12).reshape(2, 8, 12)
    small = downsample_masks(masks)
    assert small.shape == (2, 2, 3)
    assert small[1, 1, 2].item() == masks[1, 6, 10].item()
    with pytest.raises(ValueError, match="multiple"):
        downsample_masks(torch.zeros(1, 10, 12))
