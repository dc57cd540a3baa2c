"""Bad input to the leaderboard commands: one line naming the file, exit status 2, no output."""

import json

import pytest
from click.testing import CliRunner
from records import profile_record, results_record, write_json

from r2bench.cli import main


def _pairs():
    return [{"pair_id": "positive/v/0", "label": "positive", "J": 0.5, "F": 0.5, "area": 10},
            {"pair_id": "negative/v/0", "label": "negative", "area": 1}]


def _bad(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _wrong_version():
    return {**results_record(_pairs()), "version": 2}


def _broken_summary():
    rec = results_record(_pairs())
    rec["summary"]["J"] = "high"
    return rec


CASES = [
    ("missing.json", None, "no such file"),
    ("garbage.json", "{not json", "not a JSON file"),
    ("r2_meta.json", {"format": "r2bench/r2-dataset", "version": 1}, "not an r2bench results"),
    ("list.json", [1, 2], "not an r2bench results"),
    ("v2.json", _wrong_version(), "results version 2 is not supported"),
    ("summary.json", _broken_summary(), "summary.J: expected a number or null"),
    ("prof.json", {**profile_record("m", 10.0), "fps": 0}, '"fps": expected a positive'),
]


@pytest.mark.parametrize("name, content, message", CASES)
@pytest.mark.parametrize("command", ["leaderboard", "compare"])
def test_bad_records_give_one_line_and_exit_2(tmp_path, name, content, message, command):
    good = write_json(tmp_path / "good.json", results_record(_pairs(), "m"))
    bad = tmp_path / name if content is None else _bad(tmp_path, name, content)
    out = tmp_path / "table.md"
    args = [command, str(good), str(bad)]
    if command == "leaderboard":
        args += ["--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    if command == "compare" and name == "prof.json":
        return                                      # compare reads results only
    assert res.output.count("\n") == 1
    assert str(bad) in res.output and message in res.output
    assert not out.exists()


def test_compare_refuses_a_profile(tmp_path):
    good = write_json(tmp_path / "good.json", results_record(_pairs(), "m"))
    prof = write_json(tmp_path / "p.json", profile_record("m", 10.0))
    res = CliRunner().invoke(main, ["compare", str(good), str(prof)])
    assert res.exit_code == 2 and "a profile record, not results" in res.output


def test_profile_must_match_exactly_one_method(tmp_path):
    good = write_json(tmp_path / "good.json", results_record(_pairs(), "m"))
    stray = write_json(tmp_path / "p.json", profile_record("other", 10.0))
    res = CliRunner().invoke(main, ["leaderboard", str(good), str(stray)])
    assert res.exit_code == 2 and "method 'other' matches no results" in res.output
    twice = write_json(tmp_path / "q.json", profile_record("m", 12.0))
    res = CliRunner().invoke(main, ["leaderboard", str(good), str(twice), str(twice)])
    assert res.exit_code == 2 and "a second profile" in res.output


def test_only_profiles_is_a_usage_error(tmp_path):
    prof = write_json(tmp_path / "p.json", profile_record("m", 10.0))
    res = CliRunner().invoke(main, ["leaderboard", str(prof)])
    assert res.exit_code == 2 and "no results file" in res.output


def test_davis_csv_names_the_file_without_statistics(tmp_path):
    rec = results_record(_pairs(), "m")
    del rec["pairs"][0]["J_recall"]
    path = write_json(tmp_path / "old.json", rec)
    res = CliRunner().invoke(main, ["leaderboard", str(path), "--davis-csv",
                                    str(tmp_path / "csv")])
    assert res.exit_code == 2 and str(path) in res.output and "older r2bench" in res.output


def test_davis_csv_per_submission(tmp_path):
    a = write_json(tmp_path / "a.json", results_record(_pairs(), "m"))
    b = write_json(tmp_path / "b.json", results_record(_pairs()))
    res = CliRunner().invoke(main, ["leaderboard", str(a), str(b), "--davis-csv",
                                    str(tmp_path / "csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "csv" / "m" / "global_results.csv").read_text().splitlines()[1] == \
        "0.500,0.500,0.000,0.500,0.500,0.000,0.500"
    assert (tmp_path / "csv" / "b" / "per-sequence_results.csv").is_file()


def test_the_package_imports_neither_torch_nor_matplotlib():
    import subprocess
    import sys

    code = ("import sys, leaderboard, leaderboard.report, leaderboard.compare, "
            "leaderboard.breakdown; import r2bench.cli.leaderboard_cmd; "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
