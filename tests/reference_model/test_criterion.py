"""SetCriterion: hand-worked totals, the 1(A^) gate, auxiliary layers, variants and gradients."""

import math

import pytest
import torch

from reference_model.criterion import CriterionConfig, SetCriterion
from reference_model.matcher import HungarianMatcher, MatcherConfig

SEGM = ("loss_ce", "loss_bbox", "loss_giou", "loss_mask", "loss_dice")
LN2, LN3 = math.log(2), math.log(3)


def make_criterion(**changes):
    return SetCriterion(CriterionConfig(**changes), HungarianMatcher(MatcherConfig()))


def video(seed, t=2, n=3, positive=True, c=6, hm=3, wm=4):
    """Outputs (leading B = 1) and target of one random video."""
    gen = torch.Generator().manual_seed(seed)
    outputs = {
        "pred_logits": torch.randn(1, t, n, 1, generator=gen),
        "pred_boxes": 0.2 + 0.6 * torch.rand(1, t, n, 4, generator=gen),
        "pred_masks": torch.randn(1, t, n, hm, wm, generator=gen),
        "pred_pair": torch.randn(1, generator=gen),
        "text_embed": torch.randn(1, c, generator=gen),
        "text_recon": torch.randn(1, c, generator=gen),
    }
    k = 1 if positive else 0
    valid = torch.ones(k, t, dtype=torch.bool)
    valid[:, -1] = False  # the object leaves in the last frame
    target = {"positive": torch.tensor(positive),
              "boxes": 0.2 + 0.6 * torch.rand(k, t, 4, generator=gen),
              "masks": (torch.rand(k, t, 2 * hm, 2 * wm, generator=gen) > 0.5).float()
              * valid[..., None, None],
              "valid": valid}
    return outputs, target


def batch(videos, aux_layers=1, leaf=True):
    """Stack videos into one batch; aux layers are perturbed copies of the last layer."""
    keys = videos[0][0].keys()
    outputs = {key: torch.cat([o[key] for o, _ in videos]) for key in keys}
    outputs["aux_outputs"] = [
        {key: outputs[key] + 0.1 * (layer + 1) for key in ("pred_logits", "pred_masks")}
        | {"pred_boxes": outputs["pred_boxes"] * (0.9 - 0.1 * layer)}
        for layer in range(aux_layers)]
    if leaf:
        for key in keys:
            outputs[key].requires_grad_()
        for aux in outputs["aux_outputs"]:
            for value in aux.values():
                value.detach_().requires_grad_()
    return outputs, [target for _, target in videos]


def all_pred_tensors(outputs):
    tensors = [v for k, v in outputs.items() if k != "aux_outputs" and v is not None]
    return tensors + [v for aux in outputs["aux_outputs"] for v in aux.values()]


def test_total_worked_by_hand():
    # One positive video, T = 1, N = 2. Query 0 is close to the object, query 1 far away.
    outputs = {
        "pred_logits": torch.zeros(1, 1, 2, 1),  # p = 1/2 for both queries
        "pred_boxes": torch.tensor([[[[0.5, 0.5, 0.4, 0.4], [0.1, 0.1, 0.05, 0.05]]]]),
        "pred_masks": torch.tensor([[[[[0.0, LN3], [LN3, 0.0]], [[-9.0, -9.0], [9.0, 9.0]]]]]),
        "pred_pair": torch.zeros(1),
        "text_embed": torch.randn(1, 4), "text_recon": torch.randn(1, 4),
        "aux_outputs": [],
    }
    target = {"positive": torch.tensor(True), "boxes": torch.tensor([[[0.5, 0.5, 0.2, 0.4]]]),
              "masks": torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]]),
              "valid": torch.tensor([[True]])}
    losses = make_criterion()(outputs, [target])
    ce = LN2 / 16 + 3 * LN2 / 16  # focal(0 -> 1) for query 0 + focal(0 -> 0) for query 1
    l1 = 0.2 + 0.0  # widths 0.4 vs 0.2
    giou = 0.5  # pred (0.3,0.3,0.7,0.7) contains target (0.4,0.3,0.6,0.7): IoU = .08/.16
    focal_mask = (LN2 / 16 + (1 / 4) ** 3 * math.log(4 / 3)
                  + (3 / 4) ** 3 * math.log(4) + 3 * LN2 / 16) / 4
    dice = 1 - 3.5 / 5.5  # p = [[.5, .75], [.75, .5]] against the top row
    expected = {"loss_ce": 2 * ce, "loss_bbox": 5 * l1, "loss_giou": 2 * giou,
                "loss_mask": 2 * focal_mask, "loss_dice": 5 * dice, "loss_align": LN2,
                "loss_text_dist": 0.0, "loss_text_angle": 0.0}  # one positive: no relation
    assert set(losses) == set(expected) | {"loss"}
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, rel=1e-5, abs=1e-7), name
    assert losses["loss"].item() == pytest.approx(sum(expected.values()), rel=1e-5)


def test_text_terms_worked_by_hand():
    # Three positives: e a unit right triangle, e' an equilateral one (see test_losses).
    videos = [video(s) for s in range(3)]
    outputs, targets = batch(videos)
    outputs["text_embed"] = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    outputs["text_recon"] = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    losses = make_criterion(text_coef=0.5)(outputs, targets)
    angle = (2 * 0.5 * 0.5**2 + 4 * 0.5 * (1 / math.sqrt(2) - 0.5) ** 2) / 6
    mu = (2 + math.sqrt(2)) / 3  # mean distance of e; e' has all distances 1
    dist = (2 * 0.5 * (1 / mu - 1) ** 2 + 0.5 * (math.sqrt(2) / mu - 1) ** 2) / 3
    assert losses["loss_text_angle"].item() == pytest.approx(0.5 * 2 * angle, rel=1e-5)
    assert losses["loss_text_dist"].item() == pytest.approx(0.5 * dist, rel=1e-5)


def test_pair_loss_targets_unrelated_pairs():
    # The pair head predicts "unrelated": target 0 for the positive video, 1 for the negative.
    # BCE with logits is softplus(x) against target 0 and softplus(-x) against target 1.
    outputs, targets = batch([video(0), video(1, positive=False)], aux_layers=0, leaf=False)
    outputs["pred_pair"] = torch.tensor([2.0, -1.0])
    loss = make_criterion(align_coef=1.0)(outputs, targets)["loss_align"].item()
    assert loss == pytest.approx((math.log1p(math.exp(2.0)) + math.log1p(math.exp(1.0))) / 2,
                                 rel=1e-6)
    outputs["pred_pair"] = torch.tensor([-4.0, 4.0])  # confident and right on both videos
    assert make_criterion()(outputs, targets)["loss_align"].item() < 0.05


def test_invisible_frames_only_count_through_scores_and_masks():
    outputs, targets = batch([video(0)], aux_layers=0, leaf=False)
    targets[0]["boxes"][0, -1] = 0.0  # meaningless box where the object is not visible
    criterion = make_criterion()
    before = criterion(outputs, targets)
    outputs["pred_boxes"] = outputs["pred_boxes"].clone()
    outputs["pred_boxes"][0, -1] = torch.rand(3, 4) * 0.5 + 0.25  # last frame: invisible
    after = criterion(outputs, targets)
    assert torch.isfinite(before["loss"])
    for name in ("loss_bbox", "loss_giou"):
        assert after[name].item() == pytest.approx(before[name].item(), rel=1e-6)
    # The score of every query on the invisible frame is pushed down: raising it costs.
    outputs["pred_logits"] = outputs["pred_logits"].clone()
    outputs["pred_logits"][0, -1] += 3.0
    assert criterion(outputs, targets)["loss_ce"] > after["loss_ce"]


def test_only_negatives_give_zero_segm_and_text_losses_and_finite_gradients():
    outputs, targets = batch([video(s, positive=False) for s in range(3)])
    losses = make_criterion()(outputs, targets)
    segm = [name for name in losses if name.startswith(SEGM)]
    assert len(segm) == 10  # 5 terms x (final + 1 auxiliary layer)
    for name in segm + ["loss_text_dist", "loss_text_angle"]:
        assert losses[name].item() == 0.0, name
    assert losses["loss"].item() == pytest.approx(losses["loss_align"].item())
    losses["loss"].backward()
    for tensor in all_pred_tensors(outputs):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


def test_a_negative_in_the_batch_leaves_positive_losses_unchanged():
    positives = [video(s) for s in range(3)]
    negative = video(7, positive=False)
    criterion = make_criterion()
    alone = criterion(*batch(positives))
    mixed = criterion(*batch(positives[:1] + [negative] + positives[1:]))
    unchanged = [n for n in alone if n.startswith(SEGM) or n.startswith("loss_text")]
    assert len(unchanged) == 12
    for name in unchanged:
        assert mixed[name].item() == pytest.approx(alone[name].item(), rel=1e-6), name
    assert mixed["loss_align"].item() != pytest.approx(alone["loss_align"].item())


def test_segm_terms_are_normalised_by_the_number_of_objects():
    one = make_criterion()(*batch([video(0)]))
    twice = make_criterion()(*batch([video(0), video(0)]))
    for name in SEGM:
        assert twice[name].item() == pytest.approx(one[name].item(), rel=1e-6)


def test_gradients_reach_every_prediction():
    outputs, targets = batch([video(0), video(1, positive=False), video(2), video(3)],
                             aux_layers=2)
    losses = make_criterion()(outputs, targets)
    losses["loss"].backward()
    for tensor in all_pred_tensors(outputs):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
    for tensor in all_pred_tensors(outputs):
        assert tensor.grad.abs().sum() > 0
    assert outputs["pred_pair"].grad[1] != 0  # the negative still trains the pair head


def test_auxiliary_layers_are_suffixed_and_weighted_like_the_last():
    outputs, targets = batch([video(0), video(1)], aux_layers=2)
    outputs["aux_outputs"][1] = {k: outputs[k] for k in ("pred_logits", "pred_boxes",
                                                        "pred_masks")}
    losses = make_criterion()(outputs, targets)
    for name in SEGM:
        assert {f"{name}_0", f"{name}_1"} <= set(losses)
        assert losses[f"{name}_1"].item() == pytest.approx(losses[name].item())
    no_aux = make_criterion(aux_loss=False)(outputs, targets)
    assert not any(name.endswith(("_0", "_1")) for name in no_aux)


def test_weights_are_applied_once_from_the_config():
    outputs, targets = batch([video(0), video(1)])
    base = make_criterion()(outputs, targets)
    scaled = make_criterion(segm_coef=2.0, align_coef=3.0, angle_coef=4.0)(outputs, targets)
    for name in base:
        if name == "loss":
            continue
        factor = 3.0 if name == "loss_align" else 2.0 if name.startswith(SEGM) else \
            2.0 if name == "loss_text_angle" else 1.0  # angle weight 4 instead of 2
        assert scaled[name].item() == pytest.approx(factor * base[name].item(), rel=1e-6), name
    criterion = make_criterion()
    assert criterion.weight_of("loss_dice_3") == criterion.weights["loss_dice"] == 5.0
    with pytest.raises(KeyError):
        criterion.weight_of("loss_unknown")


@pytest.mark.parametrize("cycle, keys", [
    ("off", set()), ("pointwise", {"loss_text_point"}), ("distance", {"loss_text_dist"}),
    ("angle", {"loss_text_angle"}), ("both", {"loss_text_dist", "loss_text_angle"})])
def test_cycle_variants(cycle, keys):
    outputs, targets = batch([video(s) for s in range(3)])
    losses = make_criterion(cycle=cycle)(outputs, targets)
    assert {name for name in losses if name.startswith("loss_text")} == keys
    assert all(losses[name].item() > 0 for name in keys)


def test_missing_heads_drop_their_terms():
    outputs, targets = batch([video(0), video(1)])
    outputs["pred_pair"] = None
    outputs["text_recon"] = None
    losses = make_criterion()(outputs, targets)
    assert not any(name.startswith(("loss_align", "loss_text")) for name in losses)
    losses["loss"].backward()
    assert torch.isfinite(outputs["pred_masks"].grad).all()


def test_bce_mask_loss_variant():
    outputs, targets = batch([video(0)], aux_layers=0)
    focal = make_criterion()(outputs, targets)["loss_mask"]
    bce = make_criterion(mask_loss="bce")(outputs, targets)["loss_mask"]
    assert bce.item() > focal.item() > 0  # focal down-weights every pixel of the BCE
