"""SetCriterion as released: a hand-worked total, num_boxes, positives-only segmentation,
the pair, cycle and contrastive terms, auxiliary layers, variants and gradients."""

import math

import pytest
import torch

from reference_model.criterion import CriterionConfig, SetCriterion
from reference_model.losses import (
    margin_distance_loss,
    pointwise_distance_loss,
    rkd_angle_loss,
    rkd_distance_loss,
)
from reference_model.matcher import HungarianMatcher, MatcherConfig

SEGM = ("loss_ce", "loss_bbox", "loss_giou", "loss_mask", "loss_dice")
LN2, LN3 = math.log(2), math.log(3)


def make_criterion(**changes):
    return SetCriterion(CriterionConfig(**changes), HungarianMatcher(MatcherConfig()))


def pair(seed, t=2, q=3, positive=True, c=6, h=2, w=3, visible=None):
    """Outputs (leading B = 1) and target of one random pair."""
    gen = torch.Generator().manual_seed(seed)
    outputs = {
        "pred_logits": torch.randn(1, t, q, 1, generator=gen),
        "pred_boxes": 0.2 + 0.6 * torch.rand(1, t, q, 4, generator=gen),
        "pred_masks": torch.randn(1, t, q, h, w, generator=gen),
        "pred_pair": torch.randn(1, generator=gen),
        "text_embed": torch.randn(1, c, generator=gen),
        "text_recon": torch.randn(1, c, generator=gen),
    }
    if not positive:
        return outputs, {"positive": False}
    valid = torch.ones(t, dtype=torch.bool) if visible is None else torch.tensor(visible)
    target = {"positive": True,
              "boxes": (0.2 + 0.6 * torch.rand(t, 4, generator=gen)) * valid[:, None],
              "masks": (torch.rand(t, 4 * h, 4 * w, generator=gen) > 0.5).float()
              * valid[:, None, None],
              "valid": valid}
    return outputs, target


def batch(pairs, aux_layers=1, leaf=True):
    """Stack pairs into one batch; aux layers are perturbed copies of the last layer."""
    keys = pairs[0][0].keys()
    outputs = {key: torch.cat([o[key] for o, _ in pairs]) for key in keys}
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
    return outputs, [target for _, target in pairs]


def test_total_worked_by_hand():
    # One positive pair, T = 1, two queries, one mask pixel (the target's pixel (2, 2)).
    outputs = {
        "pred_logits": torch.zeros(1, 1, 2, 1),  # p = 1/2 for both queries
        "pred_boxes": torch.tensor([[[[0.5, 0.5, 0.4, 0.4], [0.1, 0.1, 0.05, 0.05]]]]),
        "pred_masks": torch.tensor([[[[[LN3]], [[-9.0]]]]]),  # p = 3/4 and ~0
        "pred_pair": torch.zeros(1),
        "text_embed": torch.randn(1, 4), "text_recon": torch.randn(1, 4),
        "aux_outputs": [],
    }
    masks = torch.zeros(1, 4, 4)
    masks[0, 2, 2] = 1.0
    target = {"positive": True, "boxes": torch.tensor([[0.5, 0.5, 0.4, 0.4]]), "masks": masks,
              "valid": torch.tensor([True])}
    got = make_criterion()(outputs, [target])
    focal_ce = LN2 / 16 + 3 * LN2 / 16  # matched query target 1, the other 0; num_boxes 1
    focal_mask = 1 / 4 * (1 / 4) ** 2 * math.log(4 / 3)
    dice = 1 - (2 * 0.75 + 1) / (0.75 + 1 + 1)
    assert got["loss_ce"].item() == pytest.approx(2 * focal_ce, rel=1e-5)
    assert got["loss_bbox"].item() == pytest.approx(0.0, abs=1e-6)
    assert got["loss_giou"].item() == pytest.approx(0.0, abs=1e-6)
    assert got["loss_mask"].item() == pytest.approx(2 * focal_mask, rel=1e-5)
    assert got["loss_dice"].item() == pytest.approx(5 * dice, rel=1e-5)
    assert got["loss_cycle_cls"].item() == pytest.approx(LN2, rel=1e-6)  # positive: target 0
    assert got["loss_cycle_dist"].item() == 0.0 and got["loss_cycle_angle"].item() == 0.0
    assert "loss_cycle_contrastive" not in got  # no negative pair
    expected = 2 * focal_ce + 2 * focal_mask + 5 * dice + LN2
    assert got["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_num_boxes_counts_visible_frames_of_positive_pairs():
    # Segmentation sums divide by the visible frames of the batch (3 here), not by pairs.
    one, _ = batch([pair(0, visible=[True, True])], leaf=False)
    two, targets = batch([pair(0, visible=[True, True]), pair(1, visible=[True, False])],
                         leaf=False)
    crit = make_criterion()
    alone = crit.unweighted_losses(one, targets[:1])
    both = crit.unweighted_losses(two, targets)
    second = crit.unweighted_losses({k: v[1:] if k != "aux_outputs" else [
        {kk: vv[1:] for kk, vv in a.items()} for a in v] for k, v in two.items()}, targets[1:])
    for name in SEGM:
        torch.testing.assert_close(both[name], (2 * alone[name] + 1 * second[name]) / 3)


def test_negative_pairs_add_no_segmentation_loss():
    pos, targets = batch([pair(0), pair(1)], leaf=False)
    mixed, mixed_targets = batch([pair(0), pair(1), pair(2, positive=False)], leaf=False)
    crit = make_criterion()
    a, b = crit(pos, targets), crit(mixed, mixed_targets)
    for name in SEGM + tuple(f"{s}_0" for s in SEGM):
        torch.testing.assert_close(a[name], b[name])
    # the pair head is trained on both labels: target 0 for positives, 1 for the negative
    logits = mixed["pred_pair"]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(b["loss_cycle_cls"], expected)


def test_cycle_terms_use_positive_pairs_and_contrastive_the_negatives():
    pairs = [pair(s) for s in range(4)] + [pair(s, positive=False) for s in (5, 6)]
    outputs, targets = batch(pairs, leaf=False)
    got = make_criterion().unweighted_losses(outputs, targets)
    e, e_rec = outputs["text_embed"], outputs["text_recon"]
    torch.testing.assert_close(got["loss_cycle_dist"], rkd_distance_loss(e_rec[:4], e[:4]))
    torch.testing.assert_close(got["loss_cycle_angle"], rkd_angle_loss(e_rec[:4], e[:4]))
    torch.testing.assert_close(got["loss_cycle_contrastive"],
                               margin_distance_loss(e_rec[4:], e[4:], 0.5))


@pytest.mark.parametrize("cycle, keys", [
    ("off", set()), ("pointwise", {"loss_cycle_mse"}), ("distance", {"loss_cycle_dist"}),
    ("angle", {"loss_cycle_angle"}), ("both", {"loss_cycle_dist", "loss_cycle_angle"})])
def test_cycle_variants(cycle, keys):
    outputs, targets = batch([pair(s) for s in range(4)], leaf=False)
    got = make_criterion(cycle=cycle)(outputs, targets)
    assert {k for k in got if k.startswith("loss_cycle") and k != "loss_cycle_cls"} == keys


def test_auxiliary_layers_are_suffixed_and_weighted_like_the_last():
    outputs, targets = batch([pair(0), pair(1)], aux_layers=2, leaf=False)
    crit = make_criterion()
    raw, weighted = crit.unweighted_losses(outputs, targets), crit(outputs, targets)
    for name in SEGM:
        for layer in (0, 1):
            key = f"{name}_{layer}"
            torch.testing.assert_close(weighted[key], raw[key] * crit.weights[name])
    assert not any(k.startswith("loss_cycle") and k[-1].isdigit() for k in raw)
    no_aux = make_criterion(aux_loss=False).unweighted_losses(outputs, targets)
    assert not any(k[-1].isdigit() for k in no_aux)


def test_gradients_reach_every_prediction_of_positive_pairs_only():
    outputs, targets = batch([pair(0), pair(1), pair(2), pair(3, positive=False)])
    make_criterion()(outputs, targets)["loss"].backward()
    for key in ("pred_logits", "pred_boxes", "pred_masks"):
        grad = outputs[key].grad
        assert torch.isfinite(grad).all()
        assert grad[:3].abs().sum() > 0 and grad[3].abs().sum() == 0
    assert outputs["pred_pair"].grad[3] != 0  # the negative still trains the pair head
    assert outputs["text_recon"].grad[:3].abs().sum() > 0


def test_missing_heads_drop_their_terms():
    outputs, targets = batch([pair(0), pair(1)])
    outputs["pred_pair"] = None
    outputs["text_recon"] = None
    losses = make_criterion()(outputs, targets)
    assert not any(name.startswith("loss_cycle") for name in losses)
    losses["loss"].backward()


def test_a_batch_without_positives_gives_finite_zero_segmentation():
    outputs, targets = batch([pair(0, positive=False), pair(1, positive=False)])
    losses = make_criterion()(outputs, targets)
    assert all(losses[name].item() == 0.0 for name in SEGM)
    losses["loss"].backward()
    assert torch.isfinite(outputs["pred_masks"].grad).all()


def _release_relational_gradient(loss_fn, e_rec: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """The release's gradient on e' [N, C]: N processes of one clip all-gather e and e', only
    the process's own row keeps its gradient, and DDP averages over the N processes."""
    grad = torch.zeros_like(e_rec)
    for r in range(len(e_rec)):
        own = e_rec.detach().clone().requires_grad_()
        rows = torch.cat([own[i:i + 1] if i == r else own[i:i + 1].detach()
                          for i in range(len(e_rec))])
        loss_fn(rows, e).backward()
        grad[r] = own.grad[r]
    return grad / len(e_rec)


@pytest.mark.parametrize("term, loss_fn", [("loss_cycle_dist", rkd_distance_loss),
                                           ("loss_cycle_angle", rkd_angle_loss)])
def test_relational_gradient_is_the_release_one_clip_per_process(term, loss_fn):
    # 4 clips: the release's step on 4 GPUs gives each e' row 1/4 of the full gradient; the
    # value is unchanged, and relational_gradient="full" keeps the full gradient
    pairs = [pair(s, c=5) for s in range(4)] + [pair(9, c=5, positive=False)]
    grads, values = {}, {}
    for mode in ("release", "full"):
        outputs, targets = batch(pairs, leaf=True)
        got = make_criterion(relational_gradient=mode).unweighted_losses(outputs, targets)
        got[term].backward()
        grads[mode], values[mode] = outputs["text_recon"].grad, got[term]
    e_rec, e = batch(pairs, leaf=False)[0]["text_recon"], batch(pairs, leaf=False)[0]["text_embed"]
    release = _release_relational_gradient(loss_fn, e_rec[:4], e[:4])
    assert values["release"].item() == values["full"].item()
    torch.testing.assert_close(grads["release"][:4], release)
    torch.testing.assert_close(grads["full"][:4], 4 * release)
    assert grads["release"][:4].abs().sum() > 0 and grads["release"][4].abs().sum() == 0


def test_other_terms_keep_their_full_gradient():
    # the point-wise term and the contrastive one are per-clip terms in the release: no
    # scaling (DDP's average over one clip per process is the batch mean)
    pairs = [pair(s, c=5) for s in range(3)] + [pair(s, c=5, positive=False) for s in (7, 8)]
    for term in ("loss_cycle_mse", "loss_cycle_contrastive"):
        outputs, targets = batch(pairs, leaf=True)
        got = make_criterion(cycle="pointwise", contrastive_margin=100.0).unweighted_losses(
            outputs, targets)
        got[term].backward()
        e_rec = outputs["text_recon"].detach().clone().requires_grad_()
        e = outputs["text_embed"].detach()
        rows = slice(0, 3) if term == "loss_cycle_mse" else slice(3, 5)
        ref = (pointwise_distance_loss(e_rec[rows], e[rows]) if term == "loss_cycle_mse"
               else margin_distance_loss(e_rec[rows], e[rows], 100.0))
        ref.backward()
        torch.testing.assert_close(outputs["text_recon"].grad, e_rec.grad)


def test_contrastive_term_clamps_each_negative_pair():
    # two negative pairs: one already past the margin (distance 5), one at distance ~0.1.
    # Per clip: (0 + (0.5 - 0.1)) / 2; clamping the batch mean (2.55) would give 0.
    e = torch.zeros(2, 2)
    e_rec = torch.tensor([[3.0, 4.0], [0.1, 0.0]], requires_grad=True)
    outputs = {"pred_logits": torch.zeros(2, 1, 2, 1), "pred_boxes": torch.rand(2, 1, 2, 4),
               "pred_masks": torch.zeros(2, 1, 2, 1, 1), "pred_pair": torch.zeros(2),
               "text_embed": e, "text_recon": e_rec, "aux_outputs": []}
    got = make_criterion().unweighted_losses(outputs, [{"positive": False}] * 2)
    assert got["loss_cycle_contrastive"].item() == pytest.approx(0.2, abs=1e-5)
    got["loss_cycle_contrastive"].backward()
    assert e_rec.grad[0].abs().sum() == 0  # past the margin: no push
    assert e_rec.grad[1, 0].item() == pytest.approx(-0.5, abs=1e-4)  # d/dx of -(x)/2
