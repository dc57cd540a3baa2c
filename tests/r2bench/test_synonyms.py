"""Which categories an expression names: whole words, plurals, synonyms, case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from r2bench.synonyms import SYNONYMS, CategoryNamer, category_terms, word_forms

YTVOS = sorted(SYNONYMS)
NAMER = CategoryNamer(YTVOS)


def names(text: str) -> set[str]:
    return set(NAMER.names(NAMER.named(text)))


@pytest.mark.parametrize("text,expected", [
    ("a man riding a bike", {"person", "bike"}),
    ("a zebra and horses", {"zebra", "horse"}),
    ("the woman on the left", {"person"}),
    ("a boy holding a puppy", {"person", "dog"}),
    ("two people walking", {"person"}),
    ("The PUPPIES are playing", {"dog"}),
    ("three horses", {"horse", "zebra"}),  # a zebra is close enough
    ("mice in a box", {"mouse"}),
    ("the men", {"person"}),
    ("buses driving by", {"bus"}),
    ("a tennis-racket", {"tennis_racket"}),
    ("the tennis rackets", {"tennis_racket"}),
    ("a seal on a rock", {"earless_seal"}),
    ("a giant panda eating", {"giant_panda", "bear"}),
    ("a knife and two knives", {"knife"}),
    ("a bird flying", {"bird", "parrot", "eagle", "owl", "duck", "penguin"}),
    ("a dog's tail", {"dog"}),
    ("two foxes", {"fox"}),            # "-es" plurals outside the irregular table
    ("the coaches", {"bus"}),
])
def test_names(text, expected):
    assert names(text) == expected


@pytest.mark.parametrize("text", [
    "a dogma", "the catalog", "the category", "a hotdog", "mankind", "the others", "tennis",
    "an object on the left", "",
])
def test_whole_words_only(text):
    assert names(text) == set()


def test_unknown_category_is_named_by_its_own_name():
    namer = CategoryNamer(["fire_truck", "circle"])
    assert namer.names(namer.named("the red fire trucks")) == ["fire_truck"]
    assert namer.names(namer.named("two circles")) == ["circle"]
    assert namer.named("a fire engine") == 0


@given(st.sampled_from([(c, t) for c in YTVOS for t in category_terms(c)]),
       st.sampled_from(["a {}", "two {}s", "the {} on the left", "{}", "A {} AND"]),
       st.booleans())
def test_every_term_names_its_category(cat_term, template, upper):
    cat, term = cat_term
    text = template.format(term.upper() if upper else term)
    assert cat in names(text)


def test_irregular_and_regular_plurals():
    assert {"dogs"} <= word_forms("dog")
    assert {"puppies"} <= word_forms("puppy")
    assert {"wolves"} <= word_forms("wolf")
    assert {"people", "persons"} <= word_forms("person")
    assert "boies" not in word_forms("boy")
