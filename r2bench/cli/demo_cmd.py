"""``r2bench demo``: the README's flow end to end on a synthetic source.

synth -> build-dataset -> score three reference submissions made from the ground truth,
then print the leaderboard beside the published R2-Youtube-VOS rows. The library lives in
``r2bench.app.demo``.
"""

from __future__ import annotations

import os
import shutil

import click

from r2bench.cli.main import main, overwrite_option, progress_enabled, refuse_existing


def _new_folder(ctx, param, value: str | None) -> str | None:
    """The folder above --out must exist (it is not created)."""
    from pathlib import Path

    if value is not None and not Path(value).parent.is_dir():
        raise click.BadParameter(f"folder {Path(value).parent} does not exist (it is not "
                                 "created)")
    return value


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default=None, callback=_new_folder,
              help="Keep everything in this new folder  [default: a temporary folder, "
                   "removed at the end].")
@click.option("--videos", type=click.IntRange(2), default=24, show_default=True,
              help="Videos in the synthetic valid split.")
@click.option("--frames", type=click.IntRange(1, 1000), default=8, show_default=True,
              help="Frames per video.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for synth and build.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Scoring processes  [default: the scorer's choice].")
@overwrite_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def demo(out, videos, frames, seed, workers, overwrite, quiet):
    """Synthesise a source, build its R2 dataset, score three reference submissions
    (oracle, an R-VOS-style oracle that always segments something, all empty) and print
    the leaderboard beside the paper's R2-Youtube-VOS rows."""
    from r2bench.app.demo import DemoConfig, run_demo

    refuse_existing(out, overwrite=overwrite)
    cfg = DemoConfig(videos=videos, frames=frames, seed=seed, workers=workers)
    if out is not None and overwrite and os.path.lexists(out):
        # Removed first, not swapped in: the R2 dataset inside links to the source beside it
        # by absolute path, so the folder cannot be built elsewhere and renamed.
        if os.path.isdir(out) and not os.path.islink(out):
            shutil.rmtree(out)
        else:
            os.unlink(out)
    click.echo(run_demo(cfg, out=out, progress=progress_enabled(quiet)))
    if out is not None:
        click.echo(f"kept everything in {out}: source/ (synthetic Ref-YTVOS source), r2/ "
                   "(R2 dataset), submissions/ and results/ (one results JSON each)")
