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
@_quiet
def score(preds, dataset, split, out, workers, allow_missing, name, backbone, by_perturbation,
          clean, quiet):
    """Score PREDS (PNG tree, zips or RLE JSON) for J, F, J&F, R and J&F&R."""
    from r2bench.report import format_summary_table
    from r2bench.results import name_submission, write_results
    from r2bench.scoring import score_submission

    by = None
    if by_perturbation or clean:
        from r2bench.by_perturbation import open_by_perturbation
        by = open_by_perturbation(dataset, split, clean)
    results = score_submission(preds, dataset, split=split, workers=workers,
                               allow_missing=allow_missing, progress=progress_enabled(quiet))
    results = name_submission(results, name, backbone)
    for w in results["warnings"]:
        click.echo(f"r2bench: warning: {w}", err=True)
    if by is not None:
        by.add(results)
    if out:
        write_results(out, results)
    click.echo(format_summary_table([(name or preds, results)]))
    if "by_perturbation" in results:
        from r2bench.by_perturbation import format_perturbation_table
        click.echo("\n" + format_perturbation_table(results["by_perturbation"]))


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
