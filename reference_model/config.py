"""Typed, frozen configuration of the R2-VOS reference model.

The structure is the one the authors released (lxa9867/R2VOS, flags ``--with_box_refine
--binary --backbone resnet50 --use_cycle --mix_query --neg_cls``), which is what produced the
published numbers; ``docs/reference-model.md`` lists where it differs from the paper's prose.
One dataclass per component, composed into :class:`R2VOSConfig`. The matcher, criterion and
post-processing configs live next to their code and are imported lazily (they pull in torch).

Two named configurations: :func:`r50` (the release) and :func:`tiny` (the same structure,
small enough to train on a 2-core CPU). Configs round-trip through JSON
(:meth:`R2VOSConfig.to_dict` / :meth:`R2VOSConfig.from_dict`), which is how checkpoints carry
them.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .criterion import CriterionConfig
    from .matcher import MatcherConfig
    from .postprocess import PostProcessConfig


@dataclass(frozen=True)
class BackboneConfig:
    """Visual backbone: a torchvision-compatible ResNet with frozen BatchNorm."""

    name: Literal["resnet18", "resnet34", "resnet50", "resnet101"] = "resnet50"
    width: int = 64  # channels of conv1 / layer1; 64 is torchvision's, smaller for tiny configs
    weights: str | None = None  # local ImageNet checkpoint (.pth or .safetensors); None = random
    train_backbone: bool = True  # DETR convention: layer2-4 trainable, stem and layer1 frozen


@dataclass(frozen=True)
class TextEncoderConfig:
    """RoBERTa-family text encoder read from a local Hugging Face folder.

    ``arch`` is the language model's architecture (RobertaConfig fields). Checkpoints record
    it, so a model is rebuilt from the checkpoint alone and the folder only has to provide the
    tokenizer; without ``arch`` the folder's ``config.json`` gives it.
    """

    path: str | None = None  # folder with tokenizer files and config.json
    freeze: bool = True  # the release freezes the language model (--freeze_text_encoder)
    dropout: float = 0.1  # dropout of the FeatureResizer after the language model
    arch: dict[str, Any] | None = None  # RobertaConfig fields; None = read from ``path``


@dataclass(frozen=True)
class TransformerConfig:
    """Deformable transformer encoder/decoder and the input projection (Deformable DETR)."""

    hidden_dim: int = 256  # C: channels of every token in the model
    nheads: int = 8
    enc_layers: int = 4
    dec_layers: int = 4
    dim_feedforward: int = 2048
    dropout: float = 0.1
    num_feature_levels: int = 4  # strides 8, 16, 32 from the backbone + an extra stride-64 level
    enc_n_points: int = 4  # sampling points per head and level in the encoder
    dec_n_points: int = 4  # sampling points per head and level in the decoder
    input_proj_groups: int = 32  # GroupNorm groups of the input projection
    fusion_nheads: int = 8  # heads of the multiplicative vision-language fusion


@dataclass(frozen=True)
class GroundingConfig:
    """Early grounding at the top (stride 32) of the cross-modal FPN (the release's "dual"
    FPN): video self-attention, language-to-video and video-to-language attention, then a
    channel-wise dynamic modulation by the words pooled to ``text_pool_size`` kernels."""

    enabled: bool = True  # off: a plain FPN top level (the ReferFormer-style baseline)
    nheads: int = 8
    dim_feedforward: int = 2048
    dropout: float = 0.1
    text_pool_size: int = 3  # K: words pooled to K dynamic kernels


@dataclass(frozen=True)
class VTProjectionConfig:
    """V-T projection: a transformer decoder reads the grounded feature with one learnable
    text query and returns the reconstructed text embedding e'."""

    enabled: bool = True  # the release's --use_cycle; needed by query mixing and the pair head
    layers: int = 3
    nheads: int = 8
    dim_feedforward: int = 2048
    dropout: float = 0.1


@dataclass(frozen=True)
class HeadConfig:
    """FPN output, queries and prediction heads."""

    num_queries: int = 5  # N instance queries per frame
    num_classes: int = 1  # --binary: one score logit per query
    mix_query: bool = True  # queries e + LN(Linear([e; e'])) (--mix_query); off: e
    pair_head: bool = True  # the misalignment classifier on [e; e'] (--neg_cls)
    mask_dim: int = 256  # channels of the FPN output fed to the dynamic convolutions
    fpn_groups: int = 8  # GroupNorm groups of every FPN convolution
    controller_layers: int = 3  # dynamic 1x1 conv layers (the last outputs 1 channel)
    dynamic_channels: int = 8  # channels of the hidden dynamic conv layers
    rel_coord: bool = True  # relative coordinates (pixels) as 2 extra mask-feature channels


def _lazy_config(module: str, name: str) -> Any:
    """``module.name()``, imported on first use: those modules pull in torch."""
    return getattr(importlib.import_module(module), name)()


@dataclass(frozen=True)
class R2VOSConfig:
    """The whole reference model, training objective and post-processing."""

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    vt_projection: VTProjectionConfig = field(default_factory=VTProjectionConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    num_frames: int = 5  # window T of a training clip
    input_size: tuple[int, int] = (360, 640)  # (H, W) of the training frames
    short_side: int = 360  # inference: frames resized so the shorter side is this
    matcher: MatcherConfig = field(
        default_factory=lambda: _lazy_config("reference_model.matcher", "MatcherConfig"))
    criterion: CriterionConfig = field(
        default_factory=lambda: _lazy_config("reference_model.criterion", "CriterionConfig"))
    postprocess: PostProcessConfig = field(
        default_factory=lambda: _lazy_config("reference_model.postprocess", "PostProcessConfig"))

    def __post_init__(self) -> None:
        h, t = self.head, self.transformer
        if not self.vt_projection.enabled and (h.mix_query or h.pair_head):
            raise ValueError("mix_query and pair_head need e', i.e. vt_projection.enabled")
        if t.num_feature_levels != 4:
            raise ValueError("the model uses exactly 4 feature levels (strides 8, 16, 32, 64)")
        if t.hidden_dim % 2 or (t.hidden_dim // 2) % 2:
            raise ValueError(f"hidden_dim must be a multiple of 4, got {t.hidden_dim}")

    def replace(self, **changes: Any) -> R2VOSConfig:
        """A copy with top-level fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field, nested configs included."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> R2VOSConfig:
        """Inverse of :meth:`to_dict`; unknown keys (``ValueError``) or a non-object where a
        config belongs (``TypeError``) are errors."""
        return _from_dict(cls, data)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, vars(importlib.import_module(cls.__module__)) | {
        "CriterionConfig": _config_class("reference_model.criterion", "CriterionConfig"),
        "MatcherConfig": _config_class("reference_model.matcher", "MatcherConfig"),
        "PostProcessConfig": _config_class("reference_model.postprocess", "PostProcessConfig"),
    })
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {', '.join(unknown)}")
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            value = _from_dict(kind, value)
        elif _is_tuple(kind) and isinstance(value, (list, tuple)):
            value = tuple(value)
        elif _is_tuple(kind) and value is not None:
            raise TypeError(f"{cls.__name__}.{name}: expected a list, e.g. [{value}], "
                            f"got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def _config_class(module: str, name: str) -> type:
    return getattr(importlib.import_module(module), name)


def _is_tuple(kind: Any) -> bool:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple(k) for k in typing.get_args(kind))
    return origin is tuple or kind is tuple


def tiny(text_encoder_path: str | None = None) -> R2VOSConfig:
    """The release's structure at CPU size: ResNet-18 of width 16, hidden 64, 96x160 frames.

    Its language model is small and starts random (no pretrained one exists at this size),
    so unlike the release's it is trained (``freeze=False``).
    """
    return R2VOSConfig(
        backbone=BackboneConfig(name="resnet18", width=16),
        text_encoder=TextEncoderConfig(path=text_encoder_path, freeze=False, dropout=0.0),
        transformer=TransformerConfig(hidden_dim=64, nheads=4, enc_layers=1, dec_layers=2,
                                      dim_feedforward=128, dropout=0.0, enc_n_points=2,
                                      dec_n_points=2, input_proj_groups=8, fusion_nheads=4),
        grounding=GroundingConfig(nheads=4, dim_feedforward=128, dropout=0.0),
        vt_projection=VTProjectionConfig(layers=1, nheads=4, dim_feedforward=128, dropout=0.0),
        head=HeadConfig(mask_dim=16),
        num_frames=2,
        input_size=(96, 160),
        short_side=96,
    )


def r50(text_encoder_path: str | None = None,
        backbone_weights: str | None = None) -> R2VOSConfig:
    """The released model: ResNet-50, hidden 256, 4+4 layers, window 5, shorter side 360."""
    return R2VOSConfig(
        backbone=BackboneConfig(name="resnet50", weights=backbone_weights),
        text_encoder=TextEncoderConfig(path=text_encoder_path),
    )


CONFIGS = {"tiny": tiny, "r50": r50}
