"""Box conversions, IoU, GIoU and masks_to_boxes against values worked by hand."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_model.box_ops import (
    box_cxcywh_to_xyxy,
    box_iou,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
    masks_to_boxes,
    paired_generalized_box_iou,
)


def test_cxcywh_xyxy_conversions_by_hand():
    cxcywh = torch.tensor([[0.5, 0.5, 0.2, 0.4], [0.1, 0.9, 0.2, 0.2]])
    xyxy = torch.tensor([[0.4, 0.3, 0.6, 0.7], [0.0, 0.8, 0.2, 1.0]])
    torch.testing.assert_close(box_cxcywh_to_xyxy(cxcywh), xyxy)
    torch.testing.assert_close(box_xyxy_to_cxcywh(xyxy), cxcywh)


def test_conversions_keep_leading_dimensions():
    boxes = torch.rand(2, 3, 5, 4)
    assert box_cxcywh_to_xyxy(boxes).shape == (2, 3, 5, 4)
    torch.testing.assert_close(box_xyxy_to_cxcywh(box_cxcywh_to_xyxy(boxes)), boxes)


def test_iou_and_giou_by_hand():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0],   # overlap 1x1, union 4 + 4 - 1 = 7, hull 3x3 = 9
                      [2.0, 0.0, 3.0, 1.0]])  # touching: overlap 0, union 5, hull 3x2 = 6
    iou, union = box_iou(a, b)
    torch.testing.assert_close(iou, torch.tensor([[1 / 7, 0.0]]))
    torch.testing.assert_close(union, torch.tensor([[7.0, 5.0]]))
    expected = torch.tensor([[1 / 7 - (9 - 7) / 9, 0 - (6 - 5) / 6]])
    torch.testing.assert_close(generalized_box_iou(a, b), expected)


def test_giou_equals_iou_for_nested_and_equal_boxes():
    outer = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    inner = torch.tensor([[1.0, 1.0, 2.0, 2.0]])  # hull = outer = union: GIoU = IoU = 1/16
    torch.testing.assert_close(generalized_box_iou(outer, inner), torch.tensor([[1 / 16]]))
    torch.testing.assert_close(generalized_box_iou(inner, outer), box_iou(inner, outer)[0])
    torch.testing.assert_close(generalized_box_iou(outer, outer), torch.tensor([[1.0]]))


def test_giou_tends_to_minus_one():
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    far = torch.tensor([[1000.0, 1000.0, 1001.0, 1001.0]])
    hull = 1001.0**2
    expected = -(hull - 2) / hull  # IoU 0, union 2
    assert generalized_box_iou(a, far).item() == pytest.approx(expected, rel=1e-6)
    assert expected < -0.99999
    # Two points at different places: union 0, so GIoU reaches exactly -1 (not NaN).
    points = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert generalized_box_iou(points[:1], points[1:]).item() == -1.0


def test_giou_rejects_inverted_boxes():
    with pytest.raises(ValueError):
        generalized_box_iou(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), torch.rand(1, 4))


def test_paired_giou_is_the_diagonal_of_pairwise():
    a = box_cxcywh_to_xyxy(torch.rand(6, 4) * 0.5 + 0.25)
    b = box_cxcywh_to_xyxy(torch.rand(6, 4) * 0.5 + 0.25)
    torch.testing.assert_close(paired_generalized_box_iou(a, b),
                               generalized_box_iou(a, b).diagonal())


_box = st.tuples(*[st.floats(0.0, 1.0, allow_nan=False)] * 4).map(
    lambda v: [min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]), max(v[1], v[3])])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(_box, min_size=1, max_size=4), st.lists(_box, min_size=1, max_size=4))
def test_giou_symmetric_and_bounded(boxes1, boxes2):
    a, b = torch.tensor(boxes1, dtype=torch.float64), torch.tensor(boxes2, dtype=torch.float64)
    giou = generalized_box_iou(a, b)
    torch.testing.assert_close(giou, generalized_box_iou(b, a).T)
    iou = box_iou(a, b)[0]
    assert torch.all(giou >= -1 - 1e-9) and torch.all(giou <= iou + 1e-9)
    assert torch.all(iou <= 1 + 1e-9)


def test_masks_to_boxes_by_hand():
    masks = torch.zeros(3, 4, 5)
    masks[0, 1:3, 2:4] = 1  # rows 1-2, columns 2-3 -> (2, 1, 4, 3) in pixel edges
    masks[1] = 1  # full 4 x 5 mask -> (0, 0, 5, 4)
    expected = torch.tensor([[2.0, 1.0, 4.0, 3.0], [0.0, 0.0, 5.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(masks_to_boxes(masks), expected)


def test_masks_to_boxes_single_pixel_and_batch_dims():
    masks = torch.zeros(2, 3, 6, 7, dtype=torch.bool)
    masks[1, 2, 5, 0] = True  # one pixel at row 5, column 0 -> a 1 x 1 box
    boxes = masks_to_boxes(masks)
    assert boxes.shape == (2, 3, 4)
    torch.testing.assert_close(boxes[1, 2], torch.tensor([0.0, 5.0, 1.0, 6.0]))
    assert boxes[0].abs().sum() == 0 and math.isclose(boxes.abs().sum().item(), 12.0)
