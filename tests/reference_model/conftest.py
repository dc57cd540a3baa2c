"""Shared fixtures of the reference-model tests: offline Hugging Face, a tiny text encoder
trained on captions shaped like the synthetic dataset's."""

from __future__ import annotations

import itertools
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # never reach the hub, even by accident
os.environ["TRANSFORMERS_OFFLINE"] = "1"

COLOURS = ["red", "green", "blue", "yellow", "purple"]
SIZES = ["small", "big", "large", "tiny"]
SHAPES = ["circle", "square", "star", "triangle", "hexagon"]
MOTIONS = ["moving left", "moving right", "moving up", "moving down", "standing still"]
RELATIONS = ["below", "above", "left of", "right of", "next to"]


def synthetic_captions() -> list[str]:
    """Expressions like "the small red circle moving left", "the square below the blue star"."""
    out = [f"the {s} {c} {sh} {m}"
           for s, c, sh, m in itertools.product(SIZES, COLOURS, SHAPES, MOTIONS)]
    out += [f"the {a} {r} the {c} {b}"
            for a, r, c, b in itertools.product(SHAPES, RELATIONS, COLOURS, SHAPES)]
    return out


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run torch on one thread. These tensors are too small to gain from a second one, and on a
    shared 2-core machine torch's spinning worker threads make each op many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def captions() -> list[str]:
    return synthetic_captions()


@pytest.fixture(scope="session")
def tiny_text_dir(tmp_path_factory, captions) -> str:
    from reference_model.text_encoder import make_tiny_text_encoder

    return make_tiny_text_encoder(tmp_path_factory.mktemp("tiny_roberta"), captions,
                                  hidden=32, layers=2, heads=2, seed=0)
