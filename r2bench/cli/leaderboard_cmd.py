"""``r2bench leaderboard``, ``r2bench compare`` and ``r2bench report``: tables, paired
statistics and the HTML report of results files.

The library lives in the ``leaderboard`` package; it is imported inside each command so that
``r2bench --help`` stays fast.
"""

from __future__ import annotations

import click

from r2bench.cli.main import main, overwrite_option, refuse_existing

_seed = click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the resampling; the same seed gives the same numbers.")
_resamples = click.option("--resamples", type=click.IntRange(100), default=10_000,
                          show_default=True, help="Bootstrap resamples (and permutations).")


FORMAT_OF_SUFFIX = {".md": "md", ".markdown": "md", ".tex": "latex", ".csv": "csv",
                    ".html": "html", ".htm": "html"}


def table_format(fmt: str | None, out: str | None) -> str:
    """--format as given; without it, the one --out's suffix names (.tex: latex, .csv,
    .html, .md), else Markdown."""
    if fmt is not None:
        return fmt
    from pathlib import Path

    return FORMAT_OF_SUFFIX.get(Path(out).suffix.lower(), "md") if out else "md"


def _emit(text: str, out: str | None, fmt: str) -> None:
    """Print ``text``, or write it atomically to ``out`` and say where."""
    if out is None:
        click.echo(text, nl=False)
        return
    from r2bench.fileio import atomic_write_bytes

    atomic_write_bytes(out, text.encode("utf-8"))
    click.echo(f"wrote {out} ({fmt})")


@main.command()
@click.argument("records", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["md", "latex", "csv", "html"]),
              default=None, help="Output format  [default: from --out's suffix (.tex, .csv, "
                                 ".html, .md), else md].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the table here (atomically) instead of printing it.")
@overwrite_option
@click.option("--published", type=click.Choice(["ref-ytvos", "ref-davis", "r2-ytvos"]),
              default=None, help="Add the paper's published rows for this protocol.")
@click.option("--ci", is_flag=True, help="Show 95% bootstrap intervals over videos (±).")
@_resamples
@_seed
@click.option("--davis", is_flag=True,
              help="Add davis2017-evaluation's J-Recall, J-Decay, F-Recall, F-Decay.")
@click.option("--davis-csv", "davis_csv", type=click.Path(file_okay=False, path_type=str),
              default=None, help="Also write global_results.csv and per-sequence_results.csv "
                                 "of each submission to DIR/<method>/.")
@click.option("--breakdown", type=click.Choice(["category", "size"]), default=None,
              help="Instead of the leaderboard, the measures by target category or size.")
@click.option("--dataset", type=click.Path(path_type=str), default=None,
              help="The dataset for --breakdown  [default: the one the results name].")
@click.option("--split", default=None, help="Split of a plain Ref-YTVOS --dataset root.")
@click.option("--measures", "preset", type=click.Choice(["r2vos", "gres", "all"]),
              default="r2vos", show_default=True,
              help="Measure columns: r2vos (J, F, J&F, R, J&F&R, FPS), gres (the pair-level "
                   "decisions gIoU, cIoU, N-acc, T-acc, frame N-acc) or all.")
@click.option("--columns", default=None, metavar="LIST",
              help="Measure columns to show, comma-separated keys or titles (e.g. "
                   "JFR,N_acc,gIoU); instead of --measures.")
def leaderboard(records, fmt, out, overwrite, published, ci, resamples, seed, davis, davis_csv,
                breakdown, dataset, split, preset, columns):
    """Print the table of RECORDS: results files (r2bench score --out) and, optionally,
    profile records (r2bench profile --out), matched by method name.

    One row per submission: method, backbone, J, F, J&F, R, J&F&R (x100) and FPS, sorted by
    J&F&R (by J&F without R), the best value of each column in bold, and a legend for every
    "-". --measures gres or --columns show the pair-level decisions instead or beside them
    (a table without J&F&R and J&F is sorted by its first column).
    """
    from leaderboard import BoardOptions, build_leaderboard, load_records, match_profiles, render
    from leaderboard.board import PRESETS, measure_columns
    from leaderboard.records import dataset_groups
    from r2bench.davis_stats import GLOBAL_CSV, PER_SEQUENCE_CSV

    if columns is not None and preset != "r2vos":
        raise click.UsageError("give --columns or --measures, not both")
    try:
        measures = (PRESETS[preset] if columns is None
                    else measure_columns([c for c in columns.split(",") if c.strip()]))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--columns") from None
    if not measures:
        raise click.BadParameter("no column named", param_hint="--columns")

    fmt = table_format(fmt, out)
    subs, profiles = load_records(records)
    if not subs:
        raise click.UsageError("RECORDS has no results file (only profile records)")
    if len(dataset_groups(subs)) > 1:
        click.echo("r2bench: warning: the results were scored on different datasets: each "
                   "dataset's rows are ranked on their own (see the note under the table)",
                   err=True)
    csv_dirs = _davis_csv_dirs(subs, davis_csv) if davis_csv else []
    refuse_existing(out, *(d / n for d in csv_dirs for n in (GLOBAL_CSV, PER_SEQUENCE_CSV)),
                    overwrite=overwrite)
    if breakdown:
        table = _breakdown(subs, breakdown, dataset, split)
    else:
        opts = BoardOptions(published=published, intervals=ci, davis=davis,
                            n_resamples=resamples, seed=seed, measures=measures)
        table = build_leaderboard(subs, match_profiles(subs, profiles), opts)
    text = render(table, fmt)
    if davis_csv:
        _write_davis_csv(subs, csv_dirs)
    _emit(text, out, fmt)
    for where in csv_dirs:   # on stderr when the table is on stdout, which may be redirected
        click.echo(f"wrote davis2017-evaluation CSVs to {where}", err=out is None)


def _davis_csv_dirs(subs, out_dir: str) -> list:
    """``out_dir/<method>/`` per submission (``<method>_<file stem>`` for a repeated name)."""
    from pathlib import Path

    names = [s.method for s in subs]
    return [Path(out_dir) / (s.method if names.count(s.method) == 1
                             else f"{s.method}_{s.path.stem}").replace("/", "_") for s in subs]


def _write_davis_csv(subs, dirs: list) -> None:
    """Each submission's DAVIS CSV files in its folder of ``dirs``; all are checked first."""
    from r2bench.davis_stats import davis_tables, write_davis_csv
    from r2bench.errors import R2BenchError

    for sub in subs:
        try:
            davis_tables(sub.results)
        except R2BenchError as e:
            raise R2BenchError(sub.path, e.reason) from None
    for sub, where in zip(subs, dirs):
        write_davis_csv(where, sub.results)


def _breakdown(subs, by: str, dataset: str | None, split: str | None):
    from leaderboard.breakdown import breakdown_table, pair_groups

    if dataset is None:
        dataset = subs[0].results.get("dataset")
        split = split or (subs[0].results.get("split")
                          if subs[0].results.get("mode") == "rvos" else None)
    return breakdown_table(subs, pair_groups(dataset, by, split), by)


@main.command()
@click.argument("a", type=click.Path(path_type=str))
@click.argument("b", type=click.Path(path_type=str))
@_resamples
@_seed
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write the comparison as JSON here (atomically).")
@overwrite_option
def compare(a, b, resamples, seed, out, overwrite):
    """Compare results A and B, scored on the same dataset, pair by pair: the difference of
    each measure with its 95% paired-bootstrap interval and paired-permutation p-value."""
    from leaderboard.compare import compare as run
    from leaderboard.compare import comparison_record, format_comparison
    from leaderboard.records import load_results

    refuse_existing(out, overwrite=overwrite)
    c = run(load_results(a), load_results(b), resamples, seed)
    if out:
        from r2bench.fileio import atomic_write_json

        atomic_write_json(out, comparison_record(c))
    click.echo(format_comparison(c), nl=False)
    if out:
        click.echo(f"wrote {out}")


@main.command()
@click.argument("records", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--dataset", required=True, type=click.Path(path_type=str),
              help="The dataset the results were scored on.")
@click.option("--split", default=None, help="Split of a plain Ref-YTVOS --dataset root.")
@click.option("--preds", "preds", required=True, multiple=True,
              help="Predictions for a failure gallery: NAME=PREDS for the results whose method "
                   "is NAME, or PREDS alone, matched to the results file whose submission is "
                   "PREDS (or to the only one). Repeatable: one gallery each.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder to create for the report.")
@click.option("--worst", type=click.IntRange(1, 100), default=8, show_default=True,
              help="Pairs in each failure gallery.")
@overwrite_option
def report(records, dataset, split, preds, out, worst, overwrite):
    """Write a static HTML report of RECORDS (results files, optionally profiles) to OUT:
    the summary table, plots, and a gallery of the worst pairs of each submission whose
    predictions are given."""
    from leaderboard import load_records
    from leaderboard.report import ReportConfig, match_predictions, write_report

    refuse_existing(out, overwrite=overwrite)
    subs, profiles = load_records(records)
    if not subs:
        raise click.UsageError("RECORDS has no results file (only profile records)")
    galleries = match_predictions(subs, list(preds))
    path = write_report(subs, dataset, galleries, out, split, profiles,
                        ReportConfig(n_worst=worst), overwrite=overwrite)
    click.echo(f"wrote {path / 'index.html'}")
