"""The ImageNet-C digital family: contrast, brightness, saturate, JPEG compression, pixelate
and elastic transform (Hendrycks & Dietterich 2019; the R2-Bench toolbox's parameters).

- contrast: ``(x - mean) c + mean`` with the mean per frame and channel; one 256-entry table
  per frame and channel.
- brightness and saturate: upstream converts to HSV (scikit-image), adds c to V (brightness)
  or maps S to ``clip(S a + b)`` (saturate), and converts back. Both have a closed form on
  RGB, computed per pixel without the round trip: with M the largest channel and m the
  smallest, HSV -> RGB is linear in V at fixed H and S, so brightness scales a pixel by
  ``min(M + c, 1) / M`` (a black pixel becomes the grey c); and each channel is
  ``V (1 - S g(H))``, so a new saturation S' gives ``M - (M - channel) S' / S`` (a grey
  pixel, of hue 0 by scikit-image's convention, becomes ``(M, M (1 - S'), M (1 - S'))``,
  as upstream's does).
- jpeg: the frame encoded at quality c with Pillow and decoded.
- pixelate: box-downscaled and box-upscaled back. ImageNet-C reduces its 224 x 224 images
  to ``int(224 c)``; the toolbox reduces every frame to an ``int(512 c)`` square. Here the
  longer side is reduced to ``int(L c)`` (L its length) or the toolbox's ``int(512 c)``,
  whichever is smaller, and the shorter side in proportion (square blocks).
- elastic: upstream's random affine (corner jitter c2) followed by a displacement field
  (uniform noise smoothed with sigma c1, scaled by c0), with bilinear sampling and mirrored
  borders; the constants are fractions of the image size (224 in ImageNet-C, 512 in the
  toolbox, which resizes frames to 512 x 512 and back). Here they are fractions of the
  frame's shorter side, applied at the frame's own size, and the two warps are composed
  into one resampling. The field is drawn once per video, so the video warps as a whole
  instead of wobbling from frame to frame. Note that, as in ImageNet-C, severities 1 and 2
  are dominated by the affine part and move pixels farther than severities 3 to 5.
"""

from __future__ import annotations

import io

import numpy as np
from numba import njit
from PIL import Image
from scipy.ndimage import gaussian_filter

from datasets_builder.perturb.blur import to_uint8
from datasets_builder.perturb.draws import Draws

CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
SATURATE = ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))
JPEG_COMPRESSION = (25, 18, 15, 10, 7)
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
ELASTIC = ((2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02),
           (0.12, 0.01, 0.02))          # (alpha, sigma, affine jitter) x the shorter side
_TOOLBOX_SIZE = 512                     # the toolbox's working size for pixelate


@njit(cache=True, nogil=True, boundscheck=False)
def _channel_sums(x, sums):
    """sums[t, k] = sum of channel k of frame t; x (T, N, C) uint8."""
    for t in range(x.shape[0]):
        for i in range(x.shape[1]):
            for k in range(x.shape[2]):
                sums[t, k] += x[t, i, k]


@njit(cache=True, nogil=True, boundscheck=False)
def _apply_tables(x, tables, out):
    """out[t, i, k] = tables[t, k, x[t, i, k]]; x, out (T, N, C) uint8."""
    for t in range(x.shape[0]):
        for i in range(x.shape[1]):
            for k in range(x.shape[2]):
                out[t, i, k] = tables[t, k, x[t, i, k]]


def contrast(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    c = CONTRAST[severity - 1]
    x = np.ascontiguousarray(frames).reshape(len(frames), -1, frames.shape[-1])  # (T, N, C)
    sums = np.zeros((x.shape[0], x.shape[2]), np.uint64)
    _channel_sums(x, sums)
    means = sums / (255.0 * x.shape[1])                                          # (T, C)
    levels = np.arange(256) / 255.0
    tables = to_uint8(255 * np.clip((levels - means[..., None]) * c + means[..., None], 0, 1))
    out = np.empty_like(x)
    _apply_tables(x, tables, out)
    return out.reshape(frames.shape)


@njit(cache=True, nogil=True, boundscheck=False)
def _scale_by_max(x, table, out):
    """out[p, k] = table[max_k x[p, k], x[p, k]]; x, out (P, 3) uint8."""
    for p in range(x.shape[0]):
        m = max(x[p, 0], x[p, 1], x[p, 2])
        for k in range(3):
            out[p, k] = table[m, x[p, k]]


def brightness_table(c: float) -> np.ndarray:
    """(256, 256) uint8: output of a channel value v in a pixel whose largest channel is M."""
    big = np.arange(256, dtype=np.float64)[:, None]
    v = np.arange(256, dtype=np.float64)[None, :]
    new_max = np.minimum(big + 255 * c, 255.0)
    scaled = np.where(big > 0, v * new_max / np.maximum(big, 1), new_max)
    return to_uint8(scaled)


def brightness(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    x = np.ascontiguousarray(frames).reshape(-1, 3)
    out = np.empty_like(x)
    _scale_by_max(x, brightness_table(BRIGHTNESS[severity - 1]), out)
    return out.reshape(frames.shape)


@njit(cache=True, nogil=True, boundscheck=False)
def _rescale_saturation(x, ratio, grey, out):
    """Each channel c of a pixel with largest channel M and smallest m becomes
    ``M - (M - c) ratio[M, m]``; a grey pixel (M = m) becomes (M, grey[M], grey[M])."""
    for p in range(x.shape[0]):
        hi = max(x[p, 0], x[p, 1], x[p, 2])
        lo = min(x[p, 0], x[p, 1], x[p, 2])
        if hi == lo:
            out[p, 0] = hi
            out[p, 1] = out[p, 2] = grey[hi]
            continue
        r = ratio[hi, lo]
        big = np.float32(hi)
        for k in range(3):    # in [0, M]: (M - c) r <= (M - m) r = M S' <= M
            out[p, k] = np.uint8(big - (big - np.float32(x[p, k])) * r + np.float32(0.5))


def saturation_tables(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """(ratio S'/S as float32 (256, 256) indexed [M, m], grey outputs uint8 (256,)) for
    S' = clip(a S + b, 0, 1), S = (M - m) / M."""
    big = np.arange(256, dtype=np.float64)[:, None]
    small = np.arange(256, dtype=np.float64)[None, :]
    s = np.where(big > small, (big - small) / np.maximum(big, 1), 1.0)
    ratio = (np.clip(a * s + b, 0, 1) / s).astype(np.float32)
    grey = to_uint8(np.arange(256) * (1 - min(max(b, 0.0), 1.0)))
    return ratio, grey


def saturate(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    x = np.ascontiguousarray(frames).reshape(-1, 3)
    out = np.empty_like(x)
    _rescale_saturation(x, *saturation_tables(*SATURATE[severity - 1]), out)
    return out.reshape(frames.shape)


def jpeg_compression(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=JPEG_COMPRESSION[severity - 1])
        buf.seek(0)
        with Image.open(buf) as im:
            out[t] = np.asarray(im.convert("RGB"))
    return out


def pixelate_size(h: int, w: int, c: float) -> tuple[int, int]:
    """(width, height) of the reduced frame: the longer side ``int(L c)`` as in ImageNet-C
    (``int(224 c)``), at most the toolbox's ``int(512 c)``; the shorter side in proportion."""
    longer, shorter = max(h, w), min(h, w)
    if longer <= _TOOLBOX_SIZE:
        return max(1, int(w * c)), max(1, int(h * c))
    long_side = int(_TOOLBOX_SIZE * c)
    short_side = max(1, round(shorter * long_side / longer))
    return (long_side, short_side) if w >= h else (short_side, long_side)


def pixelate(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    h, w = frames.shape[1:3]
    small = pixelate_size(h, w, PIXELATE[severity - 1])
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        im = Image.fromarray(frame).resize(small, Image.Resampling.BOX)
        out[t] = np.asarray(im.resize((w, h), Image.Resampling.BOX))
    return out


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Uniform(-1, 1) noise smoothed by a Gaussian of ``sigma`` (truncate 3, mirrored edges).

    For a wide Gaussian the noise is summed over blocks of b = sigma / 4 pixels first (one
    normal draw per block, of the block sum's variance), smoothed at that resolution and
    interpolated back: the same random field up to the within-block detail that the wide
    Gaussian removes, at a cost independent of sigma.
    """
    block = max(1, int(sigma // 4))
    coarse = (-(-shape[0] // block), -(-shape[1] // block))
    if block == 1:
        noise = rng.uniform(-1, 1, size=shape)
    else:
        noise = rng.normal(0.0, block / np.sqrt(3.0), size=coarse)
    field = gaussian_filter(noise, sigma / block, mode="mirror", truncate=3.0) / block ** 2
    if block == 1:
        return field
    im = Image.fromarray(field.astype(np.float32), mode="F")
    box = (0.0, 0.0, shape[1] / block, shape[0] / block)
    return np.asarray(im.resize((shape[1], shape[0]), Image.Resampling.BILINEAR, box=box))


def _affine_jitter(rng: np.random.Generator, h: int, w: int, jitter: float) -> np.ndarray:
    """(2, 3) inverse affine (output (x, y) -> source (x, y)) of three jittered points."""
    cx, cy, s = w // 2, h // 2, min(h, w) // 3
    src = np.array([[cx + s, cy + s], [cx + s, cy - s], [cx - s, cy - s]], np.float64)
    dst = src + rng.uniform(-jitter, jitter, size=src.shape)
    # dst = A @ [src, 1]: solve for the map taking dst back to src
    ones = np.ones((3, 1))
    return np.linalg.solve(np.hstack([dst, ones]), src).T


def _mirror(coord: np.ndarray, n: int) -> np.ndarray:
    """Reflect coordinates into [0, n - 1] without repeating the edge (d c b | a b c d)."""
    if n == 1:
        return np.zeros_like(coord)
    period = 2 * (n - 1)
    c = np.abs(coord) % period
    return np.where(c > n - 1, period - c, c)


def bilinear(frames: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(T, H, W, C) sampled at (H, W) source coordinates, mirrored at the borders; float32."""
    h, w = frames.shape[1:3]
    ys, xs = _mirror(ys, h), _mirror(xs, w)
    y0 = np.minimum(ys.astype(np.intp), h - 1)
    x0 = np.minimum(xs.astype(np.intp), w - 1)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy = (ys - y0).astype(np.float32)[None, :, :, None]
    fx = (xs - x0).astype(np.float32)[None, :, :, None]
    top = frames[:, y0, x0] * (1 - fx) + frames[:, y0, x1] * fx
    bottom = frames[:, y1, x0] * (1 - fx) + frames[:, y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def elastic_transform(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    h, w = frames.shape[1:3]
    alpha, sigma, jitter = (k * min(h, w) for k in ELASTIC[severity - 1])
    rng = draws.layer_rng()
    inverse = _affine_jitter(rng, h, w, jitter)
    dx = alpha * _smooth_noise(rng, (h, w), sigma)
    dy = alpha * _smooth_noise(rng, (h, w), sigma)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    px, py = gx + dx, gy + dy                       # elastic: where the affine output is read
    xs = inverse[0, 0] * px + inverse[0, 1] * py + inverse[0, 2]
    ys = inverse[1, 0] * px + inverse[1, 1] * py + inverse[1, 2]
    return to_uint8(bilinear(frames, ys, xs))
