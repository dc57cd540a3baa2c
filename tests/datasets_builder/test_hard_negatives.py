"""build-dataset --strategy object: hard negatives that differ from the positive only in
the category words, on sources with plural, synonym and multi-word categories."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from builder_sources import tiny_source
from click.testing import CliRunner

from datasets_builder.build import build_dataset
from datasets_builder.hard_negatives import mentions, name_of, rewrite
from datasets_builder.verify import verify_dataset
from r2bench.cli import main
from r2bench.synonyms import CategoryNamer

VIDEOS = {
    "v1": ({"1": "dog", "2": "person"},
           [("two dogs chasing a ball", "1"), ("a man walking a puppy", "2"),
            ("the thing on the left", "1"), ("A Dog next to the people", "1")]),
    "v2": ({"1": "tennis_racket", "2": "person"},
           [("a tennis racket held by a woman", "1"), ("the tennis rackets", "1"),
            ("an athlete serving", "2")]),
    "v3": ({"1": "earless_seal"}, [("a sea lion on the rock", "1"), ("the seals", None)]),
    "v4": ({"1": "horse", "2": "zebra"}, [("a zebra and a horse", "2"), ("horses", "1")]),
    "v5": ({"1": "owl"}, [("an owl in the tree", "1")]),
}
CATEGORIES = sorted({c for objs, _ in VIDEOS.values() for c in objs.values()})
NAMER = CategoryNamer(CATEGORIES)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return tiny_source(tmp_path_factory.mktemp("src") / "src", VIDEOS)


@pytest.fixture(scope="module")
def built(source, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("r2") / "r2"
    build_dataset(source, "valid", out, seed=4, strategy="object")
    return json.loads((out / "r2_meta.json").read_text()) | {"_path": str(out)}


def _pairs(meta: dict, label: str) -> dict[tuple[str, str], dict]:
    return {(p["source_video"], p["exp_id"]): p for p in meta["pairs"] if p["label"] == label}


def test_every_negative_is_its_own_video_with_an_unrelated_text(built):
    neg, pos = _pairs(built, "negative"), _pairs(built, "positive")
    assert neg.keys() == pos.keys() and built["negative_of"] == {v: v for v in VIDEOS}
    for (vid, _), p in neg.items():
        assert p["video"] == vid
        named = set(NAMER.names(NAMER.named(p["exp"])))
        assert not named & set(VIDEOS[vid][0].values()), p
        assert named, p                    # the text names its replacement category


def test_only_the_category_words_change(built):
    for key, p in _pairs(built, "negative").items():
        original = _pairs(built, "positive")[key]["exp"]
        found = mentions(NAMER, original)
        # everything between the mentions is kept, an article before one may turn a <-> an
        gaps = re.split("|".join(re.escape(original[m.start:m.end]) for m in found), original)
        rest = p["exp"]
        for gap in gaps:
            gap = re.sub(r"\b(an?) $", "", gap)
            assert gap in rest, (gap, rest)
        assert [old for old, _ in p["replaced"]] == [original[m.start:m.end] for m in found]


def test_number_case_and_article_are_kept(built):
    neg = _pairs(built, "negative")
    for key in (("v1", "0"), ("v2", "1"), ("v4", "1")):      # dogs, tennis rackets, horses
        new = neg[key]["replaced"][0][1]
        assert all(m.plural for m in NAMER.matches(new)), new
    for key in (("v2", "0"), ("v5", "0")):                    # singular stays singular
        assert not any(m.plural for m in NAMER.matches(neg[key]["replaced"][0][1]))
    assert neg[("v1", "3")]["replaced"][0][1][:1].isupper()   # "A Dog" keeps its capital
    for key in (("v5", "0"), ("v1", "3"), ("v2", "0")):       # "an owl", "A Dog", "a tennis"
        text = neg[key]["exp"]
        article, word = re.match(r"(an?) (\w)", text, re.IGNORECASE).groups()
        assert (article.lower() == "an") == (word.lower() in "aeiou"), text


def test_expressions_without_an_object_word_are_left_out_and_counted(built):
    left = {(x["video"], x["exp_id"]) for x in built["left_out"]}
    assert ("v1", "2") in left                                # "the thing on the left"
    assert ("v1", "1") not in left                            # "a man": names its person
    assert built["checks"]["left_out"] == len(built["left_out"])
    assert built["checks"]["expressions"] == sum(len(e) for _, e in VIDEOS.values()) - len(left)
    assert not {(x["video"], x["exp_id"]) for x in built["left_out"]} & _pairs(built, "positive").keys()


def test_verify_accepts_and_is_deterministic_by_seed(source, built, tmp_path):
    report = verify_dataset(built["_path"])
    assert report.strategy == "object" and not report.problems
    build_dataset(source, "valid", tmp_path / "again", seed=4, strategy="object")
    build_dataset(source, "valid", tmp_path / "other", seed=5, strategy="object")
    same = (Path(built["_path"]) / "r2_meta.json").read_bytes()
    assert (tmp_path / "again" / "r2_meta.json").read_bytes() == same
    other = json.loads((tmp_path / "other" / "r2_meta.json").read_text())
    assert [p["exp"] for p in other["pairs"]] != [p["exp"] for p in json.loads(same)["pairs"]]


def test_verify_rejects_an_edit_that_names_the_video(built, tmp_path):
    import shutil
    copy = tmp_path / "bad"
    shutil.copytree(built["_path"], copy, symlinks=True)
    meta = json.loads((copy / "r2_meta.json").read_text())
    for p in meta["pairs"]:
        if p["pair_id"] == "negative/v5/0":
            p["exp"] = "an owl in the tree"
    (copy / "r2_meta.json").write_text(json.dumps(meta))
    res = CliRunner().invoke(main, ["verify-dataset", str(copy)])
    assert res.exit_code == 2 and "negative/v5/0" in res.output


def test_rewrite_and_articles():
    found = mentions(NAMER, "a dog and an owl")
    assert rewrite("a dog and an owl", found, ["owl", "horse"]) == "an owl and a horse"
    assert name_of("tennis_racket", True, "Rackets") == "Tennis rackets"
    assert name_of("earless_seal", False, "SEAL") == "EARLESS SEAL"


def test_cli_strategy_object(source, tmp_path):
    res = CliRunner().invoke(main, ["build-dataset", str(source), "--split", "valid", "--out",
                                    str(tmp_path / "o"), "--strategy", "object", "-q"])
    assert res.exit_code == 0, res.output
    assert "every negative its own video" in res.output and "1 expression left out" in res.output


def test_replacements_are_neither_in_the_video_nor_named_by_the_expression():
    from datasets_builder.hard_negatives import ObjectEditor, plan_object_negatives
    from r2bench.refytvos import Expression, VideoMeta

    cats = ["cat", "dog", "frog", "horse", "owl", "zebra", "bear", "duck"]
    editor = ObjectEditor.for_categories(cats)
    pool = editor.candidates(editor.mask(["zebra"]))
    assert "zebra" not in pool and "horse" not in pool       # "horse" also names zebra
    assert set(pool) == set(cats) - {"zebra", "horse"}
    # zebra videos with no horse, captions that also name absent categories; one video of
    # each other category makes it a category of the split
    texts = ("a zebra running", "the zebra chasing a dog", "two zebras near a cat and an owl")
    videos = {f"z{i}": VideoMeta(f"z{i}", ("00000",), {str(k): Expression(str(k), t, "1")
                                                      for k, t in enumerate(texts)})
              for i in range(12)}
    objects = {vid: {"1": "zebra"} for vid in videos}
    for c in cats[:5] + cats[6:]:
        videos[c] = VideoMeta(c, ("00000",), {"0": Expression("0", f"a {c}", "1")})
        objects[c] = {"1": c}
    negatives = plan_object_negatives(videos, objects, seed=0)
    assert not negatives.left_out
    namer = CategoryNamer(cats)
    for (vid, eid), edit in negatives.edits.items():
        if not vid.startswith("z"):
            continue
        original = videos[vid].expressions[eid].exp
        new_words = [new for _, new in edit.replaced]
        new_cats = set(namer.names(namer.named(" ".join(new_words))))
        assert "horse" not in new_cats and "zebra" not in new_cats, edit
        assert not new_cats & set(namer.names(namer.named(original))), (original, edit)
