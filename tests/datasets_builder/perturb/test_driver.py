"""``r2bench perturb`` end to end on a small synthetic source: the layout, the record, the
mix, byte identity whatever the workers, and that the builder and the scorer read it."""

from __future__ import annotations

import filecmp
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from datasets_builder.build import build_dataset
from datasets_builder.perturb.catalog import parse_types
from datasets_builder.perturb.driver import (
    DYN_LEVELS,
    PerturbConfig,
    draw_mode,
    perturb_source,
    plan_expression,
    plan_video,
)
from datasets_builder.synth import SynthConfig, write_source
from r2bench.app.demo import write_oracle_submission
from r2bench.by_perturbation import open_by_perturbation
from r2bench.cli import main
from r2bench.refytvos import RefYTVOSRoot, VideoMeta
from r2bench.scoring import score_submission
from r2bench.synonyms import CategoryNamer

SPLIT = "valid"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("src") / "source"
    write_source(root, SynthConfig(videos=8, train_videos=1, frames=3, height=40, width=64,
                                   seed=3), workers=1)
    return root


@pytest.fixture(scope="module")
def perturbed(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "pt"
    perturb_source(source, SPLIT, out, PerturbConfig(severity=3, seed=5, keep_categories=True),
                   workers=1)
    return out


def test_layout_and_record(source, perturbed):
    record = json.loads((perturbed / "perturb.json").read_text())
    src, out = RefYTVOSRoot(source, SPLIT), RefYTVOSRoot(perturbed, SPLIT)
    assert record["format"] == "r2bench/perturbation" and record["severity"] == 3
    assert out.load_categories() == src.load_categories()
    exps = out.load_videos()
    for vid, meta in src.load_videos().items():
        v = record["videos"][vid]
        assert (v["visual"] is None) == (v["mode"] == "text")
        for f in meta.frames:
            jpg = out.jpeg_path(vid, f)
            if v["visual"] is None:       # clean frames are linked, not re-encoded
                assert jpg.is_symlink() and jpg.resolve() == src.jpeg_path(vid, f).resolve()
            else:
                assert not jpg.is_symlink() and not filecmp.cmp(jpg, src.jpeg_path(vid, f),
                                                                 shallow=False)
            assert out.annotation_path(vid, f).is_symlink()        # ground truth linked
        for eid, e in meta.expressions.items():
            rec = v["expressions"][eid]
            assert exps[vid].expressions[eid].obj_id == e.obj_id
            if rec["type"] is None:
                assert exps[vid].expressions[eid].exp == e.exp
            else:
                assert rec["original"] == e.exp and rec["severity"] == 3
                assert exps[vid].expressions[eid].exp == rec["exp"] != e.exp


def test_keep_categories_keeps_every_named_category(source, perturbed):
    cats = sorted({c for objs in RefYTVOSRoot(source, SPLIT).load_categories().values()
                   for c in objs.values()})
    namer = CategoryNamer(cats)
    record = json.loads((perturbed / "perturb.json").read_text())
    texts = [e for v in record["videos"].values() for e in v["expressions"].values()
             if e["type"] is not None]
    assert texts
    for e in texts:
        assert namer.named(e["exp"]) == namer.named(e["original"]), e


def _tree(root: Path) -> dict[str, object]:
    """Every file under root: link target or bytes."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = os.readlink(p) if p.is_symlink() else p.read_bytes()
    return out


def test_same_bytes_whatever_the_workers(source, tmp_path):
    cfg = PerturbConfig(severity="dyn", seed=9)
    perturb_source(source, SPLIT, tmp_path / "one", cfg, workers=1)
    perturb_source(source, SPLIT, tmp_path / "two", cfg, workers=2)
    assert _tree(tmp_path / "one") == _tree(tmp_path / "two")
    perturb_source(source, SPLIT, tmp_path / "other", PerturbConfig(severity="dyn", seed=10),
                   workers=1)
    assert _tree(tmp_path / "one") != _tree(tmp_path / "other")


def test_dyn_draws_a_severity_per_frame(source, tmp_path):
    out = perturb_source(source, SPLIT, tmp_path / "dyn",
                         PerturbConfig(severity="dyn", types=parse_types(["visual"])),
                         workers=1)
    for v in out.record["videos"].values():
        assert v["mode"] == "visual" and v["visual"]["severity"] == "dyn"
        assert len(v["visual"]["frames"]) == 3 and set(v["visual"]["frames"]) <= set(DYN_LEVELS)
    levels = [s for v in out.record["videos"].values() for s in v["visual"]["frames"]]
    assert len(set(levels)) > 1


def test_dyn_levels_vary_within_each_video_and_each_frame_gets_its_own(source, tmp_path):
    long = VideoMeta("v", tuple(f"{i:05d}" for i in range(12)), {})
    cfg = PerturbConfig(severity="dyn", types=parse_types(["visual"]))
    for i in range(20):
        levels = plan_video(f"video{i}", long, cfg, None)["visual"]["frames"]
        assert len(levels) == 12 and len(set(levels)) > 1, levels
    # a deterministic corruption: frame t of the dyn output is the fixed-severity output
    # at frame t's level
    jpeg = {"types": ("jpeg_compression",), "seed": 2}
    out = perturb_source(source, SPLIT, tmp_path / "dyn", PerturbConfig(severity="dyn", **jpeg),
                         workers=1)
    for s in DYN_LEVELS:
        perturb_source(source, SPLIT, tmp_path / f"s{s}", PerturbConfig(severity=s, **jpeg),
                       workers=1)
    mixed = 0
    for vid, meta in RefYTVOSRoot(source, SPLIT).load_videos().items():
        levels = out.record["videos"][vid]["visual"]["frames"]
        mixed += len(set(levels)) > 1
        for frame, s in zip(meta.frames, levels):
            got = RefYTVOSRoot(tmp_path / "dyn", SPLIT).jpeg_path(vid, frame).read_bytes()
            assert got == RefYTVOSRoot(tmp_path / f"s{s}", SPLIT).jpeg_path(vid, frame).read_bytes()
    assert mixed > 0


def test_keep_categories_keeps_a_plural_category_word_unchanged():
    namer = CategoryNamer(["dog", "person", "horse"])
    texts = ("two dogs running after a small ball", "the Dogs next to the horses",
             "people walking two dogs in the park")
    cfg = PerturbConfig(keep_categories=True)
    for text in texts:
        plural = re.findall(r"\b(?:dogs|Dogs|horses|people)\b", text)
        for i in range(40):
            rec = plan_expression(1000 + i, "0", text, cfg, namer)
            assert rec["exp"] != text
            assert re.findall(r"\b(?:dogs|Dogs|horses|people)\b", rec["exp"]) == plural, rec


def test_the_mix_and_types():
    cfg = PerturbConfig()
    assert [draw_mode(u, cfg) for u in (0.0, 0.39, 0.4, 0.79, 0.8, 0.99)] == \
        ["visual", "visual", "text", "text", "both", "both"]
    meta = VideoMeta("v", ("00000",), {})
    modes = [plan_video(f"video{i}", meta, cfg, None)["mode"] for i in range(2000)]
    shares = [modes.count(m) / len(modes) for m in ("visual", "text", "both")]
    assert np.allclose(shares, (0.4, 0.4, 0.2), atol=0.04)
    only_fog = PerturbConfig(types=("fog",))
    assert {plan_video(f"v{i}", meta, only_fog, None)["visual"]["type"]
            for i in range(50)} == {"fog"}
    assert {plan_video(f"v{i}", meta, PerturbConfig(types=parse_types(["text"])), None)["mode"]
            for i in range(50)} == {"text"}


def test_builder_and_scorer_read_the_output(perturbed, tmp_path):
    report = build_dataset(perturbed, SPLIT, tmp_path / "r2", seed=1).report
    assert not report.problems
    preds = write_oracle_submission(tmp_path / "r2", tmp_path / "preds", "oracle")
    results = open_by_perturbation(tmp_path / "r2").add(
        score_submission(preds, tmp_path / "r2", workers=1))
    assert results["summary"]["JF"] == 1.0 and results["summary"]["R"] == 1.0
    section = results["by_perturbation"]
    groups = {g["type"] for g in section["groups"]}
    record = json.loads((perturbed / "perturb.json").read_text())
    used = {v["visual"]["type"] for v in record["videos"].values() if v["visual"]}
    used |= {e["type"] for v in record["videos"].values() for e in v["expressions"].values()
             if e["type"]}
    assert used <= groups
    assert all(t["JF"] == 1.0 for t in section["types"] if t["n_positive"])


@pytest.mark.parametrize("args, message", [
    (["--severity", "6"], "expected 1..5, dyn or all"),
    (["--types", "gaussian_noise,fogg"], "unknown perturbation type 'fogg'"),
    (["--split", "nosuch"], "meta_expressions.json: missing"),
])
def test_bad_input_one_line_exit_2(source, tmp_path, args, message):
    argv = ["perturb", str(source), "--split", SPLIT, "--out", str(tmp_path / "o"), *args, "-q"]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o").exists()


def test_existing_output_refused(source, perturbed):
    res = CliRunner().invoke(main, ["perturb", str(source), "--split", SPLIT, "--out",
                                    str(perturbed), "-q"])
    assert res.exit_code == 2 and "already exists" in res.output
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_broken_frame_is_one_line_and_nothing_is_written(source, tmp_path, workers):
    import shutil

    copy = tmp_path / "src"
    shutil.copytree(source, copy)
    root = RefYTVOSRoot(copy, SPLIT)
    vid, meta = next(iter(root.load_videos().items()))
    root.jpeg_path(vid, meta.frames[1]).write_bytes(b"not a jpeg")
    res = CliRunner().invoke(main, ["perturb", str(copy), "--split", SPLIT, "--out",
                                    str(tmp_path / "o"), "--types", "visual", "--workers",
                                    str(workers), "-q"])
    assert res.exit_code == 2, res.output
    assert f"{meta.frames[1]}.jpg: cannot read frame" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_frost_without_its_photographs_is_refused_in_one_line(source, tmp_path, monkeypatch):
    from datasets_builder.perturb import frost

    monkeypatch.setattr(frost, "photograph_folder", lambda: None)
    for types in (["--types", "weather"], []):          # named, or drawn by default
        res = CliRunner().invoke(main, ["perturb", str(source), "--split", SPLIT, "--out",
                                        str(tmp_path / "o"), *types, "-q"])
        assert res.exit_code == 2, res.output
        assert "pip install 'r2bench[perturb]'" in res.output
        assert len(res.output.strip().splitlines()) == 1
        assert not (tmp_path / "o").exists()
    # without frost nothing needs the photographs, and perturb.json says no frost was used
    res = CliRunner().invoke(main, ["perturb", str(source), "--split", SPLIT, "--out",
                                    str(tmp_path / "o"), "--types", "fog,misspell", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "perturb.json").read_text())["frost"] is None


def test_the_record_names_the_frost_photographs(perturbed):
    record = json.loads((perturbed / "perturb.json").read_text())
    assert record["frost"]["package"] == "imagecorruptions"
    assert record["frost"]["version"] == "1.1.2"
    assert record["frost"]["files"] == [f"frost{i}.{'png' if i < 4 else 'jpg'}"
                                        for i in range(1, 6)]
