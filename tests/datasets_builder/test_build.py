"""build-dataset and verify-dataset: the constraint, the outputs, determinism, errors."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from builder_sources import tiny_source, write_meta_source
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from datasets_builder.build import build_dataset, plan_negatives
from datasets_builder.synth import SynthConfig, write_source
from datasets_builder.verify import verify_dataset
from r2bench.cli import main
from r2bench.errors import DatasetError, InfeasibleError
from r2bench.refytvos import RefYTVOSRoot
from r2bench.source import load_source

SPEC_PAIR_KEYS = {"positive": ["pair_id", "label", "video", "source_video", "exp_id", "exp",
                               "obj_id"],
                  "negative": ["pair_id", "label", "video", "source_video", "exp_id", "exp"]}


@pytest.fixture(scope="module")
def synth_source(tmp_path_factory) -> Path:
    cfg = SynthConfig(videos=10, train_videos=1, frames=3, height=32, width=48, seed=11)
    return write_source(tmp_path_factory.mktemp("src") / "src", cfg)


@pytest.fixture(scope="module")
def built(synth_source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("r2") / "r2"
    build_dataset(synth_source, "valid", out, seed=5)
    return out


# --- the constraint, on many random sources -------------------------------------------

# An independent reference for "names": a regex per term with its plural forms written out.
REF_TERMS = {"person": ["person", "persons", "people", "man", "men", "woman", "women", "boy",
                        "boys", "girl", "girls"],
             "dog": ["dog", "dogs", "puppy", "puppies"],
             "cat": ["cat", "cats", "kitten", "kittens"],
             "horse": ["horse", "horses"], "mouse": ["mouse", "mice"]}
WORDS = ["a man", "two women", "the boy's", "PEOPLE", "a dog", "puppies", "a kitten",
         "the cats", "a horse", "mice", "the thing", "on the left", "dogma", "a catalog",
         "something", "moving"]


def ref_names(text: str) -> set[str]:
    return {c for c, terms in REF_TERMS.items()
            if any(re.search(rf"(?<![a-z]){t}(?![a-z])", text.lower()) for t in terms)}


@st.composite
def meta_sources(draw):
    n = draw(st.integers(1, 9))
    cats = list(REF_TERMS)
    videos, objects = {}, {}
    for i in range(n):
        objs = draw(st.lists(st.sampled_from(cats), min_size=1, max_size=3))
        objects[f"v{i}"] = {str(k + 1): c for k, c in enumerate(objs)}
        exps = {}
        for e in range(draw(st.integers(0, 3))):
            text = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))
            oid = draw(st.none() | st.sampled_from(sorted(objects[f"v{i}"])))
            exps[str(e)] = {"exp": text} if oid is None else {"exp": text, "obj_id": oid}
        videos[f"v{i}"] = {"expressions": exps, "frames": ["00000"]}
    return {"videos": videos}, objects, draw(st.integers(0, 2**32 - 1))


def _related(meta_exp: dict, objects: dict, v: str, u: str) -> bool:
    cats_u = set(objects[u].values())
    for e in meta_exp["videos"][v]["expressions"].values():
        target = {objects[v][e["obj_id"]]} if "obj_id" in e else set(objects[v].values())
        if (target | ref_names(e["exp"])) & cats_u:
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(meta_sources())
def test_shuffle_is_valid_or_provably_impossible(src):
    meta_exp, objects, seed = src
    with tempfile.TemporaryDirectory() as d:
        loaded = load_source(write_meta_source(Path(d), "valid", meta_exp, objects), "valid")
        vids = list(objects)
        allowed = np.array([[u != v and not _related(meta_exp, objects, v, u) for u in vids]
                            for v in vids])
        best = (maximum_bipartite_matching(csr_matrix(allowed.astype(int)),
                                           perm_type="column") >= 0).sum()
        try:
            neg = plan_negatives(loaded, seed)
        except InfeasibleError as e:
            assert best < len(vids)
            assert "cannot be placed" in str(e) and re.search(r"\bv\d\b", str(e))
            return
        assert best == len(vids)
        assert sorted(neg) == sorted(neg.values()) == sorted(vids)
        assert all(u != v and not _related(meta_exp, objects, v, u) for v, u in neg.items())


# --- the built dataset ------------------------------------------------------------------

def test_r2_meta_follows_spec(built, synth_source):
    meta = json.loads((built / "r2_meta.json").read_text())
    assert list(meta)[:9] == ["format", "version", "source", "split", "seed", "strategy",
                              "link", "categories_file", "negative_of"]
    assert (meta["format"], meta["version"], meta["split"], meta["seed"], meta["strategy"]) == \
        ("r2bench/r2-dataset", 1, "valid", 5, "random")
    assert meta["source"] == str(synth_source.resolve())
    src = RefYTVOSRoot(synth_source, "valid").load_videos()
    assert list(meta["videos"]) == list(src)
    for vid, v in meta["videos"].items():
        assert v["frames"] == list(src[vid].frames) and v["size"] == [32, 48]
        assert v["categories"] and set(v["categories"]) == set(v["objects"].values())
    n_exp = sum(len(v.expressions) for v in src.values())
    assert len(meta["pairs"]) == 2 * n_exp
    for p in meta["pairs"]:
        assert list(p) == SPEC_PAIR_KEYS[p["label"]]
        assert p["pair_id"] == f"{p['label']}/{p['source_video']}/{p['exp_id']}"
        src_vid = p["source_video"]
        want = src_vid if p["label"] == "positive" else meta["negative_of"][src_vid]
        assert p["video"] == want
    c = meta["checks"]
    assert (c["videos"], c["expressions"], c["negative_pairs"], c["violations"], c["seed"]) == \
        (10, n_exp, n_exp, 0, 5)
    assert "pi(v) != v" in c["constraint"]


def test_negative_split_reads_as_a_plain_ref_youtube_vos_root(built, synth_source):
    meta = json.loads((built / "r2_meta.json").read_text())
    source = RefYTVOSRoot(synth_source, "valid")
    src_videos = source.load_videos()
    neg = RefYTVOSRoot(built / "negative", "valid")
    videos = neg.load_videos()
    assert not neg.has_annotations
    for vid, v in videos.items():
        other = meta["negative_of"][vid]
        assert other != vid and v.frames == src_videos[other].frames
        assert {e: x.exp for e, x in v.expressions.items()} == \
            {e: x.exp for e, x in src_videos[vid].expressions.items()}
        assert all(x.obj_id is None for x in v.expressions.values())
        for f in v.frames:
            assert neg.jpeg_path(vid, f).read_bytes() == source.jpeg_path(other, f).read_bytes()
            assert os.path.isabs(os.readlink(neg.jpeg_path(vid, f)))
    pos = RefYTVOSRoot(built / "positive", "valid")
    assert pos.load_videos() == src_videos and pos.has_annotations
    vid = next(iter(src_videos))
    assert pos.annotation_path(vid, "00000").read_bytes() == \
        source.annotation_path(vid, "00000").read_bytes()


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_link_modes(synth_source, tmp_path, link):
    out = tmp_path / "r2"
    build_dataset(synth_source, "valid", out, seed=5, link=link)
    source = RefYTVOSRoot(synth_source, "valid")
    vid = next(iter(source.load_videos()))
    a = RefYTVOSRoot(out / "positive", "valid").jpeg_path(vid, "00000")
    b = source.jpeg_path(vid, "00000")
    assert not a.is_symlink() and a.read_bytes() == b.read_bytes()
    assert os.path.samefile(a, b) == (link == "hardlink")
    assert verify_dataset(out).problems == []


def test_same_seed_same_bytes_other_seed_other_shuffle(built, synth_source, tmp_path):
    build_dataset(synth_source, "valid", tmp_path / "again", seed=5)
    again = (tmp_path / "again" / "r2_meta.json").read_bytes()
    assert again == (built / "r2_meta.json").read_bytes()
    build_dataset(synth_source, "valid", tmp_path / "other", seed=6)
    a = json.loads((built / "r2_meta.json").read_text())["negative_of"]
    b = json.loads((tmp_path / "other" / "r2_meta.json").read_text())["negative_of"]
    assert a != b


def test_overwrite_replaces(built, synth_source, tmp_path):
    out = tmp_path / "r2"
    build_dataset(synth_source, "valid", out, seed=1)
    with pytest.raises(DatasetError, match="already exists"):
        build_dataset(synth_source, "valid", out, seed=2)
    build_dataset(synth_source, "valid", out, seed=5, overwrite=True)
    assert (out / "r2_meta.json").read_bytes() == (built / "r2_meta.json").read_bytes()


def test_source_without_obj_id_forbids_every_category_of_the_video(tmp_path):
    src = tiny_source(tmp_path / "s", {
        "a": ({"1": "dog", "2": "cat"}, [("the animal", None)]),
        "b": ({"1": "horse"}, [("the thing", None)]),
        "c": ({"1": "cat"}, [("the thing", None)]),
        "d": ({"1": "mouse"}, [("the thing", None)]),
    })
    result = build_dataset(src, "valid", tmp_path / "r2", seed=0)
    assert result.negative_of["a"] in {"b", "d"}      # not c: it holds a cat
    meta = json.loads((tmp_path / "r2" / "r2_meta.json").read_text())
    assert all(p["obj_id"] is None for p in meta["pairs"] if p["label"] == "positive")


def test_categories_file_for_ref_davis(tmp_path):
    videos = {"bike-packing": ({"1": "bicycle", "2": "person"}, [("a man on a bike", "2")]),
              "blackswan": ({"1": "swan"}, [("a black swan", "1")]),
              "cows": ({"1": "cow"}, [("a brown cow", "1")])}
    src = tiny_source(tmp_path / "s", videos, meta_json=False)
    semantics = tmp_path / "davis_semantics.json"
    semantics.write_text(json.dumps({v: objs for v, (objs, _) in videos.items()}))
    result = build_dataset(src, "valid", tmp_path / "r2", categories=semantics)
    assert sorted(result.negative_of.values()) == sorted(videos)
    meta = json.loads((tmp_path / "r2" / "r2_meta.json").read_text())
    assert meta["videos"]["bike-packing"]["categories"] == ["bicycle", "person"]


# --- infeasible sources and verification failures --------------------------------------

def _all_circles(root: Path) -> Path:
    return tiny_source(root, {f"vid{i}": ({"1": "circle", "2": shape}, [("the circle", "1")])
                              for i, shape in enumerate(["star", "square", "ring"])})


def test_infeasible_is_refused_and_nothing_written(tmp_path):
    src = _all_circles(tmp_path / "s")
    before = set(tmp_path.iterdir())
    with pytest.raises(InfeasibleError) as e:
        build_dataset(src, "valid", tmp_path / "r2")
    msg = str(e.value)
    assert "no valid shuffle" in msg and "meta_expressions.json" in msg
    assert all(v in msg for v in ["vid0", "vid1", "vid2"]) and "circle" in msg
    assert set(tmp_path.iterdir()) == before


def test_a_partial_conflict_names_only_the_unplaceable_videos(tmp_path):
    # Three dog videos that forbid dog, one cat video: only one dog video can be placed.
    videos = {f"dog{i}": ({"1": "dog"}, [("a puppy", "1")]) for i in range(3)}
    videos["cat"] = ({"1": "cat"}, [("a kitten", "1")])
    with pytest.raises(InfeasibleError, match=r"at most 2 of 4 videos") as e:
        plan_negatives(load_source(tiny_source(tmp_path / "s", videos), "valid"), seed=0)
    assert "cat (" not in str(e.value) and str(e.value).count("dog") >= 2


def _tamper(built: Path, tmp_path: Path, edit) -> Path:
    import shutil

    copy = tmp_path / "t"
    shutil.copytree(built, copy, symlinks=True)
    meta = json.loads((copy / "r2_meta.json").read_text())
    edit(copy, meta)
    (copy / "r2_meta.json").write_text(json.dumps(meta))
    return copy


def _fixed_point(d, meta):
    a = next(iter(meta["negative_of"]))
    meta["negative_of"][a] = a


def _related_pair(d, meta):
    v = next(iter(meta["videos"]))
    neg = meta["negative_of"][v]
    meta["videos"][neg]["categories"].append(meta["videos"][v]["categories"][0])


def _wrong_link(d, meta):
    v = next(iter(meta["videos"]))
    f = meta["videos"][meta["negative_of"][v]]["frames"][0]
    p = d / "negative" / "valid" / "JPEGImages" / v / f"{f}.jpg"
    p.unlink()
    own = meta["videos"][v]["frames"][0]   # v's own frame instead of pi(v)'s
    os.symlink((d / "positive" / "valid" / "JPEGImages" / v / f"{own}.jpg").resolve(), p)


def _missing_annotation(d, meta):
    v = next(iter(meta["videos"]))
    (d / "positive" / "valid" / "Annotations" / v / "00005.png").unlink()


def _wrong_frames(d, meta):
    path = d / "negative" / "meta_expressions" / "valid" / "meta_expressions.json"
    m = json.loads(path.read_text())
    v = next(iter(m["videos"]))
    m["videos"][v]["frames"] = m["videos"][v]["frames"][:-1]
    path.write_text(json.dumps(m))


@pytest.mark.parametrize("edit,message", [
    (_fixed_point, "own negative"), (_related_pair, "is related"),
    (_wrong_link, "not frame"), (_wrong_frames, "negative frames"),
    (_missing_annotation, "not the source annotation"),
])
def test_verify_catches(built, tmp_path, edit, message):
    bad = _tamper(built, tmp_path, edit)
    with pytest.raises(DatasetError, match=message):
        verify_dataset(bad)


def test_verify_accepts_the_built_dataset(built):
    report = verify_dataset(built)
    assert report.problems == [] and report.videos == 10 and report.files > 0
    assert "OK" in report.summary()


# --- the command line ------------------------------------------------------------------

def _run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in r.output
    return r


def test_cli_build_and_verify(synth_source, tmp_path):
    r = _run("build-dataset", synth_source, "--split", "valid", "--out", tmp_path / "r2",
             "--seed", "5", "--quiet")
    assert r.exit_code == 0 and "OK" in r.output, r.output
    r = _run("verify-dataset", tmp_path / "r2")
    assert r.exit_code == 0 and "10 videos" in r.output


def _missing_meta(root: Path) -> Path:
    src = _all_circles(root)
    (src / "meta_expressions" / "valid" / "meta_expressions.json").unlink()
    return src


def _malformed(root: Path) -> Path:
    src = _all_circles(root)
    (src / "valid" / "meta.json").write_text("{not json")
    return src


def _missing_frame(root: Path) -> Path:
    src = tiny_source(root, {"a": ({"1": "dog"}, [("x", "1")]), "b": ({"1": "cat"}, [("y", "1")])})
    next((src / "valid" / "JPEGImages" / "b").iterdir()).unlink()
    return src


def _bad_obj_id(root: Path) -> Path:
    return tiny_source(root, {"a": ({"1": "dog"}, [("x", "7")]), "b": ({"1": "cat"}, [("y", "1")])})


@pytest.mark.parametrize("make,extra,message", [
    (lambda r: r / "nowhere", [], "does not exist"),
    (_missing_meta, [], "meta_expressions.json: missing"),
    (_malformed, [], "meta.json: cannot read"),
    (_missing_frame, [], ".jpg: missing"),
    (_bad_obj_id, [], "obj_id 7 is not an object"),
    (_all_circles, [], "no valid shuffle"),
    (_all_circles, ["--split", "train"], "meta_expressions.json: missing"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, make, extra, message):
    src = make(tmp_path / "s")
    args = ["build-dataset", src, "--out", tmp_path / "r2", "--quiet"]
    r = _run(*args, *(extra or ["--split", "valid"]))
    assert r.exit_code == 2 and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == (["s"] if src.exists() else [])


@pytest.mark.parametrize("content,message", [
    ("[1, 2]", "expected a Youtube-VOS meta.json"),
    ("{bad", "cannot read categories file"),
    ('{"other": {"1": "dog"}}', "no categories for video vid0"),
    (None, "categories file"),
])
def test_cli_bad_categories_file(tmp_path, content, message):
    src = _all_circles(tmp_path / "s")
    cats = tmp_path / "cats.json"
    if content is not None:
        cats.write_text(content)
    r = _run("build-dataset", src, "--split", "valid", "--out", tmp_path / "r2",
             "--categories", cats)
    assert r.exit_code == 2 and message in r.output and str(cats) in r.output, r.output
    assert not (tmp_path / "r2").exists()


def test_cli_refuses_existing_out(synth_source, tmp_path):
    (tmp_path / "r2").mkdir()
    r = _run("build-dataset", synth_source, "--split", "valid", "--out", tmp_path / "r2")
    assert r.exit_code == 2 and "already exists" in r.output
    assert list((tmp_path / "r2").iterdir()) == []


def test_cli_verify_bad_input(tmp_path):
    r = _run("verify-dataset", tmp_path)
    assert r.exit_code == 2 and "r2_meta.json: missing" in r.output
    (tmp_path / "r2_meta.json").write_text('{"format": "something else"}')
    r = _run("verify-dataset", tmp_path)
    assert r.exit_code == 2 and "not an R2 dataset" in r.output


@pytest.mark.parametrize("make", ["build", "perturb", "holdout"])
def test_an_unknown_link_mode_is_the_projects_error_and_writes_nothing(synth_source, tmp_path,
                                                                        make):
    from datasets_builder.holdout import make_holdout
    from datasets_builder.perturb.driver import perturb_source
    from r2bench.errors import R2BenchError

    run = {"build": build_dataset, "perturb": perturb_source, "holdout": make_holdout}[make]
    with pytest.raises(R2BenchError, match="--link bogus: expected one of symlink, hardlink"):
        run(synth_source, "valid", tmp_path / "out", link="bogus")
    assert not (tmp_path / "out").exists()
