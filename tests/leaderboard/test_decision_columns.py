"""The leaderboard's pair-level decision columns: the ``gres`` preset on the real oracle and
rvos_oracle results, ``--columns``, and the legend of results that predate them."""

import io
import json

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


def test_without_jfr_the_first_column_ranks(records):
    from leaderboard.records import load_results

    ours, baseline = (load_results(p).results for p in records[:2])   # J&F&R 81.7 > 60.0
    paths = []
    for rec, giou in ((ours, 0.40), (baseline, 0.55)):
        rec["summary"].update(N_acc=0.5, T_acc=0.9, gIoU=giou, cIoU=0.6, N_acc_frame=0.7)
        paths.append(records[0].parent / f"g_{rec['method'] or 'baseline'}.json")
        paths[-1].write_text(json.dumps(rec))
    by_jfr = _csv(*paths, "--columns", "JFR,gIoU")
    by_giou = _csv(*paths, "--measures", "gres")
    assert list(by_jfr["J&F&R"]) == [81.7, 60.0]
    assert list(by_giou["gIoU"]) == [55.0, 40.0]
