"""The tiny reference model that ships with the package, trained on ``r2bench synth`` data.

``weights/tiny_synth.safetensors`` is an r2bench checkpoint of the ``tiny`` config, trained
by climbing the synthetic pre-training ladder (``r2bench train --stage``), and
``weights/tiny_synth_text/`` its tokenizer folder; ``weights/tiny_synth.json`` records how
they were made (``scripts/make_tiny_checkpoint.py``, which remakes them byte for byte) and
the scores they reach on the demo's R2 dataset (``r2bench demo``: synth seed 0, 24 valid
videos of 8 frames at 96 x 160, build-dataset seed 0). Importing this module needs torch
(the ``model`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path

from r2bench.refytvos import load_json
from r2bench.scoring import score_submission

from .inference import InferenceConfig, run_reference
from .loading import load_model

WEIGHTS = Path(__file__).parent / "weights"
CHECKPOINT = WEIGHTS / "tiny_synth.safetensors"
TEXT_ENCODER = WEIGHTS / "tiny_synth_text"
RECORD = WEIGHTS / "tiny_synth.json"
NAME = "reference_tiny"


def record() -> dict:
    """The shipped model's record: provenance and its scores on the demo's R2 dataset."""
    return load_json(RECORD, "shipped model record")


def backbone_label() -> str:
    """What the leaderboard's backbone column shows: the tiny config's backbone, and how it
    was trained (the ladder's training minutes, from the record)."""
    minutes = sum(record()["train"]["seconds"].values()) / 60
    return f"ResNet-18 (width 16); tiny, synthetic ladder, {minutes:.0f} CPU-min"


def run_shipped(r2_dataset: str | os.PathLike, out: str | os.PathLike, progress: bool = False,
                checkpoint: str | os.PathLike = CHECKPOINT,
                text_encoder: str | os.PathLike = TEXT_ENCODER) -> dict:
    """Run the shipped model (or another checkpoint) over an R2 dataset into ``out`` and
    score it: the results."""
    model, cfg = load_model(checkpoint, text_encoder, "cpu")
    run_reference(r2_dataset, None, model, cfg.short_side, out, InferenceConfig(), progress)
    return score_submission(out, r2_dataset, workers=1)
