"""r2bench.dataset, the one reader of r2_meta.json: typed records with everything the
consumers need (the text, the source expression, pi, categories, strategy and seed), and one
line naming the file for what is malformed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from r2data import write_r2

from r2bench.dataset import load_eval_dataset, read_r2_meta
from r2bench.errors import DatasetError

NEG = {"a": "b", "b": "a"}
EXPS = {"a": {"0": ("a red circle", "1")}, "b": {"0": ("the square", "1"), "1": ("it", None)}}


@pytest.fixture()
def r2(tmp_path):
    ids = np.ones((2, 4, 6), np.uint8)
    write_r2(tmp_path / "r2", {"a": ids, "b": ids}, EXPS, NEG)
    return tmp_path / "r2"


def test_typed_records_carry_what_every_consumer_needs(r2):
    meta = read_r2_meta(r2)
    assert (meta.split, meta.source, meta.seed, meta.strategy) == ("valid", "hand-made", 0,
                                                                   "random")
    assert meta.negative_of == NEG and meta.path == r2 / "r2_meta.json"
    assert meta.videos["a"].frames == ("00000", "00005") and meta.videos["a"].size == (4, 6)
    assert meta.videos["b"].categories == ("thing",)
    neg = next(p for p in meta.pairs if p.pair_id == "negative/b/1")
    assert (neg.video, neg.source_video, neg.exp_id, neg.exp, neg.obj_id) == \
        ("a", "b", "1", "it", None)
    pos = next(p for p in meta.pairs if p.pair_id == "positive/a/0")
    assert (pos.exp, pos.obj_id) == ("a red circle", "1")


def test_eval_dataset_pairs_have_their_text_and_source_expression(r2):
    ds = load_eval_dataset(r2)
    assert ds.r2 is not None and ds.r2.negative_of == NEG
    neg = next(p for p in ds.pairs if p.pair_id == "negative/a/0")
    assert (neg.video, neg.frames, neg.size) == ("b", ("00000", "00005"), (4, 6))
    assert (neg.exp, neg.source_video, neg.exp_id) == ("a red circle", "a", "0")
    plain = load_eval_dataset(r2 / "positive", "valid")
    assert plain.r2 is None
    assert {(p.pair_id, p.exp, p.source_video, p.exp_id) for p in plain.pairs} == {
        ("a/0", "a red circle", "a", "0"), ("b/0", "the square", "b", "0"),
        ("b/1", "it", "b", "1")}


@pytest.mark.parametrize("break_it, message", [
    (lambda m: m["pairs"][0].pop("exp"), 'pair positive/a/0: "exp": expected a string'),
    (lambda m: m["pairs"][1].update(source_video=3), '"source_video": expected a string'),
    (lambda m: m.update(negative_of=[]), '"negative_of": expected a dict'),
    (lambda m: m["videos"]["a"].update(objects=["x"]), "videos.a.objects: expected"),
    (lambda m: m["videos"]["b"].update(frames=[]), "videos.b.frames: expected a non-empty"),
])
def test_malformed_descriptions_are_one_line_naming_the_file(r2, break_it, message):
    path = r2 / "r2_meta.json"
    meta = json.loads(path.read_text())
    break_it(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError) as e:
        read_r2_meta(r2)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
    assert "\n" not in str(e.value)
