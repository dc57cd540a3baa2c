"""Seeds derived from a user seed and names, the same on every machine and in every process.

A child seed is numpy's `SeedSequence` over the parent seed and the names' bytes (a name is
a video id, an expression id or a fixed stream tag), so it depends on nothing else: not on
the order in which videos are processed, the number of workers, or PYTHONHASHSEED (Python's
``hash()`` is never used).
"""

from __future__ import annotations

import hashlib

import numpy as np


def name_words(name: str) -> list[int]:
    """Two 32-bit words identifying ``name`` (a BLAKE2b digest of its UTF-8 bytes)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return [int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")]


def derive_seed(seed: int, *names: str | int) -> int:
    """A 63-bit seed for the stream ``names`` under ``seed`` (ints are taken as they are).

    63 bits so that it round-trips through JSON readers that use signed 64-bit integers.
    """
    entropy = [int(seed) & 0xFFFFFFFFFFFFFFFF]
    for n in names:
        entropy += name_words(n) if isinstance(n, str) else [int(n) & 0xFFFFFFFFFFFFFFFF]
    state = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return (int(state[0]) | int(state[1]) << 32) >> 1


def rng_for(seed: int, *names: str | int) -> np.random.Generator:
    """A generator for the stream ``names`` under ``seed``."""
    return np.random.default_rng(derive_seed(seed, *names))
