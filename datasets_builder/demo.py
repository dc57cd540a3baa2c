"""The README's flow, end to end: synth -> build-dataset -> score -> table.

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
from r2bench.dataset import R2_META
from r2bench.errors import DatasetError
from r2bench.fileio import atomic_directory, atomic_write_json
from r2bench.refytvos import RefYTVOSRoot, load_json, read_annotations

log = logging.getLogger(__name__)

SUBMISSION_KINDS = ("oracle", "rvos_oracle", "empty")


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
    """Annotations of the R2 dataset's positive root, each video decoded once."""

    def __init__(self, root: RefYTVOSRoot):
        self.root = root
        self._cache: dict[str, np.ndarray] = {}

    def labels(self, video: str, frames: list[str]) -> np.ndarray:
        """(T, H, W) object ids."""
        if video not in self._cache:
            self._cache[video] = read_annotations(
                [self.root.annotation_path(video, f) for f in frames])
        return self._cache[video]


def _pair_masks(kind: str, pair: dict, meta: dict, gt: _GroundTruth) -> np.ndarray:
    """(T, H, W) bool prediction of one pair for submission ``kind``."""
    v = meta["videos"][pair["video"]]
    empty = np.zeros((len(v["frames"]), *v["size"]), bool)
    if kind == "empty":
        return empty
    if pair["label"] == "positive":
        if pair.get("obj_id") is None:
            raise DatasetError(None, f"pair {pair['pair_id']} has no obj_id: the oracle "
                                     f"submissions need ground truth")
        return gt.labels(pair["video"], v["frames"]) == int(pair["obj_id"])
    if kind == "oracle":
        return empty
    first = next(iter(v["objects"]))           # "some object" of the negative video
    return gt.labels(pair["video"], v["frames"]) == int(first)


def write_oracle_submission(r2_dir: str | os.PathLike, out: str | os.PathLike,
                            kind: str = "oracle") -> Path:
    """Write submission ``kind`` (one of SUBMISSION_KINDS) for the R2 dataset at ``r2_dir``.

    Layout SPEC §3: ``out/<pair_id>/<FRAME>.png``, L-mode PNGs at the video's size.
    """
    if kind not in SUBMISSION_KINDS:
        raise ValueError(f"kind must be one of {SUBMISSION_KINDS}")
    r2_dir = Path(r2_dir)
    meta = load_json(r2_dir / R2_META, "R2 dataset description")
    gt = _GroundTruth(RefYTVOSRoot(r2_dir / "positive", meta["split"]))
    with atomic_directory(out) as tmp:
        for pair in meta["pairs"]:
            masks = _pair_masks(kind, pair, meta, gt)          # (T, H, W)
            pair_dir = tmp / pair["pair_id"]
            pair_dir.mkdir(parents=True)
            for frame, mask in zip(meta["videos"][pair["video"]]["frames"], masks):
                (pair_dir / f"{frame}.png").write_bytes(_encode(mask))
    return Path(out)


def demo_steps(cfg: DemoConfig, out: Path, progress: bool = False) -> list[tuple[str, dict]]:
    """Run synth, build-dataset and the three scorings in ``out``; (name, results) rows."""
    from r2bench.scoring import score_submission

    synth_cfg = SynthConfig(videos=cfg.videos, train_videos=0, frames=cfg.frames,
                            height=cfg.height, width=cfg.width, seed=cfg.seed)
    write_source(out / "source", synth_cfg, progress=progress)
    build_dataset(out / "source", "valid", out / "r2", seed=cfg.seed, progress=progress)
    rows = []
    for kind in SUBMISSION_KINDS:
        preds = write_oracle_submission(out / "r2", out / "submissions" / kind, kind)
        results = score_submission(preds, out / "r2", workers=cfg.workers, progress=progress)
        atomic_write_json(out / "results" / f"{kind}.json", results)
        rows.append((kind, results))
    return rows + reference_rows(out, progress)


def reference_rows(out: Path, progress: bool = False) -> list[tuple[str, dict]]:
    """The shipped reference model's row (run-reference on the demo's R2 dataset), or none
    when the ``model`` extra (torch) is not installed."""
    try:
        from reference_model.shipped import NAME, run_shipped
    except ImportError as e:
        log.warning("no reference-model row: %s (install the model extra: pip install "
                    "'r2bench[model]')", e)
        return []
    results = run_shipped(out / "r2", out / "submissions" / "reference", progress)
    atomic_write_json(out / "results" / "reference.json", results)
    return [(NAME, results)]


def run_demo(cfg: DemoConfig, out: str | os.PathLike | None = None,
             progress: bool = False) -> str:
    """The demo's table; everything is kept in ``out`` if given (it must not exist)."""
    from r2bench.report import format_summary_table

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
    return format_summary_table(rows)
