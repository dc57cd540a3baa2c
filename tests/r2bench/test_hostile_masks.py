"""Hostile masks: a PNG of a few hundred bytes whose header claims 12000x12000 (over Pillow's
warning limit) or 20000x20000 (over its error limit) pixels, in place of a 12x16 mask. Every
command that reads masks refuses it in one line naming the file, exit 2, before Pillow
decodes or warns about anything."""

import io
import subprocess
import sys
import warnings
import zipfile

import pytest
from click.testing import CliRunner
from PIL import Image
from r2data import BOXES_EXPS as EXPS
from r2data import BOXES_SIZE, huge_png, write_boxes, write_r2
from r2data import boxes_videos as _videos

from r2bench.cli import main
from r2bench.errors import SubmissionError
from r2bench.pngsafe import ImageTooLarge, no_bombs, png_size
from r2bench.submission import read_area

H, W = BOXES_SIZE
SIZES = (12000, 20000)
FRAME = "positive/a/0/00000.png"


@pytest.fixture()
def boxes(tmp_path):
    r2, preds = write_boxes(tmp_path)
    return r2, preds


def _invoke(*args) -> tuple[object, list]:
    """Run a command in this process, recording every warning it raises."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(main, [*map(str, args)])
    return res, caught


def _one_line(res, caught, *needles) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    return lines[0]


@pytest.mark.parametrize("n", SIZES)
def test_score_refuses_in_one_line_in_a_fresh_process(boxes, tmp_path, n):
    """The whole stderr of a real process: Pillow's warning would print there."""
    r2, preds = boxes
    (preds / FRAME).write_bytes(huge_png(n, n))
    out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, "-m", "r2bench", "score", str(preds), "--dataset",
                          str(r2), "--out", str(out), "-q"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 2, res.stderr
    assert res.stderr == (f"r2bench: {preds / FRAME}: mask is {n}x{n}, the video is "
                          f"{H}x{W}\n")
    assert not out.exists()


@pytest.mark.parametrize("n", SIZES)
def test_check_names_the_file_and_nothing_else(boxes, n):
    r2, preds = boxes
    (preds / FRAME).write_bytes(huge_png(n, n))
    res = subprocess.run([sys.executable, "-m", "r2bench", "check", str(preds), "--dataset",
                          str(r2), "-q"], capture_output=True, text=True, check=False)
    assert res.returncode == 2, res.stderr
    assert res.stderr == (f"r2bench: {preds}: 1 problem:\n  {preds / FRAME}: mask is "
                          f"{n}x{n}, the video is {H}x{W}\n")


@pytest.mark.parametrize("n", SIZES)
def test_inside_a_submission_zip(boxes, tmp_path, n):
    r2, preds = boxes
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    for label in ("positive", "negative"):
        with zipfile.ZipFile(zipped / f"{label}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for png in sorted((preds / label).rglob("*.png")):
                data = huge_png(n, n) if png == preds / FRAME else png.read_bytes()
                zf.writestr(png.relative_to(preds / label).as_posix(), data)
    res, caught = _invoke("score", zipped, "--dataset", r2, "--workers", 1, "-q")
    _one_line(res, caught, f"{zipped / 'positive.zip'}:a/0/00000.png",
              f"mask is {n}x{n}, the video is {H}x{W}")


@pytest.mark.parametrize("n", SIZES)
def test_pack(boxes, tmp_path, n):
    r2, preds = boxes
    (preds / FRAME).write_bytes(huge_png(n, n))
    out = tmp_path / "out" / "s.zip"
    res, caught = _invoke("pack", preds, "--dataset", r2, "--out", out, "--workers", 1, "-q")
    _one_line(res, caught, str(preds / FRAME), f"mask is {n}x{n}, the video is {H}x{W}")
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.parametrize("n", SIZES)
def test_report(boxes, tmp_path, n):
    r2, preds = boxes
    results = tmp_path / "r.json"
    res, _ = _invoke("score", preds, "--dataset", r2, "--out", results, "--workers", 1, "-q")
    assert res.exit_code == 0, res.output
    (preds / FRAME).write_bytes(huge_png(n, n))
    out = tmp_path / "report"
    res, caught = _invoke("report", results, "--dataset", r2, "--preds", preds, "--out", out,
                          "--worst", 100)
    _one_line(res, caught, str(preds / FRAME), f"mask is {n}x{n}, the video is {H}x{W}")
    assert not out.exists()


def test_a_chunk_before_the_header_does_not_hide_the_size(boxes):
    r2, preds = boxes
    (preds / FRAME).write_bytes(huge_png(20000, 20000, chunk_before_ihdr=True))
    res, caught = _invoke("score", preds, "--dataset", r2, "--workers", 1, "-q")
    _one_line(res, caught, str(preds / FRAME), f"mask is 20000x20000, the video is {H}x{W}")


@pytest.mark.parametrize("n", SIZES)
def test_ground_truth_annotation(boxes, n):
    r2, preds = boxes
    ann = r2 / "positive" / "valid" / "Annotations" / "a" / "00000.png"
    ann.write_bytes(huge_png(n, n))
    res, caught = _invoke("score", preds, "--dataset", r2, "--workers", 1, "-q")
    _one_line(res, caught, str(ann), f"annotation is {n}x{n}, the video is {H}x{W}")


@pytest.mark.parametrize("n", SIZES)
def test_video_size_from_a_frame_header(tmp_path, n):
    """Without sizes in r2_meta.json the video's size is the first frame's header: a frame
    claiming too many pixels is refused, not decoded (Pillow reads the PNG despite .jpg)."""
    write_r2(tmp_path / "r2", _videos(), EXPS, {"a": "b", "b": "a"}, sizes=False)
    frame = tmp_path / "r2" / "positive" / "valid" / "JPEGImages" / "a" / "00000.jpg"
    frame.write_bytes(huge_png(n, n))
    _, preds = write_boxes(tmp_path / "other")
    res, caught = _invoke("score", preds, "--dataset", tmp_path / "r2", "--workers", 1, "-q")
    _one_line(res, caught, str(frame), "too large for Pillow")


@pytest.mark.parametrize("n", SIZES)
def test_a_mask_of_the_claimed_size_still_passes_through_the_guard(tmp_path, n):
    """A video as large as the mask: the header check passes, Pillow's guard speaks, and
    its warning or error becomes the mask reader's one line."""
    path = tmp_path / "00000.png"
    path.write_bytes(huge_png(n, n))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SubmissionError) as err:
            read_area(("file", str(path)), (n, n), "positive/a/0/00000")
    assert str(err.value) == (f"{path}: mask too large for Pillow: over its decompression-bomb "
                              f"limit of {Image.MAX_IMAGE_PIXELS} pixels")
    assert caught == []


@pytest.mark.parametrize("n", SIZES)
def test_no_bombs_turns_the_warning_and_the_error_into_one_exception(n):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageTooLarge, match="decompression-bomb limit"), no_bombs():
            Image.open(io.BytesIO(huge_png(n, n)))
    assert caught == []


def test_png_size_reads_the_header_only():
    assert png_size(huge_png(20000, 30000)) == (20000, 30000)
    assert png_size(huge_png(7, 9, chunk_before_ihdr=True)) == (7, 9)
    assert png_size(huge_png(7, 9)[:20]) is None                  # ends inside the header
    assert png_size(b"\xff\xd8\xff\xe0 a JPEG") is None


# Frames (JPEG, or anything Pillow reads under a .jpg name) are read under the same guard.

@pytest.mark.parametrize("n", SIZES)
def test_perturb_frame_reader(tmp_path, n):
    from datasets_builder.perturb.driver import read_frames
    from r2bench.errors import DatasetError

    good, bad = tmp_path / "00000.jpg", tmp_path / "00005.jpg"
    Image.new("RGB", (W, H)).save(good)
    bad.write_bytes(huge_png(n, n))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DatasetError, match="too large for Pillow") as err:
            read_frames([str(good), str(bad)], (H, W))
    assert err.value.path == str(bad) and caught == []


@pytest.mark.parametrize("n", SIZES)
def test_gallery_frame_reader_draws_a_grey_canvas(boxes, n):
    from leaderboard.gallery import _frame_rgb, frames_root
    from r2bench.dataset import load_eval_dataset

    r2, _ = boxes
    ds = load_eval_dataset(r2)
    pair = next(p for p in ds.pairs if p.video == "a")
    (r2 / "positive" / "valid" / "JPEGImages" / "a" / f"{pair.frames[0]}.jpg").write_bytes(
        huge_png(n, n))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rgb = _frame_rgb(frames_root(ds), pair, pair.frames[0])
    assert rgb.shape == (H, W, 3) and (rgb == 128).all() and caught == []
