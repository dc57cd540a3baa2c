"""A Ref-Youtube-VOS evaluation-server submission, ``r2bench pack``; with ``--labels both``,
an R2 submission of both labels in one zip (``positive/`` and ``negative/`` at its root).

The server reads one zip of ``Annotations/VID/EXP_ID/FRAME.png``, mode L, 0 or 255, one PNG
per frame of the split's meta for every expression of every valid video. Ref-Youtube-VOS's
``meta_expressions/valid`` also lists the test videos; when ``meta_expressions/test`` is
there, its videos are left out, as the released inference scripts do (202 valid videos).

Predictions are read as the scorer reads them (`r2bench.submission`: any PNG mode, non-zero
is foreground, PNG trees with or without an ``Annotations/`` level, zips, COCO RLE JSON),
after the same completeness check. An R2 submission gives its ``positive/`` part. Frames are
decoded, re-encoded as L 0/255 and written in sorted order with fixed timestamps, a few
videos at a time (memory stays bounded whatever the split's size), so the same predictions
give the same bytes; the zip is written beside its destination and renamed into place.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from r2bench.dataset import EvalDataset, is_r2_dataset, load_eval_dataset, read_r2_meta
from r2bench.errors import DatasetError, SubmissionError
from r2bench.fileio import atomic_path
from r2bench.refytvos import RefYTVOSRoot, load_json
from r2bench.submission import (
    Locator,
    Submission,
    check_complete,
    open_submission,
    read_mask,
)
from r2bench.workers import imap, resolve_workers

log = logging.getLogger(__name__)

ZIP_DATE = (1980, 1, 1, 0, 0, 0)   # the earliest zip timestamp: no build date in the bytes
PNG_LEVEL = 1   # binary masks compress almost as well at level 1, several times faster
CHUNK_FRAMES = 64   # frames per worker task


@dataclass(frozen=True)
class PackEntry:
    """One frame to pack: its name in the zip, where it is read from and the video size."""

    arcname: str
    locator: Locator
    size: tuple[int, int]


@dataclass(frozen=True)
class PackReport:
    out: Path
    videos: int
    expressions: int
    frames: int
    test_videos_left_out: int
    pairs_of: str = "expressions"   # what ``expressions`` counts: "pairs" for both labels

    def summary(self) -> str:
        left = (f" ({self.test_videos_left_out} test videos of meta_expressions/test left "
                "out)" if self.test_videos_left_out else "")
        return (f"wrote {self.out}: {self.videos} videos, {self.expressions} {self.pairs_of}, "
                f"{self.frames} frames{left}")


def submission_dataset(dataset: str | os.PathLike, split: str | None) -> tuple[EvalDataset, int]:
    """The pairs the server expects (``VID/EXP_ID``) and how many test videos were left out.

    ``dataset`` is a Ref-YTVOS root with ``split`` (default valid), or an R2 dataset (its
    positive root and, by default, its split).
    """
    dataset = Path(dataset)
    if is_r2_dataset(dataset):
        root = dataset / "positive"
        split = read_r2_meta(dataset).split if split is None else split
    else:
        root = dataset
    ds = load_eval_dataset(root, split or "valid")   # without the test videos valid lists
    src = RefYTVOSRoot(root, ds.split)
    listed = src.listed_elsewhere()
    if not listed:
        return ds, 0
    raw = load_json(src.meta_expressions_path, "Ref-Youtube-VOS meta_expressions.json")
    return ds, len(listed & set(raw["videos"]))


def positive_predictions(preds: str | os.PathLike) -> Path:
    """PREDS itself, or the ``positive/`` part (folder or zip) of an R2 submission."""
    preds = Path(preds)
    for part in (preds / "positive", preds / "positive.zip"):
        if part.exists():
            return part
    return preds


def encode_l(mask: np.ndarray) -> bytes:
    """(H, W) bool -> PNG bytes, mode L, 0 background and 255 foreground."""
    buf = io.BytesIO()
    Image.fromarray(mask.view(np.uint8) * np.uint8(255)).save(buf, format="PNG",
                                                              compress_level=PNG_LEVEL)
    return buf.getvalue()


def encode_chunk(entries: tuple[PackEntry, ...]) -> list[tuple[str, bytes]]:
    """Decode and re-encode a chunk of frames (runs in a worker process)."""
    return [(e.arcname, encode_l(read_mask(e.locator, e.size, e.arcname))) for e in entries]


def pack_entries(ds: EvalDataset, frames: dict, prefix: str = "Annotations/") -> list[PackEntry]:
    """Every frame of every pair as ``<prefix><pair_id>/<FRAME>.png``, sorted by name."""
    entries = [PackEntry(f"{prefix}{p.pair_id}/{f}.png", frames[(p.pair_id, f)], p.size)
               for p in ds.pairs for f in p.frames]
    return sorted(entries, key=lambda e: e.arcname)


def both_labels_dataset(dataset: str | os.PathLike, split: str | None) -> EvalDataset:
    """The positive and negative pairs of an R2 dataset, for a two-label zip."""
    dataset = Path(dataset)
    if not is_r2_dataset(dataset):
        raise DatasetError(dataset, "not an R2 dataset (no r2_meta.json): a zip of both "
                                    "labels needs one")
    return load_eval_dataset(dataset, split)


def _zip_info(arcname: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
    info.create_system = 3                      # unix, whatever machine packs
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED     # PNG is compressed already
    return info


def _check_every_frame(sub: Submission, ds: EvalDataset) -> None:
    """Extra pairs or frames, or any missing frame, stop the packing with one line."""
    n_missing = check_complete(sub, ds, allow_missing=True)   # raises on extras
    if n_missing:
        pair, frame = next((p.pair_id, f) for p in ds.pairs for f in p.frames
                           if (p.pair_id, f) not in sub.frames)
        more = f" and {n_missing - 1} more" if n_missing > 1 else ""
        raise SubmissionError(sub.path, f"missing prediction {pair}/{frame}.png{more}: the "
                                        "server needs every frame of every expression")


def pack_submission(preds: str | os.PathLike, dataset: str | os.PathLike, out: str | os.PathLike,
                    split: str | None = None, workers: int | None = None,
                    progress: bool = False, labels: str = "positive") -> PackReport:
    """Check PREDS against the split's meta and write the zip ``out`` atomically.

    ``labels="positive"``: the Ref-Youtube-VOS server's zip (``Annotations/VID/EXP/...``).
    ``labels="both"``: for an R2 dataset, every pair of both labels as
    ``positive/VID/EXP/FRAME.png`` and ``negative/VID/EXP/FRAME.png`` at the zip's root,
    the tree `r2bench score` reads (and the Codabench bundle's submission format).
    """
    if labels not in ("positive", "both"):
        raise ValueError(f"labels must be 'positive' or 'both', got {labels!r}")
    if labels == "both":
        ds, left_out = both_labels_dataset(dataset, split), 0
        sub = open_submission(preds, ds)
    else:
        ds, left_out = submission_dataset(dataset, split)
        sub = open_submission(positive_predictions(preds), ds)
    _check_every_frame(sub, ds)
    entries = pack_entries(ds, sub.frames, "" if labels == "both" else "Annotations/")
    chunks = [tuple(entries[i:i + CHUNK_FRAMES]) for i in range(0, len(entries), CHUNK_FRAMES)]
    workers = resolve_workers(workers)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as zf, \
            tqdm(total=len(entries), unit="frame", desc="pack", disable=not progress,
                 dynamic_ncols=True, leave=False) as bar:
        for encoded in imap(encode_chunk, chunks, workers):
            for arcname, data in encoded:
                zf.writestr(_zip_info(arcname), data)
            bar.update(len(encoded))
    videos = {p.video for p in ds.pairs}
    log.info("packed %d frames into %s", len(entries), out)
    return PackReport(Path(out), len(videos), len(ds.pairs), len(entries), left_out,
                      "pairs" if labels == "both" else "expressions")

