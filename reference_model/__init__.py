"""Reference model of R2-VOS (Li et al., "Robust Referring Video Object Segmentation with
Cyclic Structural Consensus"): backbone, text encoder, transformer, heads, matcher, criterion
and post-processing. Torch lives here: ``r2bench``'s core never imports it, and the
command line imports it only inside the model's commands.
"""

from .config import (
    BackboneConfig,
    GroundingConfig,
    HeadConfig,
    R2VOSConfig,
    TextEncoderConfig,
    TransformerConfig,
    VTProjectionConfig,
    r50,
    tiny,
)

__all__ = [
    "R2VOS",
    "BackboneConfig",
    "GroundingConfig",
    "HeadConfig",
    "R2VOSConfig",
    "TextEncoderConfig",
    "TransformerConfig",
    "VTProjectionConfig",
    "build_model",
    "r50",
    "tiny",
]


def __getattr__(name: str):
    # torch-heavy names are imported on first use so that ``import reference_model`` is cheap
    if name == "build_model":
        from .build import build_model
        return build_model
    if name == "R2VOS":
        from .model import R2VOS
        return R2VOS
    raise AttributeError(name)
