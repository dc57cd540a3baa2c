"""Typed, frozen configuration of a training run (``r2bench train``).

The model, its objective and its post-processing are :class:`~reference_model.config.R2VOSConfig`;
what is here is how it is trained: the data pipeline (:class:`DataConfig`,
:class:`AugmentConfig`), the optimiser and schedule (:class:`OptimConfig`) and the run
(:class:`TrainConfig`). Defaults are the release's (lxa9867/R2VOS ``opts.py``, the schedule of
ReferFormer's ``scripts/dist_train_test_ytvos.sh`` that the paper's section 5.2 states, and
ReferFormer's ``datasets/ytvos.py``); :func:`preset` gives the settings of the named model
configs. Everything round-trips through JSON, which is how a run folder and its checkpoints
record it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from reference_model.config import R2VOSConfig, _from_dict


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (ReferFormer's ``make_coco_transforms('train')``)."""

    flip_prob: float = 0.5  # horizontal flip; "left" and "right" swap in the caption
    scales: tuple[int, ...] = (288, 320, 352, 392, 416, 448, 480, 512)  # shorter sides
    max_size: int = 640  # cap on the longer side
    crop_prob: float = 0.5  # the release's second branch: a random crop before resizing
    crop_min: float = 0.64  # smallest crop side, as a fraction (the release's 384 of 600)
    photometric: bool = True  # brightness, contrast, saturation, hue, channel order
    brightness_delta: float = 32.0  # added to every channel, uniform in +-delta
    contrast_range: tuple[float, float] = (0.5, 1.5)
    saturation_range: tuple[float, float] = (0.5, 1.5)
    hue_delta: float = 18.0  # degrees; 0 keeps every hue
    channel_swap: bool = True  # random permutation of the RGB channels


@dataclass(frozen=True)
class DataConfig:
    """How clips and pairs are drawn from a Ref-Youtube-VOS-layout root."""

    max_skip: int = 3  # local neighbours of the anchor frame are 1..max_skip frames away
    negatives_per_clip: int = 1  # unrelated captions paired with each clip (0: none)
    # captions paired with each clip as positives: its own, and up to this many minus one of
    # other objects of its video visible in the clip (the same frames asked for different
    # objects; the release: 1)
    positives_per_clip: int = 1
    # expressions holding any of these words are left out (as positives and as negatives):
    # the image stage leaves out motion ("moving"), which one frame cannot show
    exclude_words: tuple[str, ...] = ()
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with the release's learning rate per parameter group, a step schedule and
    gradient clipping."""

    lr: float = 1e-4  # every parameter not named below
    lr_backbone: float = 5e-5  # names containing "backbone."
    lr_text_encoder: float = 1e-5  # the language model, when it is not frozen
    lr_linear_proj_mult: float = 1.0  # reference_points and sampling_offsets: lr * this
    weight_decay: float = 5e-4
    lr_drop: tuple[int, ...] = (3, 5)  # epochs after which the rates are multiplied by gamma
    gamma: float = 0.1
    clip_max_norm: float = 0.1  # gradient clipping (0: off)


@dataclass(frozen=True)
class TrainConfig:
    """A training run: model, data, optimiser and the loop's own settings."""

    model: R2VOSConfig = field(default_factory=R2VOSConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    epochs: int = 6  # with lr_drop (3, 5): ReferFormer's Ref-YTVOS script, the paper's 5.2
    batch_size: int = 8  # clips per step over all processes (the release: 1 per GPU x 8)
    max_steps: int | None = None  # stop after this many steps (None: all epochs)
    seed: int = 42
    amp: bool = True  # mixed precision on CUDA (fp16 autocast with loss scaling)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (``ValueError``)."""
        return _from_dict(cls, data)


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        nested = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merge(base[key], value) if nested else value
    return out


def with_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """``cfg`` with the nested ``overrides`` ({"optim": {"lr": 2e-4}}) applied; an unknown
    field or a bad value is a ``ValueError`` / ``TypeError``."""
    return TrainConfig.from_dict(_merge(cfg.to_dict(), overrides)) if overrides else cfg


def tiny_train(model: R2VOSConfig) -> TrainConfig:
    """CPU settings for the ``tiny`` model on ``r2bench synth`` data (96 x 160 frames).

    Trained from scratch, it takes larger steps than the release fine-tunes with. The
    synthetic frames have no lighting to vary and their captions name colours, so the
    photometric distortion is off (its hue and channel-order steps would turn "the red
    circle" blue); sizes scale with the frames. ``docs/training.md`` has the measurements.
    """
    augment = AugmentConfig(scales=(80, 96, 112), max_size=192, crop_prob=0.0,
                            photometric=False)
    return TrainConfig(model=model, data=DataConfig(augment=augment),
                       optim=OptimConfig(lr=1e-3, lr_backbone=5e-4, lr_text_encoder=1e-3,
                                         lr_drop=(2,), weight_decay=1e-4, clip_max_norm=1.0),
                       epochs=3, batch_size=4, seed=0, amp=False)


def r50_train(model: R2VOSConfig) -> TrainConfig:
    """The release's settings for the ResNet-50 model."""
    return TrainConfig(model=model)


PRESETS = {"tiny": tiny_train, "r50": r50_train}
