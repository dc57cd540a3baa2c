"""The ImageNet-C blur family: gaussian, glass, defocus, motion and zoom blur (Hendrycks &
Dietterich 2019, ``make_imagenet_c.py``, with the R2-Bench toolbox's parameters).

Sizes are in pixels and kept as they are at every frame size, as the toolbox does (it applies
the 224 x 224 parameters to full frames), so a blur is milder on a 720p frame than on a
224 x 224 crop. Zoom blur's factors are relative and need no scaling.

- gaussian: ``skimage.filters.gaussian`` (truncate 4, edge mode 'nearest') of sigma c.
- glass: gaussian blur, then for each of ``iterations`` passes, pixel (h, w) is swapped with
  a random neighbour (h + dy, w + dx), dx, dy in [-delta, delta), h and w running down
  from the bottom-right corner as upstream's loops do; then gaussian blur again. The swaps
  are sequential (a pixel moved can move again), so they run in a compiled loop.
- defocus: correlation with upstream's anti-aliased disk kernel (the disk on a 17 x 17 grid
  for radii up to 8, a Gaussian of sigma ``alias_blur`` over it), mirrored borders, by FFT.
- motion: ImageMagick's ``MotionBlurImage`` (which upstream calls through Wand): a one-sided
  line kernel of ``2 ceil(radius) + 1`` taps weighted ``exp(-i^2 / 2 sigma^2)``, tap i at
  offset ``(ceil(i cos a - 1/2), ceil(i sin a - 1/2))``, edge pixels repeated; the angle a
  is drawn once per video in [-45, 45) degrees (upstream: per image), so the camera shakes
  one way through the video.
- zoom: the mean of the frame and its centre zoomed by each factor (bilinear). Upstream's
  ``clipped_zoom`` crops a square, which on a non-square frame zooms about a point left of
  the centre and stretches the result; here the crop keeps the frame's aspect and centre.

Frames are (T, H, W, 3) uint8; outputs are rounded to the nearest 8-bit value.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from PIL import Image
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


@njit(cache=True, nogil=True, boundscheck=False)
def _glass_swaps(x, keys, delta, passes):
    """Upstream's local pixel shuffle, in place on (T, H, W, C) uint8."""
    _, h, w, c = x.shape
    span = np.uint64(2 * delta)
    low = np.uint64(0xFFFFFFFF)
    for t in range(x.shape[0]):
        state = keys[t]
        for _ in range(passes):
            for i in range(h - delta, delta, -1):
                for j in range(w - delta, delta, -1):
                    state += GOLDEN
                    z = splitmix64(state)
                    dx = np.int64(((z & low) * span) >> np.uint64(32)) - delta
                    dy = np.int64(((z >> np.uint64(32)) * span) >> np.uint64(32)) - delta
                    for k in range(c):
                        v = x[t, i, j, k]
                        x[t, i, j, k] = x[t, i + dy, j + dx, k]
                        x[t, i + dy, j + dx, k] = v


def glass_blur(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    sigma, delta, passes = GLASS_BLUR[severity - 1]
    x = to_uint8(_gaussian(frames, sigma))
    _glass_swaps(x, draws.keys(), delta, passes)
    return to_uint8(_gaussian(x, sigma))


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


def _zoomed(frame: Image.Image, factor: float) -> np.ndarray:
    """The centre 1/factor of ``frame`` enlarged back to its size (bilinear), uint8."""
    w, h = frame.size
    cw, ch = w / factor, h / factor
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    return np.asarray(frame.resize((w, h), Image.Resampling.BILINEAR, box=box))


def zoom_blur(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    factors = ZOOM_BLUR[severity - 1]
    out = frames.astype(np.uint32)
    for t, frame in enumerate(frames):
        image = Image.fromarray(frame)
        for z in factors[1:]:                       # factor 1 is the frame itself
            out[t] += _zoomed(image, float(z))
    out += frames                                   # upstream averages x with every zoom
    return to_uint8(out.astype(np.float32), 1.0 / (len(factors) + 1))
