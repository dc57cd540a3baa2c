"""Every visual corruption: shape and dtype kept, severity 1 changes the frames, higher
severities move them farther on average, the same draws give the same bytes, and the result
does not depend on how a video is cut into chunks of frames."""

from __future__ import annotations

import numpy as np
import pytest
from clips import natural_clip

from datasets_builder.perturb.catalog import VISUAL
from datasets_builder.perturb.draws import Draws

CLIP = natural_clip(frames=3)
DRAWS = Draws(11, (21, 22, 23))
RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur",
          "motion_blur", "fog", "frost", "snow", "spatter", "elastic_transform"}


def distance(out: np.ndarray) -> float:
    return float(np.abs(out.astype(np.float64) - CLIP).mean())


@pytest.fixture(scope="module")
def outputs() -> dict[tuple[str, int], np.ndarray]:
    return {(name, s): fn(CLIP, s, DRAWS) for name, fn in VISUAL.items() for s in range(1, 6)}


@pytest.mark.parametrize("name", VISUAL)
def test_shape_dtype_and_severity_one_changes(outputs, name):
    for s in range(1, 6):
        assert outputs[(name, s)].shape == CLIP.shape
        assert outputs[(name, s)].dtype == np.uint8
    assert distance(outputs[(name, 1)]) > 0.2


@pytest.mark.parametrize("name", sorted(set(VISUAL) - {"elastic_transform"}))
def test_higher_severity_farther_on_average(outputs, name):
    d = [distance(outputs[(name, s)]) for s in range(1, 6)]
    assert np.mean(d[3:]) > np.mean(d[:2]), d
    assert d[4] > d[0], d


def test_elastic_severities_follow_imagenet_c(outputs):
    # ImageNet-C's elastic levels 1-2 are mostly a random affine map (corner jitter 10% and
    # 20% of the image) and 3-5 a local warp growing with the level (documented): each
    # regime grows with its level.
    d = [distance(outputs[("elastic_transform", s)]) for s in range(1, 6)]
    assert d[1] > d[0] and d[4] > d[3] > d[2], d


@pytest.mark.parametrize("name", VISUAL)
def test_same_draws_same_bytes_and_chunking_does_not_matter(outputs, name):
    fn = VISUAL[name]
    again = fn(CLIP.copy(), 3, Draws(11, (21, 22, 23)))
    assert np.array_equal(again, outputs[(name, 3)])
    parts = [fn(CLIP[:2], 3, DRAWS.chunk(0, 2)), fn(CLIP[2:], 3, DRAWS.chunk(2, 3))]
    assert np.array_equal(np.concatenate(parts), outputs[(name, 3)])


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_other_seeds_other_draws(outputs, name):
    fn = VISUAL[name]
    other = fn(CLIP, 3, Draws(12, (31, 32, 33)))
    assert not np.array_equal(other, outputs[(name, 3)])


def test_input_frames_are_not_modified():
    clip = CLIP.copy()
    for fn in VISUAL.values():
        fn(clip, 5, DRAWS)
    assert np.array_equal(clip, CLIP)
