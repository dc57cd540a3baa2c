"""The unrelatedness constraint (docs/formats.md §2) as one pair of bitmasks per video.

``cats[v]``: the categories of v's objects. ``forbid[v]``: the categories v's negative must
not contain, i.e. for every expression of v, its target category (every category of v when
the expression has no ``obj_id``) and every category the expression names. Then a negative
u is allowed for v exactly when ``u != v and forbid[v] & cats[u] == 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from r2bench.refytvos import VideoMeta
from r2bench.synonyms import CategoryNamer

# What build-dataset guarantees and verify-dataset re-checks, as recorded in r2_meta.json.
CONSTRAINT = ("pi is a permutation of the videos with pi(v) != v; for every expression of v, "
              "neither its target category (every category of v when obj_id is absent) nor "
              "any category it names (whole words, case- and plural-insensitive, synonyms "
              "included) is a category of pi(v)")


@dataclass(frozen=True)
class Constraints:
    """Videos in source order, the category list, and one mask pair per video."""

    videos: list[str]
    namer: CategoryNamer
    cats: list[int]
    forbid: list[int]


def build_constraints(videos: Mapping[str, VideoMeta],
                      objects: Mapping[str, Mapping[str, str]]) -> Constraints:
    """Masks for every video of ``videos``; ``objects[vid][obj_id]`` is a category.

    Inputs are assumed validated (every video has objects, every obj_id is one of them).
    """
    categories = sorted({c for vid in videos for c in objects[vid].values()})
    index = {c: i for i, c in enumerate(categories)}
    namer = CategoryNamer(categories)
    named_cache: dict[str, int] = {}
    cats, forbid = [], []
    for vid, meta in videos.items():
        mask = sum(1 << index[c] for c in set(objects[vid].values()))
        f = 0
        for exp in meta.expressions.values():
            named = named_cache.get(exp.exp)
            if named is None:
                named = named_cache[exp.exp] = namer.named(exp.exp)
            f |= named | (mask if exp.obj_id is None else 1 << index[objects[vid][exp.obj_id]])
        cats.append(mask)
        forbid.append(f)
    return Constraints(list(videos), namer, cats, forbid)
