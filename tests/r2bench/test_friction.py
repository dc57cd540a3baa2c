"""What a new user hit on a first try of each command (issue 19 §3): pack zips given to
score, submissions of another dataset, valid roots that also list the test videos, outputs
that exist already, and commands that write a file without saying where."""

import json
import shutil
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from r2data import BOXES_EXPS, boxes_preds, boxes_videos, write_boxes, write_preds, write_source

from datasets_builder.build import build_dataset
from r2bench.cli import main
from r2bench.scoring import score_submission


def _run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output
    return res


@pytest.fixture()
def setup(tmp_path):
    return write_boxes(tmp_path)


def _zip_tree(folder, out, prefix=""):
    with zipfile.ZipFile(out, "w") as zf:
        for png in sorted(folder.rglob("*.png")):
            zf.write(png, prefix + png.relative_to(folder).as_posix())
    return out


# --- 2. a pack zip, or one zip holding both labels -------------------------------------

def test_a_pack_zip_is_scored_for_j_and_f_against_the_positive_root(setup, tmp_path):
    r2, preds = setup
    sub = tmp_path / "sub.zip"
    res = _run("pack", preds, "--dataset", r2, "--out", sub, "-q")
    assert res.exit_code == 0, res.output
    res = _run("score", sub, "--dataset", r2, "--out", tmp_path / "r.json", "-q")
    assert res.exit_code == 0, res.output
    assert "holds positive predictions only" in res.stderr and f"{r2 / 'positive'}" in res.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["mode"] == "rvos" and results["summary"]["J"] == 1.0
    assert results["summary"]["R"] is None
    res = _run("check", sub, "--dataset", r2, "-q")
    assert res.exit_code == 0 and "ok: 2 pairs, 4 frames" in res.output
    assert "holds positive predictions only" in res.stderr


def test_a_server_zip_the_scorer_cannot_take_says_what_it_holds(setup, tmp_path):
    from r2bench.dataset import load_eval_dataset
    from r2bench.errors import SubmissionError
    from r2bench.submission import open_submission

    r2, preds = setup
    sub = _zip_tree(preds, tmp_path / "sub.zip", "submission/")     # one level too deep
    with pytest.raises(SubmissionError) as e:
        open_submission(sub, load_eval_dataset(r2))
    assert "holds submission/ at its root, no positive/ or negative/" in str(e.value)
    assert f"--dataset {r2 / 'positive'} --split valid" in str(e.value)
    res = _run("score", sub, "--dataset", r2, "-q")          # not taken for a server zip
    assert res.exit_code == 2 and "holds submission/ at its root" in res.stderr
    assert len(res.stderr.splitlines()) == 1


def test_one_zip_with_positive_and_negative_scores_as_the_folder(setup, tmp_path):
    r2, preds = setup
    (preds / "negative" / "a" / "0" / "00000.png").unlink()
    write_preds(preds, {"negative/a/0": np.ones((1, 12, 16), bool)})   # a false alarm
    sub = _zip_tree(preds, tmp_path / "both.zip")
    assert score_submission(sub, r2) == {**score_submission(preds, r2), "submission": str(sub)}
    assert score_submission(sub, r2)["summary"]["R"] < 1


# --- 10. a submission for another dataset -----------------------------------------------

def test_check_says_in_one_line_that_a_submission_is_for_another_dataset(setup, tmp_path):
    r2, _ = setup
    other = {f"{label}/{vid}/0": m for label in ("positive", "negative")
             for vid, m in (("x1", np.zeros((2, 12, 16), bool)), ("x2", np.zeros((2, 12, 16), bool)))}
    write_preds(tmp_path / "other", other)
    for cmd in ("check", "score"):
        res = _run(cmd, tmp_path / "other", "--dataset", r2, "-q")
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "none of its 4 pairs is a pair of" in lines[0]
        assert "for another dataset" in lines[0]
    # one pair in common: the usual list of problems, not the one line
    shutil.copytree(setup[1] / "positive" / "a", tmp_path / "other" / "positive" / "a")
    res = _run("check", tmp_path / "other", "--dataset", r2, "-q")
    assert res.exit_code == 2 and "another dataset" not in res.stderr
    assert "is not a pair of the dataset" in res.stderr


# --- 11. Ref-Youtube-VOS valid lists the test videos too --------------------------------

def _valid_with_test_videos(root):
    """A valid root whose meta also lists video c, a video of meta_expressions/test (with no
    frames here, as in a valid download)."""
    videos = boxes_videos() | {"c": boxes_videos()["a"]}
    write_source(root, videos, BOXES_EXPS | {"c": {"0": ("a test box", "1")}})
    (root / "valid" / "meta.json").write_text(json.dumps({"videos": {
        v: {"objects": {"1": {"category": c}}} for v, c in (("a", "cat"), ("b", "dog"))}}))
    shutil.rmtree(root / "valid" / "JPEGImages" / "c")
    shutil.rmtree(root / "valid" / "Annotations" / "c")
    test = root / "meta_expressions" / "test" / "meta_expressions.json"
    test.parent.mkdir(parents=True)
    test.write_text(json.dumps({"videos": {"c": {"expressions": {"0": {"exp": "a test box"}},
                                                 "frames": ["00000", "00005"]}}}))
    return root


def test_score_on_valid_leaves_out_the_test_videos(tmp_path):
    root = _valid_with_test_videos(tmp_path / "root")
    preds = {k.split("/", 1)[1]: m for k, m in boxes_preds().items() if k.startswith("positive")}
    write_preds(tmp_path / "preds", preds)
    res = _run("score", tmp_path / "preds", "--dataset", root, "--split", "valid", "-q",
               "--out", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["n_positive"] == 2
    # the same in the R2 dataset built from it: no pair of c, and a positive root without c
    build_dataset(root, "valid", tmp_path / "r2", seed=0)
    meta = json.loads((tmp_path / "r2" / "r2_meta.json").read_text())
    assert sorted(meta["videos"]) == ["a", "b"]
    positive = json.loads((tmp_path / "r2" / "positive" / "meta_expressions" / "valid" /
                           "meta_expressions.json").read_text())
    assert sorted(positive["videos"]) == ["a", "b"]
    # and in a perturbed copy of it, which has no meta_expressions/test to leave c out by
    res = _run("perturb", root, "--split", "valid", "--out", tmp_path / "p", "--workers", "1",
               "-q")
    assert res.exit_code == 0, res.output
    perturbed = json.loads((tmp_path / "p" / "meta_expressions" / "valid" /
                            "meta_expressions.json").read_text())
    assert sorted(perturbed["videos"]) == ["a", "b"]


# --- 6. one rule for existing outputs ---------------------------------------------------

def test_every_file_writer_refuses_an_existing_output_without_overwrite(setup, tmp_path):
    r2, preds = setup
    res = _run("score", preds, "--dataset", r2, "--out", tmp_path / "r.json", "-q")
    assert res.exit_code == 0
    commands = {
        "score": ["score", preds, "--dataset", r2, "-q", "--out"],
        "pack": ["pack", preds, "--dataset", r2, "-q", "--out"],
        "leaderboard": ["leaderboard", tmp_path / "r.json", "--out"],
        "compare": ["compare", tmp_path / "r.json", tmp_path / "r.json", "--resamples", "100",
                    "--out"],
    }
    for name, args in commands.items():
        out = tmp_path / f"{name}.out"
        out.write_text("keep me")
        res = _run(*args, out)
        assert res.exit_code == 2, (name, res.output)
        assert res.stderr.strip() == f"r2bench: {out}: already exists (use --overwrite to " \
                                     "replace it)", name
        assert out.read_bytes() == b"keep me"
        res = _run(*args, out, "--overwrite")
        assert res.exit_code == 0, (name, res.output)
        assert out.read_bytes() != b"keep me" and f"wrote {out}" in res.stdout, name


def test_the_rule_covers_several_results_and_the_davis_csvs(setup, tmp_path):
    r2, preds = setup
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.json").write_text("keep me")
    res = _run("score", preds, preds, "--name", "a", "--name", "b", "--dataset", r2, "-q",
               "--out", tmp_path / "out")
    assert res.exit_code == 2 and f"{tmp_path / 'out' / 'b.json'}: already exists" in res.stderr
    assert not (tmp_path / "out" / "a.json").exists()      # refused before any scoring
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "global_results.csv").write_text("keep me")
    res = _run("score", preds, "--dataset", r2, "-q", "--davis-csv", tmp_path / "csv")
    assert res.exit_code == 2 and "global_results.csv: already exists" in res.stderr
    res = _run("score", preds, "--dataset", r2, "-q", "--davis-csv", tmp_path / "csv",
               "--overwrite")
    assert res.exit_code == 0 and f"wrote davis2017-evaluation CSVs to {tmp_path / 'csv'}" \
        in res.stdout


def test_the_demo_follows_the_rule(tmp_path):
    (tmp_path / "d").mkdir()
    res = _run("demo", "--out", tmp_path / "d", "-q")
    assert res.exit_code == 2 and "already exists (use --overwrite" in res.stderr
    for cmd in ("score", "pack", "leaderboard", "compare", "report", "demo", "synth",
                "build-dataset", "perturb", "convert-davis", "holdout", "profile",
                "convert-checkpoint", "run-reference"):
        assert "--overwrite" in _run(cmd, "--help").output, cmd
