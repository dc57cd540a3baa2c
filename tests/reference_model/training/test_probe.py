"""The grounding probe: which object a caption's selected mask covers."""

from __future__ import annotations

import math

import torch

from reference_model.training.probe import clip_grounding


def _masks() -> list[torch.Tensor]:
    """Three objects in a 2-frame clip of 6 x 8: left, middle and right blocks."""
    out = []
    for x0 in (0, 3, 6):
        m = torch.zeros(2, 6, 8, dtype=torch.bool)
        m[:, 1:5, x0:x0 + 2] = True
        out.append(m)
    return out


def test_a_model_that_reads_the_caption_picks_each_object():
    objects = _masks()
    hits, ious = clip_grounding([m.clone() for m in objects], objects)
    assert hits == 3 and ious == [0.0, 0.0, 0.0]


def test_a_model_that_ignores_the_caption_picks_one_object_for_all():
    objects = _masks()
    blind = [objects[1].clone() for _ in objects]  # the same object whatever the caption
    hits, ious = clip_grounding(blind, objects)
    assert hits == 1 and ious == [1.0, 1.0, 1.0]


def test_empty_masks_and_ties_are_misses():
    objects = _masks()
    empty = torch.zeros_like(objects[0])
    both = objects[0] | objects[1]  # covers objects 0 and 1 equally: no choice was made
    hits, ious = clip_grounding([empty, both, objects[2].clone()], objects)
    assert hits == 1  # only caption 2
    assert math.isclose(ious[0], 0.0) and math.isclose(ious[1], 0.0)
    assert math.isclose(ious[2], 0.0)
