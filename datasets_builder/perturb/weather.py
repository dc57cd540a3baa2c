"""The ImageNet-C weather family: fog, frost, snow and spatter (Hendrycks & Dietterich 2019,
``make_imagenet_c.py``; the R2-Bench toolbox's parameters).

What lies on the lens or in the air stays in place over a video and is drawn once per video
(and severity): the fog map, the frost crop, the water or mud. Snow falls, so its flakes
are drawn per frame, blown in one direction drawn per video.

- fog: a diamond-square plasma fractal (upstream's ``plasma_fractal``: corner-mean plus a
  uniform displacement of +-wibble^2, wibble starting at 100 and divided by ``decay`` per
  level), of side the power of two at or above the frame's longer side and cropped to the
  frame (ImageNet-C crops a 256 map to 224; the toolbox stretches a 1024 map over the
  frame); ``(x + c0 map) max(x) / (max(x) + c0)`` with max(x) per frame.
- frost: ``c0 x + c1 frost``, frost a crop of one of ImageNet-C's frost photographs
  (`datasets_builder.perturb.frost`: read from the installed ``imagecorruptions``, refused
  without it).
- snow: a normal field (mean c0, std c1) zoomed by c2 about the centre, values under c3
  dropped, quantised to 8 bits, motion-blurred (ImageMagick's kernel, radius c4, sigma c5,
  angle in [-135, -45) degrees) and added with its 180-degree rotation to the frame, which
  is first whitened: ``c6 x + (1 - c6) max(x, 1.5 grey(x) + 0.5)``.
- spatter: a normal field (c0, c1) smoothed with sigma c2 and cut at c3 gives drops. Water
  (severities 1-3): drops brightened towards pale turquoise (175, 238, 238) with a
  weight shaped by their outlines, as upstream: the Canny edges (thresholds 50/150, by
  OpenCV's rule: `datasets_builder.perturb.edges`) of the 8-bit drop layer, the distance
  to them (scipy's exact Euclidean transform; upstream OpenCV's 5 x 5 mask
  approximation) capped at 20, box blur, histogram equalisation (OpenCV's rule), emboss,
  box blur (8-bit in between, as upstream), times the 8-bit drop layer, scaled to a peak
  of c4. Mud
  (severities 4-5): the drop mask blurred with sigma c4, kept where at least 0.8, blends
  the frame towards brown (63, 42, 20).

Frames are (T, H, W, 3) uint8; outputs are rounded to the nearest 8-bit value.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import correlate, distance_transform_edt, gaussian_filter, uniform_filter

from datasets_builder.perturb.blur import line_blur, motion_taps, to_uint8
from datasets_builder.perturb.draws import Draws
from datasets_builder.perturb.edges import canny
from datasets_builder.perturb.frost import frost_layer

FOG = ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4))        # strength, wibble decay
FROST = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))  # frame, frost weights
SNOW = ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))
SPATTER = ((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0),
           (0.65, 0.3, 2, 0.68, 0.5, 0), (0.65, 0.3, 1, 0.65, 1.5, 1),
           (0.67, 0.4, 1, 0.65, 1.5, 1))                     # ..., mud (1) or water (0)
WATER = np.array([175, 238, 238], np.float32) / 255
MUD = np.array([63, 42, 20], np.float32) / 255
_GREY = np.array([0.299, 0.587, 0.114], np.float32)   # the RGB -> grey weights upstream uses
_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)


def plasma_fractal(rng: np.random.Generator, size: int, decay: float) -> np.ndarray:
    """(size, size) float64 diamond-square heightmap on a torus, scaled to [0, 1]."""
    if size & (size - 1):
        raise ValueError(f"plasma map size must be a power of two, got {size}")
    grid = np.zeros((size, size))
    step, wibble = size, 100.0

    def displaced(total: np.ndarray) -> np.ndarray:
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0::step, 0::step]                  # squares: centre from 4 corners
        total = corners + np.roll(corners, -1, axis=0)
        total += np.roll(total, -1, axis=1)
        grid[half::step, half::step] = displaced(total)
        centres = grid[half::step, half::step]            # diamonds: from 2 corners + 2 centres
        side = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0::step, half::step] = displaced(side)
        side = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half::step, 0::step] = displaced(side)
        step, wibble = half, wibble / decay
    grid -= grid.min()
    return grid / grid.max()


def fog(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    strength, decay = FOG[severity - 1]
    h, w = frames.shape[1:3]
    size = 1 << max(1, (max(h, w) - 1).bit_length())
    layer = plasma_fractal(draws.layer_rng(), size, decay)[:h, :w].astype(np.float32)
    x = frames.astype(np.float32) / 255
    peak = x.max(axis=(1, 2, 3), keepdims=True)                                  # (T, 1, 1, 1)
    x += np.float32(strength) * layer[None, :, :, None]
    return to_uint8(x * (peak / (peak + np.float32(strength))), 255)


def frost(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    a, b = FROST[severity - 1]
    layer = frost_layer(draws.layer_rng(), *frames.shape[1:3])
    return to_uint8(np.clip(np.float32(a) * frames + np.float32(b) * layer[None], 0, 255))


def _snowflakes(rng: np.random.Generator, h: int, w: int, loc: float, scale: float,
                factor: float, cut: float) -> np.ndarray:
    """(H, W) uint8 flakes: the centre 1/factor of a normal field enlarged, values < cut 0."""
    ch, cw = int(np.ceil(h / factor)), int(np.ceil(w / factor))
    field = rng.normal(loc, scale, size=(ch, cw)).astype(np.float32)
    im = Image.fromarray(field, mode="F").resize(
        (w, h), Image.Resampling.BILINEAR, box=(0.0, 0.0, w / factor, h / factor))
    flakes = np.asarray(im)
    flakes = np.where(flakes < cut, 0.0, flakes)
    return to_uint8(np.clip(flakes, 0, 1), 255)       # upstream passes them through a PNG


def snow(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    loc, scale, factor, cut, radius, sigma, keep = SNOW[severity - 1]
    h, w = frames.shape[1:3]
    flakes = draws.per_frame(lambda rng: _snowflakes(rng, h, w, loc, scale, factor, cut))
    taps = motion_taps(radius, sigma, draws.layer_rng().uniform(-135, -45))
    layer = line_blur(flakes[..., None], taps) / 255                  # (T, H, W, 1)
    layer = np.rint(layer * 255) / 255                                 # 8-bit, as upstream
    x = frames.astype(np.float32) / 255
    grey = x @ _GREY
    x = keep * x + (1 - keep) * np.maximum(x, grey[..., None] * 1.5 + 0.5)
    return to_uint8(np.clip(x + layer + layer[:, ::-1, ::-1], 0, 1), 255)


def _drop_layer(rng: np.random.Generator, h: int, w: int, loc: float, scale: float,
                sigma: float, cut: float) -> np.ndarray:
    liquid = gaussian_filter(rng.normal(loc, scale, size=(h, w)), sigma, mode="nearest",
                             truncate=4.0)
    return np.where(liquid < cut, 0.0, liquid)


def _equalise(img: np.ndarray) -> np.ndarray:
    """Histogram equalisation of a uint8 image, OpenCV's rule."""
    cdf = np.cumsum(np.bincount(img.ravel(), minlength=256))
    first = cdf[np.flatnonzero(cdf)[0]]
    if first == img.size:
        return img
    table = to_uint8((cdf - first) * 255.0 / (img.size - first))
    return table[img]


def _water(liquid: np.ndarray, peak: float) -> np.ndarray:
    """(H, W) float32 weight of the water colour: peaks at ``peak``, shaped by the outlines."""
    layer = (liquid * 255).astype(np.uint8)                        # truncated, as upstream
    edges = canny(layer, 50, 150)
    dist = np.minimum(distance_transform_edt(~edges), 20.0) if edges.any() \
        else np.full(liquid.shape, 20.0)
    # in float32 as OpenCV's (a float64 mean of 20s can fall below 20 and truncate to 19)
    dist = uniform_filter(dist.astype(np.float32), 3, mode="mirror").astype(np.uint8)
    dist = _equalise(dist)
    dist = np.clip(np.rint(correlate(dist.astype(np.float32), _EMBOSS, mode="mirror")), 0, 255)
    dist = to_uint8(uniform_filter(dist, 3, mode="mirror"))        # OpenCV's 8-bit box blur
    weight = layer * dist.astype(np.float32)
    top = weight.max()
    return (weight / top * peak if top > 0 else weight).astype(np.float32)


def _mud(liquid: np.ndarray, cut: float, sigma: float) -> np.ndarray:
    m = gaussian_filter((liquid > cut).astype(np.float32), sigma, mode="nearest", truncate=4.0)
    return np.where(m < 0.8, 0.0, m).astype(np.float32)


def spatter(frames: np.ndarray, severity: int, draws: Draws) -> np.ndarray:
    loc, scale, sigma, cut, strength, mud = SPATTER[severity - 1]
    h, w = frames.shape[1:3]
    liquid = _drop_layer(draws.layer_rng(), h, w, loc, scale, sigma, cut)
    x = frames.astype(np.float32) / 255
    if mud:
        m = _mud(liquid, cut, strength)[None, :, :, None]
        return to_uint8(np.clip(x * (1 - m) + MUD * m, 0, 1), 255)
    m = _water(liquid, strength)[None, :, :, None]
    return to_uint8(np.clip(x + m * WATER, 0, 1), 255)
