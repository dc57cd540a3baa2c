"""convert-davis: the upstream conversion rules, encodings, outputs and errors."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from refdavis_data import FILES, expression, make_refdavis, n_objects, write_expressions

from datasets_builder.refdavis import convert_davis, parse_expression_lines, video_expressions
from r2bench.cli import main
from r2bench.errors import DatasetError
from r2bench.refytvos import RefYTVOSRoot, read_annotations
from r2bench.source import load_source


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("davis")
    davis, exps, videos = make_refdavis(tmp)
    return davis, exps, videos


def _convert(fake, out: Path, **kw) -> Path:
    davis, exps, _ = fake
    convert_davis(davis, exps, out, **kw)
    return out


def test_exp_ids_runs_and_encodings(fake, tmp_path):
    root = _convert(fake, tmp_path / "root")
    videos = RefYTVOSRoot(root, "valid").load_videos()
    assert list(videos) == ["bear", "classic-car", "dogs-jump"]    # val.txt order
    car = videos["classic-car"]                                     # "clasic-car" in the files
    assert len(car.expressions) == 12
    for p, obj in enumerate(("1", "2", "3")):
        for run in range(4):
            e = car.expressions[str(4 * p + run)]
            assert e.obj_id == obj
            assert e.exp == expression(run, "classic-car", int(obj))
    # annotator 2's Latin-1 bytes and annotator 1's UTF-8 decode to the same letters
    assert car.expressions["4"].exp.startswith("a man in café")
    assert car.expressions["6"].exp.startswith("a man in café")
    assert car.expressions["10"].exp.startswith("the naïve bike")
    assert car.frames == tuple(f"{i:05d}" for i in range(6))


def test_frames_annotations_and_categories(fake, tmp_path):
    davis, _, videos = fake
    root = _convert(fake, tmp_path / "root")
    ytvos = RefYTVOSRoot(root, "valid")
    jpg = ytvos.jpeg_path("bear", "00002")
    assert jpg.is_symlink() and jpg.resolve() == (davis / "JPEGImages/480p/bear/00002.jpg").resolve()
    ann = read_annotations([ytvos.annotation_path("dogs-jump", f"{i:05d}") for i in range(6)])
    np.testing.assert_array_equal(ann, videos["dogs-jump"])     # Annotations_unsupervised, void kept
    cats = ytvos.load_categories()
    assert cats["classic-car"] == {"1": "dog", "2": "person", "3": "bike"}
    src = load_source(root, "valid")                             # what build-dataset reads
    assert src.objects["bear"] == {"1": "dog"}
    train = RefYTVOSRoot(root, "train").load_videos()
    assert list(train) == ["train-one"] and len(train["train-one"].expressions) == 8


def test_same_inputs_same_bytes_and_copy_mode(fake, tmp_path):
    a = _convert(fake, tmp_path / "a")
    b = _convert(fake, tmp_path / "b", link="copy")
    for rel in ("meta_expressions/valid/meta_expressions.json", "valid/meta.json",
                "meta_expressions/train/meta_expressions.json"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    copied = b / "valid" / "JPEGImages" / "bear" / "00000.jpg"
    assert copied.is_file() and not copied.is_symlink()


def test_string_sort_and_zip_truncation(caplog):
    lines = "\n".join(f'v {k} "obj {k}"' for k in (2, 10, 1, 11, 3)) + "\n\n"
    parsed = parse_expression_lines(lines, Path("f.txt"))
    assert [o for o, _ in parsed["v"]] == ["1", "10", "11", "2", "3"]    # as upstream sorts
    short = {"v": parsed["v"][:3]}
    with caplog.at_level(logging.WARNING):
        exps = video_expressions([parsed, parsed, short, parsed], "v", Path("."))
    assert len(exps) == 12 and exps["8"]["obj_id"] == "11"
    assert "3 objects" in caplog.text or "keeping the first 3" in caplog.text


def test_collapses_whitespace_and_drops_quotes():
    parsed = parse_expression_lines('bear  1   "a   big\tbear "\n', Path("f.txt"))
    assert parsed == {"bear": [("1", "a big bear ")]}     # upstream keeps the inner space


def test_annotator1_latin1_falls_back_with_a_warning(fake, tmp_path, caplog):
    davis, _, videos = fake
    bad = write_expressions(tmp_path / "exps", {v: n_objects(ids) for v, ids in videos.items()},
                            misspell={"classic-car": "clasic-car"})
    path = bad / FILES[0]
    path.write_bytes(path.read_bytes().replace("café".encode(), "café".encode("latin-1")))
    with caplog.at_level(logging.WARNING):
        convert_davis(davis, bad, tmp_path / "root")
    assert "read as Latin-1" in caplog.text
    car = RefYTVOSRoot(tmp_path / "root", "valid").load_videos()["classic-car"]
    assert car.expressions["4"].exp.startswith("a man in café")


def _cli(args) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["convert-davis", *map(str, args)])
    return res.exit_code, res.output


def test_cli_and_errors_write_nothing(fake, tmp_path):
    davis, exps, _ = fake
    code, out = _cli([davis, "--expressions", exps, "--out", tmp_path / "ok", "-q"])
    assert code == 0 and "valid: 3 videos, 24 expressions, 18 frames" in out
    code, out = _cli([davis, "--expressions", exps, "--out", tmp_path / "ok", "-q"])
    assert code == 2 and "already exists" in out
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in FILES:
        (broken / name).write_bytes((exps / name).read_bytes())
    (broken / FILES[3]).unlink()
    code, out = _cli([davis, "--expressions", broken, "--out", tmp_path / "x", "-q"])
    assert code == 2 and FILES[3] in out and len(out.strip().splitlines()) == 1
    (broken / FILES[3]).write_bytes(b'bear 1 "fine"\nbear x "not an id"\n')
    code, out = _cli([davis, "--expressions", broken, "--out", tmp_path / "x", "-q"])
    assert code == 2 and "line 2" in out
    (broken / FILES[3]).write_bytes(b'bear 1 "only bear"\n')
    code, out = _cli([davis, "--expressions", broken, "--out", tmp_path / "x", "-q"])
    assert code == 2 and "no expression for video" in out
    assert not (tmp_path / "x").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".x")]


def test_without_semantics_no_meta_json(fake, tmp_path):
    davis, _, _ = fake
    sem = davis / "davis_semantics.json"
    kept = sem.read_bytes()
    sem.unlink()
    try:
        root = _convert(fake, tmp_path / "root")
    finally:
        sem.write_bytes(kept)
    assert not (root / "valid" / "meta.json").exists()
    with pytest.raises(DatasetError):
        load_source(root, "valid")
    # ... and build-dataset can take the semantics file itself instead
    assert load_source(root, "valid", categories=sem).objects["dogs-jump"] == {
        "1": "dog", "2": "person"}
    assert json.loads(kept)["bear"] == {"1": "dog"}
