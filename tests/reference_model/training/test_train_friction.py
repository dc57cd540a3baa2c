"""``r2bench train`` as a new user met it (issue 19 §3): --resume RUN alone continues RUN,
and the validation message names the step it ran at."""

from __future__ import annotations

import json

from click.testing import CliRunner

from datasets_builder.build import build_dataset
from r2bench.cli import main
from r2bench.cli.train_cmd import run_folder, validation_when


def _run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output
    return res


def test_run_folder_of_resume():
    assert run_folder("out", "elsewhere") == "out"
    assert run_folder(None, "runs/a") == "runs/a"
    assert run_folder(None, "runs/a/checkpoints/step-00000030") == "runs/a"


def test_validation_message_names_the_step():
    assert validation_when({"epoch": 1, "step": 30, "epoch_complete": False}) == \
        "validation at step 30 (--max-steps, in epoch 1, before its end)"
    assert validation_when({"epoch": 2, "step": 152, "epoch_complete": True}) == \
        "validation after epoch 2 (step 152)"


def test_train_resume_alone_continues_the_run(micro_source, tmp_path):
    build_dataset(micro_source, "valid", tmp_path / "r2", seed=0)
    base = ["train", "--config", "tiny", "--data", micro_source, "-q", "--workers", "0",
            "--threads", "1"]
    run = tmp_path / "run"
    res = _run(*base, "--out", run, "--max-steps", "1", "--val", tmp_path / "r2")
    assert res.exit_code == 0, res.output
    assert "validation at step 1 (--max-steps, in epoch 1, before its end)" in res.stdout
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch_complete"] for r in log if r.get("type") == "val"] == [False]
    res = _run(*base, "--resume", run, "--max-steps", "2")
    assert res.exit_code == 0, res.output
    assert f"{run}: step 2" in res.stdout
    assert (run / "checkpoints" / "step-00000002").is_dir()
    res = _run(*base, "--max-steps", "2")
    assert res.exit_code == 2 and "Missing option '--out'" in res.stderr
