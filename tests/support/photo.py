"""A photograph-like frame, made here (no downloads): sky, textured ground, objects with
hard edges, shading, shadows, clipped highlights and sensor grain.

Its statistics are those the corruptions are sensitive to on real frames: a 1/f
spectrum (natural images' power falls off as 1/f^2), edges of every contrast, flat and
clipped regions (which make upstream's truncations and saturations matter) and colours
of every saturation.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def pink_noise(rng: np.random.Generator, h: int, w: int, exponent: float = 1.0) -> np.ndarray:
    """(H, W) float64 noise of amplitude spectrum 1 / f^exponent, scaled to [0, 1]."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f ** exponent
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(h, w))
    field -= field.min()
    return field / field.max()


def photograph(height: int = 240, width: int = 427, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 outdoor scene."""
    rng = np.random.default_rng(seed)
    h, w = height, width
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    horizon = 0.42 + 0.05 * np.sin(2 * np.pi * x[0] * 1.3 + rng.uniform(0, 6))   # (W,)
    sky = (np.array([70, 130, 215]) + (y[..., None] / 0.45) * np.array([110, 90, 35]))
    clouds = np.clip(pink_noise(rng, h, w, 1.4) * 1.8 - 0.8, 0, 1)[..., None]
    sky = sky * (1 - clouds) + 240 * clouds
    ground_tex = pink_noise(rng, h, w, 0.9)
    grass = np.array([60, 105, 40]) + (ground_tex[..., None] - 0.5) * np.array([80, 90, 50])
    soil = np.array([120, 90, 60]) + (ground_tex[..., None] - 0.5) * np.array([60, 50, 40])
    mix = gaussian_filter(rng.random((h, w)), 12)[..., None]
    mix = np.clip((mix - mix.mean()) * 40 + 0.5, 0, 1)
    ground = grass * mix + soil * (1 - mix)
    ground *= (0.75 + 0.5 * (y[..., None] - 0.4))                   # light falls off
    img = np.where((y < horizon[None, :])[..., None], sky, ground)
    # a house: wall with a lit and a shaded face, a dark door, a white window frame
    top, left = int(0.25 * h), int(0.12 * w)
    bottom, right = int(0.62 * h), int(0.38 * w)
    img[top:bottom, left:right] = np.array([200, 170, 140]) * (
        0.85 + 0.15 * pink_noise(rng, bottom - top, right - left, 1.2)[..., None])
    mid = (left + right) // 2
    img[top:bottom, mid:right] *= 0.6
    img[int(0.45 * h):bottom, left + 8:left + 22] = (35, 25, 20)
    img[int(0.32 * h):int(0.42 * h), mid + 10:mid + 34] = 255                 # clipped
    img[int(0.34 * h):int(0.40 * h), mid + 13:mid + 31] = (25, 40, 70)
    # a red car with a highlight and a shadow under it
    cy, cx, ry, rx = 0.74 * h, 0.66 * w, 0.07 * h, 0.14 * w
    car = ((y * h - cy) / ry) ** 2 + ((x * w - cx) / rx) ** 2 < 1
    shadow = ((y * h - cy - 0.8 * ry) / (0.35 * ry)) ** 2 + ((x * w - cx) / (1.1 * rx)) ** 2 < 1
    img[shadow] *= 0.35
    img[car] = np.array([190, 25, 30]) * (0.7 + 0.3 * (1 - (y[car] * h - cy + ry) / (2 * ry)))[
        :, None]
    glint = ((y * h - cy + 0.5 * ry) / (0.15 * ry)) ** 2 + ((x * w - cx) / (0.3 * rx)) ** 2 < 1
    img[glint] = 255
    # a black pole, a saturated yellow sign
    img[int(0.30 * h):int(0.80 * h), int(0.86 * w):int(0.86 * w) + 4] = 8
    img[int(0.30 * h):int(0.40 * h), int(0.82 * w):int(0.90 * w)] = (245, 210, 0)
    img = gaussian_filter(img, (0.7, 0.7, 0))                      # the lens
    img += rng.normal(0, 2.0, img.shape)                           # grain
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
