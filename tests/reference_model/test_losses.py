"""Every loss function against values worked by hand on tiny tensors."""

import math

import pytest
import torch

from reference_model.losses import (
    dice_loss,
    huber_loss,
    pointwise_cycle_loss,
    rkd_angle_loss,
    rkd_distance_loss,
    sigmoid_bce_loss,
    sigmoid_focal_loss,
)

LN2, LN3 = math.log(2), math.log(3)
# A 2x2 mask: logits 0 (p = 1/2) and ln 3 (p = 3/4); target: top row foreground.
LOGITS = torch.tensor([[0.0, LN3], [LN3, 0.0]], dtype=torch.float64)
TARGET = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)


def test_focal_loss_single_values():
    # logit 0, target 1: alpha 1/4 * (1 - 1/2)^2 * ln 2; target 0: 3/4 * (1/2)^2 * ln 2.
    zero = torch.zeros(2, dtype=torch.float64)
    got = sigmoid_focal_loss(zero, torch.tensor([1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(got, torch.tensor([LN2 / 16, 3 * LN2 / 16], dtype=torch.float64))


def test_focal_loss_on_2x2_mask():
    expected = [LN2 / 16,                    # p = 1/2, y = 1
                1 / 4 * (1 / 4) ** 2 * math.log(4 / 3),  # p = 3/4, y = 1: -ln p = ln 4/3
                3 / 4 * (3 / 4) ** 2 * math.log(4),      # p = 3/4, y = 0: -ln(1 - p) = ln 4
                3 * LN2 / 16]                # p = 1/2, y = 0
    got = sigmoid_focal_loss(LOGITS, TARGET)
    torch.testing.assert_close(got.flatten(), torch.tensor(expected, dtype=torch.float64))
    assert sigmoid_focal_loss(LOGITS, TARGET, reduction="mean").item() == pytest.approx(
        sum(expected) / 4)
    assert sigmoid_focal_loss(LOGITS, TARGET, reduction="sum").item() == pytest.approx(
        sum(expected))
    # alpha < 0 switches the alpha weighting off; gamma = 0 leaves plain BCE.
    assert sigmoid_focal_loss(LOGITS, TARGET, alpha=-1, gamma=0, reduction="sum").item() == \
        pytest.approx(LN2 + math.log(4 / 3) + math.log(4) + LN2)


def test_bce_on_2x2_mask():
    expected = (LN2 + math.log(4 / 3) + math.log(4) + LN2) / 4
    assert sigmoid_bce_loss(LOGITS, TARGET, reduction="mean").item() == pytest.approx(expected)


def test_dice_on_2x2_masks():
    # p = [[1/2, 3/4], [3/4, 1/2]]: sum(p y) = 5/4, sum p = 5/2, sum y = 2.
    # 1 - (2 * 5/4 + 1) / (5/2 + 2 + 1) = 1 - 3.5 / 5.5 = 4/11.
    far = torch.full((2, 2), 50.0, dtype=torch.float64)
    inputs = torch.stack([LOGITS, far, -far])
    targets = torch.stack([TARGET, torch.ones(2, 2), torch.zeros(2, 2)]).double()
    got = dice_loss(inputs, targets)  # perfect foreground and perfect empty masks: 0
    torch.testing.assert_close(got, torch.tensor([4 / 11, 0.0, 0.0], dtype=torch.float64))
    # Predicting everything on an empty target: 1 - 1 / (4 + 0 + 1) = 4/5.
    assert dice_loss(far[None], torch.zeros(1, 2, 2)).item() == pytest.approx(0.8)


def test_huber_both_regimes():
    x = torch.tensor([0.5, -0.5, 1.0, 3.0, -3.0])
    # |d| <= 1: d^2 / 2; |d| > 1: |d| - 1/2.
    torch.testing.assert_close(huber_loss(x, torch.zeros(5)),
                               torch.tensor([0.125, 0.125, 0.5, 2.5, 2.5]))
    # delta = 2: 3 -> 2 * (3 - 1) = 4; 1 -> 1/2 stays quadratic.
    torch.testing.assert_close(huber_loss(torch.tensor([3.0, 1.0]), torch.zeros(2), delta=2.0),
                               torch.tensor([4.0, 0.5]))


def test_rkd_distance_by_hand_quadratic_regime():
    # e: a 3-4-5 right triangle, mean distance 4 -> normalised (3/4, 1, 5/4) for pairs
    # (1,2), (1,3), (2,3). e': unit right triangle, distances 1, 1, sqrt 2, mean (2 + sqrt 2)/3.
    e = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    e_rec = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    mu = (2 + math.sqrt(2)) / 3
    diffs = [3 / 4 - 1 / mu, 1 - 1 / mu, 5 / 4 - math.sqrt(2) / mu]  # all |d| < 1
    expected = sum(0.5 * d**2 for d in diffs) / 3
    assert rkd_distance_loss(e, e_rec).item() == pytest.approx(expected, rel=1e-9)
    assert rkd_distance_loss(e_rec, e).item() == pytest.approx(expected, rel=1e-9)


def test_rkd_distance_by_hand_linear_regime():
    # e: four points at the origin and one at distance 10: of the 10 pairs, 6 have distance 0
    # and 4 distance 10, mean 4 -> normalised 0 and 5/2. e': the 5 unit vectors of R^5, all
    # distances sqrt 2 -> normalised 1. Huber: |0 - 1| = 1 -> 1/2; |5/2 - 1| = 3/2 -> 1.
    e = torch.zeros(5, 5, dtype=torch.float64)
    e[4, 0] = 10.0
    e_rec = torch.eye(5, dtype=torch.float64)
    assert rkd_distance_loss(e, e_rec).item() == pytest.approx((6 * 0.5 + 4 * 1.0) / 10, abs=1e-5)


def test_rkd_angle_by_hand():
    # e: unit right triangle. Angle at (0,0): cos 0; at (1,0) and at (0,1): cos 45 = 1/sqrt 2.
    # e': equilateral triangle, every cos = 1/2. Each vertex is the middle of 2 ordered triples.
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    e_rec = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]], dtype=torch.float64)
    d_right, d_acute = 0 - 0.5, 1 / math.sqrt(2) - 0.5
    expected = (2 * 0.5 * d_right**2 + 4 * 0.5 * d_acute**2) / 6
    assert rkd_angle_loss(e, e_rec).item() == pytest.approx(expected, rel=1e-9)


def test_rkd_losses_ignore_scale_and_translation():
    e = torch.randn(4, 8, dtype=torch.float64)
    moved = 3.0 * e + torch.randn(8, dtype=torch.float64)
    assert rkd_distance_loss(e, moved).item() == pytest.approx(0.0, abs=1e-12)
    assert rkd_angle_loss(e, moved).item() == pytest.approx(0.0, abs=1e-12)
    assert rkd_distance_loss(e, torch.randn(4, 8, dtype=torch.float64)).item() > 0


@pytest.mark.parametrize("n", [0, 1, 2])
def test_rkd_too_few_rows_is_a_connected_zero(n):
    e = torch.randn(n, 4, requires_grad=True)
    e_rec = torch.randn(n, 4, requires_grad=True)
    angle = rkd_angle_loss(e, e_rec)
    total = angle + rkd_distance_loss(e, e_rec)
    assert angle.item() == 0.0
    if n < 2:
        assert total.item() == 0.0
    total.backward()
    assert torch.isfinite(e.grad).all() and torch.isfinite(e_rec.grad).all()


def test_rkd_gradients_finite_for_identical_embeddings():
    e = torch.ones(3, 4, requires_grad=True)  # every distance and direction is 0
    e_rec = torch.randn(3, 4, requires_grad=True)
    loss = rkd_distance_loss(e, e_rec) + rkd_angle_loss(e, e_rec)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(e.grad).all() and torch.isfinite(e_rec.grad).all()


def test_pointwise_cycle_loss_by_hand():
    e = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    e_rec = torch.tensor([[3.0, 1.0], [2.0, 0.0]])
    # cosine: 1 - 3/sqrt(10) and 1 - 1; mse: ((3-1)^2 + 1^2 + (2-1)^2 + 0) / 4 = 6/4.
    assert pointwise_cycle_loss(e, e_rec, "cosine").item() == pytest.approx(
        (1 - 3 / math.sqrt(10)) / 2)
    assert pointwise_cycle_loss(e, e_rec, "mse").item() == pytest.approx(1.5)
    assert pointwise_cycle_loss(e[:0], e_rec[:0]).item() == 0.0
    with pytest.raises(ValueError):
        pointwise_cycle_loss(e, e_rec, "l3")
