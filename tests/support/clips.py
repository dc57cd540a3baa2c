"""Small natural-looking clips for the corruption tests: smooth colour fields of moderate
saturation with a moving bright object, so that every corruption has edges, texture,
highlights and shadows to act on."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def natural_clip(frames: int = 2, height: int = 48, width: int = 80, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.random((height, width + 4 * frames, 3)), (4, 4, 0))
    field = (field - field.min()) / (field.max() - field.min())
    grey = field.mean(axis=-1, keepdims=True)
    field = 40 + 170 * (0.6 * grey + 0.4 * field)          # saturation well below 1
    out = []
    for t in range(frames):
        frame = field[:, 4 * t:4 * t + width].copy()
        y, x = height // 3, width // 4 + 3 * t
        frame[y:y + height // 3, x:x + width // 4] = (235, 200, 120)
        out.append(frame)
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)
