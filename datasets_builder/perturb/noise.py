"""The ImageNet-C noise family: gaussian, shot, impulse and speckle noise (Hendrycks &
Dietterich 2019, ``make_imagenet_c.py``; the R2-Bench toolbox uses the same parameters).

Upstream adds noise to ``x / 255`` in floating point, clips to [0, 1] and converts back to
8 bits. Each of the four is noise drawn independently per channel value, whose law depends
only on that value, so the whole corruption of an 8-bit image is a 256 x 256 transition
matrix ``P[x, y]``: the probability that input value x comes out as y. We compute P in
closed form and sample it exactly with Walker's alias method (one table lookup and one
comparison per value, from 32 random bits):

- gaussian: ``y = round(clip(x + 255 c Z))``, Z standard normal;
- shot: ``y = round(255 clip(K / c))``, K ~ Poisson(c x / 255);
- impulse: with probability c the value becomes 0 or 255 (half each), else stays
  (scikit-image's salt-and-pepper, as upstream calls it);
- speckle: ``y = round(clip(x + x c Z))``.

The output is rounded to the nearest 8-bit value where upstream truncates (``np.uint8`` of
a float), which would darken every corrupted image by half a level on average.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit
from scipy.special import ndtr
from scipy.stats import poisson

from datasets_builder.perturb.draws import GOLDEN, Draws, splitmix64

GAUSSIAN = (0.08, 0.12, 0.18, 0.26, 0.38)     # std of the noise on [0, 1] values
SHOT = (60, 25, 12, 5, 3)                      # photons per unit intensity
IMPULSE = (0.03, 0.06, 0.09, 0.17, 0.27)      # fraction of values replaced
SPECKLE = (0.15, 0.2, 0.35, 0.45, 0.6)        # std of the multiplicative noise

_LEVELS = np.arange(256, dtype=np.float64)


def _rounded_normal(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(256, 256) law of ``round(clip(N(mean[x], std[x]), 0, 255))``; std 0 is exact."""
    std = np.maximum(std, 1e-12)[:, None]
    upper = ndtr((_LEVELS[None, :] + 0.5 - mean[:, None]) / std)   # P(value < y + 0.5)
    upper[:, -1] = 1.0
    return np.diff(upper, prepend=0.0, axis=1)


def gaussian_matrix(severity: int) -> np.ndarray:
    return _rounded_normal(_LEVELS, np.full(256, 255 * GAUSSIAN[severity - 1]))


def speckle_matrix(severity: int) -> np.ndarray:
    return _rounded_normal(_LEVELS, _LEVELS * SPECKLE[severity - 1])


def shot_matrix(severity: int) -> np.ndarray:
    c = SHOT[severity - 1]
    k = np.arange(int(c + 12 * np.sqrt(c) + 30))            # P(K beyond) < 1e-15
    pmf = poisson.pmf(k[None, :], _LEVELS[:, None] * c / 255)  # (256, K)
    out_level = np.rint(255 * np.minimum(k / c, 1.0)).astype(np.intp)
    matrix = np.zeros((256, 256))
    for level in np.unique(out_level):
        matrix[:, level] = pmf[:, out_level == level].sum(axis=1)
    matrix[:, 255] += np.clip(1.0 - matrix.sum(axis=1), 0, None)   # the clipped tail
    return matrix


def impulse_matrix(severity: int) -> np.ndarray:
    c = IMPULSE[severity - 1]
    matrix = np.eye(256) * (1 - c)
    matrix[:, 0] += c / 2
    matrix[:, 255] += c / 2
    return matrix


@njit(cache=True, nogil=True)
def _alias_row(p, threshold, alias):
    """Vose's alias table of one law ``p`` (256,): column j keeps j when the low 24 random
    bits fall below ``threshold[j]``, else gives ``alias[j]``."""
    n = p.shape[0]
    q = p * n / p.sum()
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = nl = 0
    for j in range(n):
        alias[j] = j
        if q[j] < 1.0:
            small[ns] = j
            ns += 1
        else:
            large[nl] = j
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        threshold[s] = np.uint32(q[s] * 16777216.0)
        alias[s] = g
        q[g] = (q[g] + q[s]) - 1.0
        if q[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    for k in range(nl):                     # what is left has probability 1 up to rounding
        threshold[large[k]] = np.uint32(16777216)
    for k in range(ns):
        threshold[small[k]] = np.uint32(16777216)


def alias_tables(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(threshold uint32 (256, 256), alias uint8 (256, 256)) sampling each row of ``matrix``:
    value x becomes j with probability ``(threshold[x, j] + sum over k with alias[x, k] == j
    of (2^24 - threshold[x, k])) / 2^32``."""
    p = np.clip(matrix, 0.0, None)
    threshold = np.zeros((256, 256), np.uint32)
    alias = np.zeros((256, 256), np.uint8)
    for x in range(256):
        _alias_row(p[x], threshold[x], alias[x])
    return threshold, alias


def packed_table(threshold: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """(256, 256) uint32 ``threshold << 8 | alias``: one load per sampled value."""
    return (threshold.astype(np.uint32) << np.uint32(8)) | alias.astype(np.uint32)


@njit(cache=True, nogil=True, boundscheck=False)
def _sample(values, keys, table, out):
    """out[t, i] ~ row values[t, i] of the packed alias table; values, out (T, N) uint8.

    Value i of a frame takes the (i + 1)-th SplitMix64 output of the frame's key: its top 8
    bits pick the column, its low 24 bits are compared with the column's threshold."""
    low = np.uint64(0xFFFFFF)
    for t in range(values.shape[0]):
        state = keys[t]
        for i in range(values.shape[1]):
            state += GOLDEN
            z = splitmix64(state)
            j = z >> np.uint64(56)
            entry = np.uint64(table[values[t, i], j])
            a = entry & np.uint64(0xFF)
            keep = np.uint64((z & low) < (entry >> np.uint64(8)))     # branch-free: 0 or 1
            out[t, i] = a + (j - a) * keep


@functools.cache
def _table(name: str, severity: int) -> np.ndarray:
    return packed_table(*alias_tables(MATRICES[name](severity)))


def apply_matrix(frames: np.ndarray, name: str, severity: int, draws: Draws) -> np.ndarray:
    """Sample the noise ``name`` at ``severity`` on (T, H, W, C) uint8 frames."""
    values = np.ascontiguousarray(frames).reshape(len(frames), -1)     # (T, H*W*C)
    out = np.empty_like(values)
    _sample(values, draws.keys(), _table(name, severity), out)
    return out.reshape(frames.shape)


MATRICES = {"gaussian_noise": gaussian_matrix, "shot_noise": shot_matrix,
            "impulse_noise": impulse_matrix, "speckle_noise": speckle_matrix}


def gaussian_noise(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    return apply_matrix(frames, "gaussian_noise", severity, draws)


def shot_noise(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    return apply_matrix(frames, "shot_noise", severity, draws)


def impulse_noise(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    return apply_matrix(frames, "impulse_noise", severity, draws)


def speckle_noise(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    return apply_matrix(frames, "speckle_noise", severity, draws)
