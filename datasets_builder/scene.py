"""Random scenes of the synthetic source: objects, their attributes and their tracks.

A scene is pure data (no pixels): which shapes appear, with which colour, size and motion,
where they are in every frame, and how the background moves. ``render`` turns it into
frames and annotations, ``expressions`` into referring expressions. Every random draw comes
from the generator passed in, so one seed gives one scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The categories of the synthetic source (they play Youtube-VOS's object categories).
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross", "ring", "heart")
# Saturated object colours, far from the muted backgrounds.
COLOURS = {
    "red": (215, 35, 35),
    "green": (40, 185, 60),
    "blue": (40, 80, 225),
    "yellow": (235, 215, 40),
    "white": (240, 240, 240),
    "purple": (150, 55, 195),
    "orange": (245, 135, 25),
}
SIZES = ("small", "big")
MOTIONS = ("left", "right", "up", "down")
_DIRECTION = {"left": (0.0, -1.0), "right": (0.0, 1.0), "up": (-1.0, 0.0), "down": (1.0, 0.0)}
# Radius as a fraction of the shorter frame side, per size class: far enough apart that
# "small" and "big" are visible at a glance.
_RADIUS = {"small": (0.07, 0.10), "big": (0.15, 0.20)}
_OBJECT_COUNT_P = (0.2, 0.35, 0.3, 0.15)  # P(1, 2, 3, 4 objects)


@dataclass(frozen=True)
class SceneObject:
    """One object: attributes, and its centre in every frame.

    ``centres`` is (T, 2) float64, rows ``(y, x)`` in pixels; it may leave the frame.
    """

    obj_id: str
    shape: str
    colour: str
    size: str
    motion: str
    radius: float
    centres: np.ndarray

    @property
    def mean_centre(self) -> np.ndarray:
        return self.centres.mean(axis=0)


@dataclass(frozen=True)
class Background:
    """A moving texture: a sum of plane waves between two muted colours."""

    colours: np.ndarray    # (2, 3) float64, RGB of the texture's low and high end
    waves: np.ndarray      # (K, 4): ky, kx (radians per pixel), phase, amplitude
    velocity: np.ndarray   # (2,) pixels per frame, (vy, vx)


@dataclass(frozen=True)
class Scene:
    height: int
    width: int
    frames: int
    objects: tuple[SceneObject, ...]
    background: Background


def sample_background(rng: np.random.Generator, height: int) -> Background:
    low = rng.uniform(30, 110, size=3)
    high = low + rng.uniform(25, 60) * (1 + rng.uniform(-0.2, 0.2, size=3))
    k = 4
    angle = rng.uniform(0, 2 * np.pi, size=k)
    freq = rng.uniform(2.0, 12.0, size=k) * 2 * np.pi / height
    waves = np.stack([freq * np.sin(angle), freq * np.cos(angle),
                      rng.uniform(0, 2 * np.pi, size=k), rng.uniform(0.5, 1.0, size=k)], axis=1)
    velocity = rng.uniform(-1.5, 1.5, size=2)
    return Background(np.stack([low, high]), waves, velocity)


def _sample_attributes(rng: np.random.Generator, n: int) -> list[tuple[str, str, str, str]]:
    """(shape, colour, size, motion) per object; no two objects share shape and colour."""
    out: list[tuple[str, str, str, str]] = []
    colours = list(COLOURS)
    for _ in range(n):
        shape = SHAPES[rng.integers(len(SHAPES))]
        free = [c for c in colours if (shape, c) not in {(a[0], a[1]) for a in out}]
        colour = free[rng.integers(len(free))]
        out.append((shape, colour, SIZES[rng.integers(2)], MOTIONS[rng.integers(4)]))
    return out


def _sample_track(rng: np.random.Generator, motion: str, height: int, width: int,
                  frames: int) -> np.ndarray:
    """Centres (T, 2): a straight track along ``motion`` with a little sideways drift.

    The object starts inside the frame and travels 30-80% of the frame along its
    direction, so objects sometimes leave the frame.
    """
    along = np.asarray(_DIRECTION[motion])
    side = along[::-1]
    extent = width if along[1] else height
    dist = rng.uniform(0.3, 0.8) * extent
    drift = rng.uniform(-0.15, 0.15) * dist
    start = np.array([rng.uniform(0.15, 0.85) * height, rng.uniform(0.15, 0.85) * width])
    t = np.linspace(0.0, 1.0, frames)[:, None]                       # (T, 1)
    return start + t * (dist * along + drift * side)                  # (T, 2)


def sample_scene(rng: np.random.Generator, height: int, width: int, frames: int) -> Scene:
    n = int(rng.choice(4, p=_OBJECT_COUNT_P)) + 1
    short = min(height, width)
    objects = []
    for i, (shape, colour, size, motion) in enumerate(_sample_attributes(rng, n)):
        lo, hi = _RADIUS[size]
        radius = rng.uniform(lo, hi) * short
        centres = _sample_track(rng, motion, height, width, frames)
        objects.append(SceneObject(str(i + 1), shape, colour, size, motion, radius, centres))
    return Scene(height, width, frames, tuple(objects), sample_background(rng, height))
