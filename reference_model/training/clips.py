"""What a training step sees: clips of a Ref-Youtube-VOS-layout split and unrelated captions.

Samples (ReferFormer's ``YTVOSDataset.prepare_metas``, which the release trains with): every
expression of the split, once per block of T frames of its video, so an epoch visits each
expression ``ceil(frames / T)`` times. A sample's frames (:func:`sample_frame_indices`): the
block's first frame (the anchor), one frame 1..max_skip before it and one 1..max_skip after
it (clamped to the video), and for T > 3 frames drawn from outside that span; sorted, the
first T are the clip.

Negative pairs: each clip is also paired with a caption of another video that is *unrelated*
to the clip's video by the rule ``r2bench build-dataset`` applies to its negatives
(:mod:`r2bench.constraints`): the expression's target category and every category
it names (synonyms and plurals included) are absent from the video. The candidates of every
video are fixed when the index is built, one bit per expression.

Legend: V videos, E expressions, K categories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from r2bench.constraints import build_constraints
from r2bench.errors import DatasetError
from r2bench.refytvos import Expression, RefYTVOSRoot, VideoMeta
from r2bench.source import load_source


@dataclass(frozen=True)
class TrainExpression:
    """One referring expression with ground truth."""

    video: str
    exp_id: str
    text: str
    obj_id: int


@dataclass(frozen=True)
class Sample:
    """One item of an epoch: an expression and the anchor frame of its block."""

    expression: int  # index into ClipIndex.expressions
    anchor: int  # frame index within the video


@dataclass(frozen=True)
class ClipIndex:
    """A split's expressions, videos, samples and unrelated-caption candidates."""

    root: RefYTVOSRoot
    videos: dict[str, tuple[str, ...]]  # VID -> frame names
    expressions: tuple[TrainExpression, ...]
    samples: tuple[Sample, ...]
    unrelated: dict[str, np.ndarray]  # VID -> packed bits over expressions (1 = unrelated)

    def unrelated_to(self, video: str) -> np.ndarray:
        """Indices of the expressions unrelated to ``video`` (sorted)."""
        bits = np.unpackbits(self.unrelated[video], count=len(self.expressions))
        return np.flatnonzero(bits)


def _expressions(root: RefYTVOSRoot, videos: dict[str, VideoMeta]) -> list[TrainExpression]:
    out = []
    for vid, meta in videos.items():
        for eid, e in meta.expressions.items():
            if e.obj_id is None:
                raise DatasetError(root.meta_expressions_path,
                                   f"videos.{vid}.expressions.{eid}: no obj_id; training "
                                   f"needs a split with ground truth")
            try:
                obj = int(e.obj_id)
            except ValueError:
                raise DatasetError(root.meta_expressions_path,
                                   f"videos.{vid}.expressions.{eid}: obj_id {e.obj_id!r} is "
                                   f"not a palette index") from None
            out.append(TrainExpression(vid, eid, " ".join(e.exp.lower().split()), obj))
    return out


def _unrelated_bits(videos: dict[str, VideoMeta], objects: dict[str, dict[str, str]],
                    expressions: list[TrainExpression]) -> dict[str, np.ndarray]:
    """Per video, the expressions unrelated to it (the builder's constraint, per expression).

    ``build_constraints`` takes one entry per expression here, so its ``forbid`` mask is
    that expression's and its ``cats`` mask is the expression's own video's categories.
    """
    single = {f"{i}": VideoMeta(f"{i}", (), {e.exp_id: Expression(e.exp_id, e.text,
                                                                  str(e.obj_id))})
              for i, e in enumerate(expressions)}
    per_exp = {f"{i}": objects[e.video] for i, e in enumerate(expressions)}
    c = build_constraints(single, per_exp)
    index = {cat: i for i, cat in enumerate(c.namer.categories)}
    k = len(index)
    forbid = np.array([[(f >> j) & 1 for j in range(k)] for f in c.forbid], bool)  # [E, K]
    own = np.array([e.video for e in expressions])
    out = {}
    for vid in videos:
        cats = np.zeros(k, bool)
        for cat in set(objects[vid].values()):
            if cat in index:  # a category no expression's video has cannot conflict
                cats[index[cat]] = True
        ok = ~(forbid & cats).any(1) & (own != vid)  # [E]
        out[vid] = np.packbits(ok)
    return out


def build_clip_index(root: str | os.PathLike, split: str, num_frames: int,
                     exclude_words: tuple[str, ...] = ()) -> ClipIndex:
    """Read a split with ground truth and list its samples for clips of ``num_frames``;
    expressions holding a word of ``exclude_words`` are left out (neither positives nor
    negatives: as negatives only, they would be told apart by their words alone)."""
    src = load_source(root, split)
    if not src.root.has_annotations:
        raise DatasetError(src.root.root / split / "Annotations",
                           "missing: training needs the ground-truth masks")
    expressions = [e for e in _expressions(src.root, src.videos)
                   if not set(e.text.split()) & set(exclude_words)]
    if not expressions:
        raise DatasetError(src.root.meta_expressions_path, "no expressions to train on")
    samples = []
    for i, e in enumerate(expressions):
        n = len(src.videos[e.video].frames)
        samples += [Sample(i, a) for a in range(0, n, num_frames)]
    return ClipIndex(src.root, {v: m.frames for v, m in src.videos.items()},
                     tuple(expressions), tuple(samples),
                     _unrelated_bits(src.videos, src.objects, expressions))


def sample_frame_indices(rng: np.random.Generator, n: int, anchor: int, t: int,
                         max_skip: int = 3) -> list[int]:
    """ReferFormer's clip of ``t`` frame indices of an ``n``-frame video around ``anchor``."""
    idx = [anchor]
    if t != 1:
        before, after = (int(x) for x in rng.integers(1, max_skip + 1, size=2))
        idx += [max(0, anchor - before), min(n - 1, anchor + after)]
        if t > 3:
            idx += _global_indices(rng, n, idx, t - len(idx))
    return sorted(idx)[:t]


def _global_indices(rng: np.random.Generator, n: int, idx: list[int], k: int) -> list[int]:
    """k more frames, preferably outside the local span (the release's three cases)."""
    outside = list(range(min(idx))) + list(range(max(idx), n))
    if len(outside) > k:
        return [outside[i] for i in rng.choice(len(outside), k, replace=False)]
    if n >= k:
        return rng.choice(n, k, replace=False).tolist()
    return rng.choice(n, k - n, replace=k > 2 * n).tolist() + list(range(n))
