"""Textual perturbations of referring expressions: misspelling, punctuation inserted,
grammar errors and characters deleted, at five severities (the R2-Bench toolbox's four).

The toolbox asks an LLM (Llama-2-70B) for typos and grammar errors and draws the rest with
Python's unseeded ``random``. Here all four are rules, drawn from a seeded generator:

- misspell: a fraction ``WORD_FRACTION[s - 1]`` of the words (at least one; the toolbox's
  fractions) each get one typo of the kinds in the toolbox's LLM examples: a letter replaced
  by a QWERTY neighbour, two adjacent letters swapped, a letter doubled, a letter dropped,
  or a look-alike digit or symbol (o -> 0, l -> 1, e -> 3, ...).
- insert_punctuation: ``round(0.04 s len(text))`` marks (at least one) from ``, . ; : ! ?``
  at distinct random positions inside the text (the toolbox's rule).
- grammar: a fraction ``WORD_FRACTION[s - 1]`` of the words (at least one) each get one
  error: agreement and confusable words swapped (is/are, was/were, has/have, a/an,
  this/these, their/there, in/on, ...), "the" dropped, or the number of any other word
  toggled (a final "s" removed or added), as in the toolbox's LLM examples ("discovers a
  new methods").
- delete_characters: ``round(0.05 s len(text))`` characters (at least one) removed at
  random (the toolbox's rule).

``protected`` character spans are never touched: with ``--keep-categories`` they are the
words naming a category (synonyms and plurals included), and the characters on either side
of them are not deleted either, so each stays a whole word and the expression names the same
categories afterwards. Every perturbation changes a text that has an unprotected word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

WORD_FRACTION = (0.2, 0.3, 0.4, 0.5, 0.6)
PUNCTUATION_RATE = 0.04       # marks per character per severity level
DELETION_RATE = 0.05          # deletions per character per severity level
PUNCTUATION = ",.;:!?"

_LETTERS = re.compile(r"[A-Za-z]+")
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_LOOKALIKE = {"o": "0", "i": "1", "l": "1", "e": "3", "a": "@", "s": "5", "t": "7", "b": "8",
              "g": "9"}
_SWAPS = {"is": "are", "are": "is", "was": "were", "were": "was", "has": "have",
          "have": "has", "does": "do", "do": "does", "a": "an", "an": "a", "this": "these",
          "these": "this", "that": "those", "those": "that", "their": "there",
          "there": "their", "then": "than", "than": "then", "who": "which", "which": "who",
          "in": "on", "on": "in", "at": "in", "its": "it", "it": "its", "to": "at"}

Span = tuple[int, int]


def _neighbours() -> dict[str, str]:
    """Letters next to each letter on a QWERTY keyboard (same row and the rows beside)."""
    near: dict[str, set[str]] = {}
    for r, row in enumerate(_KEYBOARD):
        for c, ch in enumerate(row):
            for rr in (r - 1, r, r + 1):
                if 0 <= rr < len(_KEYBOARD):
                    near.setdefault(ch, set()).update(
                        x for x in _KEYBOARD[rr][max(0, c - 1):c + 2] if x != ch)
    return {ch: "".join(sorted(v)) for ch, v in near.items()}


_NEAR = _neighbours()


def _overlaps(a: int, b: int, protected: Sequence[Span]) -> bool:
    return any(a < e and s < b for s, e in protected)


def _words(text: str, protected: Sequence[Span]) -> list[Span]:
    """Spans of the words (letters only) that touch no protected span."""
    return [m.span() for m in _LETTERS.finditer(text)
            if not _overlaps(m.start(), m.end(), protected)]


def _pick(rng: np.random.Generator, items: list, n: int) -> list:
    """``n`` distinct items (all when fewer), in their original order."""
    n = min(n, len(items))
    return [items[i] for i in sorted(rng.choice(len(items), size=n, replace=False))]


def _same_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    return new[:1].upper() + new[1:] if old[:1].isupper() else new


def _replace(text: str, edits: list[tuple[Span, str]]) -> str:
    """Apply non-overlapping span replacements."""
    for (a, b), new in sorted(edits, reverse=True):
        text = text[:a] + new + text[b:]
    return text


def typo(word: str, rng: np.random.Generator) -> str:
    """One typo in ``word`` (never the word itself)."""
    i = int(rng.integers(len(word)))
    kind = ("neighbour", "swap", "double", "drop", "lookalike")[int(rng.integers(5))]
    low = word[i].lower()
    if kind == "swap" and len(word) > 1:
        j = i if i < len(word) - 1 else i - 1
        if word[j] != word[j + 1]:
            return word[:j] + word[j + 1] + word[j] + word[j + 2:]
    elif kind == "double":
        return word[:i + 1] + word[i:]
    elif kind == "drop" and len(word) > 2:
        return word[:i] + word[i + 1:]
    elif kind == "lookalike":
        spots = [k for k, ch in enumerate(word) if ch.lower() in _LOOKALIKE]
        if spots:
            k = spots[int(rng.integers(len(spots)))]
            return word[:k] + _LOOKALIKE[word[k].lower()] + word[k + 1:]
    near = _NEAR[low]                                # the fallback always changes the word
    new = near[int(rng.integers(len(near)))]
    return word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1:]


def _n_words(n_total: int, severity: int) -> int:
    return max(1, round(WORD_FRACTION[severity - 1] * n_total))


def misspell(text: str, severity: int, rng: np.random.Generator,
             protected: Sequence[Span] = ()) -> str:
    spans = _words(text, protected)
    chosen = _pick(rng, spans, _n_words(len(_LETTERS.findall(text)), severity))
    return _replace(text, [((a, b), typo(text[a:b], rng)) for a, b in chosen])


def _grammar_error(word: str) -> str:
    low = word.lower()
    if low in _SWAPS:
        return _same_case(_SWAPS[low], word)
    if low == "the":
        return ""
    if low.endswith("s") and not low.endswith("ss") and len(low) > 3:
        return word[:-1]
    return word + ("S" if word.isupper() and len(word) > 1 else "s")


def grammar(text: str, severity: int, rng: np.random.Generator,
            protected: Sequence[Span] = ()) -> str:
    spans = _words(text, protected)
    chosen = _pick(rng, spans, _n_words(len(_LETTERS.findall(text)), severity))
    edits = []
    for a, b in chosen:
        new = _grammar_error(text[a:b])
        if not new and b < len(text) and text[b] == " ":   # a dropped word takes its space
            b += 1
        edits.append(((a, b), new))
    out = _replace(text, edits)
    return out if out.strip() else text + "s"


def insert_punctuation(text: str, severity: int, rng: np.random.Generator,
                       protected: Sequence[Span] = ()) -> str:
    n = max(1, round(PUNCTUATION_RATE * severity * len(text)))
    spots = [p for p in range(1, len(text)) if not any(s < p < e for s, e in protected)]
    spots = spots or [len(text)]
    chosen = _pick(rng, spots, n)
    marks = [PUNCTUATION[int(k)] for k in rng.integers(len(PUNCTUATION), size=len(chosen))]
    return _replace(text, [((p, p), m) for p, m in zip(chosen, marks)])


def delete_characters(text: str, severity: int, rng: np.random.Generator,
                      protected: Sequence[Span] = ()) -> str:
    guarded = [(max(0, s - 1), e + 1) for s, e in protected]   # keep words whole
    spots = [p for p in range(len(text)) if not _overlaps(p, p + 1, guarded)]
    n = min(max(1, round(DELETION_RATE * severity * len(text))), max(1, len(text) - 1))
    return _replace(text, [((p, p + 1), "") for p in _pick(rng, spots, n)])


TEXT_PERTURBATIONS = {"misspell": misspell, "insert_punctuation": insert_punctuation,
                      "grammar": grammar, "delete_characters": delete_characters}
