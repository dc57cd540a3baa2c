"""``r2bench score`` and ``r2bench check``: evaluate or validate submissions."""

from __future__ import annotations

import re
from pathlib import Path

import click

from r2bench.cli.main import CommandError, main, progress_enabled

_dataset = click.option("--dataset", "dataset", required=True, type=click.Path(path_type=str),
                        help="R2 dataset folder (with r2_meta.json) or a Ref-YTVOS root.")
_split = click.option("--split", default=None,
                      help="Split of a Ref-YTVOS root (e.g. valid); an R2 dataset has its own.")
_workers = click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Worker processes [default: all cores].")
_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
SHOWN_PROBLEMS = 20   # problems `check` lists before "and N more"


def _load_dataset(dataset: str, split: str | None):
    """Open --dataset; say so when --split was given to an R2 dataset, which has its own."""
    from r2bench.dataset import R2_META, load_eval_dataset

    ds = load_eval_dataset(dataset, split)
    if split is not None and ds.mode == "r2":
        click.echo(f"r2bench: warning: --split {split} is not needed: {dataset} is an R2 "
                   f"dataset, whose split is in its {R2_META} (it matches)", err=True)
    return ds


def _names(preds: tuple[str, ...], names: tuple[str, ...]) -> list[str]:
    """One table name per submission: the --name given for it, else PREDS as typed."""
    if names and len(names) != len(preds):
        raise click.BadParameter(f"given {len(names)} times for {len(preds)} PREDS: give it "
                                 "once per PREDS, or not at all", param_hint="--name")
    return list(names) or list(preds)


def _file_stem(name: str) -> str:
    """A results file name for a submission: its name's last part, without .zip/.json."""
    stem = Path(name.rstrip("/")).name
    stem = re.sub(r"\.(zip|json)$", "", stem)
    return re.sub(r"[^\w.+-]+", "_", stem).strip(".") or "submission"


def _results_paths(out: str | None, names: list[str]) -> list[Path] | None:
    """Where each results file goes; checked before any scoring starts.

    One PREDS: ``--out`` is the file. Several: ``--out`` is a folder (created if absent)
    holding ``<name>.json`` per submission. Folders above it are never created.
    """
    if out is None:
        return None
    out_path = Path(out)
    if len(names) == 1:
        if out_path.is_dir():
            raise click.BadParameter(f"{out} is a folder; give a file name (results.json)",
                                     param_hint="--out")
        folder, paths = out_path.parent, [out_path]
    else:
        if out_path.exists() and not out_path.is_dir():
            raise click.BadParameter(f"{out} is a file; with several PREDS, --out is a folder "
                                     "that gets one NAME.json per submission",
                                     param_hint="--out")
        folder, paths = out_path.parent, [out_path / f"{_file_stem(n)}.json" for n in names]
        dupes = sorted({p.name for p in paths if paths.count(p) > 1})
        if dupes:
            raise click.BadParameter(f"two submissions would both write {out_path / dupes[0]}; "
                                     "give each a distinct --name", param_hint="--out")
    if not folder.is_dir():
        raise click.BadParameter(f"folder {folder} does not exist (it is not created)",
                                 param_hint="--out")
    return paths


@main.command()
@click.argument("preds", nargs=-1, required=True, type=click.Path(path_type=str))
@_dataset
@_split
@click.option("--out", type=click.Path(path_type=str), default=None,
              help="Write the results JSON to this file (atomically). With several PREDS, a "
                   "folder (created if absent) that gets one NAME.json per submission.")
@_workers
@click.option("--allow-missing", is_flag=True,
              help="Score missing frames as empty masks and report how many.")
@click.option("--name", "names", multiple=True,
              help="Name of a submission in the table and its results file; once per PREDS, "
                   "in order  [default: PREDS as given].")
@_quiet
def score(preds, dataset, split, out, workers, allow_missing, names, quiet):
    """Score PREDS (PNG trees, zips or RLE JSON files) for J, F, J&F, R and J&F&R: one
    table row per submission, all against the same dataset."""
    from r2bench.report import format_summary_table
    from r2bench.results import write_results
    from r2bench.scoring import score_submission

    names = _names(preds, names)
    paths = _results_paths(out, names)
    ds = _load_dataset(dataset, split)
    rows = []
    for sub, name in zip(preds, names):
        results = score_submission(sub, ds, workers=workers, allow_missing=allow_missing,
                                   progress=progress_enabled(quiet))
        for w in results["warnings"]:
            where = f"{name}: " if len(preds) > 1 else ""
            click.echo(f"r2bench: warning: {where}{w}", err=True)
        rows.append((name, results))
    if paths is not None:
        if len(paths) > 1:
            paths[0].parent.mkdir(exist_ok=True)
        for path, (_, results) in zip(paths, rows):
            write_results(path, results)
    click.echo(format_summary_table(rows))
    for path in paths or ():
        click.echo(f"wrote {path}")


@main.command()
@click.argument("preds", type=click.Path(path_type=str))
@_dataset
@_split
@_workers
@click.option("--allow-missing", is_flag=True,
              help="Accept missing frames and report how many, instead of listing each as "
                   "a problem.")
@_quiet
def check(preds, dataset, split, workers, allow_missing, quiet):
    """Validate PREDS without scoring: every pair and frame there, decodable, right size.

    Every problem is listed (how many, then the first 20); the exit status is 2 if any.
    """
    from r2bench.scoring import check_submission
    from r2bench.wording import plural

    report = check_submission(preds, _load_dataset(dataset, split), workers=workers,
                              allow_missing=allow_missing, progress=progress_enabled(quiet))
    if report.problems:
        n = len(report.problems)
        head = f"{preds}: {plural(n, 'problem')}"
        lines = [head + (f", the first {SHOWN_PROBLEMS}:" if n > SHOWN_PROBLEMS else ":")]
        lines += [f"  {p}" for p in report.problems[:SHOWN_PROBLEMS]]
        if n > SHOWN_PROBLEMS:
            lines.append(f"  ... and {n - SHOWN_PROBLEMS} more")
        raise CommandError("\n".join(lines), 2)
    missing = f", {report.missing} missing" if report.missing else ""
    click.echo(f"ok: {plural(report.pairs, 'pair')}, {plural(report.frames, 'frame')}{missing}")
