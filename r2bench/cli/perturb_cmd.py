"""``r2bench perturb``: a reproducible perturbed copy of a source split (R2-Bench's visual
and textual perturbations). The library lives in ``datasets_builder.perturb``."""

from __future__ import annotations

import click

from r2bench.cli.main import main, progress_enabled

_SEVERITIES = ("1", "2", "3", "4", "5", "dyn", "all")


def _severity(ctx, param, value: str) -> int | str:
    if value not in _SEVERITIES:
        raise click.BadParameter(f"expected 1..5, dyn or all, got {value!r}")
    return int(value) if value.isdigit() else value


@main.command()
@click.argument("source", type=click.Path(file_okay=False))
@click.option("--split", required=True, help="Split of SOURCE to perturb (e.g. valid).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder to create: a source in the same layout, plus perturb.json.")
@click.option("--severity", default="3", show_default=True, callback=_severity,
              help="1..5; dyn: visual severity drawn per frame from 1, 3, 5 (the release's "
                   "_dyn); all: one severity in 1..5 drawn per video and per expression.")
@click.option("--types", "types", multiple=True, default=("all",), show_default=True,
              help="Perturbations to draw from, comma-separated or repeated: names "
                   "(gaussian_noise, fog, misspell, ...) or groups (all, visual, text, noise, "
                   "blur, weather, digital).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The same source, options and seed give the same bytes.")
@click.option("--keep-categories", is_flag=True,
              help="Never touch words naming a category (synonyms and plurals included), so "
                   "R2 negatives built from the output stay unrelated.")
@click.option("--categories", "categories", type=click.Path(dir_okay=False), default=None,
              help="Categories per object for --keep-categories, when the split has no "
                   "meta.json (Youtube-VOS meta.json or {VID: {OBJ_ID: category}}).")
@click.option("--link", type=click.Choice(["symlink", "hardlink", "copy"]), default="symlink",
              show_default=True,
              help="How annotations and frames left clean refer to the source.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (the output does not depend on it)  [default: all cores].")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def perturb(source, split, out, severity, types, seed, keep_categories, categories, link,
            workers, overwrite, quiet):
    """Perturb SOURCE's split: one ImageNet-C corruption per video and a textual
    perturbation per expression (40% visual, 40% text, 20% both per video), seeded."""
    from datasets_builder.perturb.catalog import parse_types
    from datasets_builder.perturb.driver import PerturbConfig, perturb_source

    cfg = PerturbConfig(severity=severity, types=parse_types(types), seed=seed,
                        keep_categories=keep_categories)
    result = perturb_source(source, split, out, cfg, link=link, categories=categories,
                            overwrite=overwrite, workers=workers,
                            progress=progress_enabled(quiet))
    click.echo(result.summary())
