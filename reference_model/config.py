"""Typed, frozen configuration of the R2-VOS reference model (paper section 4).

One dataclass per component, composed into :class:`R2VOSConfig`. The matcher, criterion and
post-processing configs are defined next to their code (``reference_model.matcher``,
``.criterion``, ``.postprocess``) and imported lazily so that this module has no import-time
dependency on them.

Two named configurations: :func:`tiny` (runs on a 2-core CPU) and :func:`r50` (the paper's).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .criterion import CriterionConfig
    from .matcher import MatcherConfig
    from .postprocess import PostProcessConfig


@dataclass(frozen=True)
class BackboneConfig:
    """Visual backbone (section 4.1): a torchvision-compatible ResNet with frozen BatchNorm."""

    name: Literal["resnet18", "resnet34", "resnet50", "resnet101"] = "resnet50"
    width: int = 64  # channels of conv1 / layer1; 64 is torchvision's, smaller for tiny configs
    weights: str | None = None  # local ImageNet checkpoint (.pth or .safetensors); None = random
    train_backbone: bool = True  # DETR convention: layer2-4 trainable, stem and layer1 frozen


@dataclass(frozen=True)
class TextEncoderConfig:
    """Text encoder (section 4.1): a RoBERTa-like model loaded from a local directory."""

    path: str | None = None  # directory readable by AutoModel/AutoTokenizer.from_pretrained
    freeze: bool = True  # the language model stays frozen; only the projections train
    max_length: int = 32  # tokens kept per caption, special tokens included
    dropout: float = 0.1  # dropout after the projection to the hidden size


@dataclass(frozen=True)
class TransformerConfig:
    """Deformable transformer encoder/decoder (Deformable DETR, section 4.1 and 4.4)."""

    hidden_dim: int = 256  # C: channels of every token in the model
    nheads: int = 8
    enc_layers: int = 4
    dec_layers: int = 4
    dim_feedforward: int = 1024
    dropout: float = 0.1
    num_feature_levels: int = 4  # strides 8, 16, 32 from the backbone + an extra stride-64 level
    enc_n_points: int = 4  # sampling points per head and level in the encoder
    dec_n_points: int = 4  # sampling points per head and level in the decoder


@dataclass(frozen=True)
class GroundingConfig:
    """Early grounding (section 4.2) and the V-T projection (section 4.3)."""

    enabled: bool = True  # off: no f_early, no reconstructed text embedding e'
    nheads: int = 8  # heads of the video<->text cross-attention (eqs. 4-5)
    num_kernels: int = 8  # K dynamic 1x1 kernels theta_i in R^C (eq. 6)
    dim_feedforward: int = 1024
    dropout: float = 0.1
    projection_layers: int = 2  # transformer decoder layers of the V-T projection
    projection_nheads: int = 8


@dataclass(frozen=True)
class HeadConfig:
    """Query construction, prediction heads and the mask branch (section 4.4)."""

    num_queries: int = 5  # N instance queries per frame
    text_fusion: bool = True  # fuse e' into e before building the queries; off = e only
    consensus_head: bool = True  # semantic consensus discrimination head H(e, e')
    mask_stride: Literal[4, 8] = 4  # stride of the FPN output the masks are predicted at
    mask_dim: int = 8  # channels of the FPN output fed to the dynamic convolutions
    dynamic_channels: int = 8  # channels of the hidden dynamic conv layers
    dynamic_layers: int = 3  # number of dynamic 1x1 conv layers (last outputs 1 channel)
    box_mlp_layers: int = 3


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
    head: HeadConfig = field(default_factory=HeadConfig)
    num_frames: int = 5  # window size T of a training clip
    input_size: tuple[int, int] = (360, 640)  # (H, W) of the training frames
    matcher: MatcherConfig = field(
        default_factory=lambda: _lazy_config("reference_model.matcher", "MatcherConfig"))
    criterion: CriterionConfig = field(
        default_factory=lambda: _lazy_config("reference_model.criterion", "CriterionConfig"))
    postprocess: PostProcessConfig = field(
        default_factory=lambda: _lazy_config("reference_model.postprocess", "PostProcessConfig"))

    def __post_init__(self) -> None:
        g, h = self.grounding, self.head
        if not g.enabled and (h.consensus_head or h.text_fusion):
            raise ValueError("consensus_head and text_fusion need e', i.e. grounding.enabled")
        if h.mask_stride not in (4, 8):
            raise ValueError(f"mask_stride must be 4 or 8, got {h.mask_stride}")
        if self.transformer.num_feature_levels != 4:
            raise ValueError("the model uses exactly 4 feature levels (strides 8, 16, 32, 64)")

    def replace(self, **changes: Any) -> R2VOSConfig:
        """A copy with top-level fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def tiny(text_encoder_path: str | None = None) -> R2VOSConfig:
    """A configuration that trains on a 2-core CPU: 96x160 input, hidden 64, 5 queries."""
    return R2VOSConfig(
        backbone=BackboneConfig(name="resnet18", width=16, train_backbone=True),
        text_encoder=TextEncoderConfig(path=text_encoder_path, max_length=24, dropout=0.0),
        transformer=TransformerConfig(hidden_dim=64, nheads=4, enc_layers=1, dec_layers=2,
                                      dim_feedforward=128, dropout=0.0, enc_n_points=2,
                                      dec_n_points=2),
        grounding=GroundingConfig(nheads=4, num_kernels=4, dim_feedforward=128, dropout=0.0,
                                  projection_layers=1, projection_nheads=4),
        head=HeadConfig(num_queries=5, mask_stride=8),
        num_frames=2,
        input_size=(96, 160),
    )


def r50(text_encoder_path: str | None = None,
        backbone_weights: str | None = None) -> R2VOSConfig:
    """The paper's configuration: ResNet-50, hidden 256, 4+4 layers, window 5, 360x640."""
    return R2VOSConfig(
        backbone=BackboneConfig(name="resnet50", weights=backbone_weights),
        text_encoder=TextEncoderConfig(path=text_encoder_path),
        num_frames=5,
        input_size=(360, 640),
    )
