"""What a new user hit with the tables and the report (issue 19 §3): results of different
datasets, the format of --out, saying where a file went, which predictions a gallery shows,
and plots that hide a submission."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from records import results_record, write_json

from r2bench.cli import main

KINDS = ("oracle", "rvos_oracle", "empty")


def _run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output
    return res


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small R2 dataset and the demo's three submissions, scored: oracle and rvos_oracle
    have the same J, oracle and empty the same (zero) false alarms, empty has no R."""
    from datasets_builder.build import build_dataset
    from datasets_builder.synth import SynthConfig, write_source
    from r2bench.app.demo import write_oracle_submission
    from r2bench.results import name_submission
    from r2bench.scoring import score_submission

    d = tmp_path_factory.mktemp("friction")
    write_source(d / "src", SynthConfig(videos=5, train_videos=0, frames=2, height=40, width=64,
                                        seed=2), workers=1)
    build_dataset(d / "src", "valid", d / "r2", seed=0)
    out = {"r2": d / "r2"}
    for kind in KINDS:
        preds = write_oracle_submission(d / "r2", d / kind, kind)
        res = name_submission(score_submission(preds, d / "r2", workers=1), kind, None)
        out[kind] = write_json(d / f"{kind}.json", res)
        out[f"{kind}_preds"] = preds
    return out


# --- 3. results of different datasets ---------------------------------------------------

def _pairs(area):
    return [{"pair_id": "positive/v/0", "label": "positive", "J": 0.5, "F": 0.5, "area": 100},
            {"pair_id": "negative/v/0", "label": "negative", "area": area}]


def test_results_of_two_datasets_are_ranked_apart_with_a_warning(tmp_path):
    a = write_json(tmp_path / "a.json", results_record(_pairs(50), "A"))
    b = write_json(tmp_path / "b.json", results_record(_pairs(0), "B", dataset_sha256="e" * 64))
    c = write_json(tmp_path / "c.json", results_record(_pairs(10), "C"))
    res = _run("leaderboard", a, b, c)
    assert res.exit_code == 0, res.output
    assert "scored on different datasets" in res.stderr and len(res.stderr.splitlines()) == 1
    rows = [line.split(" | ")[0].strip("| ") for line in res.stdout.splitlines()
            if line.startswith("| ") and "---" not in line][1:]
    # B has the best J&F&R but another dataset: it ranks after A and C, not between them
    assert rows == ["C", "A", "B"]
    assert "Scored on 2 different datasets" in res.stdout
    assert "A, C on /data/r2 (sha256 dddddddddddd); then B on /data/r2 (sha256 eeeeeeeeeeee)" \
        in res.stdout
    res = _run("leaderboard", a, c)
    assert res.exit_code == 0 and res.stderr == "" and "different datasets" not in res.stdout


# --- 5. the format from --out, and every written file announced -------------------------

@pytest.mark.parametrize("suffix, start", [(".tex", "\\begin{table}"), (".csv", "Method,"),
                                           (".html", "<!DOCTYPE html>"), (".md", "| Method"),
                                           (".txt", "| Method")])
def test_leaderboard_out_takes_its_format_from_the_suffix(tmp_path, suffix, start):
    a = write_json(tmp_path / "a.json", results_record(_pairs(50), "A"))
    out = tmp_path / f"table{suffix}"
    res = _run("leaderboard", a, "--out", out)
    assert res.exit_code == 0, res.output
    assert out.read_text().lstrip().startswith(start)
    fmt = {".tex": "latex", ".csv": "csv", ".html": "html"}.get(suffix, "md")
    assert res.stdout == f"wrote {out} ({fmt})\n"
    res = _run("leaderboard", a, "--out", out, "--overwrite", "--format", "csv")
    assert out.read_text().startswith("Method,")           # --format wins over the suffix


def test_davis_csv_and_compare_out_say_where(demo, tmp_path):
    res = _run("leaderboard", demo["oracle"], "--davis-csv", tmp_path / "csv")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "csv" / "oracle" / "global_results.csv").is_file()
    assert f"wrote davis2017-evaluation CSVs to {tmp_path / 'csv' / 'oracle'}" in res.stderr
    assert "wrote" not in res.stdout                     # stdout is the table alone
    res = _run("compare", demo["oracle"], demo["rvos_oracle"], "--resamples", "100", "--out",
               tmp_path / "c.json")
    assert res.exit_code == 0 and res.stdout.endswith(f"wrote {tmp_path / 'c.json'}\n")


# --- 4. which predictions a gallery shows -----------------------------------------------

def _report(demo, out, *preds):
    return _run("report", *(demo[k] for k in KINDS), "--dataset", demo["r2"], "--out", out,
                "--worst", "2", *[a for p in preds for a in ("--preds", p)])


def test_preds_name_the_method_or_match_the_submission_path(demo, tmp_path):
    res = _report(demo, tmp_path / "a", f"rvos_oracle={demo['rvos_oracle_preds']}",
                  demo["empty_preds"])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "a" / "index.html").read_text()
    assert "Worst positive pairs of rvos_oracle" in page and "Worst positive pairs of empty" \
        in page and "of oracle" not in page
    assert page.index("of rvos_oracle") < page.index("of empty")
    assert len(list((tmp_path / "a" / "thumbs").glob("negative_*.png"))) == 2   # rvos_oracle's
    assert not list((tmp_path / "a" / "thumbs-2").glob("negative_*.png"))       # empty's
    # a path alone is matched to the results whose submission it is, not to the first file
    res = _report(demo, tmp_path / "b", demo["rvos_oracle_preds"])
    assert res.exit_code == 0, res.output
    assert "rvos_oracle, predictions" in (tmp_path / "b" / "index.html").read_text()


@pytest.mark.parametrize("preds, message", [
    ("nobody={oracle_preds}", ("'nobody' is not the method of a results file (methods: "
                              "oracle, rvos_oracle, empty)")),
    ("{r2}", "matches no results file's submission path: give --preds NAME="),
    ("oracle={oracle_preds}|oracle={oracle_preds}", "two predictions for oracle"),
])
def test_preds_that_match_no_results_are_one_line(demo, tmp_path, preds, message):
    values = [p.format(**{k: str(v) for k, v in demo.items()}) for p in preds.split("|")]
    res = _report(demo, tmp_path / "r", *values)
    assert res.exit_code == 2 and message in res.stderr and len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "r").exists()


# --- 8. every submission visible in every plot, or its absence explained ------------------

def _pixels(fig) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _plots(demo):
    from leaderboard import load_records, plots
    from leaderboard.report import _draw_plots
    from r2bench.dataset import load_eval_dataset

    subs, _ = load_records([demo[k] for k in KINDS])
    figures = []
    keep = plots.save_svg
    plots.save_svg = lambda fig, path: figures.append(fig)
    try:
        absent = _draw_plots(subs, load_eval_dataset(demo["r2"]), Path(demo["r2"]).parent /
                             f"plots-{len(list(Path(demo['r2']).parent.glob('plots-*')))}")
    finally:
        plots.save_svg = keep
    return figures, absent


def _check_every_mark_visible(figures, absent, names):
    from leaderboard.plots import legend_gid, series_gid

    for fig, missing in zip(figures, absent):
        shown = [i for i, k in enumerate(names) if k not in missing]
        legend = [a.get_gid() for a in fig.findobj() if str(a.get_gid()).startswith("legend-")]
        assert legend == [legend_gid(i) for i in shown]
        before = _pixels(fig)
        for i in shown:
            marks = [a for a in fig.findobj() if a.get_gid() == series_gid(i)]
            assert marks, (fig.axes[0].get_title(), names[i])
            for a in marks:
                a.set_visible(False)
            hidden = _pixels(fig)
            for a in marks:
                a.set_visible(True)
            # Seen: some pixels change clearly when it goes, not just anti-aliased edges or a
            # tint through a translucent mark on top.
            changed = np.abs(hidden[..., :3].astype(int) - before[..., :3]).max(axis=-1) > 64
            assert changed.sum() >= 10, f"{names[i]} cannot be seen in " \
                                        f"{fig.axes[0].get_title()!r}"


def test_every_legend_entry_has_a_visible_mark_and_every_absence_a_reason(demo):
    figures, absent = _plots(demo)
    assert absent[0] == {"empty": "no R: no predicted foreground on the positive pairs, so R "
                                  "is undefined"}
    assert absent[1:] == [{}, {}, {}]
    _check_every_mark_visible(figures, absent, KINDS)


def test_points_and_rows_that_coincide_stay_visible():
    from leaderboard import plots

    names = ["a", "b", "c"]
    zero = np.zeros(5)
    figures = [plots.jf_vs_r(names, [0.5, 0.5, 0.5], [0.9, 0.9, 0.9]),
               plots.false_alarm(names, [zero, zero, zero + 0.1]),
               plots.j_histogram(names, [zero + 0.3] * 3),
               plots.j_per_category(names, ["cat", "dog"], [[0.5, 0.0], [0.5, 0.0], [0, 0]])]
    absent = [a for _, a in figures]
    assert absent == [{}, {}, {}, {"c": "J is 0 in every category"}]
    _check_every_mark_visible([f for f, _ in figures], absent, names)


def test_the_report_names_what_a_plot_leaves_out(demo, tmp_path):
    res = _report(demo, tmp_path / "r", demo["oracle_preds"])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "r" / "index.html").read_text()
    assert "Not shown: empty (no R: no predicted foreground on the positive pairs, so R is " \
           "undefined)" in page
    assert page.count("Not shown:") == 1
    assert json.loads(Path(demo["empty"]).read_text())["summary"]["R"] is None


def test_every_plot_draws_a_single_submission():
    # one data set: matplotlib's hist returns its bar container alone, not in a list
    from leaderboard import plots

    names = ["only"]
    ramp = np.linspace(0.1, 0.9, 5)
    figures = [plots.jf_vs_r(names, [0.5], [0.9]), plots.false_alarm(names, [ramp]),
               plots.j_histogram(names, [ramp]), plots.j_per_category(names, ["cat"], [[0.5]])]
    absent = [a for _, a in figures]
    assert absent == [{}, {}, {}, {}]
    _check_every_mark_visible([f for f, _ in figures], absent, names)
