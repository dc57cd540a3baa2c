"""``build_model(cfg) -> (model, criterion, postprocessor)``, the one place parts are wired."""

from __future__ import annotations

from torch import nn

from .config import R2VOSConfig
from .model import R2VOS


def build_model(cfg: R2VOSConfig) -> tuple[R2VOS, nn.Module, nn.Module]:
    """Build the R2-VOS model, its training criterion (with the Hungarian matcher) and the
    post-processor, each from its part of ``cfg``."""
    from .criterion import SetCriterion
    from .matcher import HungarianMatcher
    from .postprocess import PostProcess

    model = R2VOS(cfg)
    criterion = SetCriterion(cfg.criterion, matcher=HungarianMatcher(cfg.matcher))
    postprocessor = PostProcess(cfg.postprocess)
    return model, criterion, postprocessor
