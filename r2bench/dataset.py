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
from dataclasses import dataclass
from pathlib import Path

from r2bench.errors import DatasetError
from r2bench.refytvos import RefYTVOSRoot, VideoMeta, image_size, load_json

R2_META = "r2_meta.json"
R2_FORMAT = "r2bench/r2-dataset"


@dataclass(frozen=True)
class PairSpec:
    """One (expression, video) pair to score.

    ``video`` is the key of the video whose frames the pair covers (pi(v) for a negative
    pair); ``frames`` and ``size`` (H, W) are that video's. ``obj_id`` names the referred
    object in the ground truth (positive pairs with ground truth only).
    """

    pair_id: str
    label: str
    video: str
    frames: tuple[str, ...]
    size: tuple[int, int]
    obj_id: str | None = None


@dataclass(frozen=True)
class EvalDataset:
    """The pairs of an evaluation dataset and where its ground truth lives.

    ``gt_root`` is None when J and F cannot be computed, with ``gt_missing`` saying why.
    """

    path: Path
    split: str
    mode: str  # "r2" or "rvos"
    pairs: tuple[PairSpec, ...]
    gt_root: RefYTVOSRoot | None
    gt_missing: str | None = None

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


def _load_rvos(path: Path, split: str | None) -> EvalDataset:
    if split is None:
        raise DatasetError(path, "not an R2 dataset (no r2_meta.json): give --split for a "
                                 "Ref-Youtube-VOS layout root")
    root = RefYTVOSRoot(path, split)
    videos = root.load_videos()
    pairs = []
    for vid, meta in videos.items():
        size = _frame_size([root.jpeg_path(vid, meta.frames[0]),
                            root.annotation_path(vid, meta.frames[0])], vid)
        for eid, exp in meta.expressions.items():
            pairs.append(PairSpec(f"{vid}/{eid}", "positive", vid, meta.frames, size, exp.obj_id))
    status = _gt_status(root, pairs, root.meta_expressions_path)
    return EvalDataset(path, split, "rvos", tuple(pairs), None if status else root, status)


def _check_r2_meta(meta: object, path: Path) -> dict:
    if not isinstance(meta, dict) or meta.get("format") != R2_FORMAT:
        raise DatasetError(path, f'not an R2 dataset description (expected "format": "{R2_FORMAT}")')
    if meta.get("version") != 1:
        raise DatasetError(path, f"unsupported version {meta.get('version')!r} (this r2bench reads 1)")
    for key, kind in (("split", str), ("videos", dict), ("pairs", list)):
        if not isinstance(meta.get(key), kind):
            raise DatasetError(path, f'"{key}": expected a {kind.__name__}')
    return meta


def _r2_pair(p: object, videos: dict, sizes: dict, path: Path) -> PairSpec:
    if not isinstance(p, dict):
        raise DatasetError(path, "pairs: expected objects")
    pid, label, vid = p.get("pair_id"), p.get("label"), p.get("video")
    if label not in ("positive", "negative") or not isinstance(pid, str) \
            or not pid.startswith(f"{label}/"):
        raise DatasetError(path, f"pair {pid!r}: bad pair_id or label")
    if vid not in videos:
        raise DatasetError(path, f"pair {pid}: video {vid!r} is not in \"videos\"")
    obj = p.get("obj_id") if label == "positive" else None
    return PairSpec(pid, label, vid, videos[vid].frames, sizes[vid],
                    None if obj is None else str(obj))


def _load_r2(path: Path, split: str | None) -> EvalDataset:
    meta_path = path / R2_META
    meta = _check_r2_meta(load_json(meta_path, "R2 dataset description"), meta_path)
    if split is not None and split != meta["split"]:
        raise DatasetError(meta_path, f"--split {split} given, but the R2 dataset was built "
                                      f"from split {meta['split']}")
    split = meta["split"]
    positive = RefYTVOSRoot(path / "positive", split)
    videos: dict[str, VideoMeta] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for vid, v in meta["videos"].items():
        frames = v.get("frames") if isinstance(v, dict) else None
        if not isinstance(frames, list) or not frames:
            raise DatasetError(meta_path, f"videos.{vid}.frames: expected a non-empty list")
        videos[vid] = VideoMeta(vid, tuple(frames))
        size = v.get("size")
        if isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) for s in size):
            sizes[vid] = (size[0], size[1])
        else:
            sizes[vid] = _frame_size([positive.jpeg_path(vid, frames[0]),
                                      positive.annotation_path(vid, frames[0])], vid)
    pairs = [_r2_pair(p, videos, sizes, meta_path) for p in meta["pairs"]]
    ids = [p.pair_id for p in pairs]
    if len(set(ids)) != len(ids):
        raise DatasetError(meta_path, "pairs: pair ids are not unique")
    status = _gt_status(positive, pairs, meta_path)
    return EvalDataset(path, split, "r2", tuple(pairs), None if status else positive, status)


def load_eval_dataset(path: str | os.PathLike, split: str | None = None) -> EvalDataset:
    """Open ``--dataset``: an R2 dataset folder, or a Ref-YTVOS layout root with ``split``."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(path, "dataset folder does not exist")
    if (path / R2_META).exists():
        return _load_r2(path, split)
    return _load_rvos(path, split)
