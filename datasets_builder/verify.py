"""``r2bench verify-dataset``: re-check an R2 dataset from its files (docs/formats.md §2).

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

from r2bench.dataset import R2Meta, R2Pair, R2Video, read_r2_meta
from r2bench.errors import DatasetError
from r2bench.refytvos import RefYTVOSRoot, broken_link
from r2bench.synonyms import CategoryNamer
from r2bench.wording import plural

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
        state = "OK" if not self.problems else plural(len(self.problems), "problem")
        if self.strategy == "object":
            how = (f"every negative its own video with an edited expression, "
                   f"{plural(self.left_out, 'expression')} left out (no object word to "
                   "replace), ")
        else:
            how = "permutation without fixed points, "
        return (f"{self.path}: {state}: {plural(self.videos, 'video')}, "
                f"{plural(self.expressions, 'expression')} ({self.expressions} positive + "
                f"{self.expressions} negative pairs), {how}every negative pair unrelated, "
                f"{plural(self.files, 'frame file')} checked")


def _pair_index(meta: R2Meta) -> dict[tuple[str, str], dict[str, R2Pair]]:
    """(source_video, exp_id) -> {"positive": pair, "negative": pair}."""
    out: dict[tuple[str, str], dict[str, R2Pair]] = {}
    for p in meta.pairs:
        out.setdefault((p.source_video, p.exp_id), {})[p.label] = p
    return out


def check_permutation(meta: R2Meta) -> list[str]:
    videos, neg = list(meta.videos), dict(meta.negative_of)
    if meta.strategy == "object":
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


def _target(v: R2Video, obj_id: str | None) -> set[str]:
    return {v.objects[obj_id]} if obj_id in v.objects else set(v.categories)


def check_pairs(meta: R2Meta) -> list[str]:
    """Each expression has a positive and a negative pair, and the negative is unrelated."""
    videos, neg = meta.videos, meta.negative_of
    namer = CategoryNamer(sorted({c for v in videos.values() for c in v.categories}))
    named: dict[str, set[str]] = {}   # expression text -> categories it names
    problems = []
    for (vid, eid), both in _pair_index(meta).items():
        pos, negp = both.get("positive"), both.get("negative")
        if pos is None or negp is None:
            problems.append(f"expression {vid}/{eid} lacks its positive or negative pair")
            continue
        if pos.video != vid or negp.video != neg.get(vid):
            problems.append(f"expression {vid}/{eid}: pair videos disagree with negative_of")
            continue
        text = negp.exp
        if text not in named:
            named[text] = set(namer.names(namer.named(text)))
        if meta.strategy == "object":    # the object is there: only the text counts
            bad = named[text].intersection(videos[vid].categories)
            if text == pos.exp:
                problems.append(f"negative pair {negp.pair_id}: text not edited")
        else:
            bad = (_target(videos[vid], pos.obj_id) | named[text]).intersection(
                videos[negp.video].categories)
        if bad:
            problems.append(f"negative pair {negp.pair_id} is related: {negp.video} "
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


def _same_file(a: str, b: str) -> bool:
    try:
        return filecmp.cmp(a, b, shallow=True)
    except OSError:
        return False


def _names(folder: str) -> set[str]:
    try:
        return set(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return set()


class _LinkChecker:
    """Whether a file of the dataset is a given file, as cheaply as the link mode allows.

    A symbolic link whose target is the expected path (what build-dataset writes) needs no
    more than reading the link, one system call; anything else (hard links, copies, other
    targets) is compared by ``os.stat`` signature, following links. Targets read are
    kept, so a negative frame's link is compared with the positive link of the same frame.
    """

    def __init__(self):
        self.targets: dict[str, str | None] = {}

    def target(self, path: str) -> str | None:
        """The target of the link at ``path``; None when it is missing or not a link."""
        if path not in self.targets:
            try:
                self.targets[path] = os.readlink(path)
            except OSError:
                self.targets[path] = None
        return self.targets[path]

    def same(self, path: str, expected: str, expected_target: str | None = None) -> bool:
        """``path`` is the file ``expected`` (whose own link target, if any, is given)."""
        target = self.target(path)
        if target is not None and target in (expected, expected_target):
            return True
        return _same_file(path, expected)


def _frame_problem(path: str, what: str) -> str:
    return f"{path}: {broken_link(path) or f'missing, or not {what}'}"


def _check_positive_frames(links: _LinkChecker, src: str | None, src_annotated: bool,
                           pos: str, vid: str, frames: tuple[str, ...]) -> list[str]:
    """positive/ frames exist and, when the source is at hand, are the source's frames;
    every source annotation of them is there too. ``src`` and ``pos`` are split folders."""
    problems = []
    src_jpegs = _names(f"{src}/JPEGImages/{vid}") if src else set()
    for f in frames:
        path = f"{pos}/JPEGImages/{vid}/{f}.jpg"
        if src:
            ok = f"{f}.jpg" in src_jpegs and links.same(path, f"{src}/JPEGImages/{vid}/{f}.jpg")
        else:
            ok = os.path.isfile(path)
        if not ok:
            problems.append(_frame_problem(path, "the source frame"))
    if not src or not src_annotated:
        return problems
    src_anns = _names(f"{src}/Annotations/{vid}")
    for f in frames:
        path = f"{pos}/Annotations/{vid}/{f}.png"
        if f"{f}.png" in src_anns and not links.same(path, f"{src}/Annotations/{vid}/{f}.png"):
            problems.append(_frame_problem(path, "the source annotation"))
    return problems


def _check_negative_frames(links: _LinkChecker, pos: str, neg: str, vid: str, neg_vid: str,
                           frames: tuple[str, ...]) -> list[str]:
    """negative/VID's frames are positive/pi(VID)'s frames."""
    problems = []
    for f in frames:
        path, pos_path = f"{neg}/JPEGImages/{vid}/{f}.jpg", f"{pos}/JPEGImages/{neg_vid}/{f}.jpg"
        if not links.same(path, pos_path, links.target(pos_path)):
            problems.append(_frame_problem(path, f"frame {f} of {neg_vid}"))
    return problems


def check_files(path: Path, meta: R2Meta, report: VerifyReport) -> list[str]:
    """The positive/ and negative/ roots: meta_expressions, and every frame link."""
    split, videos, neg = meta.split, meta.videos, meta.negative_of
    pos_root = RefYTVOSRoot(path / "positive", split)
    neg_root = RefYTVOSRoot(path / "negative", split)
    exps = {label: {vid: {} for vid in videos} for label in ("positive", "negative")}
    for p in meta.pairs:
        exps[p.label][p.source_video][p.exp_id] = p.exp
    frames = {vid: v.frames for vid, v in videos.items()}
    problems = _check_root(pos_root, {v: (frames[v], exps["positive"][v]) for v in videos},
                           "positive")
    problems += _check_root(neg_root, {v: (frames[neg[v]], exps["negative"][v]) for v in videos},
                            "negative")
    if neg_root.has_annotations:
        problems.append(f"{neg_root.root / split / 'Annotations'}: negatives have no ground truth")
    # Checked against the source when it is still in place. Plain strings from here:
    # pathlib objects for 100,000 frames cost more than the checks.
    src = os.path.join(meta.source, split)
    src = src if os.path.isdir(src) else None
    pos, negative = os.fspath(path / "positive" / split), os.fspath(path / "negative" / split)
    src_annotated = src is not None and os.path.isdir(os.path.join(src, "Annotations"))
    links = _LinkChecker()
    for vid in videos:
        problems += _check_positive_frames(links, src, src_annotated, pos, vid, frames[vid])
    for vid in videos:
        problems += _check_negative_frames(links, pos, negative, vid, neg[vid], frames[neg[vid]])
        report.files += len(frames[vid]) + len(frames[neg[vid]])
    return problems


def verify_dataset(path: str | os.PathLike) -> VerifyReport:
    """Re-check the R2 dataset at ``path``; raise DatasetError naming the first problems."""
    path = Path(path)
    meta = read_r2_meta(path)
    report = VerifyReport(path, videos=len(meta.videos), strategy=meta.strategy,
                          left_out=meta.left_out)
    report.expressions = sum(p.label == "positive" for p in meta.pairs)
    report.problems = check_permutation(meta)
    if not report.problems:
        report.problems = check_pairs(meta) + check_files(path, meta, report)
    if report.problems:
        shown = "; ".join(report.problems[:_SHOWN])
        extra = len(report.problems) - _SHOWN
        more = f" (and {extra} more)" if extra > 0 else ""
        raise DatasetError(path, f"{plural(len(report.problems), 'problem')}: {shown}{more}")
    return report
