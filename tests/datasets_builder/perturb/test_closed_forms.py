"""The noise family's transition matrices and the colour family's closed forms against the
upstream computations they replace (floating point noise, scikit-image's HSV round trip)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare
from skimage.color import hsv2rgb, rgb2hsv
from skimage.filters import gaussian
from skimage.util import random_noise

from datasets_builder.perturb import blur, digital, noise
from datasets_builder.perturb.draws import Draws

LEVELS = (0, 1, 37, 128, 200, 254, 255)


def fits(samples: np.ndarray, law: np.ndarray) -> bool:
    """Chi-square goodness of fit of 8-bit samples to a law (bins of expected count < 5
    pooled); a wrong law fails by a wide margin, a right one at rate 1e-6."""
    counts = np.bincount(samples.ravel(), minlength=256)
    expected = law * samples.size
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    if keep.sum() < 2:
        return bool(np.array_equal(counts > 0, law > 1e-9))
    return chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue > 1e-6


def upstream_noise(name: str, x: np.ndarray, severity: int, rng) -> np.ndarray:
    """ImageNet-C's formula on values x / 255, rounded back to 8 bits."""
    v = x / 255.0
    if name == "gaussian_noise":
        v = v + rng.normal(size=v.shape, scale=noise.GAUSSIAN[severity - 1])
    elif name == "shot_noise":
        c = noise.SHOT[severity - 1]
        v = rng.poisson(v * c) / c
    elif name == "impulse_noise":
        v = random_noise(v, mode="s&p", amount=noise.IMPULSE[severity - 1], rng=rng)
    else:
        v = v + v * rng.normal(size=v.shape, scale=noise.SPECKLE[severity - 1])
    return np.rint(np.clip(v, 0, 1) * 255).astype(int)


def law_of_tables(threshold: np.ndarray, alias: np.ndarray) -> np.ndarray:
    law = threshold.astype(np.float64) / 2 ** 32
    for x in range(256):
        np.add.at(law[x], alias[x].astype(int), (2 ** 24 - threshold[x]) / 2 ** 32)
    return law


@pytest.mark.parametrize("name", noise.MATRICES)
@pytest.mark.parametrize("severity", [1, 5])
def test_matrix_is_the_law_of_the_upstream_formula(name, severity):
    matrix = noise.MATRICES[name](severity)
    assert np.allclose(matrix.sum(axis=1), 1.0) and (matrix >= -1e-15).all()
    rng = np.random.default_rng(severity)
    for x in LEVELS:
        samples = upstream_noise(name, np.full(200_000, x, float), severity, rng)
        assert fits(samples, matrix[x]), (x, name)


@pytest.mark.parametrize("name", noise.MATRICES)
def test_alias_tables_sample_the_matrix_exactly(name):
    matrix = noise.MATRICES[name](3)
    law = law_of_tables(*noise.alias_tables(matrix))
    assert np.abs(law - matrix).max() < 1e-7


def test_kernel_draws_follow_the_matrix():
    frames = np.repeat(np.array(LEVELS, np.uint8), 40_000).reshape(1, len(LEVELS), -1, 1)
    out = noise.gaussian_noise(frames, 2, Draws(0, (5,)))
    matrix = noise.gaussian_matrix(2)
    for row, x in enumerate(LEVELS):
        assert fits(out[0, row], matrix[x]), x
    assert not fits(out[0, 3], noise.gaussian_matrix(3)[128])    # the test can tell


def hsv_reference(pixels: np.ndarray, change) -> np.ndarray:
    hsv = rgb2hsv(pixels[None] / 255.0)
    change(hsv)
    return np.rint(np.clip(hsv2rgb(hsv), 0, 1) * 255)[0]


PIXELS = np.concatenate([np.random.default_rng(0).integers(0, 256, (4000, 3)),
                         np.repeat(np.arange(0, 256, 15), 3).reshape(-1, 3)]).astype(np.uint8)


@pytest.mark.parametrize("severity", range(1, 6))
def test_brightness_is_the_hsv_round_trip(severity):
    c = digital.BRIGHTNESS[severity - 1]

    def change(hsv):
        hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)

    got = digital.brightness(PIXELS[None, None], severity, Draws(0, (0,)))[0, 0]
    assert np.abs(got - hsv_reference(PIXELS, change)).max() <= 1


@pytest.mark.parametrize("severity", range(1, 6))
def test_saturate_is_the_hsv_round_trip(severity):
    a, b = digital.SATURATE[severity - 1]

    def change(hsv):
        hsv[..., 1] = np.clip(hsv[..., 1] * a + b, 0, 1)

    got = digital.saturate(PIXELS[None, None], severity, Draws(0, (0,)))[0, 0]
    assert np.abs(got - hsv_reference(PIXELS, change)).max() <= 1


def test_contrast_is_upstream_formula_per_frame():
    clip = np.random.default_rng(1).integers(0, 256, (2, 9, 7, 3)).astype(np.uint8)
    got = digital.contrast(clip, 4, Draws(0, (0, 0)))
    x = clip / 255.0
    means = x.mean(axis=(1, 2), keepdims=True)
    want = np.rint(np.clip((x - means) * digital.CONTRAST[3] + means, 0, 1) * 255)
    assert np.array_equal(got, want)


def test_gaussian_blur_is_scikit_image():
    clip = np.random.default_rng(2).integers(0, 256, (2, 30, 40, 3)).astype(np.uint8)
    got = blur.gaussian_blur(clip, 2, Draws(0, (0, 0)))
    want = [np.rint(gaussian(f / 255.0, sigma=2, channel_axis=-1) * 255) for f in clip]
    assert np.abs(got - np.stack(want)).max() <= 1


def test_motion_taps_follow_imagemagick():
    taps = blur.motion_taps(radius=3, sigma=2, angle_deg=0)      # 7 taps to the right
    assert [(dy, dx) for dy, dx, _ in taps] == [(0, i) for i in range(7)]
    weights = [w for *_, w in taps]
    assert abs(sum(weights) - 1) < 1e-12 and weights == sorted(weights, reverse=True)
    down = blur.motion_taps(radius=3, sigma=2, angle_deg=90)
    assert [(dy, dx) for dy, dx, _ in down] == [(i, 0) for i in range(7)]
