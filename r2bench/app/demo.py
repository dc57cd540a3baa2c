"""The README's flow, end to end: synth -> build-dataset -> score -> leaderboard.

Three reference submissions are made from the ground truth, so their scores are known:

- ``oracle``: the true masks on positives, nothing on negatives: every measure 100;
- ``rvos_oracle``: the true masks on positives and, like an R-VOS model that always
  segments something, an object of the negative video on negatives: J and F 100, R low;
- ``empty``: nothing anywhere: R undefined (no positive foreground), J and F the share of
  frames where the target is absent.

With the ``model`` extra installed, a fourth row is the shipped reference model
(``reference_model.shipped``) run on the same R2 dataset.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from datasets_builder.build import build_dataset
from datasets_builder.synth import SynthConfig, write_source
from r2bench.dataset import PairSpec, R2Meta, load_eval_dataset
from r2bench.errors import DatasetError
from r2bench.fileio import atomic_directory, atomic_write_json
from r2bench.refytvos import RefYTVOSRoot, read_annotations

log = logging.getLogger(__name__)

SUBMISSION_KINDS = ("oracle", "rvos_oracle", "empty")
# The demo's rows, in order: (submission kind, backbone shown in the leaderboard).
DEMO_ROWS = (("oracle", "ground truth"), ("rvos_oracle", "ground truth"), ("empty", "none"))
# The published rows printed beside them.
DEMO_PUBLISHED = "r2-ytvos"


@dataclass(frozen=True)
class DemoConfig:
    videos: int = 24          # videos in the synthetic valid split
    frames: int = 8
    height: int = 96
    width: int = 160
    seed: int = 0
    workers: int | None = None   # scoring processes; None: the scorer's default


def _encode(mask: np.ndarray) -> bytes:
    """An L-mode PNG, 255 = foreground."""
    if not mask.any():
        return _empty_png(mask.shape)
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * np.uint8(255)).save(buf, format="PNG")
    return buf.getvalue()


@cache
def _empty_png(shape: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros(shape, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class _GroundTruth:
    """Annotations of the R2 dataset's positive root; the last video decoded is kept, so
    pairs visited video by video decode each video once and memory holds one video."""

    def __init__(self, root: RefYTVOSRoot):
        self.root = root
        self._last: tuple[str, np.ndarray] | None = None

    def labels(self, video: str, frames: tuple[str, ...]) -> np.ndarray:
        """(T, H, W) object ids."""
        if self._last is None or self._last[0] != video:
            self._last = (video, read_annotations(
                [self.root.annotation_path(video, f) for f in frames]))
        return self._last[1]


def _pair_masks(kind: str, pair: PairSpec, meta: R2Meta, gt: _GroundTruth) -> np.ndarray:
    """(T, H, W) bool prediction of one pair for submission ``kind``."""
    empty = np.zeros((len(pair.frames), *pair.size), bool)
    if kind == "empty":
        return empty
    if pair.label == "positive":
        if pair.obj_id is None:
            raise DatasetError(None, f"pair {pair.pair_id} has no obj_id: the oracle "
                                     f"submissions need ground truth")
        return gt.labels(pair.video, pair.frames) == int(pair.obj_id)
    if kind == "oracle":
        return empty
    first = next(iter(meta.videos[pair.video].objects))   # "some object" of the negative video
    return gt.labels(pair.video, pair.frames) == int(first)


def write_oracle_submission(r2_dir: str | os.PathLike, out: str | os.PathLike,
                            kind: str = "oracle") -> Path:
    """Write submission ``kind`` (one of SUBMISSION_KINDS) for the R2 dataset at ``r2_dir``.

    Layout (docs/formats.md §3): ``out/<pair_id>/<FRAME>.png``, L-mode PNGs at the video's size.
    """
    if kind not in SUBMISSION_KINDS:
        raise ValueError(f"kind must be one of {SUBMISSION_KINDS}")
    ds = load_eval_dataset(r2_dir)
    if ds.r2 is None:
        raise DatasetError(r2_dir, "not an R2 dataset (no r2_meta.json)")
    gt = _GroundTruth(RefYTVOSRoot(Path(r2_dir) / "positive", ds.split))
    with atomic_directory(out) as tmp:
        for pair in sorted(ds.pairs, key=lambda p: p.video):   # one video at a time
            masks = _pair_masks(kind, pair, ds.r2, gt)          # (T, H, W)
            pair_dir = tmp / pair.pair_id
            pair_dir.mkdir(parents=True)
            for frame, mask in zip(pair.frames, masks):
                (pair_dir / f"{frame}.png").write_bytes(_encode(mask))
    return Path(out)


def demo_steps(cfg: DemoConfig, out: Path, progress: bool = False) -> list[tuple[str, dict]]:
    """Run synth, build-dataset and the scoring of each of DEMO_ROWS in ``out``; (name,
    results) rows."""
    from r2bench.results import name_submission
    from r2bench.scoring import score_submission

    synth_cfg = SynthConfig(videos=cfg.videos, train_videos=0, frames=cfg.frames,
                            height=cfg.height, width=cfg.width, seed=cfg.seed)
    write_source(out / "source", synth_cfg, progress=progress)
    build_dataset(out / "source", "valid", out / "r2", seed=cfg.seed, progress=progress)
    rows = []
    for kind, backbone in DEMO_ROWS:
        preds = write_oracle_submission(out / "r2", out / "submissions" / kind, kind)
        results = score_submission(preds, out / "r2", workers=cfg.workers, progress=progress)
        results = name_submission(results, kind, backbone)
        atomic_write_json(out / "results" / f"{kind}.json", results)
        rows.append((kind, results))
    return rows + reference_rows(out, progress)


def reference_rows(out: Path, progress: bool = False) -> list[tuple[str, dict]]:
    """The shipped reference model's row (run-reference on the demo's R2 dataset), or none
    when the ``model`` extra (torch) is not installed."""
    try:
        from reference_model.shipped import NAME, backbone_label, run_shipped
    except ImportError as e:
        log.warning("no reference-model row: %s (install the model extra: pip install "
                    "'r2bench[model]')", e)
        return []
    from r2bench.results import name_submission

    results = name_submission(run_shipped(out / "r2", out / "submissions" / "reference",
                                          progress), NAME, backbone_label())
    atomic_write_json(out / "results" / "reference.json", results)
    return [(NAME, results)]


def run_demo(cfg: DemoConfig, out: str | os.PathLike | None = None,
             progress: bool = False) -> str:
    """The demo's leaderboard (markdown, beside the published R2-Youtube-VOS rows);
    everything is kept in ``out`` if given (it must not exist)."""
    from leaderboard import BoardOptions, ScoredSubmission, build_leaderboard, render

    if out is not None:
        out = Path(out)
        if out.exists():
            raise DatasetError(out, "already exists (the demo writes a new folder)")
        out.mkdir(parents=True)
        try:
            rows = demo_steps(cfg, out, progress)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)   # nothing half-written is left
            raise
    else:
        tmp = Path(tempfile.mkdtemp(prefix="r2bench-demo-"))
        try:
            rows = demo_steps(cfg, tmp, progress)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    subs = [ScoredSubmission(Path(f"{name}.json"), name, res["backbone"], res)
            for name, res in rows]
    return render(build_leaderboard(subs, {}, BoardOptions(published=DEMO_PUBLISHED)), "md")


def write_speed_set(out: str | os.PathLike, videos: int = 4, frames: int = 8,
                    height: int = 720, width: int = 1280, seed: int = 0,
                    progress: bool = False) -> tuple[Path, Path]:
    """A synthetic R2 dataset at Youtube-VOS's HD size and its ``rvos_oracle`` submission,
    for timing the scorer (``r2bench profile --scoring``): ``(out/r2, out/preds)``."""
    out = Path(out)
    synth_cfg = SynthConfig(videos=videos, train_videos=0, frames=frames, height=height,
                            width=width, seed=seed)
    write_source(out / "source", synth_cfg, progress=progress)
    build_dataset(out / "source", "valid", out / "r2", seed=seed, progress=progress)
    return out / "r2", write_oracle_submission(out / "r2", out / "preds", "rvos_oracle")
