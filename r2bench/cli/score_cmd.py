"""``r2bench score`` and ``r2bench check``: evaluate or validate a submission."""

from __future__ import annotations

import click

from r2bench.cli.main import main, progress_enabled

_preds = click.argument("preds", type=click.Path(path_type=str))
_dataset = click.option("--dataset", "dataset", required=True, type=click.Path(path_type=str),
                        help="R2 dataset folder (with r2_meta.json) or a Ref-YTVOS root.")
_split = click.option("--split", default=None, help="Split of a Ref-YTVOS root (e.g. valid).")
_workers = click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Worker processes [default: all cores].")
_allow = click.option("--allow-missing", is_flag=True,
                      help="Score missing frames as empty masks and report how many.")
_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")


@main.command()
@_preds
@_dataset
@_split
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the results JSON here (atomically).")
@_workers
@_allow
@click.option("--name", default=None,
              help="Method name, stored in the results and shown by the leaderboard.")
@click.option("--backbone", default=None,
              help="Backbone (e.g. ResNet-50), stored in the results for the leaderboard.")
@click.option("--by-perturbation", is_flag=True,
              help="Also score per perturbation and severity (a dataset made by r2bench "
                   "perturb, or an R2 dataset built from one) and print the per-type table.")
@click.option("--clean", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Results JSON of the clean dataset: the table adds the relative drops "
                   "(implies --by-perturbation).")
@click.option("--protocol", type=click.Choice(["per-expression", "ref-davis"]),
              default="per-expression", show_default=True,
              help="per-expression: each expression against its own object. ref-davis: "
                   "the published Ref-DAVIS17 protocol (four runs, DAVIS unsupervised "
                   "assignment) on a converted Ref-DAVIS17 root.")
@click.option("--davis-csv", "davis_csv", type=click.Path(file_okay=False, path_type=str),
              default=None, help="Also write davis2017-evaluation's global_results.csv and "
                                 "per-sequence_results.csv here (one folder per run, "
                                 "anno_0..anno_3, with --protocol ref-davis).")
@_quiet
def score(preds, dataset, split, out, workers, allow_missing, name, backbone, by_perturbation,
          clean, protocol, davis_csv, quiet):
    """Score PREDS (PNG tree, zips or RLE JSON) for J, F, J&F, R and J&F&R."""
    from r2bench.report import format_summary_table
    from r2bench.results import name_submission, write_results
    from r2bench.scoring import score_submission

    by = None
    if protocol == "ref-davis":
        from r2bench.davis_protocol import score_ref_davis, table_rows

        if split is None:
            raise click.UsageError("--protocol ref-davis needs --split (e.g. valid)")
        if by_perturbation or clean:
            raise click.UsageError("--by-perturbation goes with --protocol per-expression")
        results = score_ref_davis(preds, dataset, split, workers=workers,
                                  allow_missing=allow_missing, progress=progress_enabled(quiet))
        rows = table_rows(name or preds, results)
    else:
        if by_perturbation or clean:
            from r2bench.by_perturbation import open_by_perturbation
            by = open_by_perturbation(dataset, split, clean)
        results = score_submission(preds, dataset, split=split, workers=workers,
                                   allow_missing=allow_missing, progress=progress_enabled(quiet))
        rows = None
    results = name_submission(results, name, backbone)
    for w in results["warnings"]:
        click.echo(f"r2bench: warning: {w}", err=True)
    if by is not None:
        by.add(results)
    if out:
        write_results(out, results)
    if davis_csv:
        _write_davis_csv(davis_csv, results)
    click.echo(format_summary_table(rows or [(name or preds, results)]))
    if "by_perturbation" in results:
        from r2bench.by_perturbation import format_perturbation_table
        click.echo("\n" + format_perturbation_table(results["by_perturbation"]))


def _write_davis_csv(out_dir: str, results: dict) -> None:
    """davis2017-evaluation's CSVs: in ``out_dir``, or ``out_dir/anno_<k>`` per Ref-DAVIS run."""
    from pathlib import Path

    from r2bench.davis_stats import write_davis_csv

    if results.get("protocol") != "ref-davis":
        write_davis_csv(out_dir, results)
        return
    from r2bench.davis_protocol import RUN_FOLDERS, run_record

    for run, (folder, _) in enumerate(RUN_FOLDERS):
        write_davis_csv(Path(out_dir) / folder, run_record(results, run))


@main.command()
@_preds
@_dataset
@_split
@_workers
@_allow
@_quiet
def check(preds, dataset, split, workers, allow_missing, quiet):
    """Validate PREDS without scoring: every pair and frame there, decodable, right size."""
    from r2bench.scoring import check_submission

    counts = check_submission(preds, dataset, split=split, workers=workers,
                              allow_missing=allow_missing, progress=progress_enabled(quiet))
    missing = f", {counts['missing']} missing" if counts["missing"] else ""
    click.echo(f"ok: {counts['pairs']} pairs, {counts['frames']} frames{missing}")
