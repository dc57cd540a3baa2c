"""Seeds derived from a user seed and names, the same on every machine and in every process.

The one derivation: numpy's `SeedSequence` over the parent seed and the names (a name is a
video id, an expression id or a fixed stream tag, hashed to two 32-bit words; an integer
name, such as an index or an epoch, is taken as it is), so a stream depends on nothing
else: not on the order in which videos are processed, the number of workers, or
PYTHONHASHSEED (Python's ``hash()`` is never used). Every random draw of r2bench comes
from a generator made here:

- `stream` (seed, names): the generator of that sequence; with integer names only it is
  ``numpy.random.default_rng([seed, *names])``, the form synth, the matching, holdout,
  training and the bootstrap have always used;
- `rng_for` (seed, names): a generator from `derive_seed`, the sequence folded to one
  integer that a record can carry (perturb.json, hard negatives); ``stream(recorded)``
  replays it.
"""

from __future__ import annotations

import hashlib

import numpy as np


def name_words(name: str) -> list[int]:
    """Two 32-bit words identifying ``name`` (a BLAKE2b digest of its UTF-8 bytes)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return [int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")]


def seed_sequence(seed: int, *names: str | int) -> np.random.SeedSequence:
    """The sequence of the stream ``names`` under ``seed`` (ints are taken as they are)."""
    entropy = [int(seed) & 0xFFFFFFFFFFFFFFFF]
    for n in names:
        entropy += name_words(n) if isinstance(n, str) else [int(n) & 0xFFFFFFFFFFFFFFFF]
    return np.random.SeedSequence(entropy)


def stream(seed: int, *names: str | int) -> np.random.Generator:
    """The generator of the stream ``names`` under ``seed``."""
    return np.random.default_rng(seed_sequence(seed, *names))


def derive_seed(seed: int, *names: str | int) -> int:
    """A 63-bit seed for the stream ``names`` under ``seed``, to be recorded.

    63 bits so that it round-trips through JSON readers that use signed 64-bit integers.
    """
    state = seed_sequence(seed, *names).generate_state(2, np.uint32)
    return (int(state[0]) | int(state[1]) << 32) >> 1


def rng_for(seed: int, *names: str | int) -> np.random.Generator:
    """A generator for the stream ``names`` under ``seed``, through `derive_seed` (a recorded
    derived seed is replayed with ``stream(recorded)``)."""
    return np.random.default_rng(derive_seed(seed, *names))
