"""``r2bench synth``, ``r2bench build-dataset``, ``r2bench verify-dataset`` (docs/formats.md).

The library lives in ``datasets_builder``; it is imported inside each command so that
``r2bench --help`` stays fast.
"""

from __future__ import annotations

import re

import click

from r2bench.cli.main import main, progress_enabled


def _parse_size(ctx, param, value: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", value.strip())
    if not m or min(int(m[1]), int(m[2])) < 16:
        raise click.BadParameter("expected HxW with both at least 16, e.g. 96x160")
    return int(m[1]), int(m[2])


@main.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--videos", type=click.IntRange(1), default=24, show_default=True,
              help="Videos in the valid split.")
@click.option("--train-videos", type=click.IntRange(1), default=None,
              help="Videos in the train split  [default: as many as --videos].")
@click.option("--frames", type=click.IntRange(1, 1000), default=12, show_default=True,
              help="Frames per video (named 00000, 00005, ...).")
@click.option("--size", "size", default="96x160", show_default=True, callback=_parse_size,
              help="Frame size HxW.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed; the same seed gives the same bytes.")
@click.option("--valid-gt/--no-valid-gt", default=True, show_default=True,
              help="Give the valid split obj_id and Annotations/ (needed for J and F).")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Rendering processes (the output does not depend on it)  [default: one "
                   "per CPU].")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def synth(out, videos, train_videos, frames, size, seed, valid_gt, workers, overwrite, quiet):
    """Generate a synthetic source in the Ref-Youtube-VOS layout at OUT.

    Splits train and valid: JPEG frames, palette-PNG annotations, meta.json with the shape
    categories, and meta_expressions.json whose expressions each refer to one object.
    """
    from datasets_builder.synth import SynthConfig, write_source

    _refuse_existing(out, overwrite)
    cfg = SynthConfig(videos=videos, train_videos=train_videos, frames=frames,
                      height=size[0], width=size[1], seed=seed, valid_ground_truth=valid_gt)
    write_source(out, cfg, overwrite=overwrite, progress=progress_enabled(quiet),
                 workers=workers)
    click.echo(f"wrote {out}: {videos} valid + {cfg.count('train')} train videos, "
               f"{frames} frames of {size[0]}x{size[1]}")


def _refuse_existing(out: str, overwrite: bool) -> None:
    from pathlib import Path

    from r2bench.errors import R2BenchError

    if Path(out).exists() and not overwrite:
        raise R2BenchError(out, "already exists (use --overwrite to replace it)")


@main.command("build-dataset")
@click.argument("source", type=click.Path(file_okay=False))
@click.option("--split", required=True, help="Split of SOURCE to extend (e.g. valid).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder to create for the R2 dataset.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Fixes the permutation; the same inputs and seed give the same bytes.")
@click.option("--strategy", type=click.Choice(["random", "object"]), default="random",
              show_default=True,
              help="How negatives are drawn: random, a seeded valid shuffle of the videos; "
                   "object, each expression's own video with its category words replaced by "
                   "categories absent from it (hard negatives; expressions without an object "
                   "word are left out and counted).")
@click.option("--link", type=click.Choice(["symlink", "hardlink", "copy"]), default="symlink",
              show_default=True, help="How positive/ and negative/ refer to the source frames "
                                      "(symlinks are absolute).")
@click.option("--categories", "categories", type=click.Path(dir_okay=False), default=None,
              help="Categories per object, for sources whose split has no meta.json "
                   "(Youtube-VOS meta.json or {VID: {OBJ_ID: category}}, e.g. Ref-DAVIS17).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def build_dataset(source, split, out, seed, strategy, link, categories, overwrite, quiet):
    """Build the R2 dataset of SOURCE's split: each expression with its video (positive)
    and one unrelated negative video from a shuffle of the videos (the layout:
    docs/formats.md)."""
    from datasets_builder.build import build_dataset as build

    result = build(source, split, out, seed=seed, link=link, categories=categories,
                   overwrite=overwrite, progress=progress_enabled(quiet), strategy=strategy)
    click.echo(result.report.summary())


@main.command("verify-dataset")
@click.argument("dataset", type=click.Path(file_okay=False))
def verify_dataset(dataset):
    """Re-check an R2 dataset: permutation, unrelatedness, frame lists and links."""
    from datasets_builder.verify import verify_dataset as verify

    click.echo(verify(dataset).summary())
