"""The negative permutation as a bipartite matching, without materialising the graph.

Video v may take u as its negative when ``u != v`` and ``forbid[v] & cats[u] == 0``
(bitmasks over the category list). A valid shuffle is a perfect matching of videos (left:
"has a negative") to videos (right: "is a negative"). At Ref-Youtube-VOS scale almost all
pairs are compatible, so the graph is never built: a video's partners are computed on the
fly, by random probes and, when those miss, by one vectorised AND over the candidates.

1. Greedy: videos, most constrained first (seeded random order among equals), each take a
   random compatible free video.
2. Completion: every video left over searches an augmenting path (breadth first). A search
   that fails proves the video cannot be placed in any matching that contains the current
   one (Berge), so the result is a maximum matching: perfect, or a proof of infeasibility.
   The vertices a failed search reaches stay closed for every later search, so failures
   cost linear time in all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from r2bench.seeds import stream

_PROBES = 8   # random tries before a vectorised scan; most pairs are compatible
_ALL = (1 << 64) - 1


def mask_words(masks: Sequence[int], n_bits: int) -> np.ndarray:
    """Python-int bitmasks as an (N, W) uint64 array, W = ceil(n_bits / 64)."""
    n_words = max(1, -(-n_bits // 64))
    out = np.zeros((len(masks), n_words), np.uint64)
    for w in range(n_words):
        out[:, w] = [(m >> (64 * w)) & _ALL for m in masks]
    return out


class _Graph:
    """Compatibility tests, one pair in Python ints or one row against many in numpy."""

    def __init__(self, cats: Sequence[int], forbid: Sequence[int]):
        n_bits = max([m.bit_length() for m in [*cats, *forbid]] + [1])
        self.cats, self.forbid = list(cats), list(forbid)
        self.cat_words = mask_words(self.cats, n_bits)       # (N, W)
        self.forbid_words = mask_words(self.forbid, n_bits)  # (N, W)

    def ok(self, v: int, u: int) -> bool:
        return u != v and not (self.forbid[v] & self.cats[u])

    def ok_many(self, v: int, cand: np.ndarray) -> np.ndarray:
        """Boolean (len(cand),): which candidate videos v may take as its negative."""
        clash = (self.cat_words[cand] & self.forbid_words[v]).any(axis=1)
        return ~clash & (cand != v)


def _bits(mask: int) -> list[int]:
    """Indices of the set bits of ``mask``."""
    return [i for i, c in enumerate(reversed(bin(mask)[2:])) if c == "1"]


def _tightest_first(g: _Graph, rng: np.random.Generator) -> np.ndarray:
    """Videos ordered by how many videos contain a category they forbid (an upper bound on
    what they rule out), most first and randomly among equals: scarce partners then go to
    the videos that need them, and the greedy pass rarely leaves anyone over."""
    counts = np.zeros(64 * g.cat_words.shape[1])        # videos containing each category
    for m in g.cats:
        counts[_bits(m)] += 1
    ruled_out = np.array([counts[_bits(f)].sum() for f in g.forbid])   # (N,)
    return np.lexsort((rng.random(len(g.cats)), -ruled_out))


def _greedy(g: _Graph, n: int, rng: np.random.Generator) -> np.ndarray:
    """match[v] = a compatible distinct u for most v, -1 where the greedy pass got stuck."""
    match = np.full(n, -1, np.int64)
    free = rng.permutation(n)          # free[:n_free] are the videos not yet a negative
    n_free = n
    draws = iter(rng.random(n * _PROBES + n).tolist())
    for v in _tightest_first(g, rng).tolist():
        if n_free == 0:
            break
        k = -1
        for _ in range(_PROBES):
            j = int(next(draws) * n_free)
            if g.ok(v, int(free[j])):
                k = j
                break
        if k < 0:
            hits = np.flatnonzero(g.ok_many(v, free[:n_free]))
            if hits.size == 0:
                continue
            k = int(hits[int(next(draws) * hits.size)])
        match[v] = free[k]
        n_free -= 1
        free[k], free[n_free] = free[n_free], free[k]
    return match


def _augment(g: _Graph, v: int, match: np.ndarray, owner: np.ndarray,
             closed: np.ndarray) -> bool:
    """Breadth-first augmenting path from unmatched v; updates match/owner in place.

    ``owner[u]`` is the video whose negative u is (-1: free). On failure, every right
    vertex the search reached is added to ``closed``.
    """
    came_from = {}                           # right vertex -> left vertex that reached it
    open_r = np.flatnonzero(~closed)         # right vertices this search has not reached
    reached: list[np.ndarray] = []
    queue = deque([v])
    while queue and open_r.size:
        x = queue.popleft()
        ok = g.ok_many(x, open_r)
        hits = open_r[ok]
        if hits.size == 0:
            continue
        open_r = open_r[~ok]
        came_from.update(dict.fromkeys(hits.tolist(), x))
        free = hits[owner[hits] < 0]
        if free.size:
            _flip(int(free[0]), came_from, match, owner)
            return True
        reached.append(hits)
        queue.extend(owner[hits].tolist())
    for hits in reached:
        closed[hits] = True
    return False


def _flip(u: int, came_from: dict[int, int], match: np.ndarray, owner: np.ndarray) -> None:
    """Swap matched and unmatched edges along the path ending at free right vertex u."""
    while True:
        x = came_from[u]
        previous = int(match[x])
        match[x], owner[u] = u, x
        if previous < 0:
            return
        u = previous


def negative_matching(cats: Sequence[int], forbid: Sequence[int], seed: int) -> np.ndarray:
    """A maximum matching: ``match[v]`` is v's negative video, -1 where none is possible.

    Perfect (no -1) exactly when a valid shuffle exists. Deterministic for a given seed.
    """
    n = len(cats)
    g = _Graph(cats, forbid)
    match = _greedy(g, n, stream(seed))
    owner = np.full(n, -1, np.int64)
    owner[match[match >= 0]] = np.flatnonzero(match >= 0)
    closed = np.zeros(n, bool)
    for v in np.flatnonzero(match < 0).tolist():
        _augment(g, v, match, owner, closed)
    return match
