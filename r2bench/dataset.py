"""What to score: the pairs, frames, sizes and ground truth of an evaluation dataset.

Two kinds of `--dataset`:

- an R2 dataset folder (with ``r2_meta.json``, docs/formats.md §2): positive and negative
  pairs, with pair ids ``positive/VID/EXP_ID`` and ``negative/VID/EXP_ID``; ground truth,
  when the source had it, under ``positive/<split>/Annotations``;
- a plain Ref-Youtube-VOS / Ref-DAVIS layout root with ``--split`` (docs/formats.md §1):
  positive pairs only, pair ids ``VID/EXP_ID``, scored for J and F.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from r2bench.errors import DatasetError
from r2bench.refytvos import RefYTVOSRoot, image_size, load_json

R2_META = "r2_meta.json"
R2_FORMAT = "r2bench/r2-dataset"
LABELS = ("positive", "negative")


@dataclass(frozen=True)
class R2Video:
    """One video of an R2 dataset: its frames, its size (H, W) when recorded, and the
    categories of its objects (``objects``: OBJ_ID -> category, empty when unknown)."""

    frames: tuple[str, ...]
    size: tuple[int, int] | None
    categories: tuple[str, ...]
    objects: Mapping[str, str]


@dataclass(frozen=True)
class R2Pair:
    """One pair of ``r2_meta.json``: expression ``exp_id`` of ``source_video`` (text
    ``exp``) on the frames of ``video``; ``obj_id`` for positive pairs with ground truth."""

    pair_id: str
    label: str
    video: str
    source_video: str
    exp_id: str
    exp: str
    obj_id: str | None = None


@dataclass(frozen=True)
class R2Meta:
    """An R2 dataset's description (``r2_meta.json``, docs/formats.md §2), validated.

    ``negative_of`` is pi (VID -> the video whose frames its negative pairs cover);
    ``left_out`` counts the expressions the object strategy could not edit.
    """

    path: Path  # the r2_meta.json file
    split: str
    source: str
    seed: int | None
    strategy: str
    negative_of: Mapping[str, str]
    videos: Mapping[str, R2Video]
    pairs: tuple[R2Pair, ...]
    left_out: int = 0

    @property
    def folder(self) -> Path:
        return self.path.parent


@dataclass(frozen=True)
class PairSpec:
    """One (expression, video) pair to score.

    ``video`` is the key of the video whose frames the pair covers (pi(v) for a negative
    pair); ``frames`` and ``size`` (H, W) are that video's. ``source_video`` and ``exp_id``
    name the expression (``exp``, its text) in the source; ``obj_id`` names the referred
    object in the ground truth (positive pairs with ground truth only).
    """

    pair_id: str
    label: str
    video: str
    frames: tuple[str, ...]
    size: tuple[int, int]
    obj_id: str | None = None
    exp: str = ""
    source_video: str = ""
    exp_id: str = ""


@dataclass(frozen=True)
class EvalDataset:
    """The pairs of an evaluation dataset and where its ground truth lives.

    ``gt_root`` is None when J and F cannot be computed, with ``gt_missing`` saying why;
    ``r2`` is the R2 dataset's description (None for a plain root).
    """

    path: Path
    split: str
    mode: str  # "r2" or "rvos"
    pairs: tuple[PairSpec, ...]
    gt_root: RefYTVOSRoot | None
    gt_missing: str | None = None
    r2: R2Meta | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return ("positive", "negative") if self.mode == "r2" else ("positive",)


def _frame_size(paths: list[Path], video: str) -> tuple[int, int]:
    """(H, W) from the header of the first existing image (nothing is decoded)."""
    for path in paths:
        if path.is_file():
            return image_size(path)
    raise DatasetError(paths[0] if paths else None,
                       f"missing: no frame image to take the size of video {video} from")


def _gt_status(root: RefYTVOSRoot, pairs: list[PairSpec], meta_path: Path) -> str | None:
    """None when every positive pair can be scored for J and F, else the reason why not."""
    if not root.has_annotations:
        return f"the split has no ground truth ({root.root / root.split / 'Annotations'} missing)"
    positives = [p for p in pairs if p.label == "positive"]
    if any(p.obj_id is None for p in positives):
        return "the expressions have no obj_id, so the referred objects are unknown"
    for p in positives:  # annotation pixels are palette indices: ids 1..255
        if not (p.obj_id.isdigit() and 1 <= int(p.obj_id) <= 255):
            raise DatasetError(meta_path, f"pair {p.pair_id}: obj_id {p.obj_id!r} is not an "
                                          "object id of a palette annotation (1..255)")
    return None


def plain_root(path: str | os.PathLike, split: str | None) -> RefYTVOSRoot:
    """The Ref-Youtube-VOS layout root at ``path`` (not an R2 dataset) and its ``split``."""
    if split is None:
        raise DatasetError(path, "not an R2 dataset (no r2_meta.json): give --split for a "
                                 "Ref-Youtube-VOS layout root")
    return RefYTVOSRoot(path, split)


def _load_rvos(path: Path, split: str | None) -> EvalDataset:
    root = plain_root(path, split)
    videos = root.load_videos()
    pairs = []
    for vid, meta in videos.items():
        size = _frame_size([root.jpeg_path(vid, meta.frames[0]),
                            root.annotation_path(vid, meta.frames[0])], vid)
        for eid, exp in meta.expressions.items():
            pairs.append(PairSpec(f"{vid}/{eid}", "positive", vid, meta.frames, size, exp.obj_id,
                                  exp.exp, vid, eid))
    status = _gt_status(root, pairs, root.meta_expressions_path)
    return EvalDataset(path, split, "rvos", tuple(pairs), None if status else root, status)


def _check_r2_meta(meta: object, path: Path) -> dict:
    if not isinstance(meta, dict) or meta.get("format") != R2_FORMAT:
        raise DatasetError(path, f'not an R2 dataset description (expected "format": "{R2_FORMAT}")')
    if meta.get("version") != 1:
        raise DatasetError(path, f"unsupported version {meta.get('version')!r} (this r2bench reads 1)")
    for key, kind, required in (("split", str, True), ("videos", dict, True),
                                ("pairs", list, True), ("source", str, False),
                                ("negative_of", dict, False), ("strategy", str, False)):
        if (required or key in meta) and not isinstance(meta.get(key), kind):
            raise DatasetError(path, f'"{key}": expected a {kind.__name__}')
    return meta


def _r2_video(vid: str, v: object, path: Path) -> R2Video:
    frames = v.get("frames") if isinstance(v, dict) else None
    if not isinstance(frames, list) or not frames or not all(isinstance(f, str) for f in frames):
        raise DatasetError(path, f"videos.{vid}.frames: expected a non-empty list")
    size = v.get("size")
    ok_size = isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) for n in size)
    objects, cats = v.get("objects") or {}, v.get("categories", [])
    if not isinstance(objects, dict) or not all(isinstance(c, str) for c in objects.values()):
        raise DatasetError(path, f"videos.{vid}.objects: expected {{OBJ_ID: category}}")
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise DatasetError(path, f"videos.{vid}.categories: expected a list of names")
    return R2Video(tuple(frames), (size[0], size[1]) if ok_size else None, tuple(cats),
                   {str(o): c for o, c in objects.items()})


def _r2_pair(p: object, videos: Mapping[str, R2Video], path: Path) -> R2Pair:
    if not isinstance(p, dict):
        raise DatasetError(path, "pairs: expected objects")
    pid, label, vid = p.get("pair_id"), p.get("label"), p.get("video")
    if label not in LABELS or not isinstance(pid, str) or not pid.startswith(f"{label}/"):
        raise DatasetError(path, f"pair {pid!r}: bad pair_id or label")
    if vid not in videos:
        raise DatasetError(path, f"pair {pid}: video {vid!r} is not in \"videos\"")
    for key in ("source_video", "exp_id", "exp"):
        if not isinstance(p.get(key), str):
            raise DatasetError(path, f'pair {pid}: "{key}": expected a string')
    obj = p.get("obj_id") if label == "positive" else None
    return R2Pair(pid, label, vid, p["source_video"], p["exp_id"], p["exp"],
                  None if obj is None else str(obj))


def parse_r2_meta(raw: object, path: str | os.PathLike) -> R2Meta:
    """Validate the decoded ``r2_meta.json`` at ``path``; one-line DatasetError otherwise."""
    path = Path(path)
    meta = _check_r2_meta(raw, path)
    videos = {vid: _r2_video(vid, v, path) for vid, v in meta["videos"].items()}
    pairs = tuple(_r2_pair(p, videos, path) for p in meta["pairs"])
    ids = [p.pair_id for p in pairs]
    if len(set(ids)) != len(ids):
        raise DatasetError(path, "pairs: pair ids are not unique")
    left_out = meta.get("left_out", [])
    return R2Meta(path, meta["split"], meta.get("source", ""), meta.get("seed"),
                  meta.get("strategy", "random"), dict(meta.get("negative_of", {})), videos,
                  pairs, len(left_out) if isinstance(left_out, list) else 0)


def is_r2_dataset(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an R2 dataset folder (it holds ``r2_meta.json``)."""
    return (Path(path) / R2_META).exists()


def read_r2_meta(folder: str | os.PathLike) -> R2Meta:
    """The description of the R2 dataset in ``folder``: the one reader of ``r2_meta.json``."""
    path = Path(folder) / R2_META
    return parse_r2_meta(load_json(path, "R2 dataset description"), path)


def _load_r2(path: Path, split: str | None) -> EvalDataset:
    meta = read_r2_meta(path)
    if split is not None and split != meta.split:
        raise DatasetError(meta.path, f"--split {split} given, but the R2 dataset was built "
                                      f"from split {meta.split}")
    positive = RefYTVOSRoot(path / "positive", meta.split)
    sizes = {vid: v.size or _frame_size([positive.jpeg_path(vid, v.frames[0]),
                                         positive.annotation_path(vid, v.frames[0])], vid)
             for vid, v in meta.videos.items()}
    pairs = [PairSpec(p.pair_id, p.label, p.video, meta.videos[p.video].frames,
                      sizes[p.video], p.obj_id, p.exp, p.source_video, p.exp_id)
             for p in meta.pairs]
    status = _gt_status(positive, pairs, meta.path)
    return EvalDataset(path, meta.split, "r2", tuple(pairs), None if status else positive,
                       status, meta)


def load_eval_dataset(path: str | os.PathLike, split: str | None = None) -> EvalDataset:
    """Open ``--dataset``: an R2 dataset folder, or a Ref-YTVOS layout root with ``split``."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(path, "dataset folder does not exist")
    if is_r2_dataset(path):
        return _load_r2(path, split)
    return _load_rvos(path, split)
