"""Make the shipped tiny reference model (``reference_model/weights/tiny_synth*``).

    .venv/bin/python scripts/make_tiny_checkpoint.py [--work DIR] [--out reference_model/weights]

1. ``r2bench synth`` source, seed 0: the demo's valid split (24 videos of 8 frames at
   96 x 160) and TRAIN_VIDEOS train videos;
2. the R2 dataset of its valid split (build-dataset seed 0): the demo's;
3. ``r2bench train --config tiny`` on the train split (the preset's 3 epochs), one process
   with two torch threads and one loader worker;
4. the model and its tokenizer folder copied to ``--out``, with ``tiny_synth.json``: how
   they were made and the scores they reach on the R2 dataset (run-reference, then score).

Every step is seeded and runs with fixed thread counts, so two runs on the same CPU type
write the same bytes (``r2bench train --config tiny --data SYNTH --out RUN --workers 1
--threads 2`` trains the same weights).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from datasets_builder.build import build_dataset
from datasets_builder.synth import SynthConfig, write_source
from r2bench.fileio import atomic_write_json
from reference_model.checkpoint import read_checkpoint, save_checkpoint
from reference_model.config import tiny
from reference_model.loading import TOKENIZER_FILES
from reference_model.training.config import tiny_train
from reference_model.training.loop import RunOptions, train

log = logging.getLogger("make_tiny_checkpoint")

# 400 train videos give 3928 samples: 982 steps of 4 clips per epoch; the tiny preset's 3
# epochs (rates x0.1 after the second) take 9 minutes on a quiet 2-core CPU at 2 threads
TRAIN_VIDEOS = 400
THREADS = 2
DEMO = SynthConfig(videos=24, train_videos=TRAIN_VIDEOS, frames=8, height=96, width=160, seed=0)


def make(work: Path, out: Path, max_steps: int | None = None) -> dict:
    torch.set_num_threads(THREADS)
    write_source(work / "synth", DEMO, workers=1)
    build_dataset(work / "synth", "valid", work / "r2", seed=0)
    cfg = tiny_train(tiny()).replace(max_steps=max_steps)
    start = time.perf_counter()
    result = train(cfg, str(work / "synth"), "train", work / "run",
                   RunOptions(device="cpu", workers=1, threads=THREADS, progress=True))
    seconds = time.perf_counter() - start
    weights, trained = read_checkpoint(work / "run" / "model.safetensors")
    out.mkdir(parents=True, exist_ok=True)
    text_out = out / "tiny_synth_text"  # the tokenizer; the weights are in the checkpoint
    if text_out.exists():
        shutil.rmtree(text_out)
    text_out.mkdir()
    for name in (*TOKENIZER_FILES, "config.json", "special_tokens_map.json"):
        if (work / "run" / "text_encoder" / name).is_file():
            shutil.copyfile(work / "run" / "text_encoder" / name, text_out / name)
    portable = trained.replace(text_encoder=replace(trained.text_encoder, path=None))
    save_checkpoint(out / "tiny_synth.safetensors", weights, portable)

    from reference_model.shipped import run_shipped

    results = run_shipped(work / "r2", work / "preds", checkpoint=out / "tiny_synth.safetensors",
                          text_encoder=text_out)
    digest = hashlib.sha256((out / "tiny_synth.safetensors").read_bytes()).hexdigest()
    record = {"format": "r2bench/shipped-model", "version": 1,
              "checkpoint": "tiny_synth.safetensors", "sha256": digest,
              "text_encoder": "tiny_synth_text",
              "made_by": "scripts/make_tiny_checkpoint.py",
              "train": {"config": "tiny", "steps": result.step, "seed": cfg.seed,
                        "synth": {"videos": DEMO.videos, "train_videos": TRAIN_VIDEOS,
                                  "frames": DEMO.frames, "size": [DEMO.height, DEMO.width],
                                  "seed": DEMO.seed},
                        "threads": THREADS, "workers": 1},
              "demo_scores": results["summary"]}
    atomic_write_json(out / "tiny_synth.json", record)
    log.info("trained %d steps in %.0f s; scores %s", result.step, seconds,
                 json.dumps(results["summary"]))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None,
                        help="Keep the source, R2 dataset and run here [a temporary folder].")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "reference_model"
                        / "weights")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="Stop early (to check determinism quickly; not for shipping).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.work is not None:
        make(args.work, args.out, args.max_steps)
        return
    with tempfile.TemporaryDirectory(prefix="r2bench-tiny-") as tmp:
        make(Path(tmp), args.out, args.max_steps)


if __name__ == "__main__":
    main()
