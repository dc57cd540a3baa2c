"""Scoring a submission: evaluate per pair, accumulate, summarise (SPEC §3-§5).

Work is cut into units of one video and one label (all expressions of a video share its
decoded ground truth) and spread over worker processes; results are put back in dataset
order, so the output does not depend on the number of workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from r2bench import __version__
from r2bench.dataset import EvalDataset, PairSpec, load_eval_dataset
from r2bench.davis_stats import db_statistics
from r2bench.metrics import DEFAULT_BOUND_TH, jf_per_frame
from r2bench.refytvos import read_annotations
from r2bench.results import PairResult, summarise
from r2bench.submission import (
    Locator,
    Submission,
    check_complete,
    open_submission,
    read_area,
    read_mask,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """One video's pairs of one label, with the locators of their frames (None: missing).

    ``gt`` holds the ground-truth annotation paths of the video's frames when J and F are
    computed for this unit, else None.
    """

    pairs: tuple[PairSpec, ...]
    locators: tuple[tuple[Locator | None, ...], ...]
    gt: tuple[str, ...] | None
    bound_th: float
    decode_only: bool = False


def _pred_stack(pair: PairSpec, locators: tuple[Locator | None, ...]) -> np.ndarray:
    masks = np.zeros((len(pair.frames), *pair.size), dtype=bool)
    for t, (frame, loc) in enumerate(zip(pair.frames, locators)):
        if loc is not None:
            masks[t] = read_mask(loc, pair.size, f"{pair.pair_id}/{frame}")
    return masks


def _score_pair(pair: PairSpec, locators: tuple[Locator | None, ...],
                gt_ids: np.ndarray | None, bound_th: float, decode_only: bool) -> PairResult:
    missing = sum(loc is None for loc in locators)
    if pair.label == "negative" or (gt_ids is None and not decode_only):
        area = sum(read_area(loc, pair.size, f"{pair.pair_id}/{f}")
                   for f, loc in zip(pair.frames, locators) if loc is not None)
        return PairResult(pair.pair_id, pair.label, None, None, area, len(pair.frames), missing)
    pred = _pred_stack(pair, locators)
    if decode_only:
        return PairResult(pair.pair_id, pair.label, None, None, 0, len(pair.frames), missing)
    gt = gt_ids == np.uint8(int(pair.obj_id))  # (T, H, W) bool
    j, f, area = jf_per_frame(gt, pred, bound_th)
    _, j_recall, j_decay = db_statistics(j)
    _, f_recall, f_decay = db_statistics(f)
    return PairResult(pair.pair_id, pair.label, float(j.mean()), float(f.mean()),
                      int(area.sum()), len(pair.frames), missing,
                      j_recall, j_decay, f_recall, f_decay)


def score_unit(unit: Unit) -> list[PairResult]:
    """Score every pair of one unit (runs in a worker process)."""
    gt_ids = None
    if unit.gt is not None and not unit.decode_only:
        gt_ids = read_annotations(unit.gt, unit.pairs[0].size)
    return [_score_pair(p, locs, gt_ids, unit.bound_th, unit.decode_only)
            for p, locs in zip(unit.pairs, unit.locators)]


def make_units(dataset: EvalDataset, sub: Submission, bound_th: float,
               decode_only: bool = False) -> list[Unit]:
    """Group the dataset's pairs into (label, video) units, in dataset order."""
    groups: dict[tuple[str, str], list[PairSpec]] = {}
    for pair in dataset.pairs:
        groups.setdefault((pair.label, pair.video), []).append(pair)
    units = []
    for (label, video), pairs in groups.items():
        gt = None
        if label == "positive" and dataset.gt_root is not None:
            gt = tuple(os.fspath(dataset.gt_root.annotation_path(video, f))
                       for f in pairs[0].frames)
        locs = tuple(tuple(sub.frames.get((p.pair_id, f)) for f in p.frames) for p in pairs)
        units.append(Unit(tuple(pairs), locs, gt, bound_th, decode_only))
    return units


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_units(units: list[Unit], workers: int | None, progress: bool) -> list[PairResult]:
    """Score units over a process pool (inline for one worker); results in unit order."""
    workers = default_workers() if workers is None else workers
    total = sum(len(p.frames) for u in units for p in u.pairs)
    results: list[list[PairResult] | None] = [None] * len(units)
    with tqdm(total=total, unit="frame", disable=not progress, desc="scoring",
              dynamic_ncols=True, leave=False) as bar:
        if workers <= 1 or len(units) <= 1:
            for i, unit in enumerate(units):
                results[i] = score_unit(unit)
                bar.update(sum(len(p.frames) for p in unit.pairs))
        else:
            # Largest units first keeps the workers busy to the end.
            order = sorted(range(len(units)), key=lambda i: -sum(
                len(p.frames) for p in units[i].pairs))
            ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = {pool.submit(score_unit, units[i]): i for i in order}
                try:
                    for fut in cf.as_completed(futures):
                        i = futures[fut]
                        results[i] = fut.result()
                        bar.update(sum(len(p.frames) for p in units[i].pairs))
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
    return [r for unit_results in results for r in unit_results]


def _warm_kernels() -> None:
    """Compile (or load from cache) the metric kernels once, before workers fork."""
    jf_per_frame(np.zeros((1, 2, 8), bool), np.zeros((1, 2, 8), bool))


def score_submission(preds: str | os.PathLike, dataset: str | os.PathLike | EvalDataset,
                     split: str | None = None, workers: int | None = None,
                     allow_missing: bool = False, progress: bool = False,
                     bound_th: float = DEFAULT_BOUND_TH) -> dict:
    """Score a submission against an R2 dataset (or a Ref-YTVOS root with ``split``).

    Returns the SPEC §5 results dictionary. Raises `DatasetError` / `SubmissionError`.
    """
    ds = dataset if isinstance(dataset, EvalDataset) else load_eval_dataset(dataset, split)
    sub = open_submission(preds, ds)
    n_missing = check_complete(sub, ds, allow_missing)
    _warm_kernels()
    pair_results = run_units(make_units(ds, sub, bound_th), workers, progress)
    return summarise(ds, sub, pair_results, n_missing, bound_th, __version__)


def check_submission(preds: str | os.PathLike, dataset: str | os.PathLike | EvalDataset,
                     split: str | None = None, workers: int | None = None,
                     allow_missing: bool = False, progress: bool = False) -> dict:
    """Validate a submission without scoring: completeness, and every frame decoded and
    size-checked. Returns counts: ``{"pairs", "frames", "missing"}``."""
    ds = dataset if isinstance(dataset, EvalDataset) else load_eval_dataset(dataset, split)
    sub = open_submission(preds, ds)
    n_missing = check_complete(sub, ds, allow_missing)
    results = run_units(make_units(ds, sub, DEFAULT_BOUND_TH, decode_only=True), workers,
                        progress)
    return {"pairs": len(results), "frames": sum(r.frames for r in results),
            "missing": n_missing}
