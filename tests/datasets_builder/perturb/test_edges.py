"""Spatter's Canny edges are OpenCV's, pixel for pixel, on its drop layers and on noise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from datasets_builder.perturb.edges import canny
from datasets_builder.perturb.weather import SPATTER, _drop_layer


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
