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
@click.option("--name", default=None, help="Name of the submission in the table.")
@click.option("--protocol", type=click.Choice(["per-expression", "ref-davis"]),
              default="per-expression", show_default=True,
              help="per-expression: each expression against its own object. ref-davis: "
                   "the published Ref-DAVIS17 protocol (four runs, DAVIS unsupervised "
                   "assignment) on a converted Ref-DAVIS17 root.")
@_quiet
def score(preds, dataset, split, out, workers, allow_missing, name, protocol, quiet):
    """Score PREDS (PNG tree, zips or RLE JSON) for J, F, J&F, R and J&F&R."""
    from r2bench.report import format_summary_table
    from r2bench.results import write_results
    from r2bench.scoring import score_submission

    if protocol == "ref-davis":
        from r2bench.davis_protocol import score_ref_davis, table_rows

        if split is None:
            raise click.UsageError("--protocol ref-davis needs --split (e.g. valid)")
        results = score_ref_davis(preds, dataset, split, workers=workers,
                                  allow_missing=allow_missing, progress=progress_enabled(quiet))
        rows = table_rows(name or preds, results)
    else:
        results = score_submission(preds, dataset, split=split, workers=workers,
                                   allow_missing=allow_missing, progress=progress_enabled(quiet))
        rows = [(name or preds, results)]
    for w in results["warnings"]:
        click.echo(f"r2bench: warning: {w}", err=True)
    if out:
        write_results(out, results)
    click.echo(format_summary_table(rows))


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
