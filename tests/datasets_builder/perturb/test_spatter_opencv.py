"""Spatter against upstream's OpenCV steps: its Canny edges pixel for pixel (on drop layers
and on noise), and the water weight built from them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from datasets_builder.perturb.edges import canny
from datasets_builder.perturb.weather import _EMBOSS, SPATTER, _drop_layer, _water


@pytest.mark.parametrize("severity", [1, 2, 3])
def test_drop_layers_as_opencv(severity):
    loc, scale, sigma, cut, _, _ = SPATTER[severity - 1]
    for seed, (h, w) in enumerate([(240, 427), (37, 61), (64, 64)]):
        layer = (_drop_layer(np.random.default_rng(seed), h, w, loc, scale, sigma, cut)
                 * 255).astype(np.uint8)
        expected = cv2.Canny(layer, 50, 150) > 0
        assert expected.any()
        assert np.array_equal(canny(layer, 50, 150), expected)


def test_every_direction_and_tie_as_opencv():
    rng = np.random.default_rng(0)
    for k in range(4):
        noise = rng.integers(0, 256, (50, 70)).astype(np.uint8)
        smooth = np.clip(gaussian_filter(noise.astype(float), 1 + k) * 3 - 250, 0, 255)
        blocks = np.kron(rng.integers(0, 2, (10, 14)), np.ones((2 + k % 2, 2 + k % 2)))
        for image in (noise, smooth.astype(np.uint8), (200 * blocks).astype(np.uint8)):
            expected = cv2.Canny(image, 50, 150) > 0
            assert np.array_equal(canny(image, 50, 150), expected)


def _opencv_water(liquid: np.ndarray, peak: float) -> np.ndarray:
    """Upstream's steps with OpenCV: edges, distance (OpenCV's 5 x 5 approximation) capped
    at 20, box blur, equalisation, emboss, box blur, times the 8-bit layer, to a peak."""
    layer = (liquid * 255).astype(np.uint8)
    dist = cv2.distanceTransform(255 - cv2.Canny(layer, 50, 150), cv2.DIST_L2, 5)
    dist = cv2.blur(np.minimum(dist, 20), (3, 3)).astype(np.uint8)
    dist = cv2.filter2D(cv2.equalizeHist(dist), cv2.CV_8U, _EMBOSS)
    weight = layer * cv2.blur(dist, (3, 3)).astype(np.float32)
    return weight / weight.max() * peak


@pytest.mark.parametrize("severity", [1, 2, 3])
def test_water_weight_as_upstreams_opencv_steps(severity):
    # the one difference left is the distance transform (exact here): the mean weight
    # agrees within 2% on every draw at severities 2-3, and over the draws at 1, where a
    # few isolated drops decide the peak
    loc, scale, sigma, cut, strength, _ = SPATTER[severity - 1]
    ratios = []
    for seed in range(4):
        liquid = _drop_layer(np.random.default_rng(seed), 240, 427, loc, scale, sigma, cut)
        ratios.append(_water(liquid, strength).mean()
                      / _opencv_water(liquid, strength).mean())
    assert abs(np.mean(ratios) - 1) < 0.02, ratios
    if severity > 1:
        assert max(abs(r - 1) for r in ratios) < 0.02, ratios
