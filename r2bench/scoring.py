"""Scoring a submission: evaluate per pair, accumulate, summarise (docs/formats.md §3-§4).

Work is cut into units of one video and one label (all expressions of a video share its
decoded ground truth) and spread over worker processes; results are put back in dataset
order, so the output does not depend on the number of workers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from r2bench import __version__
from r2bench.dataset import EvalDataset, PairSpec, load_eval_dataset
from r2bench.davis_stats import db_statistics
from r2bench.errors import SubmissionError
from r2bench.measures import is_empty
from r2bench.metrics import DEFAULT_BOUND_TH, frame_scores, jf_per_frame
from r2bench.refytvos import read_annotations
from r2bench.results import PairResult, summarise
from r2bench.submission import (
    Locator,
    Submission,
    check_complete,
    completeness_problems,
    holds_video_tree,
    open_submission,
    read_area,
    read_mask_values,
    zip_labels,
)
from r2bench.workers import imap_unordered, resolve_workers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """One video's pairs of one label, with the locators of their frames (None: missing).

    ``gt`` holds the ground-truth annotation paths of the video's frames when J and F are
    computed for this unit, else None. A pair or frame with at most ``empty_area``
    predicted pixels counts as empty (`r2bench.measures`).
    """

    pairs: tuple[PairSpec, ...]
    locators: tuple[tuple[Locator | None, ...], ...]
    gt: tuple[str, ...] | None
    bound_th: float
    empty_area: int = 0


def _pred_stack(pair: PairSpec, locators: tuple[Locator | None, ...],
                problems: list[SubmissionError] | None = None,
                out: np.ndarray | None = None) -> np.ndarray:
    """(T, H, W) uint8, non-zero = foreground; a missing frame is empty. With ``problems``,
    a frame that cannot be read is added there (and left empty) instead of raising.
    ``out`` is reused when given (the pairs of a video share one buffer: fresh 20-frame HD
    stacks cost more in page faults than in decoding)."""
    masks = np.empty((len(pair.frames), *pair.size), np.uint8) if out is None else out
    for t, (frame, loc) in enumerate(zip(pair.frames, locators)):
        try:
            if loc is None:
                masks[t] = 0
            else:
                masks[t] = read_mask_values(loc, pair.size, f"{pair.pair_id}/{frame}")
        except SubmissionError as e:
            if problems is None:
                raise
            problems.append(e)
            masks[t] = 0
    return masks


def _area_only_pair(pair: PairSpec, locators: tuple[Locator | None, ...],
                    empty_area: int) -> PairResult:
    """A negative pair, or a positive one without ground truth: only predicted areas.

    A negative pair's target is absent from every frame: its union is its area and its
    intersection 0. Without ground truth a positive pair's overlaps are unknown (None).
    """
    areas = [0 if loc is None else read_area(loc, pair.size, f"{pair.pair_id}/{f}")
             for f, loc in zip(pair.frames, locators)]
    area = sum(areas)
    missing = sum(loc is None for loc in locators)
    result = PairResult(pair.pair_id, pair.label, None, None, area, len(pair.frames), missing,
                        empty=is_empty(area, empty_area))
    if pair.label == "positive":
        return result
    return replace(result, intersection=0, union=area, absent_frames=len(areas),
                   absent_frames_empty=sum(is_empty(a, empty_area) for a in areas))


def _score_pair(pair: PairSpec, locators: tuple[Locator | None, ...],
                gt_ids: np.ndarray | None, bound_th: float, empty_area: int = 0,
                buffers: tuple[np.ndarray, np.ndarray] | None = None) -> PairResult:
    """``buffers``: (T, H, W) uint8 and bool scratch for the prediction and the target."""
    if pair.label == "negative" or gt_ids is None:
        return _area_only_pair(pair, locators, empty_area)
    pred_buf, gt_buf = buffers if buffers is not None else (None, None)
    pred = _pred_stack(pair, locators, out=pred_buf)
    gt = np.equal(gt_ids, np.uint8(int(pair.obj_id)), out=gt_buf)  # (T, H, W) bool
    s = frame_scores(gt, pred, bound_th)
    _, j_recall, j_decay = db_statistics(s.j)
    _, f_recall, f_decay = db_statistics(s.f)
    area = int(s.pred_area.sum())
    absent = s.gt_area == 0                                          # (T,) target absent
    inter = int(s.intersection.sum())
    return PairResult(pair.pair_id, pair.label, float(s.j.mean()), float(s.f.mean()),
                      area, len(pair.frames), sum(loc is None for loc in locators),
                      j_recall, j_decay, f_recall, f_decay,
                      empty=is_empty(area, empty_area), intersection=inter,
                      union=int(s.gt_area.sum()) + area - inter,
                      absent_frames=int(absent.sum()),
                      absent_frames_empty=int((absent & (s.pred_area <= empty_area)).sum()))


def score_unit(unit: Unit) -> list[PairResult]:
    """Score every pair of one unit (runs in a worker process)."""
    if unit.gt is None:
        return [_score_pair(p, locs, None, unit.bound_th, unit.empty_area)
                for p, locs in zip(unit.pairs, unit.locators)]
    gt_ids = read_annotations(unit.gt, unit.pairs[0].size)   # (T, H, W) object ids
    buffers = (np.empty(gt_ids.shape, np.uint8), np.empty(gt_ids.shape, bool))
    return [_score_pair(p, locs, gt_ids, unit.bound_th, unit.empty_area, buffers)
            for p, locs in zip(unit.pairs, unit.locators)]


def check_unit(unit: Unit) -> list[SubmissionError]:
    """Decode and size-check every frame of one unit; every problem found.

    Frames are read exactly as the scorer reads them: decoded into a stack where J and F
    are computed, else as far as their foreground area.
    """
    problems: list[SubmissionError] = []
    for pair, locators in zip(unit.pairs, unit.locators):
        if pair.label == "positive" and unit.gt is not None:
            _pred_stack(pair, locators, problems)
            continue
        for frame, loc in zip(pair.frames, locators):
            try:
                if loc is not None:
                    read_area(loc, pair.size, f"{pair.pair_id}/{frame}")
            except SubmissionError as e:
                problems.append(e)
    return problems


def make_units(dataset: EvalDataset, sub: Submission, bound_th: float,
               empty_area: int = 0) -> list[Unit]:
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
        units.append(Unit(tuple(pairs), locs, gt, bound_th, empty_area))
    return units


def _frames(unit: Unit) -> int:
    return sum(len(p.frames) for p in unit.pairs)


def run_units(units: list[Unit], work: Callable[[Unit], list], workers: int | None,
              progress: bool, desc: str = "scoring") -> list:
    """``work`` on every unit over a process pool (inline for one worker), with a progress
    bar in frames; the results in unit order, whatever the worker count."""
    workers = resolve_workers(workers)
    results: list[list | None] = [None] * len(units)
    # Largest units first keeps the workers busy to the end.
    order = sorted(range(len(units)), key=lambda i: -_frames(units[i])) if workers > 1 \
        else list(range(len(units)))
    with tqdm(total=sum(map(_frames, units)), unit="frame", disable=not progress, desc=desc,
              dynamic_ncols=True, leave=False) as bar:
        for k, result in imap_unordered(work, [units[i] for i in order], workers):
            results[order[k]] = result
            bar.update(_frames(units[order[k]]))
    return [r for unit_results in results for r in unit_results]


def _warm_kernels() -> None:
    """Compile (or load from cache) the metric kernels once, before workers fork."""
    jf_per_frame(np.zeros((1, 2, 8), bool), np.zeros((1, 2, 8), bool))


def positives_only(preds: str | os.PathLike, ds: EvalDataset) -> tuple[EvalDataset, str | None]:
    """The dataset to score ``preds`` against, and a warning when it is not ``ds``.

    A zip of ``VID/EXP_ID/FRAME.png`` (the server zip `r2bench pack` writes: positives only)
    given for an R2 dataset is scored for J and F against the dataset's positive root.
    """
    path = Path(preds)
    if ds.mode != "r2" or not (path.is_file() and path.suffix == ".zip") or zip_labels(path):
        return ds, None
    root = ds.path / "positive"
    if not holds_video_tree(path, {p.video for p in ds.pairs}):
        return ds, None            # not a server zip: open_submission says what it holds
    return load_eval_dataset(root, ds.split), (
        f"{path} holds positive predictions only (VID/EXP_ID/FRAME.png, the server zip r2bench "
        f"pack writes): scored for J and F against {root} (split {ds.split}); R needs the "
        "negative predictions too (positive/ and negative/ folders, zips, or both in one zip)")


def score_submission(preds: str | os.PathLike, dataset: str | os.PathLike | EvalDataset,
                     split: str | None = None, workers: int | None = None,
                     allow_missing: bool = False, progress: bool = False,
                     bound_th: float = DEFAULT_BOUND_TH, empty_area: int = 0) -> dict:
    """Score a submission against an R2 dataset (or a Ref-YTVOS root with ``split``).

    A pair or frame with at most ``empty_area`` predicted pixels counts as empty for the
    pair-level decisions (`r2bench.measures`). Returns the results record
    (docs/formats.md §4). Raises `DatasetError` / `SubmissionError`.
    """
    if empty_area < 0:
        raise ValueError(f"empty_area must be >= 0, got {empty_area}")
    ds = dataset if isinstance(dataset, EvalDataset) else load_eval_dataset(dataset, split)
    ds, note = positives_only(preds, ds)
    sub = open_submission(preds, ds)
    n_missing = check_complete(sub, ds, allow_missing)
    _warm_kernels()
    units = make_units(ds, sub, bound_th, empty_area)
    pair_results = run_units(units, score_unit, workers, progress)
    results = summarise(ds, sub, pair_results, n_missing, bound_th, __version__, empty_area)
    if note:
        results["warnings"].insert(0, note)
    return results


@dataclass(frozen=True)
class CheckReport:
    """What `check_submission` found: counts, and every problem (empty when it passes)."""

    pairs: int
    frames: int
    missing: int
    problems: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def check_submission(preds: str | os.PathLike, dataset: str | os.PathLike | EvalDataset,
                     split: str | None = None, workers: int | None = None,
                     allow_missing: bool = False, progress: bool = False) -> CheckReport:
    """Validate a submission without scoring: completeness, and every frame decoded and
    size-checked. Unlike scoring, it does not stop at the first problem: every problem is
    in the report. Raises only when the submission or the dataset cannot be opened."""
    ds = dataset if isinstance(dataset, EvalDataset) else load_eval_dataset(dataset, split)
    ds, note = positives_only(preds, ds)
    sub = open_submission(preds, ds)
    problems, n_missing = completeness_problems(sub, ds, allow_missing)
    problems += run_units(make_units(ds, sub, DEFAULT_BOUND_TH), check_unit, workers,
                          progress, desc="checking")
    return CheckReport(len(ds.pairs), sum(len(p.frames) for p in ds.pairs), n_missing,
                       tuple(map(str, problems)), (note,) if note else ())
