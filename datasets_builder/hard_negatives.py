"""Hard negatives that differ from the positive only in the text (``--strategy object``).

The R2-VOS release also evaluated ``_object`` negatives, never published: the expression's
own video with the object swapped for one that is not there. Here each expression's
negative is its own video with every category word replaced: every span that names a
category, read as the unrelatedness rule reads them (whole words, any case, plurals and
synonyms, multi-word terms; `CategoryNamer.matches`), becomes the name of a category of the
split that the video does not contain, keeping the number of the word ("the two cats" ->
"the two frogs"), its capitalisation and the article before it ("a dog" -> "an owl"). The
replacements are drawn, from a generator seeded by (seed, video, expression), among the
categories whose own name names none of the video's categories ("horse" also names zebra,
so it never replaces a word in a video with a zebra) and none of the categories the
expression names, distinct categories getting distinct replacements where the split allows.

The pair is then unrelated by the same rule as a shuffled negative: the edited text names
no category of the video (checked on the edited text itself). An expression is left out of
the dataset, and reported, when it names no category of its object (the category of
``obj_id``; any category of the video without one), since replacing other words would not
remove the object from the text, or when no replacement makes it unrelated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from r2bench.refytvos import VideoMeta
from r2bench.seeds import rng_for
from r2bench.synonyms import CategoryNamer, category_terms, plural

OBJECT_CONSTRAINT = ("each negative pair is its own video with an edited expression: every "
                     "word naming a category (whole words, case- and plural-insensitive, "
                     "synonyms included) replaced by a category absent from the video, so "
                     "that the edited text names no category of the video")
_ATTEMPTS = 8          # redraws of the replacements before an expression is left out
_ARTICLE = re.compile(r"\b(an?)(\s+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Mention:
    """Characters [start, end) naming the categories ``bits``; ``plural`` as written."""

    start: int
    end: int
    bits: int
    plural: bool


@dataclass(frozen=True)
class Edit:
    """An expression's edited text and what was replaced, as (old words, new words)."""

    text: str
    replaced: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class LeftOut:
    video: str
    exp_id: str
    exp: str
    reason: str


def mentions(namer: CategoryNamer, text: str) -> list[Mention]:
    """The category mentions of ``text``: overlapping term matches merged, in text order."""
    out: list[Mention] = []
    for m in sorted(namer.matches(text), key=lambda m: (m.start, -m.end)):
        if out and m.start < out[-1].end:
            last = out[-1]
            out[-1] = Mention(last.start, max(last.end, m.end), last.bits | m.bit,
                              last.plural or m.plural)
        else:
            out.append(Mention(m.start, m.end, m.bit, m.plural))
    return out


def name_of(category: str, is_plural: bool, like: str) -> str:
    """A category written as a word, plural when ``is_plural``, in the case of ``like``."""
    term = category_terms(category)[0].split()
    if is_plural:
        term[-1] = plural(term[-1])
    name = " ".join(term)
    if like.isupper() and len(like) > 1:
        return name.upper()
    return name[:1].upper() + name[1:] if like[:1].isupper() else name


def _agree_article(before: str, word: str) -> str:
    """``before`` with a final "a"/"an" made to agree with the word that follows it."""
    m = _ARTICLE.search(before)
    if not m:
        return before
    article = "an" if word[:1].lower() in "aeiou" else "a"
    article = article.capitalize() if m.group(1)[0].isupper() else article
    return before[:m.start()] + article + m.group(2)


def rewrite(text: str, found: list[Mention], names: list[str]) -> str:
    """``text`` with each mention replaced by its name, articles agreeing."""
    out, pos = "", 0
    for m, name in zip(found, names):
        out = _agree_article(out + text[pos:m.start], name) + name
        pos = m.end
    return out + text[pos:]


@dataclass(frozen=True)
class ObjectEditor:
    """Edits the expressions of one split: its namer, each category's bit and what each
    category's own name names (singular or plural)."""

    namer: CategoryNamer
    bit: dict[str, int]
    names_named: dict[str, int]

    @classmethod
    def for_categories(cls, categories: list[str]) -> ObjectEditor:
        namer = CategoryNamer(categories)
        return cls(namer, {c: 1 << i for i, c in enumerate(categories)},
                   {c: namer.named(name_of(c, False, "")) | namer.named(name_of(c, True, ""))
                    for c in categories if category_terms(c)})

    def mask(self, cats) -> int:
        return sum(self.bit[c] for c in set(cats))

    def candidates(self, present: int) -> list[str]:
        """Categories absent from a video with categories ``present`` (a mask) whose name
        names none of them."""
        return [c for c, named in self.names_named.items()
                if not self.bit[c] & present and not named & present]

    def unnamed(self, pool: list[str], named: int) -> list[str]:
        """The categories of ``pool`` that an expression naming ``named`` (a mask) does not
        name, and whose own name names none of them: a replacement never reads as a category
        the expression already names."""
        return [c for c in pool if not (self.bit[c] | self.names_named[c]) & named]

    def edit(self, text: str, present: int, target: int, pool: list[str],
             rng) -> Edit | str:
        """The edited expression, or the reason it cannot be edited. ``present``: the
        video's categories, ``target``: its object's (masks); ``pool``: `candidates`."""
        found = mentions(self.namer, text)
        if not any(m.bits & target for m in found):
            return f"names no word for its object ({', '.join(self.namer.names(target))})"
        if not pool:
            return "the video holds every category that could replace its object"
        named = 0
        for m in found:
            named |= m.bits
        pool = self.unnamed(pool, named)
        if not pool:
            return "every category that could replace its object is named by the expression"
        groups = list(dict.fromkeys(m.bits for m in found))      # one name per named group
        for _ in range(_ATTEMPTS):
            order = rng.permutation(len(pool))
            chosen = {g: pool[order[k % len(pool)]] for k, g in enumerate(groups)}
            names = [name_of(chosen[m.bits], m.plural, text[m.start:m.end]) for m in found]
            new = rewrite(text, found, names)
            if not self.namer.named(new) & present:
                return Edit(new, tuple((text[m.start:m.end], n) for m, n in zip(found, names)))
        return "every drawn replacement still names a category of the video"


@dataclass(frozen=True)
class HardNegatives:
    """Edits of the expressions kept, ``(VID, EXP_ID) -> Edit``, and those left out."""

    edits: dict[tuple[str, str], Edit]
    left_out: list[LeftOut]


def plan_object_negatives(videos: Mapping[str, VideoMeta],
                          objects: Mapping[str, Mapping[str, str]], seed: int) -> HardNegatives:
    """Edit every expression of the split (inputs validated as `r2bench.source.load_source` does)."""
    editor = ObjectEditor.for_categories(
        sorted({c for vid in videos for c in objects[vid].values()}))
    edits, left_out = {}, []
    for vid, meta in videos.items():
        present = editor.mask(objects[vid].values())
        pool = editor.candidates(present)
        for eid, exp in meta.expressions.items():
            target = present if exp.obj_id is None else editor.mask([objects[vid][exp.obj_id]])
            result = editor.edit(exp.exp, present, target, pool,
                                 rng_for(seed, "object", vid, eid))
            if isinstance(result, Edit):
                edits[(vid, eid)] = result
            else:
                left_out.append(LeftOut(vid, eid, exp.exp, result))
    return HardNegatives(edits, left_out)
