"""``r2bench verify-dataset``: re-check an R2 dataset from its files (SPEC §2).

Independent of how the dataset was built: the permutation (a bijection without fixed
points), unrelatedness pair by pair from category *names* (not the builder's bitmasks), the
two Ref-Youtube-VOS roots' meta_expressions against r2_meta.json, and every frame link
(positive frames equal the source's, negative frames equal pi(v)'s positive frames).
For the ``object`` strategy (hard negatives) pi is the identity instead, and each negative
text must differ from its positive and name no category of the video.
"""

from __future__ import annotations

import filecmp
import os
from dataclasses import dataclass, field
from pathlib import Path

from datasets_builder.synonyms import CategoryNamer
from r2bench.dataset import R2_FORMAT, R2_META
from r2bench.errors import DatasetError
from r2bench.refytvos import RefYTVOSRoot, load_json

_SHOWN = 3   # problems quoted in an error message


@dataclass
class VerifyReport:
    """Counts of what was checked, and every problem found (empty when the dataset is sound)."""

    path: Path
    videos: int = 0
    expressions: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    strategy: str = "random"
    left_out: int = 0

    def summary(self) -> str:
        state = "OK" if not self.problems else f"{len(self.problems)} problems"
        if self.strategy == "object":
            how = (f"every negative its own video with an edited expression, "
                   f"{self.left_out} expressions left out (no object word to replace), ")
        else:
            how = "permutation without fixed points, "
        return (f"{self.path}: {state}: {self.videos} videos, {self.expressions} expressions "
                f"({self.expressions} positive + {self.expressions} negative pairs), {how}"
                f"every negative pair unrelated, {self.files} frame files checked")


def _pair_index(meta: dict) -> dict[tuple[str, str], dict[str, dict]]:
    """(source_video, exp_id) -> {"positive": pair, "negative": pair}."""
    out: dict[tuple[str, str], dict[str, dict]] = {}
    for p in meta["pairs"]:
        out.setdefault((p["source_video"], p["exp_id"]), {})[p["label"]] = p
    return out


def check_permutation(meta: dict) -> list[str]:
    videos, neg = list(meta["videos"]), meta["negative_of"]
    if meta.get("strategy") == "object":
        return [] if neg == {v: v for v in videos} else [
            "negative_of: the object strategy pairs each video with itself"]
    problems = []
    if sorted(neg) != sorted(videos):
        problems.append("negative_of does not have exactly one entry per video")
    if sorted(neg.values()) != sorted(videos):
        problems.append("negative_of is not a permutation: some video is a negative "
                        "twice or never")
    problems += [f"video {v} is its own negative" for v, u in neg.items() if u == v]
    return problems


def _target(v: dict, obj_id: str | None) -> set[str]:
    objects = v.get("objects") or {}
    return {objects[obj_id]} if obj_id in objects else set(v["categories"])


def check_pairs(meta: dict) -> list[str]:
    """Each expression has a positive and a negative pair, and the negative is unrelated."""
    videos, neg = meta["videos"], meta["negative_of"]
    namer = CategoryNamer(sorted({c for v in videos.values() for c in v["categories"]}))
    named: dict[str, set[str]] = {}   # expression text -> categories it names
    problems = []
    for (vid, eid), both in _pair_index(meta).items():
        pos, negp = both.get("positive"), both.get("negative")
        if pos is None or negp is None:
            problems.append(f"expression {vid}/{eid} lacks its positive or negative pair")
            continue
        if pos["video"] != vid or negp["video"] != neg.get(vid):
            problems.append(f"expression {vid}/{eid}: pair videos disagree with negative_of")
            continue
        text = negp["exp"]
        if text not in named:
            named[text] = set(namer.names(namer.named(text)))
        if meta.get("strategy") == "object":    # the object is there: only the text counts
            bad = named[text].intersection(videos[vid]["categories"])
            if text == pos["exp"]:
                problems.append(f"negative pair {negp['pair_id']}: text not edited")
        else:
            bad = (_target(videos[vid], pos.get("obj_id")) | named[text]).intersection(
                videos[negp["video"]]["categories"])
        if bad:
            problems.append(f"negative pair {negp['pair_id']} is related: {negp['video']} "
                            f"contains {', '.join(sorted(bad))}")
    return problems


def _check_root(root: RefYTVOSRoot, expected: dict[str, tuple[tuple[str, ...], dict]],
                label: str) -> list[str]:
    """meta_expressions of one root against {VID: (frames, {exp_id: exp})}."""
    problems = []
    got = root.load_videos()
    if set(got) != set(expected):
        return [f"{root.meta_expressions_path}: videos differ from r2_meta.json"]
    for vid, (frames, exps) in expected.items():
        g = got[vid]
        if g.frames != frames:
            problems.append(f"{root.meta_expressions_path}: {label} frames of {vid} differ")
        if {e: x.exp for e, x in g.expressions.items()} != exps:
            problems.append(f"{root.meta_expressions_path}: expressions of {vid} differ")
        if label == "negative" and any(x.obj_id is not None for x in g.expressions.values()):
            problems.append(f"{root.meta_expressions_path}: negative {vid} carries obj_id")
    return problems


def _same_file(a: Path, b: Path) -> bool:
    try:
        return filecmp.cmp(a, b, shallow=True)
    except OSError:
        return False


def _check_positive_frames(src: RefYTVOSRoot | None, pos_root: RefYTVOSRoot, vid: str,
                           frames: tuple[str, ...]) -> list[str]:
    """positive/ frames exist and, when the source is at hand, are the source's frames;
    every source annotation of them is there too."""
    problems = []
    for f in frames:
        p = pos_root.jpeg_path(vid, f)
        if not p.is_file() or (src and not _same_file(p, src.jpeg_path(vid, f))):
            problems.append(f"{p}: missing, or not the source frame")
        if src and src.annotation_path(vid, f).is_file() and not _same_file(
                pos_root.annotation_path(vid, f), src.annotation_path(vid, f)):
            problems.append(f"{pos_root.annotation_path(vid, f)}: missing, or not the source "
                            f"annotation")
    return problems


def check_files(path: Path, meta: dict, report: VerifyReport) -> list[str]:
    """The positive/ and negative/ roots: meta_expressions, and every frame link."""
    split, videos, neg = meta["split"], meta["videos"], meta["negative_of"]
    pos_root = RefYTVOSRoot(path / "positive", split)
    neg_root = RefYTVOSRoot(path / "negative", split)
    exps = {label: {vid: {} for vid in videos} for label in ("positive", "negative")}
    for p in meta["pairs"]:
        exps[p["label"]][p["source_video"]][p["exp_id"]] = p["exp"]
    frames = {vid: tuple(v["frames"]) for vid, v in videos.items()}
    problems = _check_root(pos_root, {v: (frames[v], exps["positive"][v]) for v in videos},
                           "positive")
    problems += _check_root(neg_root, {v: (frames[neg[v]], exps["negative"][v]) for v in videos},
                            "negative")
    if neg_root.has_annotations:
        problems.append(f"{neg_root.root / split / 'Annotations'}: negatives have no ground truth")
    source = Path(meta["source"])   # checked against when it is still in place
    src = RefYTVOSRoot(source, split) if source.is_dir() else None
    for vid in videos:
        problems += _check_positive_frames(src, pos_root, vid, frames[vid])
        for f in frames[neg[vid]]:
            n = neg_root.jpeg_path(vid, f)
            if not _same_file(n, pos_root.jpeg_path(neg[vid], f)):
                problems.append(f"{n}: missing, or not frame {f} of {neg[vid]}")
        report.files += len(frames[vid]) + len(frames[neg[vid]])
    return problems


def _load_meta(path: Path) -> dict:
    meta_path = path / R2_META
    meta = load_json(meta_path, "R2 dataset description")
    if not isinstance(meta, dict) or meta.get("format") != R2_FORMAT or meta.get("version") != 1:
        raise DatasetError(meta_path, f'not an R2 dataset description ("format": "{R2_FORMAT}", '
                                      f'"version": 1 expected)')
    for key, kind in (("split", str), ("source", str), ("negative_of", dict),
                      ("videos", dict), ("pairs", list)):
        if not isinstance(meta.get(key), kind):
            raise DatasetError(meta_path, f'"{key}": expected a {kind.__name__}')
    return meta


def verify_dataset(path: str | os.PathLike) -> VerifyReport:
    """Re-check the R2 dataset at ``path``; raise DatasetError naming the first problems."""
    path = Path(path)
    meta = _load_meta(path)
    report = VerifyReport(path, videos=len(meta["videos"]),
                          strategy=meta.get("strategy", "random"),
                          left_out=len(meta.get("left_out", [])))
    try:
        report.expressions = sum(p["label"] == "positive" for p in meta["pairs"])
        report.problems = check_permutation(meta)
        if not report.problems:
            report.problems = check_pairs(meta) + check_files(path, meta, report)
    except (KeyError, TypeError, AttributeError) as e:
        raise DatasetError(path / R2_META, f"malformed R2 dataset description ({e!r})") from None
    if report.problems:
        shown = "; ".join(report.problems[:_SHOWN])
        extra = len(report.problems) - _SHOWN
        more = f" (and {extra} more)" if extra > 0 else ""
        raise DatasetError(path, f"{len(report.problems)} problems: {shown}{more}")
    return report
