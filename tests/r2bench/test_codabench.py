"""r2bench codabench: the bundle, checked as Codabench reads it (competition.yaml against the
documented fields), and its scoring program run as the platform runs it: the bundle
unpacked, the reference data in input/ref, a submission zip unpacked in input/res, a plain
``python score.py input output``, the scores file compared with ``r2bench score``."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from r2bench.cli import main
from r2bench.codabench import check_competition
from r2bench.codabench_scoring import LEADERBOARD
from r2bench.codabench_scoring import main as program_main


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A synthetic R2 dataset, its bundle, and the rvos_oracle packed as a two-label zip."""
    from datasets_builder.build import build_dataset
    from datasets_builder.synth import SynthConfig, write_source
    from r2bench.app.demo import write_oracle_submission

    d = tmp_path_factory.mktemp("codabench")
    write_source(d / "src", SynthConfig(videos=6, train_videos=0, frames=3, height=40,
                                        width=64, seed=2))
    build_dataset(d / "src", "valid", d / "r2", seed=3)
    res = _run("codabench", "--dataset", d / "r2", "--out", d / "bundle.zip", "--title",
               "R2 test", "--phases", "Development=2026-01-05,Final=2026-03-01T12:00")
    assert res.exit_code == 0, res.output
    write_oracle_submission(d / "r2", d / "preds", "rvos_oracle")
    res = _run("pack", d / "preds", "--dataset", d / "r2", "--labels", "both", "--out",
               d / "sub.zip", "-q", "--workers", "1")
    assert res.exit_code == 0, res.output
    return d


def _unzip(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(src) as zf:
        zf.extractall(dest)
    return dest


def _platform(bench: Path, tmp: Path, submission: Path) -> Path:
    """The folders Codabench gives a scoring program: program/, input/ref, input/res."""
    bundle = _unzip(bench / "bundle.zip", tmp / "bundle")
    app = tmp / "app"
    _unzip(bundle / "scoring_program.zip", app / "program")
    _unzip(bundle / "reference_data.zip", app / "input" / "ref")
    _unzip(submission, app / "input" / "res")
    return app


def _competition(bench: Path) -> tuple[dict, set[str]]:
    with zipfile.ZipFile(bench / "bundle.zip") as zf:
        return yaml.safe_load(zf.read("competition.yaml")), set(zf.namelist())


def test_competition_yaml_has_the_documented_fields(bench):
    comp, names = _competition(bench)
    assert check_competition(comp, names) == []
    assert comp["version"] == 2 and comp["title"] == "R2 test"
    assert [(p["name"], p["start"], p.get("end")) for p in comp["phases"]] == [
        ("Development", "2026-01-05 00:00:00", "2026-03-01 12:00:00"),
        ("Final", "2026-03-01 12:00:00", None)]
    (board,) = comp["leaderboards"]
    assert [(c["index"], c["title"], c["key"]) for c in board["columns"]] == [
        (0, "J&F&R", "JFR"), (1, "J&F", "JF"), (2, "J", "J"), (3, "F", "F"), (4, "R", "R"),
        (5, "N-acc", "N_acc")]
    for page in comp["pages"]:
        with zipfile.ZipFile(bench / "bundle.zip") as zf:
            assert zf.read(page["file"]).strip()
    with zipfile.ZipFile(bench / "bundle.zip") as zf:
        program = zipfile.ZipFile(zf.open("scoring_program.zip"))
        meta = yaml.safe_load(program.read("metadata.yaml"))
        assert meta["command"] == "python3 /app/program/score.py /app/input /app/output"
        assert "r2bench/cli/main.py" not in program.namelist()
        kit = set(zipfile.ZipFile(zf.open("starting_kit.zip")).namelist())
        assert kit == {"README.md", "r2_meta.json", "sample_submission.zip"}
        ref = zipfile.ZipFile(zf.open("reference_data.zip")).namelist()
        assert ref[0] == "positive/valid/Annotations/" + ref[0].split("/")[3] + "/00000.png"
        assert "r2_meta.json" in ref and not any("JPEGImages" in n for n in ref)


@pytest.mark.parametrize("slip, needle", [
    (lambda c: c.pop("terms"), "competition: missing terms"),
    (lambda c: c.update(leaderboard=c.pop("leaderboards")), "leaderboard is not a documented"),
    (lambda c: c["phases"][0].pop("end"), "phases[0]: needs an end"),
    (lambda c: c["phases"][1].update(start="2026-02-01 00:00:00"),
     "phases[1]: starts before phases[0] has ended"),
    (lambda c: c["leaderboards"][0]["columns"][1].update(key="JFR"), "column keys are not"),
    (lambda c: c["tasks"][0].update(reference_data="nothere.zip"), "'nothere.zip' is not in"),
    (lambda c: c["phases"][0].update(tasks=[3]), "task 3 is not defined"),
    (lambda c: c.update(version=1), "version must be 2"),
])
def test_the_check_finds_each_departure(bench, slip, needle):
    comp, names = _competition(bench)
    comp = copy.deepcopy(comp)
    slip(comp)
    assert any(needle in p for p in check_competition(comp, names)), needle


def _score_locally(bench: Path, preds: Path) -> dict:
    out = bench / f"local_{preds.name}.json"
    res = _run("score", preds, "--dataset", bench / "r2", "--out", out, "-q", "--workers", "1")
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def _dependencies_only_env() -> dict:
    """This interpreter's third-party packages without r2bench: ``-S`` skips the .pth files
    (among them r2bench's editable-install hook), PYTHONPATH gives site-packages back. So
    the program can only use the r2bench it carries, as in a container without r2bench."""
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def test_the_program_run_as_the_platform_runs_it(bench, tmp_path):
    app = _platform(bench, tmp_path, bench / "sub.zip")
    run = subprocess.run([sys.executable, "-S", "program/score.py", "input", "output"],
                         cwd=app, env=_dependencies_only_env(), capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    scores = json.loads((app / "output" / "scores.json").read_text())
    local = _score_locally(bench, bench / "preds")["summary"]
    assert set(scores) == {key for _, key in LEADERBOARD}
    for key, value in scores.items():
        assert value == pytest.approx(100 * local[key], abs=1e-9), key
    assert scores["J"] == 100 and scores["N_acc"] == 0 and scores["R"] < 100
    detail = json.loads((app / "output" / "results.json").read_text())
    assert detail["dataset_sha256"] == json.loads(
        (bench / "local_preds.json").read_text())["dataset_sha256"]
    assert "J&F&R: " in run.stdout


def test_a_wrapping_folder_and_the_sample_submission(bench, tmp_path):
    with zipfile.ZipFile(bench / "sub.zip") as src, \
            zipfile.ZipFile(tmp_path / "wrapped.zip", "w") as dst:
        for info in src.infolist():
            dst.writestr(f"my_preds/{info.filename}", src.read(info))
        dst.writestr("__MACOSX/._my_preds", b"")
    app = _platform(bench, tmp_path / "w", tmp_path / "wrapped.zip")
    assert program_main([str(app / "input"), str(app / "output")]) == 0
    wrapped = json.loads((app / "output" / "scores.json").read_text())
    assert wrapped["JF"] == 100 and wrapped["N_acc"] == 0

    bundle = _unzip(bench / "bundle.zip", tmp_path / "b")
    app = _platform(bench, tmp_path / "s", bundle / "sample_submission.zip")
    assert program_main([str(app / "input"), str(app / "output")]) == 0
    sample = json.loads((app / "output" / "scores.json").read_text())
    assert sample["N_acc"] == 100 and "R" not in sample and "JFR" not in sample


def test_a_wrong_submission_is_one_line_and_no_scores(bench, tmp_path, capsys):
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("Annotations/v/0/00000.png", b"")
        zf.writestr("readme.txt", b"hi")
    app = _platform(bench, tmp_path, tmp_path / "bad.zip")
    assert program_main([str(app / "input"), str(app / "output")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds Annotations/, readme.txt" in err
    assert "expected positive/ and negative/" in err
    assert not (app / "output" / "scores.json").exists()


def test_same_inputs_same_bytes_and_refusals(bench, tmp_path):
    again = tmp_path / "again.zip"
    res = _run("codabench", "--dataset", bench / "r2", "--out", again, "--title", "R2 test",
               "--phases", "Development=2026-01-05,Final=2026-03-01T12:00")
    assert res.exit_code == 0, res.output
    assert again.read_bytes() == (bench / "bundle.zip").read_bytes()
    for args, needle in (
            (["--out", again], "already exists"),
            (["--out", tmp_path / "x.zip", "--phases", "B=2026-03-01,A=2026-01-01"],
             "starts before phase 'B' has ended"),
            (["--out", tmp_path / "x.zip", "--phases", "A=March"], "is not a date")):
        res = _run("codabench", "--dataset", bench / "r2", *args)
        assert res.exit_code == 2 and needle in res.output and res.output.count("\n") == 1


def test_a_dataset_without_ground_truth_is_refused(bench, tmp_path):
    import shutil

    r2 = tmp_path / "r2"
    shutil.copytree(bench / "r2", r2, symlinks=True)
    shutil.rmtree(r2 / "positive" / "valid" / "Annotations")
    res = _run("codabench", "--dataset", r2, "--out", tmp_path / "b.zip")
    assert res.exit_code == 2 and "reference data is the ground truth" in res.output
    assert not (tmp_path / "b.zip").exists()
