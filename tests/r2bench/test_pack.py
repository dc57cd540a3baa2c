"""pack: the server zip's layout, modes, completeness, determinism and atomicity."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from r2data import frame_names, write_preds, write_r2, write_source

from r2bench.cli import main
from r2bench.pack import pack_submission
from r2bench.scoring import score_submission

H, W, T = 18, 26, 3


def _videos():
    rng = np.random.default_rng(0)
    out = {}
    for vid in ("b-video", "b", "a10"):          # names whose string order differs from tuple order
        ids = np.zeros((T, H, W), np.uint8)
        ids[:, 2:9, 3:12] = 1
        ids[:, 10:16, 14:24] = 2
        out[vid] = np.roll(ids, int(rng.integers(-2, 3)), axis=2)
    return out


EXPS = {v: {"0": ("the left box", "1"), "1": ("the right box", "2"), "10": ("any box", "1")}
        for v in ("b-video", "b", "a10")}


def _preds(videos) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {f"{v}/{e}": (ids == int(obj)) ^ (rng.random(ids.shape) < 0.05)
            for v, ids in videos.items() for e, (_, obj) in EXPS[v].items()}


@pytest.fixture()
def root(tmp_path):
    write_source(tmp_path / "root", _videos(), EXPS)
    return tmp_path / "root"


def _entries(path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        out = {}
        for info in zf.infolist():
            im = Image.open(io.BytesIO(zf.read(info)))
            assert im.mode == "L" and info.date_time == (1980, 1, 1, 0, 0, 0)
            out[info.filename] = np.asarray(im)
    return out


def test_layout_modes_and_same_bytes(root, tmp_path):
    preds = _preds(_videos())
    for i, (pair, masks) in enumerate(preds.items()):   # every mode R-VOS code writes
        write_preds(tmp_path / "preds", {pair: masks}, mode=("L", "P", "RGB", "1", "I;16")[i % 5])
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    report = pack_submission(tmp_path / "preds", root, a, workers=1)
    pack_submission(tmp_path / "preds", root, b, workers=2)
    assert a.read_bytes() == b.read_bytes()
    assert (report.videos, report.expressions, report.frames) == (3, 9, 27)
    entries = _entries(a)
    names = list(entries)
    assert names == sorted(names) and names[0] == "Annotations/a10/0/00000.png"
    for pair, masks in preds.items():
        for f, m in zip(frame_names(T), masks):
            got = entries[f"Annotations/{pair}/{f}.png"]
            assert set(np.unique(got)) <= {0, 255}
            np.testing.assert_array_equal(got == 255, m)


def test_packed_zip_scores_like_the_tree(root, tmp_path):
    write_preds(tmp_path / "preds", _preds(_videos()))
    pack_submission(tmp_path / "preds", root, tmp_path / "s.zip", workers=1)
    tree = score_submission(tmp_path / "preds", root, "valid", workers=1)
    zipped = score_submission(tmp_path / "s.zip", root, "valid", workers=1)
    assert tree["summary"]["J"] == zipped["summary"]["J"] < 1
    assert tree["summary"]["F"] == zipped["summary"]["F"]


def test_r2_submission_packs_its_positive_part(tmp_path):
    videos = _videos()
    write_r2(tmp_path / "r2", videos, EXPS, {"b-video": "b", "b": "a10", "a10": "b-video"})
    preds = {f"positive/{k}": m for k, m in _preds(videos).items()}
    preds |= {f"negative/{k}": np.zeros_like(m) for k, m in _preds(videos).items()}
    write_preds(tmp_path / "preds", preds, annotations_level=True)
    report = pack_submission(tmp_path / "preds", tmp_path / "r2", tmp_path / "s.zip", workers=1)
    assert report.expressions == 9
    assert all(n.startswith("Annotations/") and "positive" not in n
               for n in _entries(tmp_path / "s.zip"))


def test_test_videos_are_left_out(root, tmp_path):
    test_meta = root / "meta_expressions" / "test" / "meta_expressions.json"
    test_meta.parent.mkdir(parents=True)
    test_meta.write_text(json.dumps({"videos": {"b": {"expressions": {}, "frames": []}}}))
    write_preds(tmp_path / "preds", {k: m for k, m in _preds(_videos()).items()
                                     if not k.startswith("b/")})
    res = CliRunner().invoke(main, ["pack", str(tmp_path / "preds"), "--dataset", str(root),
                                    "--out", str(tmp_path / "s.zip"), "-q"])
    assert res.exit_code == 0, res.output
    assert "2 videos, 6 expressions, 18 frames (1 test videos" in res.output
    assert not any(n.startswith("Annotations/b/") for n in _entries(tmp_path / "s.zip"))


def test_incomplete_predictions_write_nothing(root, tmp_path):
    write_preds(tmp_path / "preds", _preds(_videos()))
    os.unlink(tmp_path / "preds" / "b" / "10" / "00005.png")
    out = tmp_path / "out" / "s.zip"
    res = CliRunner().invoke(main, ["pack", str(tmp_path / "preds"), "--dataset", str(root),
                                    "--out", str(out), "-q"])
    assert res.exit_code == 2
    assert "b/10/00005.png" in res.output and len(res.output.strip().splitlines()) == 1
    assert "server needs every frame" in res.output
    assert not out.exists()
    # a corrupt PNG found while packing: no zip and no temporary file left behind
    os.unlink(tmp_path / "preds" / "b" / "10" / "00000.png")
    write_preds(tmp_path / "preds", {"b/10": _preds(_videos())["b/10"]})
    (tmp_path / "preds" / "b" / "1" / "00010.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    res = CliRunner().invoke(main, ["pack", str(tmp_path / "preds"), "--dataset", str(root),
                                    "--out", str(out), "-q"])
    assert res.exit_code == 2 and "00010.png" in res.output
    assert not out.parent.exists() or os.listdir(out.parent) == []


def test_extra_pair_is_refused(root, tmp_path):
    preds = _preds(_videos())
    preds["b/7"] = preds["b/0"]                          # an expression the meta does not list
    write_preds(tmp_path / "preds", preds)
    res = CliRunner().invoke(main, ["pack", str(tmp_path / "preds"), "--dataset", str(root),
                                    "--out", str(tmp_path / "s.zip"), "-q"])
    assert res.exit_code == 2 and "pair b/7 is not a pair" in res.output
    assert not (tmp_path / "s.zip").exists()


def test_both_labels_zip_unpacks_to_the_tree_score_reads(tmp_path):
    videos = _videos()
    write_r2(tmp_path / "r2", videos, EXPS, {"b-video": "b", "b": "a10", "a10": "b-video"})
    preds = {f"positive/{k}": m for k, m in _preds(videos).items()}
    preds |= {f"negative/{k}": m if k.endswith("/1") else np.zeros_like(m)
              for k, m in _preds(videos).items()}      # some false alarms: R < 1, N-acc < 1
    write_preds(tmp_path / "preds", preds, annotations_level=True)
    out = tmp_path / "both.zip"
    res = CliRunner().invoke(main, ["pack", str(tmp_path / "preds"), "--dataset",
                                    str(tmp_path / "r2"), "--out", str(out), "--labels", "both",
                                    "-q", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "3 videos, 18 pairs, 54 frames" in res.output
    names = list(_entries(out))
    assert len(names) == 54 and names == sorted(names)
    assert {n.split("/")[0] for n in names} == {"positive", "negative"}
    assert "negative/b/1/00005.png" in names
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "unpacked")
    packed = score_submission(tmp_path / "unpacked", tmp_path / "r2", workers=1)
    tree = score_submission(tmp_path / "preds", tmp_path / "r2", workers=1)
    for key in ("J", "F", "R", "N_acc", "gIoU", "cIoU"):
        assert packed["summary"][key] == tree["summary"][key]
    assert tree["summary"]["R"] < 1 and 0 < tree["summary"]["N_acc"] < 1


def test_both_labels_needs_an_r2_dataset(root, tmp_path):
    write_preds(tmp_path / "preds", _preds(_videos()))
    res = CliRunner().invoke(main, ["pack", str(tmp_path / "preds"), "--dataset", str(root),
                                    "--out", str(tmp_path / "s.zip"), "--labels", "both"])
    assert res.exit_code == 2 and "not an R2 dataset" in res.output
    assert res.output.count("\n") == 1 and not (tmp_path / "s.zip").exists()


def test_more_frames_than_the_chunks_in_flight_pack_whole_with_two_workers(tmp_path):
    from r2bench.pack import CHUNK_FRAMES

    workers, t = 2, 110
    ids = np.zeros((t, 6, 8), np.uint8)
    ids[:, 1:4, 2:6] = 1
    exps = {"long": {"0": ("the box", "1"), "1": ("a box", "1"), "2": ("it", "1")}}
    write_source(tmp_path / "root", {"long": ids}, exps)
    rng = np.random.default_rng(3)
    preds = {f"long/{e}": rng.random(ids.shape) < 0.5 for e in exps["long"]}
    write_preds(tmp_path / "preds", preds)
    assert 3 * t > 2 * workers * CHUNK_FRAMES          # more than one round of chunks
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    pack_submission(tmp_path / "preds", tmp_path / "root", one, workers=1)
    report = pack_submission(tmp_path / "preds", tmp_path / "root", two, workers=workers)
    assert report.frames == 3 * t
    assert one.read_bytes() == two.read_bytes()
    entries = _entries(two)
    assert len(entries) == 3 * t
    for pair, masks in preds.items():
        for f, m in zip(frame_names(t), masks):
            np.testing.assert_array_equal(entries[f"Annotations/{pair}/{f}.png"] == 255, m)


def test_packing_train_keeps_the_videos_meta_expressions_test_lists(root, tmp_path):
    # only the valid split leaves the test videos out (the server's valid set excludes them)
    for part in ("valid", "meta_expressions/valid"):
        (root / part).rename(root / part.replace("valid", "train"))
    test_meta = root / "meta_expressions" / "test" / "meta_expressions.json"
    test_meta.parent.mkdir(parents=True)
    test_meta.write_text(json.dumps({"videos": {"b": {"expressions": {}, "frames": []}}}))
    write_preds(tmp_path / "preds", _preds(_videos()))
    report = pack_submission(tmp_path / "preds", root, tmp_path / "s.zip", split="train",
                             workers=1)
    assert (report.videos, report.expressions, report.test_videos_left_out) == (3, 9, 0)
    assert any(n.startswith("Annotations/b/") for n in _entries(tmp_path / "s.zip"))
