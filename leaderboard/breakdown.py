"""Measures by target category and by target size, from the dataset the results were scored on.

Every pair belongs to the group of its expression: a negative pair ``negative/VID/EXP`` goes
with the positive pair ``positive/VID/EXP``, so R of a group is the false alarm of that
group's expressions against their positive foreground.

- category: the category of the expression's target object (``videos.VID.objects`` of
  ``r2_meta.json``, or the split's ``meta.json`` for a plain root), "unknown" without one;
- size: the mean ground-truth area of the target over the frames where it is present, as a
  fraction of the frame: small below 1%, large from 10%, medium between; "absent" when the
  target is in no frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from leaderboard.bootstrap import metrics_from_sums, pair_sums
from leaderboard.records import ScoredSubmission
from leaderboard.table import Cell, Column, Row, Table
from r2bench.dataset import EvalDataset, R2Meta, load_eval_dataset
from r2bench.measures import MEASURES
from r2bench.refytvos import read_annotations

SIZE_BINS = ((0.01, "small"), (0.10, "medium"), (float("inf"), "large"))
SIZE_ORDER = ("small", "medium", "large", "absent")
BY = ("category", "size")


def expression_key(pair_id: str) -> str:
    """``positive/VID/EXP`` and ``negative/VID/EXP`` -> ``VID/EXP`` (plain ``VID/EXP`` kept)."""
    parts = pair_id.split("/")
    return "/".join(parts[-2:])


def _r2_categories(meta: R2Meta) -> dict[str, str]:
    out = {}
    for p in meta.pairs:
        if p.label != "positive":
            continue
        video = meta.videos.get(p.source_video)
        objects = video.objects if video is not None else {}
        out[expression_key(p.pair_id)] = objects.get(p.obj_id, "unknown")
    return out


def _plain_categories(ds: EvalDataset) -> dict[str, str]:
    from r2bench.refytvos import RefYTVOSRoot

    root = RefYTVOSRoot(ds.path, ds.split)
    objects = root.load_categories() if root.categories_path.is_file() else {}
    return {expression_key(p.pair_id): objects.get(p.video, {}).get(str(p.obj_id), "unknown")
            for p in ds.pairs}


def category_groups(ds: EvalDataset) -> dict[str, str]:
    """Expression key -> target category."""
    return _r2_categories(ds.r2) if ds.r2 is not None else _plain_categories(ds)


def size_class(fraction: float | None) -> str:
    """small / medium / large by the mean area fraction; "absent" for None."""
    if fraction is None:
        return "absent"
    return next(name for limit, name in SIZE_BINS if fraction < limit)


def size_groups(ds: EvalDataset) -> dict[str, str]:
    """Expression key -> size class of its target (each video's annotations decoded once)."""
    if ds.gt_root is None:
        from r2bench.errors import DatasetError

        raise DatasetError(ds.path, f"no sizes without ground truth: {ds.gt_missing}")
    out, cache = {}, {}
    for p in ds.pairs:
        if p.label != "positive":
            continue
        if p.video not in cache:
            cache[p.video] = read_annotations(
                [ds.gt_root.annotation_path(p.video, f) for f in p.frames], p.size)
        target = cache[p.video] == np.uint8(int(p.obj_id))            # (T, H, W)
        areas = target.sum(axis=(1, 2))
        present = areas[areas > 0]
        frac = float(present.mean()) / (p.size[0] * p.size[1]) if present.size else None
        out[expression_key(p.pair_id)] = size_class(frac)
    return out


def pair_groups(dataset: str | os.PathLike, by: str, split: str | None = None) -> dict[str, str]:
    """Expression key -> group, for ``by`` in BY."""
    ds = load_eval_dataset(dataset, split)
    return category_groups(ds) if by == "category" else size_groups(ds)


@dataclass(frozen=True)
class GroupScores:
    group: str
    n_positive: int
    values: dict[str, float | None]


def group_scores(results: dict, groups: dict[str, str]) -> list[GroupScores]:
    """The measures of each group of a results record, groups in a stable order."""
    members: dict[str, list[dict]] = {}
    for p in results["pairs"]:
        members.setdefault(groups.get(expression_key(p["pair_id"]), "unknown"), []).append(p)
    has_r = results["summary"].get("R") is not None
    out = []
    for g in sorted(members, key=lambda g: (SIZE_ORDER.index(g) if g in SIZE_ORDER else 9, g)):
        pairs = members[g]
        has_jf = all(p.get("J") is not None for p in pairs if p["label"] == "positive")
        m = metrics_from_sums(pair_sums(pairs), has_jf, has_r)
        values = {k: (float(v) if np.isfinite(v) else None)
                  for k, v in zip(MEASURES, m)}
        out.append(GroupScores(g, sum(p["label"] == "positive" for p in pairs), values))
    return out


def breakdown_table(subs: list[ScoredSubmission], groups: dict[str, str], by: str) -> Table:
    """One row per (submission, group); no best values (groups are not competitors)."""
    from leaderboard.board import COLUMNS, measure_reasons

    title = "Category" if by == "category" else "Size"
    columns = (COLUMNS[0], Column("group", title, title, "text", None),
               Column("n", "Pairs", "Pairs", "count", None),
               *(Column(c.key, c.title, c.latex, better=None) for c in COLUMNS[2:7]))
    rows = []
    for sub in subs:
        why = measure_reasons(sub.results)
        for gs in group_scores(sub.results, groups):
            cells = {"method": Cell(sub.method), "group": Cell(gs.group),
                     "n": Cell(gs.n_positive)}
            for k, v in gs.values.items():
                cells[k] = Cell(v, why=why.get(k, "no predicted foreground on this group's "
                                                   "positive pairs, so R is undefined"))
            rows.append(Row(cells))
    return Table(columns, tuple(rows))
