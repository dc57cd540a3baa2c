"""``r2bench convert-davis`` and ``r2bench holdout``: real datasets into evaluable splits.

The library lives in ``datasets_builder`` (``refdavis``, ``holdout``); it is imported inside
each command so that ``r2bench --help`` stays fast.
"""

from __future__ import annotations

import click

from r2bench.cli.main import main, progress_enabled

_link = click.option("--link", type=click.Choice(["symlink", "hardlink", "copy"]),
                     default="symlink", show_default=True,
                     help="How OUT refers to the source files (symlinks are absolute).")
_overwrite = click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")


@main.command("convert-davis")
@click.argument("davis_root", type=click.Path(file_okay=False))
@click.option("--expressions", required=True, type=click.Path(file_okay=False),
              help="The Ref-DAVIS17 davis_text_annotations folder (Davis17_annot1.txt, ...).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder to create: a Ref-Youtube-VOS layout root (splits train, valid).")
@click.option("--semantics", type=click.Path(dir_okay=False), default=None,
              help="DAVIS categories per object, written as each split's meta.json "
                   "[default: DAVIS_ROOT/davis_semantics.json when present].")
@_link
@_overwrite
@_quiet
def convert_davis(davis_root, expressions, out, semantics, link, overwrite, quiet):
    """Convert DAVIS 2017 + Ref-DAVIS17 expressions into the Ref-Youtube-VOS layout, as the
    public R-VOS code does: four expressions per object, exp_id = 4 x object position + run
    (docs/ref-davis.md)."""
    from datasets_builder.refdavis import convert_davis as convert

    report = convert(davis_root, expressions, out, link=link, semantics=semantics,
                     overwrite=overwrite, progress=progress_enabled(quiet))
    click.echo(report.summary())


@main.command()
@click.argument("source", type=click.Path(file_okay=False))
@click.option("--split", default="train", show_default=True,
              help="Split of SOURCE to carve the local validation split from.")
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.1, show_default=True, help="Share of the videos held out.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Fixes the choice; the same inputs and seed give the same bytes.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder to create: a Ref-Youtube-VOS layout root with splits valid "
                   "(held out) and train (the rest).")
@_link
@_overwrite
@_quiet
def holdout(source, split, fraction, seed, out, link, overwrite, quiet):
    """Hold out whole videos of SOURCE's split as a local validation split with ground
    truth, so J, F and R can be measured offline."""
    from datasets_builder.holdout import make_holdout

    report = make_holdout(source, split, out, fraction=fraction, seed=seed, link=link,
                          overwrite=overwrite, progress=progress_enabled(quiet))
    click.echo(report.summary())
