"""``r2bench codabench``: a Codabench competition bundle for an R2 dataset."""

from __future__ import annotations

from pathlib import Path

import click

from r2bench.cli.main import main


@main.command()
@click.option("--dataset", required=True, type=click.Path(path_type=str),
              help="The R2 dataset, with ground truth (the hidden reference data).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The bundle zip to write (atomically).")
@click.option("--title", default=None, help="The competition's title.")
@click.option("--phases", default=None, metavar="NAME=DATE,...",
              help="Phases and their starts, in order, e.g. Development=2026-01-05,"
                   "Final=2026-03-01 (each ends where the next starts; the last never "
                   "ends)  [default: Test=2026-01-01].")
@click.option("--docker-image", default=None,
              help="The image the scoring program runs in  [default: "
                   "r2bench/scoring:VERSION, to build from the bundle's docker/Dockerfile].")
@click.option("--time-limit", "time_limit", type=click.IntRange(min=60), default=3600,
              show_default=True, help="Seconds a submission may take to score.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def codabench(dataset, out, title, phases, docker_image, time_limit, overwrite):
    """Write a Codabench competition bundle for the R2 dataset: competition.yaml, the
    ground truth as reference data, a scoring program that runs r2bench's scorer on a
    submission zip (positive/ and negative/ at its root, as pack --labels both writes it)
    and reports J, F, J&F, R, J&F&R and N-acc, pages and a starting kit. Nothing is
    uploaded."""
    from dataclasses import replace

    from r2bench.codabench import BundleConfig, parse_phases, write_bundle
    from r2bench.errors import R2BenchError

    cfg = BundleConfig(execution_time_limit=time_limit)
    if title is not None:
        cfg = replace(cfg, title=title)
    if docker_image is not None:
        cfg = replace(cfg, docker_image=docker_image)
    if phases is not None:
        try:
            cfg = replace(cfg, phases=parse_phases(phases))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--phases") from None
    if Path(out).exists() and not overwrite:
        raise R2BenchError(out, "already exists (use --overwrite to replace it)")
    if not Path(out).resolve().parent.is_dir():
        raise click.BadParameter(f"folder {Path(out).parent} does not exist (it is not "
                                 "created)", param_hint="--out")
    click.echo(write_bundle(dataset, out, cfg).summary())
