"""A local validation split carved out of a training split, ``r2bench holdout``.

Ref-Youtube-VOS keeps its valid ground truth on an evaluation server; many groups now hold
out part of train instead, so that J, F (and, after ``build-dataset``, R) are all measured
offline. This module takes whole videos: a seeded choice of ``round(fraction * n)`` videos of
the source split becomes split ``valid`` of a new Ref-YTVOS layout root, the others split
``train``, so a model is trained on the rest:

    OUT/meta_expressions/{valid,train}/meta_expressions.json   the source's entries, as they are
    OUT/{valid,train}/JPEGImages/VID/, Annotations/VID/         links to the source's files
    OUT/{valid,train}/meta.json                                 the source's categories
    OUT/holdout.json                                            what was held out, and how

Frames and annotations are linked as ``build-dataset --link`` does (absolute symlinks,
hardlinks or copies); the JSON files are written (each split needs its own subset). The same
source, fraction and seed give the same bytes.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from datasets_builder.build import check_link_mode, link_frames, linker
from r2bench.errors import DatasetError
from r2bench.fileio import atomic_directory, dumps_json
from r2bench.refytvos import RefYTVOSRoot, load_json, parse_meta_expressions
from r2bench.seeds import stream

log = logging.getLogger(__name__)

HOLDOUT_FORMAT = "r2bench/holdout"
HELD_SPLIT, REST_SPLIT = "valid", "train"


def held_out_videos(videos: list[str], fraction: float, seed: int) -> set[str]:
    """``round(fraction * n)`` videos (at least 1, at most n - 1) chosen by ``seed``.

    The choice depends on the set of video ids only (they are sorted first), not on the
    order of the source file.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n = len(videos)
    k = min(max(1, round(fraction * n)), n - 1)
    order = stream(seed).permutation(n)
    ranked = sorted(videos)
    return {ranked[i] for i in order[:k].tolist()}


@dataclass(frozen=True)
class HoldoutReport:
    out: Path
    held: int
    rest: int
    held_expressions: int
    rest_expressions: int

    def summary(self) -> str:
        return (f"wrote {self.out}: {HELD_SPLIT} {self.held} videos / "
                f"{self.held_expressions} expressions (held out, with ground truth), "
                f"{REST_SPLIT} {self.rest} videos / {self.rest_expressions} expressions")


def _files(folder: Path, ext: str) -> list[str]:
    """Sorted stems of ``*.ext`` in ``folder`` (none when it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(n[: -len(ext) - 1] for n in os.listdir(folder) if n.endswith(f".{ext}"))


def _write_split(tmp: Path, src: RefYTVOSRoot, name: str, entries: dict, categories: dict | None,
                 put, progress: bool) -> None:
    meta_dir = tmp / "meta_expressions" / name
    meta_dir.mkdir(parents=True)
    (meta_dir / "meta_expressions.json").write_bytes(dumps_json({"videos": entries}))
    out = tmp / name
    out.mkdir()
    if categories is not None:
        (out / "meta.json").write_bytes(dumps_json({"videos": {
            v: categories[v] for v in entries if v in categories}}))
    split_dir = src.root / src.split
    for vid in tqdm(entries, desc=f"link {name}", unit="video", disable=not progress,
                    file=sys.stderr):
        for sub, ext in (("JPEGImages", "jpg"), ("Annotations", "png")):
            names = _files(split_dir / sub / vid, ext)
            if names:
                link_frames(split_dir / sub / vid, out / sub / vid, names, f".{ext}", put,
                            parents=True)


def make_holdout(source: str | os.PathLike, split: str, out: str | os.PathLike,
                 fraction: float = 0.1, seed: int = 0, link: str = "symlink",
                 overwrite: bool = False, progress: bool = False) -> HoldoutReport:
    """Split ``source``/``split`` by whole videos into OUT's ``valid`` and ``train``."""
    check_link_mode(link)
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(out, "already exists (use --overwrite to replace it)")
    src = RefYTVOSRoot(source, split)
    raw = load_json(src.meta_expressions_path, "Ref-Youtube-VOS meta_expressions.json")
    videos = parse_meta_expressions(raw, src.meta_expressions_path)
    if len(videos) < 2:
        raise DatasetError(src.meta_expressions_path, "fewer than 2 videos: nothing to hold out")
    if not src.has_annotations or any(e.obj_id is None for m in videos.values()
                                      for e in m.expressions.values()):
        raise DatasetError(src.meta_expressions_path, "the held-out split needs ground truth "
                                                      "(Annotations/ and obj_id): use a "
                                                      "training split")
    categories = None
    if src.categories_path.is_file():
        cat_raw = load_json(src.categories_path, "Youtube-VOS meta.json")
        src.load_categories()   # validates the file
        categories = cat_raw["videos"]
    held = held_out_videos(list(videos), fraction, seed)
    parts = {HELD_SPLIT: {v: raw["videos"][v] for v in videos if v in held},
             REST_SPLIT: {v: raw["videos"][v] for v in videos if v not in held}}
    put = linker(link)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for name, entries in parts.items():
            _write_split(tmp, src, name, entries, categories, put, progress)
        (tmp / "holdout.json").write_bytes(dumps_json({
            "format": HOLDOUT_FORMAT, "version": 1, "source": str(src.root.resolve()),
            "split": split, "fraction": fraction, "seed": seed, "link": link,
            HELD_SPLIT: list(parts[HELD_SPLIT]), f"{REST_SPLIT}_videos": len(parts[REST_SPLIT])}))
    n_exp = {k: sum(len(videos[v].expressions) for v in e) for k, e in parts.items()}
    log.info("held out %d of %d videos of %s", len(held), len(videos), src.meta_expressions_path)
    return HoldoutReport(out, len(parts[HELD_SPLIT]), len(parts[REST_SPLIT]),
                         n_exp[HELD_SPLIT], n_exp[REST_SPLIT])
