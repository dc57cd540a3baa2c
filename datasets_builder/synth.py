"""``r2bench synth``: a synthetic source in the Ref-Youtube-VOS layout (docs/formats.md §1).

Videos of 1-4 moving shapes (the categories: circle, square, ...) over a drifting texture,
with referring expressions that each single out one object (``expressions``). Both splits,
``train`` and ``valid``, carry JPEG frames, palette-PNG annotations, a Youtube-VOS
``meta.json`` and ``meta_expressions.json`` with ``obj_id``, so every reader of real data,
J and F included, runs on it. Each video draws from its own generator seeded by
``(seed, split, attempt, index)``: one seed gives the same bytes.

The valid split is resampled (next ``attempt``) until an R2 shuffle exists for it, so
``build-dataset`` always succeeds on a default source.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datasets_builder.expressions import VOCABULARY, expression_corpus, sample_expressions
from datasets_builder.matching import negative_matching
from datasets_builder.render import encode_jpeg, encode_palette_png, render_scene
from datasets_builder.scene import SHAPES, Scene, sample_scene
from r2bench.constraints import build_constraints
from r2bench.errors import InfeasibleError
from r2bench.fileio import atomic_directory, dumps_json
from r2bench.refytvos import Expression, VideoMeta
from r2bench.seeds import stream
from r2bench.workers import process_pool, resolve_workers

__all__ = [
    "CATEGORIES",
    "SPLITS",
    "VOCABULARY",
    "SynthConfig",
    "SynthVideo",
    "expression_corpus",
    "frame_names",
    "sample_split",
    "write_source",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "valid")
CATEGORIES = SHAPES
FRAME_STEP = 5          # Youtube-VOS names every 5th frame: 00000, 00005, ...
_MAX_ATTEMPTS = 50      # resamplings of the valid split before giving up on feasibility


@dataclass(frozen=True)
class SynthConfig:
    """What ``r2bench synth`` generates."""

    videos: int = 24                  # videos in the valid split (the R2 benchmark's split)
    train_videos: int | None = None   # videos in the train split; None: as many as valid
    frames: int = 12                  # frames per video
    height: int = 96
    width: int = 160
    seed: int = 0
    valid_ground_truth: bool = True   # obj_id and Annotations in valid, so J and F score

    def count(self, split: str) -> int:
        if split == "train" and self.train_videos is not None:
            return self.train_videos
        return self.videos


@dataclass(frozen=True)
class SynthVideo:
    """One generated video: its scene and its expressions as (obj_id, text)."""

    video: str
    scene: Scene
    expressions: tuple[tuple[str, str], ...]


def frame_names(frames: int) -> list[str]:
    return [f"{FRAME_STEP * t:05d}" for t in range(frames)]


def _video_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct Youtube-VOS-style ids (10 hex digits), sorted as Youtube-VOS lists them."""
    ids: set[str] = set()
    while len(ids) < n:
        ids.add(f"{int(rng.integers(0, 1 << 40)):010x}")
    return sorted(ids)


def _sample_once(cfg: SynthConfig, split: str, attempt: int) -> list[SynthVideo]:
    key = [cfg.seed, SPLITS.index(split), attempt]
    out = []
    for i, vid in enumerate(_video_ids(stream(*key), cfg.count(split))):
        rng = stream(*key, i)
        scene = sample_scene(rng, cfg.height, cfg.width, cfg.frames)
        exps = sample_expressions(rng, scene.objects, min(cfg.height, cfg.width))
        out.append(SynthVideo(vid, scene, tuple(exps)))
    return out


def _shuffle_exists(videos: list[SynthVideo], with_obj: bool) -> bool:
    """Whether build-dataset will find a valid shuffle (same constraint, same matching)."""
    metas = {v.video: VideoMeta(v.video, (), {
        str(i): Expression(str(i), t, o if with_obj else None)
        for i, (o, t) in enumerate(v.expressions)}) for v in videos}
    objects = {v.video: {o.obj_id: o.shape for o in v.scene.objects} for v in videos}
    c = build_constraints(metas, objects)
    return bool((negative_matching(c.cats, c.forbid, seed=0) >= 0).all())


def sample_split(cfg: SynthConfig, split: str) -> list[SynthVideo]:
    """The videos of one split (no pixels yet); valid is resampled until it is feasible."""
    if split != "valid" or cfg.count(split) < 2:
        return _sample_once(cfg, split, 0)
    for attempt in range(_MAX_ATTEMPTS):
        videos = _sample_once(cfg, split, attempt)
        if _shuffle_exists(videos, cfg.valid_ground_truth):
            return videos
    raise InfeasibleError(None, f"no R2 shuffle exists for a {cfg.count(split)}-video valid "
                                f"split after {_MAX_ATTEMPTS} samplings; use more videos")


@dataclass(frozen=True)
class _Encoded:
    """One video's files as bytes, and its meta.json objects."""

    jpegs: list[bytes]
    pngs: list[bytes]
    objects: dict[str, dict]


def _encode_video(job: tuple[SynthVideo, list[str], bool]) -> _Encoded:
    """Render and encode one video (runs in a worker process); PNGs only if ``annotate``."""
    v, names, annotate = job
    frames, labels = render_scene(v.scene)                  # (T, H, W, 3), (T, H, W)
    visible = labels.reshape(len(names), -1)                # (T, H*W)
    objects = {o.obj_id: {"category": o.shape, "frames": [
        n for n, row in zip(names, visible) if (row == int(o.obj_id)).any()]}
        for o in v.scene.objects}
    return _Encoded([encode_jpeg(f) for f in frames],
                    [encode_palette_png(lab) for lab in labels] if annotate else [], objects)


def _write_video(split_dir: Path, video: str, enc: _Encoded, names: list[str]) -> None:
    folders = [("JPEGImages", "jpg", enc.jpegs)]
    folders += [("Annotations", "png", enc.pngs)] if enc.pngs else []
    for sub, ext, blobs in folders:
        d = split_dir / sub / video
        d.mkdir(parents=True)
        for name, blob in zip(names, blobs):
            (d / f"{name}.{ext}").write_bytes(blob)


def _encoded_videos(videos: list[SynthVideo], names: list[str], annotate: bool,
                    workers: int) -> Iterator[_Encoded]:
    """Encoded videos in order; in ``workers`` processes when there is enough work."""
    jobs = [(v, names, annotate) for v in videos]
    if workers <= 1 or len(jobs) < 4 * workers:
        yield from map(_encode_video, jobs)
        return
    with process_pool(workers) as pool:
        yield from pool.map(_encode_video, jobs, chunksize=8)


def _meta_expressions(videos: list[SynthVideo], names: list[str], with_obj: bool) -> dict:
    out = {}
    for v in videos:
        exps = {str(i): ({"exp": text, "obj_id": obj} if with_obj else {"exp": text})
                for i, (obj, text) in enumerate(v.expressions)}
        out[v.video] = {"expressions": exps, "frames": names}
    return {"videos": out}


def write_source(out: str | os.PathLike, cfg: SynthConfig, overwrite: bool = False,
                 progress: bool = False, workers: int | None = None) -> Path:
    """Generate the source at ``out`` (written to a temporary folder, renamed into place).

    ``workers`` processes render and encode (default: one per CPU); the bytes do not depend
    on it, since every video has its own generator.
    """
    workers = resolve_workers(workers)
    names = frame_names(cfg.frames)
    splits = {s: sample_split(cfg, s) for s in SPLITS}
    total = sum(len(v) for v in splits.values())
    with atomic_directory(out, overwrite=overwrite) as tmp, \
            tqdm(total=total, desc="synth", unit="video", disable=not progress,
                 file=sys.stderr) as bar:
        for split, videos in splits.items():
            gt = split == "train" or cfg.valid_ground_truth
            split_dir = tmp / split
            split_dir.mkdir()
            objects = {}
            for v, enc in zip(videos, _encoded_videos(videos, names, gt, workers)):
                _write_video(split_dir, v.video, enc, names)
                objects[v.video] = {"objects": enc.objects}
                bar.update()
            (split_dir / "meta.json").write_bytes(dumps_json({"videos": objects}))
            meta_dir = tmp / "meta_expressions" / split
            meta_dir.mkdir(parents=True)
            (meta_dir / "meta_expressions.json").write_bytes(
                dumps_json(_meta_expressions(videos, names, gt)))
    log.info("synthetic source: %d videos in %s", total, out)
    return Path(out)
