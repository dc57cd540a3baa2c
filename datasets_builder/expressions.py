"""Referring expressions of the synthetic source, generated from object attributes.

The language is small and regular on purpose (a tiny text encoder is trained on it):

    the [small|big] [COLOUR] SHAPE [moving left|right|up|down]
    the SHAPE left of|right of|above|below the COLOUR SHAPE

``resolve`` gives the objects an expression describes; the generator keeps an expression
only if it resolves to exactly its target. Relations are judged on the objects' mean
centres over the clip, with a margin, so they hold for the clip as a whole.
"""

from __future__ import annotations

import itertools

import numpy as np

from datasets_builder.scene import COLOURS, MOTIONS, SHAPES, SIZES, SceneObject

RELATIONS = ("left of", "right of", "above", "below")
VOCABULARY: tuple[str, ...] = tuple(dict.fromkeys(
    ["the", *SIZES, *COLOURS, *SHAPES, "moving", *MOTIONS,
     *itertools.chain.from_iterable(r.split() for r in RELATIONS)]))
# Which attributes a plain description names; every one names the shape.
_PLAIN_FORMS = (("shape",), ("colour", "shape"), ("size", "shape"), ("shape", "motion"),
                ("size", "colour", "shape", "motion"))
# Centres must be this fraction of the frame's shorter side apart for a relation to hold.
_RELATION_MARGIN = 0.06


def describe(o: SceneObject, keys: tuple[str, ...]) -> str:
    """``the [size] [colour] shape [moving motion]`` naming the attributes in ``keys``."""
    words = ["the"]
    words += [o.size] if "size" in keys else []
    words += [o.colour] if "colour" in keys else []
    words += [o.shape]
    words += ["moving", o.motion] if "motion" in keys else []
    return " ".join(words)


def relation_holds(rel: str, a: SceneObject, b: SceneObject, margin: float) -> bool:
    """Whether ``a`` is ``rel`` ``b`` (e.g. a "left of" b), judged on mean centres."""
    (ay, ax), (by, bx) = a.mean_centre, b.mean_centre
    return {"left of": ax + margin < bx, "right of": ax > bx + margin,
            "above": ay + margin < by, "below": ay > by + margin}[rel]


def _parse_plain(words: list[str]) -> dict[str, str] | None:
    """Attributes named by ``the [size] [colour] shape [moving motion]``, or None."""
    if not words or words[0] != "the":
        return None
    attrs: dict[str, str] = {}
    rest = words[1:]
    if rest and rest[0] in SIZES:
        attrs["size"], rest = rest[0], rest[1:]
    if rest and rest[0] in COLOURS:
        attrs["colour"], rest = rest[0], rest[1:]
    if not rest or rest[0] not in SHAPES:
        return None
    attrs["shape"], rest = rest[0], rest[1:]
    if rest[:1] == ["moving"] and len(rest) == 2 and rest[1] in MOTIONS:
        attrs["motion"], rest = rest[1], []
    return attrs if not rest else None


def _matching(objects, attrs: dict[str, str]) -> list[SceneObject]:
    return [o for o in objects if all(getattr(o, k) == v for k, v in attrs.items())]


def resolve(text: str, objects: tuple[SceneObject, ...], short_side: int
            ) -> list[SceneObject]:
    """The objects that ``text`` describes (an anchor that is not unique describes none)."""
    for rel in RELATIONS:
        head, sep, tail = text.partition(f" {rel} ")
        if sep:
            anchors = _matching(objects, _parse_plain(tail.split()) or {"shape": "?"})
            subject = _parse_plain(head.split())
            if len(anchors) != 1 or subject is None:
                return []
            margin = _RELATION_MARGIN * short_side
            return [o for o in _matching(objects, subject)
                    if o is not anchors[0] and relation_holds(rel, o, anchors[0], margin)]
    attrs = _parse_plain(text.split())
    return [] if attrs is None else _matching(objects, attrs)


def candidate_expressions(objects: tuple[SceneObject, ...], target: SceneObject,
                          short_side: int) -> list[str]:
    """Every expression of the grammar that refers to ``target`` and to no other object."""
    texts = [describe(target, keys) for keys in _PLAIN_FORMS]
    texts += [f"the {target.shape} {rel} {describe(anchor, ('colour', 'shape'))}"
              for anchor in objects if anchor is not target for rel in RELATIONS]
    return [t for t in texts if resolve(t, objects, short_side) == [target]]


def sample_expressions(rng: np.random.Generator, objects: tuple[SceneObject, ...],
                       short_side: int) -> list[tuple[str, str]]:
    """(obj_id, text) pairs: some objects described once or twice, at least one object.

    Each object is described with probability 0.7 by one or two distinct candidates, as
    Ref-Youtube-VOS has several expressions per object. Harder forms are not favoured: a
    model has to read the text whichever form it gets, since most videos hold several
    objects.
    """
    described = [o for o in objects if rng.random() < 0.7]
    if not described:
        described = [objects[rng.integers(len(objects))]]
    out = []
    for o in described:
        cands = candidate_expressions(objects, o, short_side)
        k = min(len(cands), 1 + int(rng.random() < 0.4))
        out += [(o.obj_id, cands[i]) for i in sorted(rng.choice(len(cands), k, replace=False))]
    return out


def expression_corpus() -> list[str]:
    """Every expression the grammar can produce (for training a tokenizer), sorted."""
    texts = set()
    for size, colour, shape, motion in itertools.product(SIZES, COLOURS, SHAPES, MOTIONS):
        o = SceneObject("1", shape, colour, size, motion, 1.0, np.zeros((1, 2)))
        texts.update(describe(o, keys) for keys in _PLAIN_FORMS)
    for shape, rel, colour, anchor in itertools.product(SHAPES, RELATIONS, COLOURS, SHAPES):
        texts.add(f"the {shape} {rel} the {colour} {anchor}")
    return sorted(texts)
