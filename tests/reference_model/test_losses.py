"""Every loss function against values worked by hand on tiny tensors."""

import math

import pytest
import torch

from reference_model.losses import (
    angle_cosines,
    dice_loss,
    margin_distance_loss,
    pairwise_distances,
    pointwise_distance_loss,
    rkd_angle_loss,
    rkd_distance_loss,
    sigmoid_focal_loss,
)

LN2, LN3 = math.log(2), math.log(3)
# A 2x2 mask: logits 0 (p = 1/2) and ln 3 (p = 3/4); target: top row foreground.
LOGITS = torch.tensor([[0.0, LN3], [LN3, 0.0]], dtype=torch.float64)
TARGET = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
# teacher: a 3-4-5 right triangle; student: the unit right triangle
RIGHT_345 = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
UNIT_RIGHT = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)


def huber(d):
    return 0.5 * d * d if abs(d) <= 1 else abs(d) - 0.5


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


def test_pairwise_distances_and_angles_by_hand():
    d = pairwise_distances(RIGHT_345)
    torch.testing.assert_close(d, torch.tensor([[0.0, 3, 4], [3, 0, 5], [4, 5, 0]],
                                               dtype=torch.float64))
    cos = angle_cosines(UNIT_RIGHT)  # [i, j, k]: angle at i between j and k
    assert cos[0, 1, 2].item() == pytest.approx(0.0, abs=1e-12)  # the right angle
    assert cos[1, 0, 2].item() == pytest.approx(1 / math.sqrt(2))
    assert cos[1, 2, 2].item() == pytest.approx(1.0)  # j = k: the same direction
    assert cos[1, 1, 2].item() == 0.0  # j = i: a zero vector


def test_rkd_distance_by_hand():
    # teacher distances 3, 4, 5, mean 4 -> 3/4, 1, 5/4; student 1, 1, sqrt 2, mean
    # (2 + sqrt 2)/3. smooth-L1 over all 9 entries of the matrices; the diagonal gives 0.
    mu = (2 + math.sqrt(2)) / 3
    diffs = [1 / mu - 3 / 4, 1 / mu - 1, math.sqrt(2) / mu - 5 / 4]
    expected = 2 * sum(huber(d) for d in diffs) / 9
    assert rkd_distance_loss(UNIT_RIGHT, RIGHT_345).item() == pytest.approx(expected, rel=1e-9)


def test_rkd_distance_linear_regime():
    # teacher: four points at the origin and one at distance 10. Coinciding points are 1e-6
    # apart after the release's clamp, so they count among the "positive" distances: the
    # mean over the 20 off-diagonal entries is 4, normalised 5/2 and ~0. Student: the 5 unit
    # vectors, every distance sqrt 2 -> 1. Huber of 3/2 on 8 entries, of 1 on 12.
    teacher = torch.zeros(5, 5, dtype=torch.float64)
    teacher[4, 0] = 10.0
    student = torch.eye(5, dtype=torch.float64)
    assert rkd_distance_loss(student, teacher).item() == pytest.approx(
        (8 * 1.0 + 12 * 0.5) / 25, abs=1e-5)


def test_rkd_angle_by_hand():
    # teacher: unit right triangle (cos 0 at the origin, 1/sqrt 2 at the others); student:
    # equilateral (every cos 1/2). Of the 27 index triples each vertex has 2 proper ones.
    equilateral = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]],
                               dtype=torch.float64)
    expected = (2 * huber(0.5 - 0.0) + 4 * huber(0.5 - 1 / math.sqrt(2))) / 27
    assert rkd_angle_loss(equilateral, UNIT_RIGHT).item() == pytest.approx(expected, rel=1e-9)


def test_rkd_teacher_gets_no_gradient():
    student = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    (rkd_distance_loss(student, teacher) + rkd_angle_loss(student, teacher)).backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0


def test_rkd_losses_ignore_scale_and_translation():
    e = torch.randn(4, 8, dtype=torch.float64)
    moved = 3.0 * e + torch.randn(8, dtype=torch.float64)
    assert rkd_distance_loss(moved, e).item() == pytest.approx(0.0, abs=1e-12)
    assert rkd_angle_loss(moved, e).item() == pytest.approx(0.0, abs=1e-12)
    assert rkd_distance_loss(torch.randn(4, 8, dtype=torch.float64), e).item() > 0


@pytest.mark.parametrize("n", [0, 1, 2])
def test_rkd_too_few_rows_is_a_connected_zero(n):
    student = torch.randn(n, 4, requires_grad=True)
    teacher = torch.randn(n, 4)
    angle = rkd_angle_loss(student, teacher)
    total = angle + rkd_distance_loss(student, teacher)
    assert angle.item() == 0.0
    if n < 2:
        assert total.item() == 0.0
    total.backward()
    assert torch.isfinite(student.grad).all()


def test_rkd_finite_for_identical_embeddings():
    teacher = torch.ones(3, 4)  # every distance and direction is 0
    student = torch.randn(3, 4, requires_grad=True)
    loss = rkd_distance_loss(student, teacher) + rkd_angle_loss(student, teacher)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()


def test_pointwise_and_margin_terms_by_hand():
    e = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    e_rec = torch.tensor([[4.0, 4.0], [1.0, 0.0]])
    eps = 1e-6  # F.pairwise_distance adds eps to the difference
    d0 = math.hypot(3 + eps, 4 + eps)
    d1 = math.hypot(eps, eps)
    assert pointwise_distance_loss(e_rec, e).item() == pytest.approx((d0 + d1) / 2, rel=1e-6)
    # each pair is clamped on its own (the release: per GPU, one clip each): pair 0 (d0 = 5)
    # is past the margin and adds 0, pair 1 (d1 ~ 0) adds the whole margin
    assert margin_distance_loss(e_rec, e, margin=0.5).item() == pytest.approx(
        (0.5 - d1) / 2, rel=1e-6)  # the batch mean (2.5) is past it: clamping it gives 0
    assert margin_distance_loss(e_rec, e, margin=6.0).item() == pytest.approx(
        (6.0 - d0 + 6.0 - d1) / 2, rel=1e-6)
    assert margin_distance_loss(e_rec[:1], e[:1], margin=0.5).item() == 0.0
    assert pointwise_distance_loss(e[:0], e[:0]).item() == 0.0
    assert margin_distance_loss(e[:0], e[:0], 0.5).item() == 0.0
