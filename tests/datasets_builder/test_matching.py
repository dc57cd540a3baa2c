"""The matching finds a maximum matching (compared with scipy's) and is seeded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from datasets_builder.matching import mask_words, negative_matching


def _allowed(cats, forbid) -> np.ndarray:
    n = len(cats)
    return np.array([[u != v and not (forbid[v] & cats[u]) for u in range(n)]
                     for v in range(n)])


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 12))
    bits = draw(st.integers(1, 6))
    cats = draw(st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n))
    extra = draw(st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n))
    # Mostly videos forbid their own categories (their targets), sometimes more.
    forbid = [c | (e if draw(st.booleans()) else 0) for c, e in zip(cats, extra)]
    return cats, forbid, draw(st.integers(0, 1000))


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_matching_is_maximum_and_valid(g):
    cats, forbid, seed = g
    match = negative_matching(cats, forbid, seed)
    allowed = _allowed(cats, forbid)
    placed = np.flatnonzero(match >= 0)
    assert len(set(match[placed].tolist())) == len(placed)          # a negative used once
    assert all(allowed[v, match[v]] for v in placed)                # every pair allowed
    best = (maximum_bipartite_matching(csr_matrix(allowed.astype(int)),
                                       perm_type="column") >= 0).sum()
    assert len(placed) == best


def test_seed_fixes_the_permutation():
    rng = np.random.default_rng(0)
    cats = [1 << int(b) for b in rng.integers(0, 5, 60)]
    a, b = negative_matching(cats, cats, 1), negative_matching(cats, cats, 1)
    c = negative_matching(cats, cats, 2)
    assert (a == b).all() and (a != c).any()
    assert sorted(a.tolist()) == list(range(60))


def test_wide_masks_beyond_64_categories():
    cats = [1 << 100, 1 << 3, 1 << 100 | 1 << 70, 1 << 3]
    forbid = cats
    match = negative_matching(cats, forbid, 0)
    assert (match >= 0).all() and all(not (forbid[v] & cats[u]) for v, u in enumerate(match))
    words = mask_words([1 << 100], 101)
    assert words.shape == (1, 2) and int(words[0, 1]) == 1 << 36


def test_infeasible_leaves_exactly_the_surplus_unplaced():
    # 7 videos of category A, 3 of B: an A video can only take a B negative.
    cats = [1] * 7 + [2] * 3
    match = negative_matching(cats, cats, 0)
    assert (match < 0).sum() == 4
