"""Textual perturbations: each changes the sentence, keeps protected category words whole
(so the sentence names the same categories), grows with the severity and is reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from datasets_builder.perturb.text import TEXT_PERTURBATIONS, typo
from r2bench.synonyms import CategoryNamer

NAMER = CategoryNamer(["dog", "person", "tennis_racket", "earless_seal", "horse", "zebra"])
SENTENCES = ("a man is holding two tennis rackets next to the dogs",
             "The puppy on the left is running towards a sea lion",
             "horses", "zebra standing still in a field of grass near the river bank")


def protected(text: str) -> list[tuple[int, int]]:
    return [(m.start, m.end) for m in NAMER.matches(text)]


def category_words(text: str) -> list[str]:
    return [text[a:b] for a, b in protected(text)]


@pytest.mark.parametrize("kind", TEXT_PERTURBATIONS)
@pytest.mark.parametrize("severity", range(1, 6))
def test_changes_the_sentence(kind, severity):
    fn = TEXT_PERTURBATIONS[kind]
    for i, text in enumerate(SENTENCES):
        assert fn(text, severity, np.random.default_rng(i)) != text


@pytest.mark.parametrize("kind", TEXT_PERTURBATIONS)
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_keeps_category_words_when_asked(kind, severity):
    fn = TEXT_PERTURBATIONS[kind]
    for seed in range(20):
        for text in SENTENCES[:2] + SENTENCES[3:]:
            out = fn(text, severity, np.random.default_rng(seed), protected(text))
            assert out != text
            assert NAMER.named(out) == NAMER.named(text), (text, out)
            assert sorted(category_words(out)) == sorted(category_words(text)), (text, out)


def test_a_sentence_of_category_words_only_is_left_alone_under_protection():
    # nothing may be touched: "horses" is all category word (the punctuation and deletion
    # rules may still act around it, but never split or change it)
    for kind, fn in TEXT_PERTURBATIONS.items():
        out = fn("horses", 5, np.random.default_rng(0), protected("horses"))
        assert "horses" in out and NAMER.named(out) == NAMER.named("horses"), (kind, out)


def test_without_protection_category_words_can_change():
    text = SENTENCES[0]
    outs = [TEXT_PERTURBATIONS["delete_characters"](text, 5, np.random.default_rng(s))
            for s in range(30)]
    assert any(NAMER.named(o) != NAMER.named(text) for o in outs)


@pytest.mark.parametrize("kind", TEXT_PERTURBATIONS)
def test_deterministic_by_seed(kind):
    fn = TEXT_PERTURBATIONS[kind]
    text = SENTENCES[1]
    assert fn(text, 3, np.random.default_rng(7)) == fn(text, 3, np.random.default_rng(7))
    assert len({fn(text, 3, np.random.default_rng(s)) for s in range(10)}) > 1


@pytest.mark.parametrize("kind", TEXT_PERTURBATIONS)
def test_more_severe_changes_more(kind):
    fn = TEXT_PERTURBATIONS[kind]
    text = SENTENCES[3]

    def changed(severity: int) -> float:
        outs = [fn(text, severity, np.random.default_rng(s)) for s in range(40)]
        return float(np.mean([sum(a != b for a, b in zip(o, text)) + abs(len(o) - len(text))
                              for o in outs]))

    assert changed(5) > changed(3) > changed(1)


def test_typo_always_changes_a_word():
    rng = np.random.default_rng(0)
    for word in ("a", "to", "ee", "dog", "Tennis", "sheep"):
        for _ in range(50):
            assert typo(word, rng) != word
