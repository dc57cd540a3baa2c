"""The severity tables are ImageNet-C's (Hendrycks & Dietterich, ICLR 2019,
``ImageNet-C/create_c/make_imagenet_c.py``), written out here as literal values so that a
table shifted by one level, or one edited number, fails. Two corruptions are also checked
by behaviour against the literal values: JPEG's quality and Gaussian noise's spread."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy.stats import norm

from datasets_builder.perturb import blur, digital, noise, weather
from datasets_builder.perturb.draws import Draws

IMAGENET_C = {
    "gaussian_noise": (noise.GAUSSIAN, [.08, .12, 0.18, 0.26, 0.38]),
    "shot_noise": (noise.SHOT, [60, 25, 12, 5, 3]),
    "impulse_noise": (noise.IMPULSE, [.03, .06, .09, 0.17, 0.27]),
    "speckle_noise": (noise.SPECKLE, [.15, .2, 0.35, 0.45, 0.6]),
    "gaussian_blur": (blur.GAUSSIAN_BLUR, [1, 2, 3, 4, 6]),
    "glass_blur": (blur.GLASS_BLUR, [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2),
                                     (1.5, 4, 2)]),
    "defocus_blur": (blur.DEFOCUS_BLUR, [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)]),
    "motion_blur": (blur.MOTION_BLUR, [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)]),
    "fog": (weather.FOG, [(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)]),
    "frost": (weather.FROST, [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)]),
    "snow": (weather.SNOW, [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
                            (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
                            (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
                            (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)]),
    "spatter": (weather.SPATTER, [(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0),
                                  (0.65, 0.3, 2, 0.68, 0.5, 0), (0.65, 0.3, 1, 0.65, 1.5, 1),
                                  (0.67, 0.4, 1, 0.65, 1.5, 1)]),
    "contrast": (digital.CONTRAST, [0.4, .3, .2, .1, .05]),
    "brightness": (digital.BRIGHTNESS, [.1, .2, .3, .4, .5]),
    "saturate": (digital.SATURATE, [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)]),
    "jpeg_compression": (digital.JPEG_COMPRESSION, [25, 18, 15, 10, 7]),
    "pixelate": (digital.PIXELATE, [0.6, 0.5, 0.4, 0.3, 0.25]),
    # ImageNet-C writes (244 * 2, 244 * 0.7, 244 * 0.1), ...: the factors of the image size
    "elastic_transform": (digital.ELASTIC, [(2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02),
                                            (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)]),
}
ZOOM_FACTORS = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
                np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)]


@pytest.mark.parametrize("name", IMAGENET_C)
def test_table_is_imagenet_c(name):
    table, published = IMAGENET_C[name]
    assert len(table) == 5
    for severity, (ours, theirs) in enumerate(zip(table, published), start=1):
        assert np.array_equal(np.asarray(ours, float), np.asarray(theirs, float)), \
            (name, severity, ours, theirs)


def test_zoom_blur_factors_are_imagenet_c():
    assert len(blur.ZOOM_BLUR) == 5
    for ours, theirs in zip(blur.ZOOM_BLUR, ZOOM_FACTORS):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_every_visual_corruption_has_its_table_checked():
    from datasets_builder.perturb.catalog import VISUAL

    assert set(VISUAL) == {*IMAGENET_C, "zoom_blur"}


@pytest.mark.parametrize("severity, quality", list(enumerate([25, 18, 15, 10, 7], start=1)))
def test_jpeg_severity_is_that_quality(severity, quality):
    frame = np.random.default_rng(severity).integers(0, 256, (24, 32, 3)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    want = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    got = digital.jpeg_compression(frame[None], severity, Draws(0, (0,)))[0]
    assert np.array_equal(got, want)


@pytest.mark.parametrize("severity, std", list(enumerate([.08, .12, 0.18, 0.26, 0.38], start=1)))
def test_gaussian_noise_severity_is_that_spread(severity, std):
    # the law of round(clip(x + N(0, 255 std), 0, 255)) for a mid-grey x = 128
    edges = norm.cdf((np.arange(256) + 0.5 - 128) / (255 * std))
    edges[-1] = 1.0
    law = np.diff(edges, prepend=0.0)
    np.testing.assert_allclose(noise.gaussian_matrix(severity)[128], law, rtol=0, atol=1e-9)
