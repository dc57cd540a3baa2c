"""Run the reference model over a dataset and write a submission (``r2bench run-reference``).

Inputs: an R2 dataset folder (both labels are run; masks go to
``PREDS/positive/VID/EXP_ID/FRAME.png`` and ``PREDS/negative/VID/EXP_ID/FRAME.png``) or a
Ref-Youtube-VOS / Ref-DAVIS root with a split (``PREDS/VID/EXP_ID/FRAME.png``). Masks are
PNG mode L, 0/255, at each frame's original size, one per frame of the split's meta.

Work is grouped by the frames it reads: every pair whose video is X (X's own positive
expressions and, in an R2 dataset, the expressions that use X as their negative) forms one
group, so the backbone runs once per frame and its features serve all of them; captions run
in batches on the shared features.

Windows. ``window=None`` runs the whole video as one clip, the released protocol. With
``window=N`` the video is cut into consecutive clips of at most N frames (memory bounded by
N) and the decisions are made over the whole video, not per clip:

- slot: the query with the highest sigmoid score averaged over *all* frames of the video
  (per-clip sums are accumulated), which is the whole-video rule;
- pair decision: the frame-weighted mean over clips of sigmoid(pair logit), at or above the
  checkpoint's pair threshold (0.5), empties every mask of the video;
- each clip's mask logits for all queries wait in a temporary file on disk until the slot is
  known. With one clip (N >= video length) the result equals ``window=None`` exactly.

Resuming: an expression's masks are written into a temporary folder renamed into place
when complete, so a finished ``EXP_ID`` folder is whole; a rerun skips those and redoes the
rest. Videos are spread over processes by index (``rank::world_size``), so any number of
processes writes the same files as one.

Legend: E captions of a group, B captions of a batch, T frames, n frames of a clip, Q queries,
K classes of the score head, h x w mask size (stride 4).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from r2bench.dataset import is_r2_dataset, plain_root, read_r2_meta
from r2bench.errors import DatasetError, R2BenchError
from r2bench.fileio import remove_stale_staging, staging_prefix
from r2bench.pngsafe import no_bombs
from r2bench.refytvos import RefYTVOSRoot

from .model import R2VOS
from .postprocess import PostProcess
from .preprocess import preprocess_image

log = logging.getLogger(__name__)

Precision = Literal["fp32", "fp16", "bf16"]


@dataclass(frozen=True)
class InferenceConfig:
    """How to run: clip length, caption batch, device, precision and process share."""

    window: int | None = None  # frames per clip; None = the whole video (release protocol)
    batch_expressions: int = 1  # captions run together on one clip's features (memory x B)
    device: str = "cpu"
    precision: Precision = "fp32"  # fp16 / bf16: autocast, CUDA only
    rank: int = 0  # this process's share of the groups: rank::world_size
    world_size: int = 1


@dataclass(frozen=True)
class Item:
    """One caption to run on a group's frames and the folder its masks go to."""

    text: str
    out: Path  # PREDS/[label/]VID/EXP_ID


@dataclass(frozen=True)
class Group:
    """Frames of one video and every caption that runs on them."""

    video: str
    frames: tuple[str, ...]
    frame_paths: tuple[Path, ...]
    items: tuple[Item, ...]


def plan_groups(dataset: str | os.PathLike, split: str | None, out: str | os.PathLike
                ) -> list[Group]:
    """Every group of a dataset (R2 folder, or Ref-YTVOS root with ``split``), sorted."""
    dataset, out = Path(dataset), Path(out)
    if is_r2_dataset(dataset):
        return _plan_r2(dataset, split, out)
    root = plain_root(dataset, split)
    groups = []
    for vid, meta in root.load_videos().items():
        items = tuple(Item(e.exp, out / vid / eid) for eid, e in meta.expressions.items())
        if items:
            paths = tuple(root.jpeg_path(vid, f) for f in meta.frames)
            groups.append(Group(vid, meta.frames, paths, items))
    return sorted(groups, key=lambda g: g.video)


def _plan_r2(dataset: Path, split: str | None, out: Path) -> list[Group]:
    meta = read_r2_meta(dataset)
    if split is not None and split != meta.split:
        raise DatasetError(meta.path, f"--split {split} given, but the R2 dataset was built "
                                      f"from split {meta.split}")
    root = RefYTVOSRoot(dataset / "positive", meta.split)
    items: dict[str, list[Item]] = {}
    for p in meta.pairs:
        items.setdefault(p.video, []).append(Item(p.exp, out / p.pair_id))
    groups = []
    for vid, its in items.items():
        frames = meta.videos[vid].frames
        paths = tuple(root.jpeg_path(vid, f) for f in frames)
        groups.append(Group(vid, frames, paths, tuple(its)))
    return sorted(groups, key=lambda g: g.video)


def is_done(item: Item, frames: tuple[str, ...]) -> bool:
    """Whether an expression's folder is whole (written by a completed run)."""
    return item.out.is_dir() and all((item.out / f"{f}.png").is_file() for f in frames)


def _read_frame(path: Path) -> Image.Image:
    try:
        with no_bombs(), Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise DatasetError(path, "missing frame image") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise DatasetError(path, f"cannot read frame image: {e}") from None


def _windows(n: int, window: int | None) -> list[range]:
    size = n if window is None else window
    return [range(s, min(s + size, n)) for s in range(0, n, size)]


def _batches(items: tuple[Item, ...], size: int) -> Iterator[tuple[Item, ...]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _Accumulator:
    """Per caption of a group: summed frame scores, frame-weighted pair probability, and the
    mask logits of every query (in memory for one clip, in a temporary file for several)."""

    def __init__(self, captions: int, frames: int, queries: int, classes: int,
                 mask_size: tuple[int, int], spill: Path | None):
        shape = (captions, frames, queries, *mask_size)   # [E, T, Q, h, w]
        self.scores = np.zeros((captions, queries, classes), np.float64)   # [E, Q, K] sums
        self.single: torch.Tensor | None = None  # [E, Q, K] frame means when one clip is all
        self.pair = np.zeros(captions, np.float64)   # [E] frame-weighted sigmoid(pair) sums
        self.has_pair = False
        self.t = frames
        if spill is None:
            self.logits = np.empty(shape, np.float32)
        else:
            self.logits = np.lib.format.open_memmap(spill, mode="w+", dtype=np.float32,
                                                    shape=shape)

    def add(self, window: range, first: int, out: dict) -> None:
        """One clip's outputs for captions first..first+B."""
        b = out["pred_logits"].shape[0]
        sl = slice(first, first + b)
        probs = out["pred_logits"].float().sigmoid()  # [B, n, Q, K]
        self.scores[sl] += probs.sum(1).double().cpu().numpy()
        if len(window) == self.t:  # one clip: the release's float32 frame mean, exactly
            if self.single is None:
                self.single = torch.empty(self.scores.shape)
            self.single[sl] = probs.mean(1).cpu()
        self.logits[sl, window.start:window.stop] = out["pred_masks"].float().cpu().numpy()
        if out["pred_pair"] is not None:
            self.has_pair = True
            pair = out["pred_pair"].float().sigmoid().double().cpu().numpy()
            self.pair[sl] += pair * len(window)

    def decide(self, i: int, post: PostProcess) -> tuple[int, bool]:
        """(slot, unrelated) of caption i over the whole video."""
        means = self.single[i] if self.single is not None else torch.from_numpy(
            self.scores[i] / self.t)
        slot = post.slot(means)
        return slot, post.unrelated(self.pair[i] / self.t if self.has_pair else None)


class ReferenceRunner:
    """Runs one model over groups and writes their masks."""

    def __init__(self, model: R2VOS, short_side: int, cfg: InferenceConfig,
                 out_root: str | os.PathLike):
        self.model, self.short_side, self.cfg = model, short_side, cfg
        self.post = PostProcess(model.cfg.postprocess)
        self.device = torch.device(cfg.device)
        self.out_root = Path(out_root)
        # Every rank stages in OUT: each removes only what ended processes left (fileio).
        self.staging = self.out_root / "r2bench-run"

    def clear_stale(self) -> None:
        """Remove the staging folders that killed runs (ended processes) left in PREDS."""
        remove_stale_staging(self.staging)

    def _autocast(self):
        if self.cfg.precision == "fp32":
            return nullcontext()
        dtype = torch.float16 if self.cfg.precision == "fp16" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    @torch.no_grad()
    def run_group(self, group: Group) -> int:
        """Run every unfinished caption of a group; returns how many were written."""
        todo = tuple(it for it in group.items if not is_done(it, group.frames))
        if not todo:
            return 0
        for path in group.frame_paths:
            if not path.is_file():
                raise DatasetError(path, "missing frame image")
        windows = _windows(len(group.frames), self.cfg.window)
        with tempfile.TemporaryDirectory(prefix=staging_prefix(self.staging), suffix=".tmp",
                                         dir=self.out_root) as tmp:
            acc = size = None
            for window in windows:
                images = [_read_frame(group.frame_paths[i]) for i in window]
                size = self._check_sizes(images, group, size)
                x = torch.stack([preprocess_image(im, self.short_side) for im in images])
                with self._autocast():
                    feats = self.model.encode_frames(x.to(self.device))
                for first, batch in zip(range(0, len(todo), self.cfg.batch_expressions),
                                        _batches(todo, self.cfg.batch_expressions)):
                    with self._autocast():
                        out = self.model.forward_features(feats.tile(len(batch)),
                                                          [it.text for it in batch], len(window),
                                                          aux=False)
                    if acc is None:
                        q, k = out["pred_logits"].shape[-2:]
                        spill = Path(tmp) / "logits.npy" if len(windows) > 1 else None
                        acc = _Accumulator(len(todo), len(group.frames), q, k,
                                           tuple(out["pred_masks"].shape[-2:]), spill)
                    acc.add(window, first, out)
            for i, item in enumerate(todo):
                self._write(item, group.frames, acc, i, size, Path(tmp))
        return len(todo)

    @staticmethod
    def _check_sizes(images: list[Image.Image], group: Group,
                     size: tuple[int, int] | None) -> tuple[int, int]:
        for im, path in zip(images, group.frame_paths):
            if size is None:
                size = (im.height, im.width)
            elif (im.height, im.width) != size:
                raise DatasetError(path, f"frame is {im.height}x{im.width}, the video's first "
                                         f"frame is {size[0]}x{size[1]}")
        return size

    def _write(self, item: Item, frames: tuple[str, ...], acc: _Accumulator, i: int,
               size: tuple[int, int], tmp: Path) -> None:
        slot, unrelated = acc.decide(i, self.post)
        staging = tmp / f"item{i}"
        staging.mkdir()
        empty = None
        for t, frame in enumerate(frames):
            if unrelated:
                if empty is None:
                    empty = Image.fromarray(np.zeros(size, np.uint8), mode="L")
                mask_img = empty
            else:
                logits = torch.from_numpy(np.asarray(acc.logits[i, t, slot]))[None]
                mask = self.post.masks(logits, size)[0].numpy()
                mask_img = Image.fromarray(mask.astype(np.uint8) * np.uint8(255), mode="L")
            mask_img.save(staging / f"{frame}.png")
        item.out.parent.mkdir(parents=True, exist_ok=True)
        if item.out.exists():  # an incomplete folder left by an interrupted older writer
            shutil.rmtree(item.out)
        os.replace(staging, item.out)


def my_groups(groups: list[Group], cfg: InferenceConfig) -> list[Group]:
    """This process's share of the groups."""
    return groups[cfg.rank::cfg.world_size]


def check_writable(out: str | os.PathLike) -> None:
    """PREDS must be creatable and writable before any work starts."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
            pass
    except OSError as e:
        raise R2BenchError(out, f"cannot write predictions here: {e.strerror or e}") from None


def resolve_device(device: str, local_rank: int = 0) -> str:
    """``auto`` -> the process's GPU when CUDA is available, else ``cpu``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise R2BenchError(None, "--device cuda: no CUDA device is available")
        return f"cuda:{local_rank % torch.cuda.device_count()}"
    return device


def process_share() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) without it."""
    env = os.environ
    return (int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)),
            int(env.get("LOCAL_RANK", 0)))


def wait_for_all(world_size: int) -> None:
    """Barrier over torchrun's processes (gloo: no GPU needed); nothing for one process."""
    if world_size <= 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    dist.barrier()
    dist.destroy_process_group()


def run_reference(dataset: str | os.PathLike, split: str | None, model: R2VOS,
                  short_side: int, out: str | os.PathLike, cfg: InferenceConfig,
                  progress: bool = False) -> dict[str, int]:
    """Write this process's share of the masks; returns counts of groups, captions written
    and captions skipped as already done."""
    from tqdm import tqdm

    if cfg.precision != "fp32" and not cfg.device.startswith("cuda"):
        raise R2BenchError(None, f"--precision {cfg.precision} needs a CUDA device")
    groups = my_groups(plan_groups(dataset, split, out), cfg)   # reads and checks the dataset
    check_writable(out)                                          # then PREDS is created
    runner = ReferenceRunner(model, short_side, cfg, out)
    runner.clear_stale()
    total = sum(len(g.items) for g in groups)
    written = 0
    bar = tqdm(total=total, unit="caption", desc="run-reference", disable=not progress,
               dynamic_ncols=True)
    with bar:
        for group in groups:
            written += runner.run_group(group)
            bar.update(len(group.items))
    return {"groups": len(groups), "written": written, "skipped": total - written}
