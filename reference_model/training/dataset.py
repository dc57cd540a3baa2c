"""Batches of (caption, clip) pairs for training, loaded in worker processes.

An epoch is one seeded permutation of the :class:`~reference_model.training.clips.ClipIndex`
samples cut into global batches of ``batch_size`` clips (the last partial batch dropped).
Process r of W takes the r-th of W equal slices of every global batch, so one process and
W processes see the same global batches. Each global batch has one frame size, drawn from
the augmentation's scales (frames of a batch must share a size: the model has no padding
masks).

Every random draw of an item comes from a generator seeded by (seed, epoch, position in the
epoch): the data do not depend on the number of processes or loader workers, and the
position alone (epoch, batch) is enough to resume.

A batch of B clips holds the positive pairs (each clip with its own caption, and with
``positives_per_clip - 1`` more captions of *other* objects of its video that are visible in
the clip, when there are such objects) followed by B * ``negatives_per_clip`` negative pairs
(each clip with captions unrelated to it), so the frames of a clip are encoded once for all
its pairs. Extra positives ask the same frames for different objects: nothing but the
caption tells their targets apart.

Legend: B clips, P pairs, T frames, H x W batch frame size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from r2bench.errors import DatasetError
from r2bench.pngsafe import no_bombs
from r2bench.refytvos import read_annotations
from r2bench.seeds import stream
from reference_model.box_ops import box_xyxy_to_cxcywh, masks_to_boxes
from reference_model.preprocess import IMAGENET_MEAN, IMAGENET_STD

from .augment import augment_clip
from .clips import ClipIndex, sample_frame_indices
from .config import DataConfig

_MAX_RESAMPLES = 100  # clips without the object in any frame are redrawn (the release: forever)


@dataclass(frozen=True)
class ItemKey:
    """Which item to make: sample ``sample`` at ``position`` of ``epoch``, at ``size``."""

    sample: int
    epoch: int
    position: int
    size: tuple[int, int]


@dataclass
class Batch:
    """``frames`` uint8 [B, T, H, W, 3]; ``captions`` P strings; ``clip_of_pair`` [P] long;
    ``targets`` P dicts ("positive"; positives also "boxes" [T, 4] cxcywh normalised,
    "masks" [T, H, W] uint8, "valid" [T] bool)."""

    frames: Tensor
    captions: list[str]
    clip_of_pair: Tensor
    targets: list[dict]

    def normalised_frames(self, device: torch.device | str) -> Tensor:
        """[B, T, 3, H, W] float32, ImageNet-normalised, on ``device``."""
        x = self.frames.to(device).permute(0, 1, 4, 2, 3).float().div_(255)
        mean = torch.tensor(IMAGENET_MEAN, device=device)[:, None, None]
        std = torch.tensor(IMAGENET_STD, device=device)[:, None, None]
        return (x - mean) / std

    def to(self, device: torch.device | str) -> Batch:
        targets = [{k: v.to(device) if isinstance(v, Tensor) else v for k, v in t.items()}
                   for t in self.targets]
        return Batch(self.frames, self.captions, self.clip_of_pair.to(device), targets)


def batch_frame_size(scale: int, base: tuple[int, int], max_size: int,
                     multiple: int = 4) -> tuple[int, int]:
    """(H, W) with the shorter side ``scale`` (the longer capped at ``max_size``, as
    torchvision-style RandomResize does), the aspect ratio of ``base``, both sides rounded
    to a multiple of ``multiple`` (the mask stride)."""
    short, long = sorted(base)
    s, lo = float(scale), scale * long / short
    if lo > max_size:
        s, lo = s * max_size / lo, float(max_size)
    s, lo = (max(multiple, round(v / multiple) * multiple) for v in (s, lo))
    return (s, lo) if base[0] <= base[1] else (lo, s)


class EpochBatches:
    """The batch sampler: this process's share of each global batch of one epoch, from
    batch ``first`` on. Set the epoch with :meth:`set_epoch` before iterating."""

    def __init__(self, n_samples: int, batch_size: int, seed: int, scales: tuple[int, ...],
                 base: tuple[int, int], max_size: int, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not a multiple of the "
                             f"{world_size} processes")
        if n_samples < batch_size:
            raise ValueError(f"{n_samples} samples cannot fill one batch of {batch_size}")
        self.n, self.batch_size, self.seed = n_samples, batch_size, seed
        self.sizes = [batch_frame_size(s, base, max_size) for s in scales]
        self.rank, self.world_size = rank, world_size
        self.epoch, self.first = 0, 0

    def set_epoch(self, epoch: int, first: int = 0) -> None:
        self.epoch, self.first = epoch, first

    def __len__(self) -> int:
        return self.n // self.batch_size - self.first

    def __iter__(self) -> Iterator[list[ItemKey]]:
        order = stream(self.seed, self.epoch).permutation(self.n)
        share = self.batch_size // self.world_size
        for b in range(self.first, self.n // self.batch_size):
            rng = stream(self.seed, self.epoch, b, 1)
            size = self.sizes[int(rng.integers(len(self.sizes)))]
            start = b * self.batch_size + self.rank * share
            yield [ItemKey(int(order[p]), self.epoch, p, size)
                   for p in range(start, start + share)]


class PairDataset(torch.utils.data.Dataset):
    """Makes the clip of an :class:`ItemKey` and the captions of its pairs."""

    def __init__(self, index: ClipIndex, cfg: DataConfig, num_frames: int, seed: int):
        self.index, self.cfg, self.t, self.seed = index, cfg, num_frames, seed
        self.by_video: dict[str, list[int]] = {}  # VID -> its expressions
        for i, e in enumerate(index.expressions):
            self.by_video.setdefault(e.video, []).append(i)
        if cfg.negatives_per_clip:
            lonely = [v for v in index.videos if not index.unrelated[v].any()]
            if lonely:
                raise DatasetError(index.root.meta_expressions_path,
                                   f"no expression is unrelated to video(s) "
                                   f"{', '.join(lonely[:5])}: no negative pair can be drawn")

    def __len__(self) -> int:
        return len(self.index.samples)

    def __getitem__(self, key: ItemKey) -> dict:
        rng = stream(self.seed, key.epoch, key.position, 0)
        sample = self.index.samples[key.sample]
        for _ in range(_MAX_RESAMPLES):
            item = self._clip(rng, sample, key.size)
            if item["valid"].any():  # the release's instance check
                break
            sample = self.index.samples[int(rng.integers(len(self.index.samples)))]
        else:
            raise DatasetError(self.index.root.root, f"{_MAX_RESAMPLES} clips in a row without "
                                                     f"their object: check the annotations")
        video = self.index.expressions[sample.expression].video
        candidates = self.index.unrelated_to(video) if self.cfg.negatives_per_clip else []
        picks = rng.choice(len(candidates), self.cfg.negatives_per_clip) if len(candidates) else []
        item["negatives"] = [self.index.expressions[candidates[i]].text for i in picks]
        return item

    def _clip(self, rng: np.random.Generator, sample, size: tuple[int, int]) -> dict:
        exp = self.index.expressions[sample.expression]
        names = self.index.videos[exp.video]
        picked = sample_frame_indices(rng, len(names), sample.anchor, self.t, self.cfg.max_skip)
        root = self.index.root
        frames = np.stack([_read_rgb(root.jpeg_path(exp.video, names[i])) for i in picked])
        labels = read_annotations([root.annotation_path(exp.video, names[i]) for i in picked])
        if labels.shape[1:] != frames.shape[1:3]:
            raise DatasetError(root.annotation_path(exp.video, names[picked[0]]),
                               f"annotation is {labels.shape[1]}x{labels.shape[2]}, the frame "
                               f"is {frames.shape[1]}x{frames.shape[2]}")
        exps = [exp] + self._other_objects(rng, exp, labels)
        masks = np.concatenate([labels == e.obj_id for e in exps])  # [K*T, H, W]
        frames, masks, captions = augment_clip(rng, frames, masks, tuple(e.text for e in exps),
                                               size, self.cfg.augment)
        masks_t = torch.from_numpy(np.ascontiguousarray(masks))  # [K*T, H, W] bool
        h, w = size
        boxes = masks_to_boxes(masks_t) / torch.tensor([w, h, w, h], dtype=torch.float32)
        boxes = box_xyxy_to_cxcywh(boxes)
        targets = [{"caption": c, "masks": m.to(torch.uint8), "boxes": b,
                    "valid": m.flatten(1).any(1)}
                   for c, m, b in zip(captions, masks_t.split(self.t), boxes.split(self.t))]
        first = targets[0]
        return {"frames": torch.from_numpy(np.ascontiguousarray(frames)),
                "caption": first["caption"], "masks": first["masks"], "boxes": first["boxes"],
                "valid": first["valid"], "video": exp.video, "extra": targets[1:]}

    def _other_objects(self, rng: np.random.Generator, exp, labels: np.ndarray) -> list:
        """Up to ``positives_per_clip - 1`` expressions of other objects of the video, one per
        object, each visible somewhere in the clip (``labels`` [T, H, W])."""
        if self.cfg.positives_per_clip <= 1:
            return []
        by_object: dict[int, list] = {}
        for i in self.by_video[exp.video]:
            other = self.index.expressions[i]
            if other.obj_id != exp.obj_id:
                by_object.setdefault(other.obj_id, []).append(other)
        visible = [o for o in sorted(by_object) if (labels == o).any()]
        if not visible:
            return []
        k = min(self.cfg.positives_per_clip - 1, len(visible))
        chosen = rng.choice(len(visible), k, replace=False)
        return [by_object[visible[c]][int(rng.integers(len(by_object[visible[c]])))]
                for c in sorted(chosen)]


def _read_rgb(path) -> np.ndarray:
    try:
        with no_bombs(), Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DatasetError(path, "missing frame image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DatasetError(path, f"cannot read frame image: {e}") from None


def collate_pairs(items: list[dict]) -> Batch:
    """Clips -> a :class:`Batch`: the B positive pairs (each clip's own caption), the extra
    positive pairs (``positives_per_clip``), then the negative pairs."""
    frames = torch.stack([it["frames"] for it in items])  # [B, T, H, W, 3]
    captions = [it["caption"] for it in items]
    clip_of_pair = list(range(len(items)))
    targets = [{"positive": True, "boxes": it["boxes"], "masks": it["masks"],
                "valid": it["valid"]} for it in items]
    for c, it in enumerate(items):
        for extra in it.get("extra", ()):
            captions.append(extra["caption"])
            clip_of_pair.append(c)
            targets.append({"positive": True, "boxes": extra["boxes"], "masks": extra["masks"],
                            "valid": extra["valid"]})
    for c, it in enumerate(items):
        for text in it["negatives"]:
            captions.append(text)
            clip_of_pair.append(c)
            targets.append({"positive": False})
    return Batch(frames, captions, torch.tensor(clip_of_pair), targets)
