"""Pixels of a synthetic scene: JPEG-ready frames and palette annotations, numpy only.

Shapes are implicit functions of normalised coordinates ``(u, v)`` (the object's radius is
1), evaluated for all frames at once; the background is a sum of plane waves that drift.
Annotations follow Youtube-VOS: one palette PNG per frame, pixel value = object id, the
object drawn last winning where objects overlap.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from datasets_builder.scene import COLOURS, Scene

JPEG_QUALITY = 90


def davis_palette() -> list[int]:
    """The DAVIS / Youtube-VOS annotation palette (768 ints): id 1 dark red, 2 green, ..."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


PALETTE = davis_palette()


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of ``shape`` at normalised coordinates (u right, v down; radius 1)."""
    au, av = np.abs(u), np.abs(v)
    rho2 = u * u + v * v
    if shape == "circle":
        return rho2 <= 1.0
    if shape == "ring":
        return (rho2 <= 1.0) & (rho2 >= 0.55 ** 2)
    if shape == "square":
        return np.maximum(au, av) <= 0.82
    if shape == "diamond":
        return au + av <= 1.0
    if shape == "triangle":  # apex up, base at v = 0.8
        return (v <= 0.8) & (v >= -1.0 + 2.2 * au)
    if shape == "cross":
        return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
    if shape == "star":  # five points: the radius swings between 0.45 and 1
        theta = np.arctan2(u, -v)
        reach = 0.45 + 0.55 * ((np.cos(5 * theta) + 1) / 2) ** 2
        return rho2 <= reach * reach
    if shape == "heart":
        x, y = u * 1.15, -(v * 1.15 - 0.15)
        return (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0
    raise ValueError(f"unknown shape {shape!r}")


def _background(scene: Scene) -> np.ndarray:
    """(T, H, W, 3) float32 texture, translated by the background velocity each frame.

    The texture is drawn once on a canvas large enough for the whole drift, and each frame
    is a window of it shifted by the rounded displacement (pure slicing).
    """
    bg = scene.background
    shifts = np.rint(np.arange(scene.frames)[:, None] * bg.velocity).astype(int)  # (T, 2)
    lo = shifts.min(axis=0)
    pad = shifts.max(axis=0) - lo                                          # (2,)
    ys = np.arange(scene.height + pad[0], dtype=np.float64)[:, None]
    xs = np.arange(scene.width + pad[1], dtype=np.float64)[None, :]
    level = np.zeros((ys.shape[0], xs.shape[1]), np.float64)              # canvas (H', W')
    for ky, kx, phase, amp in bg.waves:
        level += amp * np.sin(ky * ys + kx * xs + phase)
    level = (level - level.min()) / max(float(np.ptp(level)), 1e-6)      # in [0, 1]
    low, high = bg.colours
    canvas = (low + level[..., None] * (high - low)).astype(np.float32)  # (H', W', 3)
    # Content moves by +shift, so the window origin moves by -shift.
    origin = pad - (shifts - lo)                                           # (T, 2)
    return np.stack([canvas[y:y + scene.height, x:x + scene.width] for y, x in origin])


def render_scene(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 and labels (T, H, W) uint8 (0 background, else obj id)."""
    shape3 = (scene.frames, scene.height, scene.width)
    labels = np.zeros(shape3, np.uint8)
    shade = np.ones(shape3, np.float32)
    ys = np.arange(scene.height, dtype=np.float32)[None, :, None]
    xs = np.arange(scene.width, dtype=np.float32)[None, None, :]
    table = np.zeros((len(scene.objects) + 1, 3), np.float32)           # colour per obj id
    for obj in scene.objects:
        cy = obj.centres[:, 0, None, None].astype(np.float32)              # (T, 1, 1)
        cx = obj.centres[:, 1, None, None].astype(np.float32)
        u, v = (xs - cx) / obj.radius, (ys - cy) / obj.radius            # (T, H, W)
        mask = shape_mask(obj.shape, u, v)
        labels[mask] = int(obj.obj_id)
        # A soft vertical shading so objects are not flat colour blocks.
        shade[mask] = 1.0 - 0.12 * np.clip(np.broadcast_to(v, shape3)[mask], -1, 1)
        table[int(obj.obj_id)] = COLOURS[obj.colour]
    image = _background(scene)
    fg = labels > 0
    image[fg] = np.clip(table[labels[fg]] * shade[fg][:, None], 0, 255)
    return (image + 0.5).astype(np.uint8), labels


def encode_jpeg(frame: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def encode_palette_png(labels: np.ndarray) -> bytes:
    im = Image.fromarray(labels)
    im.putpalette(PALETTE)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
