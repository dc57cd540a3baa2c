"""``r2bench perturb``: a reproducible perturbed copy of a Ref-Youtube-VOS split.

Each video draws, from its own seed, what happens to it (the R2-Bench toolbox's mix: 40%
visual only, 40% text only, 20% both, or what ``types`` leaves possible), one visual
corruption for all its frames, and for each expression one textual perturbation. The
severity is fixed (1..5), ``dyn`` (the visual severity drawn per frame from `DYN_LEVELS`,
each expression's from the same levels, as the toolbox's R-VOS ``_dyn`` sets were made) or
``all`` (one severity in 1..5 per video and per expression, for a per-severity table from
one dataset).

The output is a source in the same layout: ``meta_expressions/S/meta_expressions.json``
with the perturbed texts, ``S/JPEGImages`` with the corrupted frames (JPEG quality
`JPEG_QUALITY`; frames a video keeps clean are linked to the source), ``S/Annotations``
linked, ``S/meta.json`` copied, and ``perturb.json`` recording per video and expression the
perturbation, its severity and its seed. It is written to a temporary folder and renamed.

Seeds: video v's seed is derived from (seed, v), an expression's from (video seed, its id),
a frame's from (video seed, its index), a static layer's from (video seed, severity), all
with numpy's SeedSequence (`r2bench.seeds`), so the bytes do not depend on the
number of workers, the order of the work or PYTHONHASHSEED.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from datasets_builder.build import (
    check_frames,
    check_link_mode,
    linker,
)
from datasets_builder.perturb import frost
from datasets_builder.perturb.catalog import ALL, TEXT, VISUAL, kind_of
from datasets_builder.perturb.draws import Draws
from r2bench.errors import DatasetError, R2BenchError
from r2bench.fileio import atomic_directory, dumps_json
from r2bench.perturb_record import PERTURB_FORMAT, PERTURB_JSON, dumps_perturb_record
from r2bench.pngsafe import ImageTooLarge, no_bombs
from r2bench.refytvos import RefYTVOSRoot, VideoMeta, image_size, load_json
from r2bench.seeds import derive_seed, rng_for, stream
from r2bench.source import load_categories_file
from r2bench.synonyms import CategoryNamer
from r2bench.workers import imap_unordered, resolve_workers

log = logging.getLogger(__name__)

SEVERITIES = (1, 2, 3, 4, 5)
DYN_LEVELS = (1, 3, 5)          # the toolbox's R-VOS _dyn draw (its low, medium, high)
MIX = (0.4, 0.4, 0.2)           # per video: visual only, text only, both
JPEG_QUALITY = 95               # every corrupted frame; 4:2:0 chroma, as Pillow defaults
_CHUNK_PIXELS = 8_000_000       # frames corrupted at once: about 100 MB of float32


@dataclass(frozen=True)
class PerturbConfig:
    """What ``r2bench perturb`` draws."""

    severity: int | str = 3            # 1..5, "dyn" or "all"
    types: tuple[str, ...] = ALL       # perturbations to draw from (catalogue names)
    seed: int = 0
    keep_categories: bool = False      # never touch words naming a category
    mix: tuple[float, float, float] = MIX

    def __post_init__(self):
        if self.severity not in (*SEVERITIES, "dyn", "all"):
            raise R2BenchError(None, f"severity must be 1..5, dyn or all, got {self.severity!r}")
        unknown = [t for t in self.types if t not in ALL]
        if unknown or not self.types:
            raise R2BenchError(None, f"unknown perturbation types: {unknown or 'none given'}")

    @property
    def visual_types(self) -> tuple[str, ...]:
        return tuple(t for t in self.types if kind_of(t) == "visual")

    @property
    def text_types(self) -> tuple[str, ...]:
        return tuple(t for t in self.types if kind_of(t) == "text")


def draw_mode(u: float, cfg: PerturbConfig) -> str:
    """'visual', 'text' or 'both' from a uniform draw and the mix, within what types allow."""
    if not cfg.text_types:
        return "visual"
    if not cfg.visual_types:
        return "text"
    visual, text, _ = cfg.mix
    return "visual" if u < visual else "text" if u < visual + text else "both"


def _severity(rng: np.random.Generator, cfg: PerturbConfig) -> int:
    if cfg.severity == "dyn":
        return int(rng.choice(DYN_LEVELS))
    if cfg.severity == "all":
        return int(rng.integers(1, 6))
    return int(cfg.severity)


def plan_visual(n_frames: int, cfg: PerturbConfig, mode: str,
                rng: np.random.Generator) -> dict | None:
    """The video's corruption record: type and severity (and per-frame severities)."""
    if mode == "text":
        return None
    kind = str(rng.choice(cfg.visual_types))
    if cfg.severity == "dyn":
        levels = rng.choice(DYN_LEVELS, size=n_frames)
        return {"type": kind, "severity": "dyn", "frames": [int(s) for s in levels]}
    return {"type": kind, "severity": _severity(rng, cfg)}


def plan_expression(video_seed: int, exp_id: str, text: str, cfg: PerturbConfig,
                    namer: CategoryNamer | None) -> dict:
    """One expression's record: its perturbation, severity, seed and perturbed text."""
    seed = derive_seed(video_seed, "expression", exp_id)
    rng = stream(seed)
    kind = str(rng.choice(cfg.text_types))
    severity = _severity(rng, cfg)
    protected = [(m.start, m.end) for m in namer.matches(text)] if namer else []
    new = TEXT[kind](text, severity, rng, protected)
    return {"type": kind, "severity": severity, "seed": seed, "exp": new, "original": text}


def plan_video(vid: str, meta: VideoMeta, cfg: PerturbConfig,
               namer: CategoryNamer | None) -> dict:
    """The perturb.json record of one video."""
    seed = derive_seed(cfg.seed, vid)
    rng = rng_for(seed, "plan")
    mode = draw_mode(float(rng.random()), cfg)
    visual = plan_visual(len(meta.frames), cfg, mode, rng)
    exps = {eid: (plan_expression(seed, eid, e.exp, cfg, namer) if mode != "visual"
                  else {"type": None})
            for eid, e in meta.expressions.items()}
    return {"seed": seed, "mode": mode, "visual": visual, "expressions": exps}


@dataclass(frozen=True)
class VideoJob:
    """What a worker needs to write one video's frames."""

    video: str
    sources: tuple[str, ...]        # source frame paths
    outputs: tuple[str, ...]        # output frame paths
    seed: int
    visual: str | None              # corruption name, None to link the frames
    severities: tuple[int, ...] = ()
    link: str = "symlink"


def frame_draws(job: VideoJob, severity: int, indices: list[int]) -> Draws:
    return Draws(derive_seed(job.seed, "layer", severity),
                 tuple(derive_seed(job.seed, "frame", i) for i in indices))


def read_frames(paths: list[str], size: tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) uint8 frames, each checked to be of ``size`` (H, W)."""
    frames = []
    for p in paths:
        try:
            with no_bombs(), Image.open(p) as im:
                frames.append(np.asarray(im.convert("RGB")))
        except (OSError, UnidentifiedImageError, ImageTooLarge) as e:
            raise DatasetError(p, f"cannot read frame: {e}") from None
        if frames[-1].shape[:2] != tuple(size):
            raise DatasetError(p, f"frame is {frames[-1].shape[0]}x{frames[-1].shape[1]}, the "
                                  f"video's first is {size[0]}x{size[1]}")
    return np.stack(frames)


def encode_jpeg(frame: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _chunks(indices: list[int], size: tuple[int, int]) -> Iterator[list[int]]:
    step = max(1, _CHUNK_PIXELS // (size[0] * size[1]))
    for k in range(0, len(indices), step):
        yield indices[k:k + step]


def render_video(job: VideoJob) -> int:
    """Write one video's frames (runs in a worker); returns the number of frames."""
    Path(job.outputs[0]).parent.mkdir(parents=True, exist_ok=True)
    if job.visual is None:
        put = linker(job.link)
        for src, dst in zip(job.sources, job.outputs):
            put(Path(src), Path(dst))
        return len(job.outputs)
    corrupt = VISUAL[job.visual]
    size = image_size(job.sources[0])
    for severity in sorted(set(job.severities)):
        group = [i for i, s in enumerate(job.severities) if s == severity]
        for idx in _chunks(group, size):
            frames = read_frames([job.sources[i] for i in idx], size)
            out = corrupt(frames, severity, frame_draws(job, severity, idx))
            for i, frame in zip(idx, out):
                Path(job.outputs[i]).write_bytes(encode_jpeg(frame))
    return len(job.outputs)


def warm_kernels() -> None:
    """Compile (or load from cache) the compiled kernels once, before workers fork."""
    tiny = np.zeros((1, 8, 8, 3), np.uint8)
    for name in ("gaussian_noise", "glass_blur", "zoom_blur", "contrast", "brightness",
                 "saturate"):
        VISUAL[name](tiny, 1, Draws(0, (0,)))


def run_jobs(jobs: list[VideoJob], workers: int | None, progress: bool) -> None:
    """Every job over a process pool (inline for one worker)."""
    workers = resolve_workers(workers)
    total = sum(len(j.outputs) for j in jobs)
    with tqdm(total=total, unit="frame", desc="perturb", disable=not progress,
              file=sys.stderr, dynamic_ncols=True) as bar:
        if workers > 1 and len(jobs) > 1:
            warm_kernels()
        for _, frames in imap_unordered(render_video, jobs, workers):
            bar.update(frames)


@dataclass(frozen=True)
class SourceView:
    """What perturb reads of a source split."""

    root: RefYTVOSRoot
    videos: dict[str, VideoMeta]
    raw: dict                                  # meta_expressions.json as parsed
    categories: list[str] = field(default_factory=list)


def load_view(source: str | os.PathLike, split: str, keep_categories: bool,
              categories: str | os.PathLike | None) -> SourceView:
    root = RefYTVOSRoot(source, split)
    raw = load_json(root.meta_expressions_path, "Ref-Youtube-VOS meta_expressions.json")
    videos = root.load_videos()
    if not videos:
        raise DatasetError(root.meta_expressions_path, "no videos")
    for meta in videos.values():
        check_frames(root, meta)
    cats: list[str] = []
    if keep_categories or categories is not None:
        objects = (load_categories_file(categories) if categories is not None
                   else root.load_categories())
        cats = sorted({c for objs in objects.values() for c in objs.values()})
    return SourceView(root, videos, raw, cats)


def perturb_record(view: SourceView, cfg: PerturbConfig) -> dict:
    """The whole perturb.json: everything but the frames."""
    namer = CategoryNamer(view.categories) if cfg.keep_categories else None
    return {"format": PERTURB_FORMAT, "version": 1,
            "source": str(view.root.root.resolve()), "split": view.root.split,
            "seed": cfg.seed, "severity": cfg.severity, "types": list(cfg.types),
            "keep_categories": cfg.keep_categories,
            "mix": dict(zip(("visual", "text", "both"), cfg.mix)),
            "dyn_levels": list(DYN_LEVELS), "jpeg_quality": JPEG_QUALITY,
            "frost": frost.provenance() if "frost" in cfg.types else None,
            "videos": {vid: plan_video(vid, m, cfg, namer) for vid, m in view.videos.items()}}


def _perturbed_expressions(raw: dict, record: dict) -> dict:
    """The source's meta_expressions.json with each perturbed text in place of the original,
    without the videos the split's meta lists but does not hold (valid's test videos)."""
    out = json.loads(json.dumps(raw))
    out["videos"] = {vid: v for vid, v in out["videos"].items() if vid in record["videos"]}
    for vid, v in record["videos"].items():
        for eid, e in v["expressions"].items():
            if e["type"] is not None:
                out["videos"][vid]["expressions"][eid]["exp"] = e["exp"]
    return out


def _jobs(view: SourceView, record: dict, tmp: Path, link: str) -> list[VideoJob]:
    split = view.root.split
    jobs = []
    for vid, v in record["videos"].items():
        frames = view.videos[vid].frames
        visual = v["visual"]
        severities = ()
        if visual is not None:
            severities = tuple(visual["frames"]) if visual["severity"] == "dyn" else \
                (visual["severity"],) * len(frames)
        jobs.append(VideoJob(
            vid, tuple(os.fspath(view.root.jpeg_path(vid, f)) for f in frames),
            tuple(os.fspath(tmp / split / "JPEGImages" / vid / f"{f}.jpg") for f in frames),
            v["seed"], None if visual is None else visual["type"], severities, link))
    return jobs


def _link_annotations(view: SourceView, tmp: Path, link: str) -> None:
    """Ground truth linked per frame, for the frames the source annotates."""
    ann = view.root.root / view.root.split / "Annotations"
    if not ann.is_dir():
        return
    put = linker(link)
    for vid, meta in view.videos.items():
        src = ann / vid
        present = set(os.listdir(src)) if src.is_dir() else set()
        dst = tmp / view.root.split / "Annotations" / vid
        dst.mkdir(parents=True)
        for f in meta.frames:
            if f"{f}.png" in present:
                put(src / f"{f}.png", dst / f"{f}.png")


@dataclass(frozen=True)
class PerturbResult:
    out: Path
    record: dict

    def summary(self) -> str:
        videos = self.record["videos"].values()
        modes = {m: sum(v["mode"] == m for v in videos) for m in ("visual", "text", "both")}
        n_exp = sum(e["type"] is not None for v in videos for e in v["expressions"].values())
        return (f"wrote {self.out}: {len(self.record['videos'])} videos ({modes['visual']} "
                f"visual only, {modes['text']} text only, {modes['both']} both), "
                f"{n_exp} perturbed expressions, severity {self.record['severity']}")


def perturb_source(source: str | os.PathLike, split: str, out: str | os.PathLike,
                   cfg: PerturbConfig = PerturbConfig(), link: str = "symlink",
                   categories: str | os.PathLike | None = None, overwrite: bool = False,
                   workers: int | None = None, progress: bool = False) -> PerturbResult:
    """Write the perturbed copy of ``source``/``split`` at ``out``; nothing on error."""
    check_link_mode(link)
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(out, "already exists (use --overwrite to replace it)")
    if "frost" in cfg.types:
        frost.require_photographs()
    view = load_view(source, split, cfg.keep_categories, categories)
    record = perturb_record(view, cfg)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        meta_dir = tmp / "meta_expressions" / split
        meta_dir.mkdir(parents=True)
        (meta_dir / "meta_expressions.json").write_bytes(
            dumps_json(_perturbed_expressions(view.raw, record)))
        (tmp / split).mkdir()
        if view.root.categories_path.is_file():
            shutil.copyfile(view.root.categories_path, tmp / split / "meta.json")
        _link_annotations(view, tmp, link)
        run_jobs(_jobs(view, record, tmp, link), workers, progress)
        (tmp / PERTURB_JSON).write_bytes(dumps_perturb_record(record))
    log.info("perturbed source: %d videos in %s", len(record["videos"]), out)
    return PerturbResult(out, record)
