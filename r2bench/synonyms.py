"""Which object categories an expression names (docs/formats.md §2, "unrelated").

A category is named when one of its terms appears as whole words, in any case, singular or
plural: its own name (``tennis_racket`` reads "tennis racket"), a synonym ("man", "woman",
"boy", "people" name ``person``; "puppy" names ``dog``), or a word for a group it belongs to
("bird" names ``parrot``). The table covers the Youtube-VOS categories; a category it does
not know is named by its own name only. Erring towards naming more is the safe side: it can
only make a negative pair stricter, never related.

Plurals are generated from the terms (regular endings and an irregular table) rather than
stemmed from the text, so "horses" and "buses" both match without a stemmer's guesses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

# Extra terms per Youtube-VOS category (the category's own name is always a term).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": ("man", "woman", "boy", "girl", "people", "human", "child", "kid", "baby",
               "toddler", "lady", "gentleman", "guy", "player", "dancer", "rider", "driver",
               "skier", "surfer", "skateboarder", "snowboarder", "cyclist", "biker", "athlete",
               "worker", "mother", "father", "son", "daughter", "teenager", "adult"),
    "dog": ("puppy", "pup", "doggy", "doggie", "hound", "canine"),
    "cat": ("kitten", "kitty", "feline"),
    "bird": ("birdie", "sparrow", "pigeon", "dove", "crow", "seagull", "gull", "swan",
             "goose", "chicken", "hen", "rooster", "ostrich", "flamingo", "pelican"),
    "parrot": ("bird", "macaw", "cockatoo", "parakeet"),
    "eagle": ("bird", "hawk", "falcon", "vulture"),
    "owl": ("bird",),
    "duck": ("bird", "duckling", "mallard"),
    "penguin": ("bird",),
    "ape": ("monkey", "gorilla", "chimpanzee", "chimp", "orangutan", "primate"),
    "monkey": ("ape", "primate", "baboon", "gorilla", "chimpanzee"),
    "bear": ("cub", "panda"),
    "giant_panda": ("panda", "bear"),
    "cow": ("cattle", "bull", "calf", "ox", "buffalo", "yak"),
    "sheep": ("lamb", "ram", "goat"),
    "deer": ("antelope", "fawn", "elk", "reindeer", "moose", "stag"),
    "antelope": ("deer", "gazelle", "impala"),
    "horse": ("pony", "foal", "stallion", "mare", "donkey"),
    "zebra": ("horse",),
    "camel": ("dromedary",),
    "mouse": ("rat", "hamster", "rodent"),
    "rabbit": ("bunny", "hare"),
    "squirrel": ("chipmunk",),
    "lizard": ("gecko", "iguana", "chameleon", "reptile"),
    "snake": ("serpent", "python", "cobra", "reptile"),
    "turtle": ("tortoise", "terrapin"),
    "crocodile": ("alligator", "croc"),
    "frog": ("toad",),
    "fish": ("goldfish", "salmon", "trout", "carp"),
    "shark": ("fish",),
    "whale": ("orca",),
    "dolphin": ("porpoise",),
    "earless_seal": ("seal", "sea lion", "walrus"),
    "leopard": ("cheetah", "jaguar"),
    "tiger": ("cub",),
    "lion": ("lioness", "cub"),
    "fox": ("wolf",),
    "hedgehog": ("porcupine",),
    "raccoon": ("racoon",),
    "snail": ("slug",),
    "sedan": ("car", "taxi", "cab", "vehicle", "automobile", "jeep", "suv"),
    "truck": ("lorry", "pickup", "vehicle", "van", "tractor"),
    "bus": ("coach", "minibus", "vehicle"),
    "train": ("locomotive", "tram", "subway", "railway"),
    "motorbike": ("motorcycle", "scooter", "moped", "motorbicycle", "dirtbike"),
    "bike": ("bicycle", "cycle", "tricycle"),
    "airplane": ("plane", "aeroplane", "aircraft", "jet", "airliner", "helicopter"),
    "boat": ("ship", "canoe", "kayak", "yacht", "sailboat", "raft", "ferry", "vessel"),
    "surfboard": ("board",),
    "skateboard": ("board", "longboard"),
    "snowboard": ("board",),
    "tennis_racket": ("racket", "racquet"),
    "paddle": ("oar",),
    "parachute": ("paraglider", "kite"),
    "frisbee": ("disc", "disk"),
    "hat": ("cap", "helmet", "beanie"),
    "hand": ("finger", "fist", "palm", "arm"),
    "plant": ("tree", "flower", "bush", "leaf", "grass"),
    "umbrella": ("parasol",),
    "knife": ("blade", "sword"),
    "sign": ("signboard", "signpost", "billboard"),
    "toilet": ("loo",),
    "bucket": ("pail",),
    "others": (),
}
# Categories that are never named: Youtube-VOS's catch-all.
_UNNAMEABLE = {"others"}
IRREGULAR_PLURALS: dict[str, tuple[str, ...]] = {
    "man": ("men",), "woman": ("women",), "person": ("people", "persons"),
    "child": ("children",), "mouse": ("mice",), "goose": ("geese",), "foot": ("feet",),
    "tooth": ("teeth",), "ox": ("oxen",), "knife": ("knives",), "wolf": ("wolves",),
    "calf": ("calves",), "leaf": ("leaves",), "sheep": ("sheep",), "deer": ("deer",),
    "fish": ("fishes",), "cactus": ("cacti",), "octopus": ("octopuses",),
    "bus": ("buses",), "lioness": ("lionesses",),
}
_WORD = re.compile(r"[a-z0-9]+")
_WORD_ANY_CASE = re.compile(r"[A-Za-z0-9]+")


def word_forms(word: str) -> set[str]:
    """A word and its plural forms (regular endings plus the irregular table)."""
    forms = {word, word + "s", word + "es"}
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        forms.add(word[:-1] + "ies")
    if word.endswith("fe"):
        forms.add(word[:-2] + "ves")
    elif word.endswith("f"):
        forms.add(word[:-1] + "ves")
    forms.update(IRREGULAR_PLURALS.get(word, ()))
    return forms


def plural(word: str) -> str:
    """The plural of a term's word: the irregular table, else the regular English ending.

    Always one of ``word_forms(word)``, so the namer reads it as the same term.
    """
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word][0]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def words(text: str) -> list[str]:
    """Lower-case whole words (letters and digits); punctuation and "'s" split them."""
    return _WORD.findall(text.lower())


def category_terms(category: str) -> list[str]:
    """The phrases that name ``category``: its name, read with spaces, and its synonyms."""
    key = "_".join(words(category))
    if key in _UNNAMEABLE:
        return []
    return [" ".join(words(category)), *SYNONYMS.get(key, ())]


class TermMatch(NamedTuple):
    """Where a text names a category: characters [start, end) of the term, the category's
    bit, the term as listed (lower case, words joined by spaces), and whether its last word
    was written in a plural form."""

    start: int
    end: int
    bit: int
    term: str
    plural: bool


class CategoryNamer:
    """Finds which of a fixed list of categories a text names, as a bitmask.

    Bit ``i`` stands for ``categories[i]``. Built once per category list; ``named`` is then
    one dictionary lookup per word of the text (plus a short check for multi-word terms).
    """

    def __init__(self, categories: Iterable[str]):
        self.categories = list(categories)
        # first word form -> [(bit, forms of each following word, the term)]
        self._index: dict[str, list[tuple[int, tuple[frozenset[str], ...], str]]] = {}
        for i, cat in enumerate(self.categories):
            for term in category_terms(cat):
                head, *tail = term.split()
                entry = (1 << i, tuple(frozenset(word_forms(w)) for w in tail), term)
                for form in word_forms(head):
                    self._index.setdefault(form, []).append(entry)

    def named(self, text: str) -> int:
        """Bitmask of the categories ``text`` names."""
        toks = words(text)
        mask = 0
        for i, tok in enumerate(toks):
            for bit, tail, _ in self._index.get(tok, ()):
                if all(i + 1 + j < len(toks) and toks[i + 1 + j] in forms
                       for j, forms in enumerate(tail)):
                    mask |= bit
        return mask

    def matches(self, text: str) -> list[TermMatch]:
        """Every term ``text`` names, with its character span, read as `named` reads them
        (whole words, any case, any plural form), in text order; an ASCII-letter reading,
        which is what `named` sees in English text."""
        spans = [(m.start(), m.end()) for m in _WORD_ANY_CASE.finditer(text)]
        toks = [text[a:b].lower() for a, b in spans]
        found = []
        for i, tok in enumerate(toks):
            for bit, tail, term in self._index.get(tok, ()):
                if all(i + 1 + j < len(toks) and toks[i + 1 + j] in forms
                       for j, forms in enumerate(tail)):
                    last = i + len(tail)
                    found.append(TermMatch(spans[i][0], spans[last][1], bit, term,
                                           toks[last] != term.split()[-1]))
        return found

    def names(self, mask: int) -> list[str]:
        """The categories whose bits are set in ``mask``, in list order."""
        return [self.categories[i] for i, bit in enumerate(reversed(bin(mask)[2:]))
                if bit == "1"]
