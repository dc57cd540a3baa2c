"""``r2bench score`` and ``r2bench check``: evaluate or validate submissions."""

from __future__ import annotations

import re
from pathlib import Path

import click

from r2bench.cli.main import (
    CommandError,
    main,
    overwrite_option,
    progress_enabled,
    refuse_existing,
)

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


def _per_preds(preds: tuple[str, ...], values: tuple[str, ...], option: str) -> list:
    """An option given once for all PREDS or once per PREDS; None for each when absent."""
    if not values:
        return [None] * len(preds)
    if len(values) == 1:
        return list(values) * len(preds)
    if len(values) != len(preds):
        raise click.BadParameter(f"given {len(values)} times for {len(preds)} PREDS: give it "
                                 "once, once per PREDS, or not at all", param_hint=option)
    return list(values)


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
              help="Method name of a submission, shown in the table and by the leaderboard "
                   "and naming its results file; once per PREDS, in order  [default: PREDS "
                   "as given].")
@click.option("--backbone", "backbones", multiple=True,
              help="Backbone (e.g. ResNet-50), stored in the results for the leaderboard; "
                   "once for all PREDS or once per PREDS.")
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
                                 "anno_0..anno_3, with --protocol ref-davis; one folder per "
                                 "submission NAME with several PREDS).")
@click.option("--empty-area", "empty_area", type=click.IntRange(min=0), default=0,
              show_default=True, metavar="PIXELS",
              help="A pair (or frame) with at most PIXELS predicted foreground pixels counts "
                   "as empty for N-acc, T-acc, gIoU and frame N-acc.")
@overwrite_option
@_quiet
def score(preds, dataset, split, out, workers, allow_missing, names, backbones,
          by_perturbation, clean, protocol, davis_csv, empty_area, overwrite, quiet):
    """Score PREDS (PNG trees, zips or RLE JSON files) for J, F, J&F, R and J&F&R, and the
    pair-level decisions N-acc, T-acc, gIoU, cIoU and frame N-acc: one table row per
    submission, all against the same dataset."""
    from r2bench.measures import COLUMNS, DECISION_COLUMNS, format_summary_table
    from r2bench.results import name_submission, write_results
    from r2bench.scoring import score_submission

    given_names = _names(preds, names) if names else [None] * len(preds)
    names = _names(preds, names)
    backbones = _per_preds(preds, backbones, "--backbone")
    paths = _results_paths(out, names)
    csv_dirs = _davis_csv_dirs(davis_csv, names)
    refuse_existing(*(paths or ()), *_davis_csv_files(csv_dirs, protocol), overwrite=overwrite)
    if protocol == "ref-davis":
        if split is None:
            raise click.UsageError("--protocol ref-davis needs --split (e.g. valid)")
        if by_perturbation or clean:
            raise click.UsageError("--by-perturbation goes with --protocol per-expression")
        if empty_area:
            raise click.UsageError("--empty-area goes with --protocol per-expression (the "
                                   "Ref-DAVIS protocol has no pair-level decisions)")
    else:
        ds = _load_dataset(dataset, split)
    by = None
    if by_perturbation or clean:
        from r2bench.by_perturbation import open_by_perturbation
        by = open_by_perturbation(dataset, split, clean)
    rows, records = [], []
    for sub, name, method, backbone in zip(preds, names, given_names, backbones):
        if protocol == "ref-davis":
            from r2bench.davis_protocol import score_ref_davis, table_rows

            results = score_ref_davis(sub, dataset, split, workers=workers,
                                      allow_missing=allow_missing,
                                      progress=progress_enabled(quiet))
        else:
            results = score_submission(sub, ds, workers=workers, allow_missing=allow_missing,
                                       progress=progress_enabled(quiet),
                                       empty_area=empty_area)
        results = name_submission(results, method, backbone)
        for w in results["warnings"]:
            where = f"{name}: " if len(preds) > 1 else ""
            click.echo(f"r2bench: warning: {where}{w}", err=True)
        if by is not None:
            by.add(results)
        rows += table_rows(name, results) if protocol == "ref-davis" else [(name, results)]
        records.append((name, results))
    if paths is not None:
        if len(paths) > 1:
            paths[0].parent.mkdir(exist_ok=True)
        for path, (_, results) in zip(paths, records):
            write_results(path, results)
    for where, (_, results) in zip(csv_dirs, records):
        _write_davis_csv(where, results)
    click.echo(format_summary_table(rows, COLUMNS + DECISION_COLUMNS))
    for name, results in records:
        if "by_perturbation" in results:
            from r2bench.by_perturbation import format_perturbation_table
            title = f"{name}:\n" if len(records) > 1 else ""
            click.echo(f"\n{title}" + format_perturbation_table(results["by_perturbation"]))
    for path in paths or ():
        click.echo(f"wrote {path}")
    for where in csv_dirs:
        click.echo(f"wrote davis2017-evaluation CSVs to {where}")


def _davis_csv_dirs(davis_csv: str | None, names: list[str]) -> list[Path]:
    """Where --davis-csv puts each submission's CSVs: DIR, or DIR/NAME with several."""
    if not davis_csv:
        return []
    if len(names) == 1:
        return [Path(davis_csv)]
    return [Path(davis_csv) / _file_stem(n) for n in names]


def _davis_csv_files(dirs: list[Path], protocol: str) -> list[Path]:
    """Every CSV file --davis-csv will write into ``dirs``."""
    from r2bench.davis_stats import GLOBAL_CSV, PER_SEQUENCE_CSV

    if protocol == "ref-davis":
        from r2bench.davis_protocol import RUN_FOLDERS

        dirs = [d / folder for d in dirs for folder, _ in RUN_FOLDERS]
    return [d / name for d in dirs for name in (GLOBAL_CSV, PER_SEQUENCE_CSV)]


def _write_davis_csv(out_dir: Path, results: dict) -> None:
    """davis2017-evaluation's CSVs: in ``out_dir``, or ``out_dir/anno_<k>`` per Ref-DAVIS run."""
    from r2bench.davis_stats import write_davis_csv

    if results.get("protocol") != "ref-davis":
        write_davis_csv(out_dir, results)
        return
    from r2bench.davis_protocol import RUN_FOLDERS, run_record

    for run, (folder, _) in enumerate(RUN_FOLDERS):
        write_davis_csv(out_dir / folder, run_record(results, run))


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
    for w in report.warnings:
        click.echo(f"r2bench: warning: {w}", err=True)
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
