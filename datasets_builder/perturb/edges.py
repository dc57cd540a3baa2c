"""Canny edges by OpenCV's rule (``cv2.Canny(image, low, high)``, aperture 3, L1 norm),
which upstream's spatter runs on its drop layer.

The rule, step by step: Sobel derivatives (3 x 3, edge pixels replicated); magnitude
``|dx| + |dy|``; non-maximum suppression against the two neighbours along the gradient's
direction quantised to 0, 45, 90 or 135 degrees (``tan 22.5`` in 15-bit fixed point), the
magnitude outside the image taken as 0, with OpenCV's ties: along a row or a column a pixel
must exceed its left (upper) neighbour and equal or exceed its right (lower) one, along a
diagonal exceed both; candidates above ``low``; hysteresis keeps the 8-connected groups of
candidates that hold a pixel above ``high``.

scikit-image's ``canny`` differs in the ties (it keeps a pixel that equals its neighbours,
so a drop of 2 x 2 pixels is all edge, where OpenCV finds none) and in the norm. On
spatter's layer the small isolated drops decide where the water weight peaks, which scales
the whole layer: with scikit-image's rule the water at severity 1 came out 1.6 times
upstream's on 480 x 854 frames.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import label, sobel

_TAN_22_5 = 13573        # round(tan(22.5 degrees) * 2^15)
_SHIFT = 15


def canny(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """(H, W) uint8 -> (H, W) bool edges, as ``cv2.Canny(image, low, high)``."""
    a = image.astype(np.int32)
    dx = sobel(a, axis=1, mode="nearest")
    dy = sobel(a, axis=0, mode="nearest")
    mag = np.pad(np.abs(dx) + np.abs(dy), 1)                     # 0 outside the image
    c = mag[1:-1, 1:-1]
    ax = np.abs(dx).astype(np.int64)
    ay = np.abs(dy).astype(np.int64) << _SHIFT
    tg22 = ax * _TAN_22_5
    horizontal = ay < tg22
    vertical = ~horizontal & (ay > tg22 + (ax << (_SHIFT + 1)))
    falling = (dx ^ dy) >= 0                                     # diagonal \ (else /)
    keep = np.where(
        horizontal, (c > mag[1:-1, :-2]) & (c >= mag[1:-1, 2:]),
        np.where(vertical, (c > mag[:-2, 1:-1]) & (c >= mag[2:, 1:-1]),
                 np.where(falling, (c > mag[:-2, :-2]) & (c > mag[2:, 2:]),
                          (c > mag[:-2, 2:]) & (c > mag[2:, :-2]))))
    candidate = keep & (c > int(np.floor(low)))
    groups, _ = label(candidate, structure=np.ones((3, 3), bool))
    strong = np.unique(groups[candidate & (c > int(np.floor(high)))])
    return np.isin(groups, strong[strong > 0])
