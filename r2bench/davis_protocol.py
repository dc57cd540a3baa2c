"""The Ref-DAVIS17 protocol: Ref-DAVIS numbers scored the way published ones are.

Published Ref-DAVIS17 results (ReferFormer, R2-VOS and the methods they compare with) come
from ReferFormer's ``inference_davis.py`` followed, once per run, by the DAVIS 2017
*unsupervised* evaluation (davisvideochallenge/davis2017-evaluation, ``evaluation.py``):

1. Runs and merging. Run k (0: annotator 1 first-frame, 1: annotator 1 full-video,
   2: annotator 2 first-frame, 3: annotator 2 full-video) takes expression ``4 p + k`` of
   every object position p of a video (`datasets_builder.refdavis` numbers them so), and the
   run's masks become one indexed mask per frame, value p + 1. Where masks overlap the lowest
   position wins: upstream takes an argmax over the objects' scores, which breaks ties
   towards the first object.
2. Proposals and objects. Proposal i holds the pixels of value i, for i = 1 .. the largest
   value in any frame of the run (at most 20); the ground-truth objects are 1 .. the largest
   value of the *first* annotation frame; 255 is void. Empty proposals are added while there
   are fewer proposals than objects.
3. J and F of every (proposal, object) pair on every frame with void pixels removed from both
   masks: upstream leaves void out of the IoU's sums and multiplies both masks by not-void
   before finding boundaries, which is what zeroing void in both masks gives. The per-frame
   values come from `r2bench.metrics.jf_per_frame`.
4. Assignment. ``scipy.optimize.linear_sum_assignment`` maximises the summed mean of J and F
   over matched pairs; every object gets a proposal, an unmatched object an empty one.
5. Statistics. Per object, J and F are means over frames (recall and decay as upstream's
   ``db_statistics``); a run's J and F are means over all objects of all videos; the J, F and
   J&F reported are the means over the four runs.

Predictions come in our per-expression layout (``VID/EXP_ID/FRAME.png``, merged as in 1.) or
in the layout ReferFormer's Ref-DAVIS inference writes: ``anno_0`` .. ``anno_3/VID/FRAME.png``
(or the ``Davis17_annot1`` .. names other codebases use), one indexed mask per frame.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from r2bench import __version__
from r2bench.dataset import is_r2_dataset, load_eval_dataset
from r2bench.davis_stats import db_statistics
from r2bench.errors import DatasetError, SubmissionError
from r2bench.measures import DECISION_KEYS, measure_values
from r2bench.metrics import DEFAULT_BOUND_TH, jf_per_frame
from r2bench.refytvos import RefYTVOSRoot, VideoMeta, image_size, read_annotations
from r2bench.results import RESULTS_FORMAT
from r2bench.submission import (
    Locator,
    check_complete,
    open_submission,
    read_index_mask,
    read_mask,
)
from r2bench.workers import imap, resolve_workers

log = logging.getLogger(__name__)

PROTOCOL = "ref-davis"
N_RUNS = 4
# Run k's folder names: ReferFormer's inference_davis.py, then other codebases' names.
RUN_FOLDERS = (("anno_0", "Davis17_annot1"), ("anno_1", "Davis17_annot1_full_video"),
               ("anno_2", "Davis17_annot2"), ("anno_3", "Davis17_annot2_full_video"))
RUN_NAMES = tuple(names[1] for names in RUN_FOLDERS)
MAX_PROPOSALS = 20   # upstream refuses more objects in a predicted frame
VOID = 255

Layers = tuple[tuple[Locator | None, ...], ...]   # [layer][frame]


@dataclass(frozen=True)
class VideoUnit:
    """One video's four runs. With ``indexed``, each run has one layer of indexed-mask
    locators; otherwise one layer of binary-mask locators per object position."""

    video: str
    frames: tuple[str, ...]
    size: tuple[int, int]
    gt: tuple[str, ...]
    runs: tuple[Layers, ...]
    indexed: bool
    bound_th: float


@dataclass(frozen=True)
class ObjectScore:
    """One ground-truth object of one run after the assignment.

    ``proposal`` is the matched predicted object number, None when only an added empty
    proposal was left; ``j`` and ``f`` are float64 (T,) per-frame values; ``area`` counts the
    matched proposal's pixels outside void over all frames.
    """

    run: int
    video: str
    object: int
    proposal: int | None
    j: np.ndarray
    f: np.ndarray
    area: int


def gt_object_count(gt_ids: np.ndarray) -> int:
    """Objects of a (T, H, W) annotation stack: the largest non-void id of its first frame."""
    first = gt_ids[0]
    ids = first[first != VOID]
    return int(ids.max()) if ids.size else 0


def merge_layers(masks: list[np.ndarray]) -> np.ndarray:
    """Binary (H, W) masks per object position -> one (H, W) uint8 indexed mask, value
    position + 1, the lowest position winning where masks overlap."""
    out = np.zeros(masks[0].shape, np.uint8)
    for p in range(len(masks) - 1, -1, -1):   # painting the highest first leaves p=0 on top
        out[masks[p]] = p + 1
    return out


def _pred_ids(unit: VideoUnit, run: int) -> np.ndarray:
    """(T, H, W) uint8 object numbers of one run; a missing frame is empty."""
    out = np.zeros((len(unit.frames), *unit.size), np.uint8)
    layers = unit.runs[run]
    for t, frame in enumerate(unit.frames):
        where = f"run {run} {unit.video}/{frame}"
        if unit.indexed:
            loc = layers[0][t]
            if loc is not None:
                out[t] = read_index_mask(loc, unit.size, where)
            continue
        empty = np.zeros(unit.size, bool)
        out[t] = merge_layers([empty if layer[t] is None else
                               read_mask(layer[t], unit.size, where) for layer in layers])
    return out


def assign_objects(gt_ids: np.ndarray, pred_ids: np.ndarray, bound_th: float,
                   where: str = "") -> list[tuple[int, int | None, np.ndarray, np.ndarray, int]]:
    """The DAVIS unsupervised evaluation of one video and run.

    ``gt_ids`` and ``pred_ids``: (T, H, W) uint8, 0 background, ``gt_ids`` 255 void.
    Returns, per ground-truth object 1..n in order: (object, matched proposal or None,
    J (T,), F (T,), matched proposal's area).
    """
    n_gt = gt_object_count(gt_ids)
    n_prop = int(pred_ids.max())
    if n_prop > MAX_PROPOSALS:
        raise SubmissionError(where or None, f"object number {n_prop} in the predictions: "
                                             f"the DAVIS evaluation allows at most "
                                             f"{MAX_PROPOSALS}")
    n_res = max(n_prop, n_gt)
    T = len(gt_ids)
    j = np.zeros((n_res, n_gt, T))
    f = np.zeros((n_res, n_gt, T))
    area = np.zeros(n_res, np.int64)
    keep = gt_ids != VOID                                    # (T, H, W)
    for r in range(n_res):
        prop = (pred_ids == r + 1) & keep                   # empty for added proposals
        for g in range(n_gt):
            j[r, g], f[r, g], a = jf_per_frame(gt_ids == g + 1, prop, bound_th)
            area[r] = a.sum()
    rows, cols = linear_sum_assignment(-(j.mean(axis=2) + f.mean(axis=2)) / 2)
    matched = dict(zip(cols.tolist(), rows.tolist()))
    out = []
    for g in range(n_gt):
        r = matched[g]
        out.append((g + 1, r + 1 if r < n_prop else None, j[r, g], f[r, g],
                    int(area[r]) if r < n_prop else 0))
    return out


def score_video(unit: VideoUnit) -> list[ObjectScore]:
    """Every run of one video (runs in a worker process)."""
    gt_ids = read_annotations(unit.gt, unit.size)
    out = []
    for run in range(N_RUNS):
        pred = _pred_ids(unit, run)
        for obj, prop, j, f, area in assign_objects(gt_ids, pred, unit.bound_th,
                                                    f"run {run} video {unit.video}"):
            out.append(ObjectScore(run, unit.video, obj, prop, j, f, area))
    return out


def object_positions(meta: VideoMeta, path: Path) -> int:
    """Number of object positions of a converted Ref-DAVIS17 video: exp_ids are 0..4n-1."""
    n = len(meta.expressions) // N_RUNS
    if set(meta.expressions) != {str(i) for i in range(N_RUNS * n)}:
        raise DatasetError(path, f"video {meta.video}: expression ids are not 0..4n-1, so this "
                                 "is not a Ref-DAVIS17 conversion (r2bench convert-davis)")
    return n


def find_run_folders(preds: Path, split: str) -> list[Path] | None:
    """``anno_0``..``anno_3`` (or ``Davis17_annot1``..) in PREDS or PREDS/<split>; None when
    PREDS is not in that layout. A partial set is an error naming the missing run."""
    for base in (preds, preds / split):
        found = [next((base / n for n in names if (base / n).is_dir()), None)
                 for names in RUN_FOLDERS]
        if any(found):
            for names, folder in zip(RUN_FOLDERS, found):
                if folder is None:
                    raise SubmissionError(base, f"run folder {names[0]} (or {names[1]}) missing; "
                                                "the four runs are needed")
            return found
    return None


def _indexed_locators(folders: list[Path], videos: dict[str, VideoMeta],
                      allow_missing: bool) -> tuple[dict[tuple[int, str], Layers], int]:
    """(run, video) -> one layer of frame locators, after checking every frame is there."""
    out: dict[tuple[int, str], Layers] = {}
    missing: list[str] = []
    for run, folder in enumerate(folders):
        # Files beside the videos (the CSVs davis2017-evaluation writes there) are ignored.
        extra = sorted({e.name for e in os.scandir(folder) if e.is_dir()} - set(videos))
        if extra:
            raise SubmissionError(folder / extra[0], "not a video of the dataset")
        for vid, meta in videos.items():
            vdir = folder / vid
            present = set(os.listdir(vdir)) if vdir.is_dir() else set()
            names = {f"{f}.png" for f in meta.frames}
            extra = sorted(n for n in present - names if n.endswith(".png"))
            if extra:
                raise SubmissionError(vdir / extra[0], f"not a frame of video {vid}")
            missing += [str(vdir / n) for n in sorted(names - present)]
            out[(run, vid)] = (tuple(("file", os.fspath(vdir / f"{f}.png"))
                                     if f"{f}.png" in present else None for f in meta.frames),)
    if missing and not allow_missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise SubmissionError(missing[0], f"missing prediction{more} (--allow-missing scores "
                                          "missing frames as empty)")
    return out, len(missing)


def _expression_locators(preds: Path, dataset: Path, split: str, videos: dict[str, VideoMeta],
                         allow_missing: bool) -> tuple[dict[tuple[int, str], Layers], int]:
    """(run, video) -> binary-mask layers of the per-expression layout, one per position."""
    ev = load_eval_dataset(dataset, split)
    sub = open_submission(preds, ev)
    n_missing = check_complete(sub, ev, allow_missing)
    out = {}
    meta_path = RefYTVOSRoot(dataset, split).meta_expressions_path
    for vid, meta in videos.items():
        n = object_positions(meta, meta_path)
        for run in range(N_RUNS):
            out[(run, vid)] = tuple(tuple(sub.frames.get((f"{vid}/{N_RUNS * p + run}", f))
                                          for f in meta.frames) for p in range(n))
    return out, n_missing


def _video_size(root: RefYTVOSRoot, vid: str, frame: str) -> tuple[int, int]:
    jpeg = root.jpeg_path(vid, frame)
    return image_size(jpeg if jpeg.is_file() else root.annotation_path(vid, frame))


def make_video_units(preds: str | os.PathLike, dataset: str | os.PathLike, split: str,
                     allow_missing: bool, bound_th: float) -> tuple[list[VideoUnit], int]:
    """The videos to score, in dataset order, and how many prediction frames are missing."""
    preds, dataset = Path(preds), Path(dataset)
    if is_r2_dataset(dataset):
        raise DatasetError(dataset, "an R2 dataset: the ref-davis protocol scores a converted "
                                    "Ref-DAVIS17 root (--dataset ROOT --split valid)")
    root = RefYTVOSRoot(dataset, split)
    videos = root.load_videos()
    if not root.has_annotations:
        raise DatasetError(root.root / split / "Annotations",
                           "missing: the ref-davis protocol needs the ground truth")
    if not preds.exists():
        raise SubmissionError(preds, "predictions not found")
    folders = find_run_folders(preds, split) if preds.is_dir() else None
    if folders is not None:
        for meta in videos.values():
            object_positions(meta, root.meta_expressions_path)
        layers, n_missing = _indexed_locators(folders, videos, allow_missing)
    else:
        layers, n_missing = _expression_locators(preds, dataset, split, videos, allow_missing)
    units = [VideoUnit(vid, meta.frames, _video_size(root, vid, meta.frames[0]),
                       tuple(os.fspath(root.annotation_path(vid, f)) for f in meta.frames),
                       tuple(layers[(run, vid)] for run in range(N_RUNS)),
                       folders is not None, bound_th)
             for vid, meta in videos.items()]
    return units, n_missing


def _run_videos(units: list[VideoUnit], workers: int, progress: bool) -> list[ObjectScore]:
    """score_video over the units, in unit order whatever the number of workers."""
    bar = tqdm(total=len(units), unit="video", desc="ref-davis", disable=not progress,
               dynamic_ncols=True, leave=False)
    with bar:
        per_video = []
        for scores in imap(score_video, units, workers):
            per_video.append(scores)
            bar.update()
    return [s for scores in per_video for s in scores]


def _pair_entry(s: ObjectScore) -> dict:
    jm, jr, jd = db_statistics(s.j)
    fm, fr, fd = db_statistics(s.f)
    return {"pair_id": f"run{s.run}/{s.video}/{s.object}", "label": "positive", "J": jm,
            "F": fm, "area": s.area, "frames": len(s.j), "run": s.run, "video": s.video,
            "object": s.object, "proposal": s.proposal, "J_recall": jr, "J_decay": jd,
            "F_recall": fr, "F_decay": fd}


def _mean(entries: list[dict], key: str) -> float | None:
    return float(np.mean([e[key] for e in entries])) if entries else None


def _run_summary(run: int, entries: list[dict]) -> dict:
    """One run's values as davis2017-evaluation reports them: means over all objects."""
    j, f = _mean(entries, "J"), _mean(entries, "F")
    return {"run": run, "name": RUN_NAMES[run], **measure_values(j, f, None),
            **{k: _mean(entries, k) for k in ("J_recall", "J_decay", "F_recall", "F_decay")},
            "n_objects": len(entries)}


def summarise_ref_davis(scores: list[ObjectScore], dataset: Path, preds: Path, split: str,
                        n_missing: int, bound_th: float) -> dict:
    """The results record (the results fields of docs/formats.md, ``protocol``, and the four ``runs``)."""
    pairs = [_pair_entry(s) for s in scores]
    runs = [_run_summary(k, [p for p in pairs if p["run"] == k]) for k in range(N_RUNS)]
    warnings_ = []
    j = f = None
    if pairs:
        j = float(np.mean([r["J"] for r in runs]))
        f = float(np.mean([r["F"] for r in runs]))
    else:
        warnings_.append("J and F not available: no ground-truth object in the first "
                         "annotation frame of any video")
    if n_missing:
        warnings_.append(f"{n_missing} missing frames scored as empty masks (--allow-missing)")
    # The pair-level decisions (r2bench.measures) judge one expression's mask; this
    # protocol scores merged object layers, so they are not defined here.
    summary = {**measure_values(j, f, None), **dict.fromkeys(DECISION_KEYS),
               "n_positive": len(pairs), "n_negative": 0,
               "n_frames": sum(p["frames"] for p in pairs), "n_missing_frames": n_missing}
    return {"format": RESULTS_FORMAT, "version": 1, "protocol": PROTOCOL,
            "dataset": os.fspath(dataset.resolve()), "submission": os.fspath(preds.resolve()),
            "split": split, "mode": "rvos", "bound_th": bound_th,
            "r2bench_version": __version__, "summary": summary, "runs": runs,
            "warnings": warnings_, "pairs": pairs}


def score_ref_davis(preds: str | os.PathLike, dataset: str | os.PathLike, split: str,
                    workers: int | None = None, allow_missing: bool = False,
                    progress: bool = False, bound_th: float = DEFAULT_BOUND_TH) -> dict:
    """Score PREDS on a converted Ref-DAVIS17 root with the published protocol.

    Returns the results record: the fields of docs/formats.md (R and J&F&R null), ``"protocol":
    "ref-davis"``, ``runs`` (each run's values) and ``pairs``, one per run, video and
    ground-truth object, ``pair_id`` ``run<k>/<VID>/<OBJ>``.
    """
    units, n_missing = make_video_units(preds, dataset, split, allow_missing, bound_th)
    jf_per_frame(np.zeros((1, 2, 8), bool), np.zeros((1, 2, 8), bool))  # compile before forking
    scores = _run_videos(units, resolve_workers(workers), progress)
    return summarise_ref_davis(scores, Path(dataset), Path(preds), split, n_missing, bound_th)


def run_record(results: dict, run: int) -> dict:
    """The record of one run alone, its pairs named ``VID_OBJ`` as davis2017-evaluation's
    per-sequence table names them: what ``--davis-csv`` writes one folder of CSVs from."""
    pairs = [{**p, "pair_id": f"{p['video']}_{p['object']}"} for p in results["pairs"]
             if p["run"] == run]
    r = results["runs"][run]
    summary = {**results["summary"], **{k: r[k] for k in ("J", "F", "JF")},
               "n_positive": len(pairs), "n_frames": sum(p["frames"] for p in pairs)}
    return {**results, "summary": summary, "runs": [r], "pairs": pairs}


def table_rows(name: str, results: dict) -> list[tuple[str, dict]]:
    """Rows for `r2bench.measures.format_summary_table`: each run, then the mean of the runs."""
    rows = [(f"{name} [{r['name']}]", {"summary": r}) for r in results["runs"]]
    return rows + [(f"{name} [mean of {N_RUNS} runs]", results)]
