"""The leaderboard's pair-level decision columns: the ``gres`` preset on the real oracle and
rvos_oracle results, ``--columns``, and the legend of results that predate them."""

import io

import pandas as pd
import pytest
from click.testing import CliRunner

from r2bench.cli import main


def _board(*args):
    return CliRunner().invoke(main, ["leaderboard", *map(str, args)])


def _csv(*args) -> pd.DataFrame:
    res = _board(*args, "--format", "csv")
    assert res.exit_code == 0, res.output
    return pd.read_csv(io.StringIO(res.output))


def test_gres_preset_on_the_oracles(scored):
    table = _csv(scored["rvos_oracle"], scored["oracle"], "--measures", "gres")
    assert list(table.columns) == ["Method", "Backbone", "gIoU", "cIoU", "N-acc", "T-acc",
                                   "frame N-acc", "source"]
    assert list(table["Method"]) == ["oracle", "rvos_oracle"]        # sorted by gIoU
    oracle, rvos = table.iloc[0], table.iloc[1]
    assert (oracle["gIoU"], oracle["cIoU"], oracle["N-acc"], oracle["T-acc"],
            oracle["frame N-acc"]) == (100.0, 100.0, 100.0, 100.0, 100.0)
    # Every negative segmented, every positive right; one negative pair per positive one,
    # so gIoU is (1 + 0) / 2.
    assert (rvos["N-acc"], rvos["T-acc"], rvos["gIoU"]) == (0.0, 100.0, 50.0)
    assert 0 < rvos["cIoU"] < 100 and rvos["frame N-acc"] < 100


def test_columns_by_key_or_title_in_the_order_given(scored):
    table = _csv(scored["oracle"], "--columns", "JFR, n-acc,gIoU,J&F&R")
    assert list(table.columns) == ["Method", "Backbone", "J&F&R", "N-acc", "gIoU", "source"]


@pytest.mark.parametrize("args, needle", [
    (["--columns", "JFR,nosuch"], "unknown column 'nosuch'"),
    (["--columns", "JFR", "--measures", "gres"], "not both"),
])
def test_bad_columns_are_one_line(scored, args, needle):
    res = _board(scored["oracle"], *args)
    assert res.exit_code == 2 and needle in res.output


def test_results_from_before_the_decisions_say_so(records):
    res = _board(*records, "--measures", "all")
    assert res.exit_code == 0, res.output
    assert "results written before r2bench measured it" in res.output
    assert "| J&F&R |" in res.output and "| N-acc |" in res.output and "| FPS |" in res.output
