"""The ImageNet-C blur family: gaussian, glass, defocus, motion and zoom blur (Hendrycks &
Dietterich 2019, ``make_imagenet_c.py``, with the R2-Bench toolbox's parameters).

Sizes are in pixels and kept as they are at every frame size, as the toolbox does (it applies
the 224 x 224 parameters to full frames), so a blur is milder on a 720p frame than on a
224 x 224 crop. Zoom blur's factors are relative and need no scaling.

- gaussian: ``skimage.filters.gaussian`` (truncate 4, edge mode 'nearest') of sigma c.
- glass: upstream's steps exactly. Gaussian blur of ``x / 255`` in float64, times 255,
  truncated to uint8 (``np.uint8``); then for each of ``passes`` passes, with h and w
  running down from the bottom-right corner as upstream's loops do, pixel (h, w) takes the
  value of (h + dy, w + dx), dx, dy drawn in [-delta, delta). Upstream writes this as a
  swap, ``x[h, w], x[h', w'] = x[h', w'], x[h, w]``, but on numpy views the right-hand
  side is evaluated as views, so the second assignment writes back the value just copied:
  it is a copy, not a swap. The copies are sequential (a pixel copied can be copied
  again), so they run in a compiled loop. Then Gaussian blur again in float64.
- defocus: correlation with upstream's anti-aliased disk kernel (the disk on a 17 x 17 grid
  for radii up to 8, a Gaussian of sigma ``alias_blur`` over it), mirrored borders, by FFT.
- motion: ImageMagick's ``MotionBlurImage`` (which upstream calls through Wand): a one-sided
  line kernel of ``2 ceil(radius) + 1`` taps weighted ``exp(-i^2 / 2 sigma^2)``, tap i at
  offset ``(ceil(i cos a - 1/2), ceil(i sin a - 1/2))``, edge pixels repeated; the angle a
  is drawn once per video in [-45, 45) degrees (upstream: per image), so the camera shakes
  one way through the video.
- zoom: the mean of the frame and its zooms by each factor z. As in ``imagecorruptions``
  (ImageNet-C's zoom for any frame size): a centred crop of ``ceil(H / z)`` x
  ``ceil(W / z)``, enlarged by ``scipy.ndimage.zoom`` (order 1) to
  ``round(ceil(H / z) z)`` x ``round(ceil(W / z) z)``, whose top-left H x W is kept. That
  zoom aligns the corners (output pixel o reads input ``o (n - 1) / (N - 1)``); here the
  same bilinear samples are summed over the factors in one compiled pass, in float32.
  (ImageNet-C's ``clipped_zoom`` crops a square at (top, top), which on a wide frame zooms
  about a point left of the centre, and the toolbox then stretches it to the frame.)

Frames are (T, H, W, 3) uint8; outputs are rounded to the nearest 8-bit value.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.ndimage import correlate1d, gaussian_filter
from scipy.signal import fftconvolve

from datasets_builder.perturb.draws import GOLDEN, Draws, splitmix64

GAUSSIAN_BLUR = (1, 2, 3, 4, 6)                                        # sigma
GLASS_BLUR = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # sigma, delta, passes
DEFOCUS_BLUR = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))    # radius, alias blur
MOTION_BLUR = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))         # radius, sigma
ZOOM_BLUR = (np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
             np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03))      # zoom factors


def to_uint8(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Round ``x * scale`` to the nearest value in [0, 255], as uint8."""
    if scale != 1.0:
        x = x * np.float32(scale)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """(T, H, W, C) -> float32 blurred over H and W only (scikit-image's defaults)."""
    return gaussian_filter(x.astype(np.float32), sigma=(0, sigma, sigma, 0), mode="nearest",
                           truncate=4.0)


def gaussian_blur(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    return to_uint8(_gaussian(frames, GAUSSIAN_BLUR[severity - 1]))


@njit(cache=True, nogil=True, inline="always")
def _glass_offset(state, delta):
    """(dy, dx), each in [-delta, delta), from the SplitMix64 output of ``state``."""
    z = splitmix64(state)
    span = np.uint64(2 * delta)
    low = np.uint64(0xFFFFFFFF)
    dx = np.int64(((z & low) * span) >> np.uint64(32)) - delta
    dy = np.int64(((z >> np.uint64(32)) * span) >> np.uint64(32)) - delta
    return dy, dx


@njit(cache=True, nogil=True, boundscheck=False)
def _glass_copies(x, keys, delta, passes):
    """Upstream's local pixel "swap" (a copy), in place on (T, H, W, C) uint8."""
    _, h, w, c = x.shape
    for t in range(x.shape[0]):
        state = keys[t]
        for _ in range(passes):
            for i in range(h - delta, delta, -1):
                for j in range(w - delta, delta, -1):
                    state += GOLDEN
                    dy, dx = _glass_offset(state, delta)
                    for k in range(c):
                        x[t, i, j, k] = x[t, i + dy, j + dx, k]


@njit(cache=True, nogil=True)
def glass_offsets(key, h, w, delta, passes):
    """(N, 2) int64 (dy, dx) in the order `_glass_copies` uses them for a frame of key
    ``key``: passes, then rows and columns from the bottom-right corner."""
    n = passes * max(0, h - 2 * delta) * max(0, w - 2 * delta)
    out = np.empty((n, 2), np.int64)
    state = np.uint64(key)
    for m in range(n):
        state += GOLDEN
        out[m, 0], out[m, 1] = _glass_offset(state, delta)
    return out


def _gaussian64(x: np.ndarray, sigma: float) -> np.ndarray:
    """(T, H, W, C) float64 -> blurred over H and W, exactly as ``skimage.filters.gaussian``
    blurs an (H, W, C) image with ``channel_axis=-1`` (the same 1-d passes, in order)."""
    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=4.0)


def glass_blur(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    sigma, delta, passes = GLASS_BLUR[severity - 1]
    x = (_gaussian64(frames / 255.0, sigma) * 255).astype(np.uint8)   # truncated, as upstream
    _glass_copies(x, draws.keys(), delta, passes)
    return to_uint8(np.clip(_gaussian64(x / 255.0, sigma), 0, 1), 255.0)


def disk_kernel(radius: int, alias_blur: float) -> np.ndarray:
    """Upstream's anti-aliased disk: (K, K) float32 summing to 1."""
    half, ksize = (8, 3) if radius <= 8 else (radius, 5)
    grid = np.arange(-half, half + 1)
    disk = (grid[:, None] ** 2 + grid[None, :] ** 2 <= radius ** 2).astype(np.float64)
    disk /= disk.sum()
    taps = np.arange(ksize) - ksize // 2
    g = np.exp(-taps ** 2 / (2 * alias_blur ** 2))
    disk = correlate1d(disk, g / g.sum(), axis=0, mode="mirror")
    return correlate1d(disk, g / g.sum(), axis=1, mode="mirror").astype(np.float32)


def defocus_blur(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    kernel = disk_kernel(*DEFOCUS_BLUR[severity - 1])
    r = kernel.shape[0] // 2
    padded = np.pad(frames.astype(np.float32), ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    out = fftconvolve(padded, kernel[None, ::-1, ::-1, None], mode="valid", axes=(1, 2))
    return to_uint8(out)


def motion_taps(radius: float, sigma: float, angle_deg: float) -> list[tuple[int, int, float]]:
    """ImageMagick's motion-blur kernel as (dy, dx, weight) taps, coincident taps merged."""
    width = 2 * math.ceil(radius) + 1
    i = np.arange(width)
    weight = np.exp(-(i * i) / (2.0 * sigma * sigma))
    weight /= weight.sum()
    a = math.radians(angle_deg)
    dx = np.ceil(i * math.cos(a) - 0.5).astype(int)
    dy = np.ceil(i * math.sin(a) - 0.5).astype(int)
    taps: dict[tuple[int, int], float] = {}
    for y, x, wt in zip(dy.tolist(), dx.tolist(), weight.tolist()):
        taps[(y, x)] = taps.get((y, x), 0.0) + wt
    return [(y, x, wt) for (y, x), wt in taps.items()]


def line_blur(x: np.ndarray, taps: list[tuple[int, int, float]]) -> np.ndarray:
    """(T, H, W, C) -> float32 sum of ``weight * x[:, h + dy, w + dx]``, edges repeated."""
    r = max(max(abs(dy), abs(dx)) for dy, dx, _ in taps)
    _, h, w, _ = x.shape
    padded = np.pad(x.astype(np.float32), ((0, 0), (r, r), (r, r), (0, 0)), mode="edge")
    out = np.zeros(x.shape, np.float32)
    for dy, dx, wt in taps:
        out += np.float32(wt) * padded[:, r + dy:r + dy + h, r + dx:r + dx + w]
    return out


def motion_blur(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    radius, sigma = MOTION_BLUR[severity - 1]
    angle = draws.layer_rng().uniform(-45, 45)
    return to_uint8(line_blur(frames, motion_taps(radius, sigma, angle)))


def zoom_samples(n: int, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the n output pixels of one axis read the frame when zoomed by ``factor``:
    (n,) int64 first source index and (n,) float32 weight of the next one."""
    crop = math.ceil(n / factor)
    top = (n - crop) // 2
    size = round(crop * factor)                     # scipy.ndimage.zoom's output length
    step = (crop - 1) / (size - 1) if size > 1 else 0.0
    pos = top + np.arange(n) * step
    first = np.minimum(np.floor(pos).astype(np.int64), n - 1)
    return first, (pos - first).astype(np.float32)


@njit(cache=True, nogil=True, boundscheck=False)
def _zoom_sum(x, rows, row_w, cols, col_w, out):
    """out[i, j] += sum over factors f of x bilinearly sampled at (rows[f, i] + row_w[f, i],
    cols[f, j] + col_w[f, j]); x (H, W, C) float32, out (H, W, C) float32."""
    h, w, c = x.shape
    for f in range(rows.shape[0]):
        for i in range(h):
            r0 = rows[f, i]
            r1 = min(r0 + 1, h - 1)
            fy = row_w[f, i]
            for j in range(w):
                c0 = cols[f, j]
                c1 = min(c0 + 1, w - 1)
                fx = col_w[f, j]
                for k in range(c):
                    top = x[r0, c0, k] + (x[r0, c1, k] - x[r0, c0, k]) * fx
                    bottom = x[r1, c0, k] + (x[r1, c1, k] - x[r1, c0, k]) * fx
                    out[i, j, k] += top + (bottom - top) * fy


def zoom_blur(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    factors = [float(z) for z in ZOOM_BLUR[severity - 1][1:]]   # factor 1 is the frame itself
    h, w = frames.shape[1:3]
    rows, row_w = map(np.stack, zip(*(zoom_samples(h, z) for z in factors)))
    cols, col_w = map(np.stack, zip(*(zoom_samples(w, z) for z in factors)))
    out = np.empty(frames.shape, np.float32)
    for t, frame in enumerate(frames):
        x = frame.astype(np.float32) / np.float32(255)
        acc = x + x                                    # upstream averages x with every zoom
        _zoom_sum(x, rows, row_w, cols, col_w, acc)
        out[t] = acc
    return to_uint8(np.clip(out / np.float32(len(factors) + 2), 0, 1), 255.0)
