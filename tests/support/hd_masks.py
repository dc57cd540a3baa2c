"""Realistic HD mask stacks for the speed benchmarks: moving blobs and imperfect predictions."""

from __future__ import annotations

import numpy as np


def blob_stack(rng: np.random.Generator, t: int, h: int, w: int) -> np.ndarray:
    """(T, H, W) bool: an ellipse of 5-30% of the frame drifting across it, with a notch."""
    yy, xx = np.mgrid[:h, :w]
    area = rng.uniform(0.05, 0.30) * h * w
    aspect = rng.uniform(0.5, 2.0)
    ry, rx = np.sqrt(area / np.pi / aspect), np.sqrt(area / np.pi * aspect)
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    vy, vx = rng.normal(0, 0.01 * h), rng.normal(0, 0.01 * w)
    out = np.empty((t, h, w), bool)
    for i in range(t):
        y, x = cy + i * vy, cx + i * vx
        m = ((yy - y) / ry) ** 2 + ((xx - x) / rx) ** 2 <= 1
        m &= ~((np.abs(yy - y) < ry / 4) & (xx > x + rx / 2))  # a notch: a concave contour
        out[i] = m
    return out


def imperfect(rng: np.random.Generator, gt: np.ndarray, speckle: float = 0.0) -> np.ndarray:
    """A prediction: the ground truth shifted a few pixels, with a fraction of speckles."""
    dy, dx = rng.integers(-6, 7, 2)
    pred = np.roll(gt, (int(dy), int(dx)), axis=(1, 2))
    if speckle:
        pred ^= rng.random(gt.shape) < speckle
    return pred
