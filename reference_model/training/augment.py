"""Training augmentation of a clip (ReferFormer's ``datasets/transforms_video.py`` as the
release trains with it: flip, photometric distortion, then resize, or crop and resize).

- Horizontal flip of every frame and mask with probability ``flip_prob``; the caption's
  words "left" and "right" are swapped (whole words: the release replaces substrings, which
  also turns "bright" into "bleft").
- Photometric distortion of each frame with its own draws, in the release's order:
  brightness, then contrast before or after the saturation and hue steps (one coin), then a
  random channel order; every step fires with probability 1/2. Values are clipped to
  [0, 255] (the release lets uint8 wrap) and hue is turned in Pillow's 8-bit HSV.
- Crop with probability ``crop_prob``: one window for the whole clip, each side a random
  fraction in [crop_min, 1] of the frame's, with the frame's aspect ratio (the batch shares
  one size, see :mod:`reference_model.training.dataset`).
- Resize to the batch's size: bilinear for frames, nearest for masks.

Every draw comes from the generator passed in. Legend: T frames, H x W size.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from .config import AugmentConfig

_SIDE = re.compile(r"\b(left|right)\b")


def swap_left_right(text: str) -> str:
    """"the dog left of the cat" -> "the dog right of the cat" (whole words only)."""
    return _SIDE.sub(lambda m: "right" if m[1] == "left" else "left", text)


def hflip(frames: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """frames [T, H, W, 3], masks [T, H, W] mirrored left to right."""
    return frames[:, :, ::-1], masks[:, :, ::-1]


def resize_clip(frames: np.ndarray, masks: np.ndarray, size: tuple[int, int]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Frames (bilinear) and masks (nearest) at ``size`` (H, W)."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames, masks
    out_f = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(f)).resize(
        (w, h), Image.BILINEAR)) for f in frames])
    out_m = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(m).astype(np.uint8))
                                 .resize((w, h), Image.NEAREST)) for m in masks])
    return out_f, out_m.astype(bool)


def random_crop(rng: np.random.Generator, frames: np.ndarray, masks: np.ndarray,
                min_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """One window of a random fraction of the frame (same for every frame of the clip)."""
    _, h, w = masks.shape
    frac = rng.uniform(min_frac, 1.0)
    ch, cw = max(1, round(h * frac)), max(1, round(w * frac))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return frames[:, y0:y0 + ch, x0:x0 + cw], masks[:, y0:y0 + ch, x0:x0 + cw]


def _contrast(rng: np.random.Generator, img: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    if rng.integers(2):
        img = img * rng.uniform(*cfg.contrast_range)
    return img


def _saturation_hue(rng: np.random.Generator, img: np.ndarray,
                    cfg: AugmentConfig) -> np.ndarray:
    """Saturation scale and hue turn in HSV (8-bit, Pillow's), each with probability 1/2."""
    hsv = np.asarray(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).convert("HSV"),
                     dtype=np.float32).copy()
    if rng.integers(2):
        hsv[..., 1] *= rng.uniform(*cfg.saturation_range)
    if rng.integers(2) and cfg.hue_delta:
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_delta, cfg.hue_delta) * 256 / 360) % 256
    hsv = np.clip(hsv, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"), dtype=np.float32)


def photometric(rng: np.random.Generator, frame: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    """One frame [H, W, 3] uint8 through the release's PhotometricDistort."""
    img = frame.astype(np.float32)
    if rng.integers(2):
        img = img + rng.uniform(-cfg.brightness_delta, cfg.brightness_delta)
    if rng.integers(2):
        img = _saturation_hue(rng, _contrast(rng, img, cfg), cfg)
    else:
        img = _contrast(rng, _saturation_hue(rng, img, cfg), cfg)
    if rng.integers(2) and cfg.channel_swap:
        img = img[..., rng.permutation(3)]
    return np.clip(img, 0, 255).astype(np.uint8)


def augment_clip(rng: np.random.Generator, frames: np.ndarray, masks: np.ndarray,
                 caption: str | tuple[str, ...], size: tuple[int, int], cfg: AugmentConfig
                 ) -> tuple[np.ndarray, np.ndarray, str | tuple[str, ...]]:
    """frames [T, H, W, 3] uint8, masks [K*T, H, W] bool (K objects' masks, object-major)
    -> the same at ``size``, and the caption or K captions (left and right swapped when
    flipped)."""
    if rng.random() < cfg.flip_prob:
        frames, masks = hflip(frames, masks)
        caption = (swap_left_right(caption) if isinstance(caption, str)
                   else tuple(swap_left_right(c) for c in caption))
    if cfg.photometric:
        frames = np.stack([photometric(rng, f, cfg) for f in frames])
    if rng.random() < cfg.crop_prob:
        frames, masks = random_crop(rng, frames, masks, cfg.crop_min)
    return (*resize_clip(frames, masks, size), caption)
