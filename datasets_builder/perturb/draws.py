"""Where the random numbers of one corruption call come from (`Draws`).

Two kinds of randomness, kept apart so that a video's output does not depend on how it is
cut into chunks of frames, nor on which process runs it:

- per frame: what changes from frame to frame (sensor noise, falling snow, glass jitter)
  comes from the frame's own seed;
- per video: what stays in place over a video (the fog map, the frost crop, the water
  on the lens, the elastic field, the direction of a motion blur or of the snow) comes from
  one layer seed for the video and severity, and is regenerated identically for every
  chunk.

The compiled noise kernels draw from a counter-based SplitMix64 stream: element ``i`` of a
frame with key ``k`` takes ``mix(k + (i + 1) * golden)``, the (i + 1)-th output of the
SplitMix64 generator started at ``k`` (Steele, Lea & Flood 2014).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from r2bench.seeds import stream

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, inline="always")
def splitmix64(state):
    """The SplitMix64 output function of a 64-bit state."""
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class Draws:
    """Seeds of one call: ``layer`` for the video's static layer, one per frame in ``frames``."""

    layer: int
    frames: tuple[int, ...]

    def layer_rng(self) -> np.random.Generator:
        """A fresh generator for the static layer (the same numbers on every call)."""
        return stream(self.layer)

    def frame_rng(self, t: int) -> np.random.Generator:
        """The generator of frame ``t`` of the chunk."""
        return stream(self.frames[t])

    def keys(self) -> np.ndarray:
        """(T,) uint64 SplitMix64 keys of the frames, for the compiled kernels."""
        return np.array(self.frames, dtype=np.uint64)

    def per_frame(self, draw) -> np.ndarray:
        """``np.stack([draw(rng_t) for each frame t])``: one array per frame, stacked."""
        return np.stack([draw(self.frame_rng(t)) for t in range(len(self.frames))])

    def chunk(self, start: int, stop: int) -> Draws:
        return Draws(self.layer, self.frames[start:stop])
