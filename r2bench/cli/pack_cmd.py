"""``r2bench pack``: a Ref-Youtube-VOS evaluation-server zip from predictions."""

from __future__ import annotations

import click

from r2bench.cli.main import main, overwrite_option, progress_enabled, refuse_existing


@main.command()
@click.argument("preds", type=click.Path(path_type=str))
@click.option("--dataset", required=True, type=click.Path(path_type=str),
              help="The Ref-Youtube-VOS root the predictions are for (or an R2 dataset).")
@click.option("--split", default=None,
              help="Split of the root  [default: valid, or the R2 dataset's split].")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The zip to write (atomically).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores].")
@click.option("--labels", type=click.Choice(["positive", "both"]), default="positive",
              show_default=True,
              help="positive: the Ref-Youtube-VOS server's zip. both: every pair of an R2 "
                   "dataset, positive/VID/EXP_ID/FRAME.png and negative/..., as r2bench score "
                   "and the Codabench bundle read it.")
@overwrite_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def pack(preds, dataset, split, out, workers, labels, overwrite, quiet):
    """Pack PREDS (a VID/EXP_ID/FRAME.png tree, zip or RLE JSON, or an R2 submission's
    positive part) as the server expects it: Annotations/VID/EXP_ID/FRAME.png, mode L 0/255,
    after checking every frame of the split is there. With --labels both, an R2 submission
    of both labels, in one zip with positive/ and negative/ at its root."""
    from r2bench.pack import pack_submission

    refuse_existing(out, overwrite=overwrite)
    report = pack_submission(preds, dataset, out, split=split, workers=workers,
                             progress=progress_enabled(quiet), labels=labels)
    click.echo(report.summary())
