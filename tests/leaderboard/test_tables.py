"""The leaderboard's formats against golden files, and what the tables promise.

Set R2BENCH_REGEN_GOLDEN=1 to rewrite the golden files after a deliberate change (then read
the diff).
"""

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from records import random_pairs, results_record, write_json
from tools import require_tool

from r2bench.cli import main

GOLDEN = Path(__file__).parent / "golden"


def _run(*args):
    res = CliRunner().invoke(main, ["leaderboard", *map(str, args)])
    assert res.exit_code == 0, res.output
    return res.stdout   # the table; warnings go to stderr


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("R2BENCH_REGEN_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("fmt, name", [("md", "leaderboard.md"), ("latex", "leaderboard.tex"),
                                       ("csv", "leaderboard.csv")])
def test_golden_with_published_rows(records, fmt, name):
    _check_golden(name, _run(*records, "--published", "r2-ytvos", "--format", fmt))


def test_golden_ref_davis_with_davis_columns(records):
    _check_golden("ref_davis.md", _run(*records, "--published", "ref-davis", "--davis"))


def _rows(md: str) -> list[list[str]]:
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[1:]]


def test_sorting_bold_names_and_legend(records):
    md = _run(*records)
    rows = _rows(md)
    # by J&F&R; the plain R-VOS file (no R) after, by J&F
    assert [r[0] for r in rows] == ["R2-VOS-lite", "baseline_rvos", "plain_model"]
    assert rows[0][1:] == ["ResNet-50", "70.0", "80.0", "75.0", "**95.0**", "**81.7**",
                           "**30.5**"]
    assert rows[1][1:5] == ["-", "**75.0**", "**85.0**", "**80.0**"]   # name from the file
    assert rows[2][5:7] == ["-", "-"]
    legend = md.split("\n\n", 1)[1]
    assert '"-" in Backbone for baseline_rvos: not given (r2bench score --backbone).' in legend
    assert '"-" in R, J&F&R for plain_model: scored without negative pairs' in legend
    assert '"-" in FPS for baseline_rvos, plain_model: no profile record' in legend


def test_ties_on_printed_digits_are_all_bold(tmp_path, records):
    md = _run(records[0], records[0])
    assert sum("**81.7**" in line for line in md.splitlines()) == 2


def test_intervals_are_shown_and_contain_the_value(tmp_path):
    res = results_record(random_pairs(np.random.default_rng(1), 30), "m", "b")
    path = write_json(tmp_path / "m.json", res)
    md = _run(path, "--ci", "--resamples", "2000")
    value, half = _rows(md)[0][2].replace("*", "").split(" ± ")
    assert value == f"{100 * res['summary']['J']:.1f}" and 0.5 < float(half) < 20
    assert "± half-width of the 95% bootstrap interval over videos (2000 resamples, seed 0)" in md
    assert md == _run(path, "--ci", "--resamples", "2000")                 # seeded
    assert md != _run(path, "--ci", "--resamples", "2000", "--seed", "1")


def test_csv_reads_back_with_pandas(records):
    frame = pd.read_csv(io.StringIO(_run(*records, "--format", "csv", "--ci",
                                         "--resamples", "500")))
    ours = frame[frame["Method"] == "R2-VOS-lite"].iloc[0]
    assert ours["J&F&R"] == 81.7 and ours["FPS"] == 30.5 and ours["source"] == "measured"
    assert ours["J 95% lo"] <= 70.0 <= ours["J 95% hi"]
    assert pd.isna(frame[frame["Method"] == "plain_model"].iloc[0]["R"])


def test_html_is_one_file_with_bold_best(records, tmp_path):
    out = tmp_path / "board.html"
    _run(*records, "--format", "html", "--out", out)
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<b>81.7</b>" in page
    assert "src=" not in page and "href=" not in page and "<script" not in page


def test_latex_compiles_with_booktabs(records, tmp_path):
    require_tool(("pdflatex",), "the LaTeX table is compiled")
    table = _run(*records, "--published", "r2-ytvos", "--format", "latex", "--ci",
                 "--resamples", "200")
    doc = tmp_path / "t.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                   f"{table}\\end{{document}}\n")
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert "Missing character" not in log and "Undefined control sequence" not in log
