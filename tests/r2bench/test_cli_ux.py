"""What a user meets at the command line: check's full list of problems, several PREDS in
one table, outputs that say where they went, and messages that say what to do."""

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from r2data import BOXES_EXPS as EXPS
from r2data import BOXES_SIZE, boxes_preds, write_boxes, write_preds, write_source
from r2data import boxes_videos as _videos

from datasets_builder.build import build_dataset
from datasets_builder.synth import SynthConfig
from datasets_builder.synth import write_source as write_synth
from r2bench.app.demo import write_oracle_submission
from r2bench.cli import main

H, W = BOXES_SIZE
GOOD = boxes_preds()


@pytest.fixture()
def setup(tmp_path):
    return write_boxes(tmp_path)


def _run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output
    return res


# --- check: every problem, counted ------------------------------------------------------

def test_check_lists_every_problem(setup):
    r2, preds = setup
    (preds / "positive" / "a" / "0" / "00005.png").unlink()                     # missing
    Image.new("L", (W, H)).save(preds / "positive" / "a" / "0" / "00010.png")   # extra
    Image.new("L", (W + 1, H)).save(preds / "positive" / "b" / "0" / "00000.png")  # size
    (preds / "negative" / "a" / "0" / "00000.png").write_bytes(b"garbage")      # corrupt
    res = _run("check", preds, "--dataset", r2, "-q")
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert lines[0].endswith(f"{preds}: 4 problems:") and len(lines) == 5
    text = "\n".join(lines)
    for needle in ["positive/a/0/00005.png", "frame 00010 is not a frame", f"{H}x{W + 1}",
                   "negative/a/0/00000.png: not a readable PNG"]:
        assert needle in text


def test_check_shows_the_first_20_of_many_problems_and_one_in_the_singular(setup):
    r2, preds = setup
    for i in range(25):
        Image.new("L", (W, H)).save(preds / "positive" / "a" / "0" / f"{100 + i:05d}.png")
    res = _run("check", preds, "--dataset", r2, "-q")
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2 and "25 problems, the first 20:" in lines[0]
    assert len(lines) == 22 and lines[-1].strip() == "... and 5 more"
    for png in (preds / "positive" / "a" / "0").glob("001*.png"):
        png.unlink()
    (preds / "negative" / "b" / "0" / "00005.png").unlink()
    res = _run("check", preds, "--dataset", r2, "-q")
    assert res.exit_code == 2 and "1 problem:" in res.stderr and "problems" not in res.stderr
    res = _run("check", preds, "--dataset", r2, "-q", "--allow-missing")
    assert res.exit_code == 0 and "ok: 4 pairs, 8 frames, 1 missing" in res.output


def test_check_progress_bar_is_not_called_scoring(setup):
    r2, preds = setup
    res = _run("check", preds, "--dataset", r2, "--workers", "1")
    assert res.exit_code == 0 and "checking" in res.stderr and "scoring" not in res.stderr
    help_text = _run("check", "--help").output
    assert "Score missing frames" not in help_text and "Accept missing frames" in help_text


# --- submissions that are ambiguous or in the wrong format ------------------------------

def test_a_folder_and_a_zip_for_the_same_label_are_refused(setup):
    r2, preds = setup
    with zipfile.ZipFile(preds / "negative.zip", "w") as zf:
        for png in sorted((preds / "negative").rglob("*.png")):
            zf.write(png, png.relative_to(preds / "negative").as_posix())
    for cmd in ("score", "check"):
        res = _run(cmd, preds, "--dataset", r2, "-q")
        assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
        assert "negative/ and negative.zip" in res.stderr and "ambiguous" in res.stderr


def test_a_jpeg_where_a_png_is_expected_is_named(setup, tmp_path):
    r2, preds = setup
    png = preds / "positive" / "b" / "0" / "00005.png"
    Image.open(png).convert("RGB").save(png.with_suffix(".jpg"))
    png.unlink()
    for extra in ([], ["--allow-missing"]):
        res = _run("score", preds, "--dataset", r2, "-q", *extra)
        assert res.exit_code == 2, res.output
        assert "positive/b/0/00005.jpg: not a PNG" in res.stderr and "00005.png" in res.stderr
    # A JPEG's bytes under a .png name are named as such, not as a Pillow buffer.
    Image.open(png.with_suffix(".jpg")).save(png, format="JPEG")
    png.with_suffix(".jpg").unlink()
    res = _run("score", preds, "--dataset", r2, "-q")
    assert res.exit_code == 2 and "00005.png: not a readable PNG: JPEG data" in res.stderr
    assert "BytesIO" not in res.stderr and "0x" not in res.stderr


def test_garbage_png_message_names_the_file_not_a_buffer(setup):
    r2, preds = setup
    (preds / "positive" / "a" / "0" / "00000.png").write_bytes(b"\x89PNX not really")
    res = _run("score", preds, "--dataset", r2, "-q")
    assert res.exit_code == 2 and "positive/a/0/00000.png: not a readable PNG" in res.stderr
    assert "BytesIO" not in res.stderr and " at 0x" not in res.stderr


# --- outputs: never into folders that do not exist, and always announced ----------------

def test_out_in_a_missing_folder_is_refused_before_scoring(setup, tmp_path):
    r2, preds = setup
    out = tmp_path / "no" / "such" / "dir" / "r.json"
    res = _run("score", preds, "--dataset", r2, "--out", out, "-q")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert f"folder {out.parent} does not exist" in res.stderr
    assert not (tmp_path / "no").exists()
    res = _run("score", preds, "--dataset", r2, "--out", tmp_path / "r.json", "-q")
    assert res.exit_code == 0 and f"wrote {tmp_path / 'r.json'}" in res.output
    res = _run("demo", "--out", tmp_path / "no" / "demo")
    assert res.exit_code == 2 and "does not exist" in res.stderr
    assert not (tmp_path / "no").exists()


def test_several_preds_make_one_table_and_one_results_file_each(setup, tmp_path):
    r2, preds = setup
    empty = tmp_path / "empty"
    write_preds(empty, {k: np.zeros_like(v) for k, v in GOOD.items()})
    out = tmp_path / "results"
    res = _run("score", preds, empty, "--dataset", r2, "--out", out, "-q", "--workers", "1")
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.stdout.splitlines()[2:4]]
    assert [r[0] for r in rows] == [str(preds), str(empty)]
    assert rows[0][1:4] == ["100.0"] * 3 and rows[1][4:6] == ["-", "-"]   # no R, J&F&R
    assert rows[1][6:8] == ["100.0", "0.0"]   # N-acc, T-acc: every pair predicted empty
    assert sorted(p.name for p in out.iterdir()) == ["empty.json", "preds.json"]
    assert json.loads((out / "preds.json").read_text())["summary"]["J"] == 1.0
    assert f"wrote {out / 'empty.json'}" in res.output
    assert "empty: R not available" in res.stderr   # a warning names its submission
    named = _run("score", preds, empty, "--dataset", r2, "--out", tmp_path / "named", "-q",
                 "--name", "oracle", "--name", "nothing")
    assert named.exit_code == 0 and "oracle" in named.output
    assert sorted(p.name for p in (tmp_path / "named").iterdir()) == ["nothing.json",
                                                                      "oracle.json"]


@pytest.mark.parametrize("extra,message", [
    (["--name", "one"], "--name"),
    (["--name", "x", "--name", "x", "--out", "OUT"], "distinct --name"),
    (["--out", "FILE"], "is a file"),
])
def test_several_preds_usage_errors(setup, tmp_path, extra, message):
    r2, preds = setup
    (tmp_path / "FILE").write_text("")
    extra = [str(tmp_path / a) if a in ("OUT", "FILE") else a for a in extra]
    res = _run("score", preds, preds, "--dataset", r2, "-q", *extra)
    assert res.exit_code == 2 and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "OUT").exists()


# --- messages that say what to do ----------------------------------------------------------

def test_a_wrong_split_lists_the_splits_there(tmp_path):
    root = tmp_path / "src"
    write_source(root, _videos(), EXPS)
    preds = tmp_path / "p"
    write_preds(preds, {"a/0": GOOD["positive/a/0"], "b/0": GOOD["positive/b/0"]})
    res = _run("score", preds, "--dataset", root, "--split", "test", "-q")
    assert res.exit_code == 2 and "no split 'test'" in res.stderr
    assert "the splits here are valid" in res.stderr


def test_split_given_to_an_r2_dataset_is_not_silent(setup):
    r2, preds = setup
    res = _run("score", preds, "--dataset", r2, "--split", "valid", "-q")
    assert res.exit_code == 0
    assert "warning: --split valid is not needed" in res.stderr and "r2_meta.json" in res.stderr


@pytest.fixture(scope="module")
def moved_source(tmp_path_factory):
    """An R2 dataset of symlinks whose source has been moved away, and a submission."""
    d = tmp_path_factory.mktemp("moved")
    cfg = SynthConfig(videos=3, train_videos=1, frames=2, height=24, width=32, seed=4)
    write_synth(d / "src", cfg)
    build_dataset(d / "src", "valid", d / "r2", seed=0)
    write_oracle_submission(d / "r2", d / "preds")
    shutil.move(d / "src", d / "elsewhere")
    return d


def test_a_moved_source_is_named_with_what_to_do(moved_source):
    d = moved_source
    res = _run("score", d / "preds", "--dataset", d / "r2", "-q", "--workers", "1")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "no longer exists" in res.stderr and "moved" in res.stderr
    assert "--link copy" in res.stderr and "build-dataset" in res.stderr
    res = _run("verify-dataset", d / "r2")
    assert res.exit_code == 2 and "moved" in res.stderr and "--link copy" in res.stderr


def test_verify_counts_in_the_singular(tmp_path):
    from builder_sources import tiny_source

    src = tiny_source(tmp_path / "s", {"a": ({"1": "dog"}, [("x", "1")]),
                                       "b": ({"1": "cat"}, [("y", "1")])})
    build_dataset(src, "valid", tmp_path / "r2", seed=0)
    next((tmp_path / "r2" / "negative" / "valid" / "JPEGImages" / "a").iterdir()).unlink()
    res = _run("verify-dataset", tmp_path / "r2")
    assert res.exit_code == 2 and ": 1 problem:" in res.stderr and "1 problems" not in res.stderr


# --- Ctrl-C ----------------------------------------------------------------------------------

_INTERRUPTIBLE = """
import signal, sys, time
if sys.argv[1] == "ignore":  # as a shell script's `cmd &` starts it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
else:  # as a terminal starts it, whatever the test runner's own SIGINT disposition
    signal.signal(signal.SIGINT, signal.default_int_handler)
del sys.argv[1]
import r2bench.scoring as scoring
def slow(unit):
    print("started", flush=True)
    time.sleep(60)
scoring.score_unit = slow
from r2bench.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_exits_130_with_one_line_and_no_output(setup, tmp_path, workers):
    r2, preds = setup
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTIBLE, "terminal", "score", str(preds), "--dataset",
         str(r2), "--out", str(out), "--workers", workers, "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("started")
        os.killpg(proc.pid, signal.SIGINT)   # what a terminal's Ctrl-C does: the whole group
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert err.strip() == "r2bench: interrupted"
    assert not out.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_is_ignored_where_the_process_ignores_sigint(setup, tmp_path, workers):
    # Started in the background by a script, SIGINT is ignored: the job and its workers go on.
    r2, preds = setup
    proc = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTIBLE, "ignore", "score", str(preds), "--dataset",
         str(r2), "--out", str(tmp_path / "r.json"), "--workers", workers, "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("started")
        os.killpg(proc.pid, signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.communicate(timeout=2)  # still running, no worker died under it
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
