"""Every bad input: one line naming the file and the problem, exit 2, no results file."""

import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from r2data import BOXES_EXPS as EXPS
from r2data import BOXES_SIZE, boxes_preds, write_boxes, write_preds, write_source
from r2data import boxes_videos as _videos

from r2bench.cli import main

H, W = BOXES_SIZE
GOOD = boxes_preds()


@pytest.fixture()
def setup(tmp_path):
    return (*write_boxes(tmp_path), tmp_path / "results.json")


def _fails(args, out, *needles):
    res = CliRunner().invoke(main, ["score", *map(str, args), "--out", str(out), "-q"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    return lines[0]


def test_good_submission_passes(setup):
    r2, preds, out = setup
    res = CliRunner().invoke(main, ["score", str(preds), "--dataset", str(r2), "--out", str(out), "-q"])
    assert res.exit_code == 0 and out.exists()


def test_missing_pair(setup):
    r2, preds, out = setup
    for png in (preds / "negative" / "b" / "0").iterdir():
        png.unlink()
    (preds / "negative" / "b" / "0").rmdir()
    _fails([preds, "--dataset", r2], out, "negative/b/0", "missing", "--allow-missing")


def test_missing_frame(setup):
    r2, preds, out = setup
    (preds / "positive" / "a" / "0" / "00005.png").unlink()
    _fails([preds, "--dataset", r2], out, "positive/a/0/00005.png", "missing")


def test_extra_pair(setup):
    r2, preds, out = setup
    write_preds(preds, {"positive/a/7": np.zeros((1, H, W), bool)})
    _fails([preds, "--dataset", r2], out, "positive/a/7", "not a pair")


def test_extra_frame(setup):
    r2, preds, out = setup
    Image.new("L", (W, H)).save(preds / "positive" / "a" / "0" / "00010.png")
    _fails([preds, "--dataset", r2], out, "00010.png", "not a frame of pair positive/a/0")


def test_wrong_size(setup):
    r2, preds, out = setup
    Image.new("L", (W + 1, H)).save(preds / "positive" / "b" / "0" / "00000.png")
    _fails([preds, "--dataset", r2], out, "positive/b/0/00000.png", f"{H}x{W + 1}")


def test_wrong_size_in_negative(setup):
    r2, preds, out = setup
    Image.new("L", (W, H - 2)).save(preds / "negative" / "a" / "0" / "00005.png")
    _fails([preds, "--dataset", r2], out, "negative/a/0/00005.png", "the video is")


@pytest.mark.parametrize("content,needle", [
    (b"", "empty file"),
    (b"this is not a png at all", "not a readable PNG"),
])
def test_corrupt_or_empty_png(setup, content, needle):
    r2, preds, out = setup
    (preds / "positive" / "a" / "0" / "00000.png").write_bytes(content)
    _fails([preds, "--dataset", r2], out, "positive/a/0/00000.png", needle)


def test_truncated_png(setup):
    r2, preds, out = setup
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray((rng.random((H, W)) < 0.5).astype(np.uint8) * 255).save(buf, "PNG")
    (preds / "negative" / "b" / "0" / "00000.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _fails([preds, "--dataset", r2], out, "negative/b/0/00000.png")


def _zip_tree(preds, label, extra=None):
    path = preds.parent / "zipped"
    path.mkdir(exist_ok=True)
    for lab in ("positive", "negative"):
        with zipfile.ZipFile(path / f"{lab}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for png in sorted((preds / lab).rglob("*.png")):
                zf.write(png, png.relative_to(preds / lab).as_posix())
            if extra and lab == label:
                extra(zf)
    return path


def test_zip_entry_escaping_its_folder(setup):
    r2, preds, out = setup
    zipped = _zip_tree(preds, "negative", lambda zf: zf.writestr("../../evil.png", b"x"))
    _fails([zipped, "--dataset", r2], out, "negative.zip", "escapes")


def test_zip_bomb(setup):
    r2, preds, out = setup
    zipped = _zip_tree(preds, "positive",
                       lambda zf: zf.writestr("a/0/00010.png", b"\0" * (80 << 20)))
    _fails([zipped, "--dataset", r2], out, "positive.zip", "decompression bomb")


def test_not_a_zip(setup):
    r2, preds, out = setup
    zipped = _zip_tree(preds, "positive")
    (zipped / "negative.zip").write_bytes(b"PK garbage")
    _fails([zipped, "--dataset", r2], out, "negative.zip", "not a readable zip")


def test_empty_and_missing_preds(setup):
    r2, preds, out = setup
    empty = preds.parent / "empty"
    empty.mkdir()
    _fails([empty, "--dataset", r2], out, "empty", "no prediction PNGs")
    _fails([preds.parent / "nope", "--dataset", r2], out, "nope", "not found")


def test_missing_or_malformed_dataset(setup, tmp_path):
    r2, preds, out = setup
    _fails([preds, "--dataset", tmp_path / "absent"], out, "absent", "does not exist")
    (r2 / "r2_meta.json").write_text("{not json")
    _fails([preds, "--dataset", r2], out, "r2_meta.json", "cannot read")
    (r2 / "r2_meta.json").write_text(json.dumps({"format": "something else"}))
    _fails([preds, "--dataset", r2], out, "r2_meta.json", "not an R2 dataset")
    plain = tmp_path / "plain"
    plain.mkdir()
    _fails([preds, "--dataset", plain], out, "plain", "--split")
    _fails([preds, "--dataset", plain, "--split", "valid"], out, "meta_expressions.json", "missing")


def test_split_mismatch(setup):
    r2, preds, out = setup
    _fails([preds, "--dataset", r2, "--split", "train"], out, "r2_meta.json", "split valid")


def test_missing_annotation_file(setup):
    r2, preds, out = setup
    (r2 / "positive" / "valid" / "Annotations" / "b" / "00005.png").unlink()
    _fails([preds, "--dataset", r2], out, "Annotations/b/00005.png", "missing ground-truth")


def test_bad_rle(setup, tmp_path):
    r2, _, out = setup
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"pair_id": "positive/a/0", "frame": "00000"}]))
    _fails([bad, "--dataset", r2], out, "bad.json", "entry 0")
    bad.write_text("[oops")
    _fails([bad, "--dataset", r2], out, "bad.json", "cannot read RLE JSON")


def test_rle_wrong_size(setup, tmp_path):
    from pycocotools import mask as mask_utils
    r2, _, out = setup
    entries = []
    for pair_id, stack in GOOD.items():
        for i, m in enumerate(stack):
            h = H + 1 if pair_id == "positive/b/0" else H
            arr = np.zeros((h, W), np.uint8, order="F")
            arr[:H] = m
            rle = mask_utils.encode(arr)
            entries.append({"pair_id": pair_id, "frame": f"{5 * i:05d}",
                            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(entries))
    _fails([path, "--dataset", r2], out, "wrong.json", "positive/b/0/00000", "RLE size")


def test_plain_mode_extra_video(tmp_path):
    root = tmp_path / "src"
    write_source(root, _videos(), EXPS)
    preds = tmp_path / "p"
    write_preds(preds, {"a/0": GOOD["positive/a/0"], "b/0": GOOD["positive/b/0"],
                        "zz/0": GOOD["positive/b/0"]})
    _fails([preds, "--dataset", root, "--split", "valid"], tmp_path / "o.json", "zz/0")


@pytest.mark.parametrize("args", [["score"], ["score", "p", "--dataset", "d", "--workers", "0"],
                                  ["no-such-command"]])
def test_usage_errors_are_one_line(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--help" in lines[0], res.stderr


def test_obj_id_that_is_not_a_palette_index(tmp_path):
    root = tmp_path / "src"
    write_source(root, _videos(), {"a": {"0": ("a box", "x1")}, "b": {"0": ("box", "1")}})
    preds = tmp_path / "p"
    write_preds(preds, {"a/0": GOOD["positive/a/0"], "b/0": GOOD["positive/b/0"]})
    _fails([preds, "--dataset", root, "--split", "valid"], tmp_path / "o.json",
           "meta_expressions.json", "obj_id 'x1'")


def test_zip_entry_escaping_its_folder_second_example(setup):
    # ".." in the middle of a path that starts like a real entry, in the positive zip.
    r2, preds, out = setup
    zipped = _zip_tree(preds, "positive",
                       lambda zf: zf.writestr("a/0/../../../outside.png", b"x"))
    _fails([zipped, "--dataset", r2], out, "positive.zip", "escapes", "outside.png")


def test_wrong_size_in_negative_second_example(setup):
    # A width off by one, in a palette PNG inside negative.zip (areas come from histograms).
    r2, preds, out = setup
    im = Image.fromarray(np.zeros((H, W + 1), np.uint8), mode="P")
    im.save(preds / "negative" / "b" / "0" / "00005.png")
    zipped = _zip_tree(preds, "negative")
    _fails([zipped, "--dataset", r2], out, "negative.zip", "b/0/00005.png", f"{H}x{W + 1}")
