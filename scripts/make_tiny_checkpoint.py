"""Make the shipped tiny reference model (``reference_model/weights/tiny_synth*``).

    .venv/bin/python scripts/make_tiny_checkpoint.py [--work DIR] [--out reference_model/weights]

1. ``r2bench synth`` source, seed 0: the demo's valid split (24 videos of 8 frames at
   96 x 160) and TRAIN_VIDEOS train videos;
2. the R2 dataset of its valid split (build-dataset seed 0): the demo's;
3. the pre-training ladder (``r2bench train --stage``, docs/training.md), each rung started
   from the previous one's weights: ``backbone`` (shapes and colours of the train frames),
   ``text`` (masked-language modelling of the train captions), ``image`` (referring at
   T = 1 with unrelated negatives), ``video`` (R2-VOS), one process with THREADS torch threads
   and one loader worker; the image and video stages are scored on the R2 dataset at the
   end of each epoch;
4. the model and its tokenizer folder copied to ``--out``, with ``tiny_synth.json``: how
   they were made and the scores they reach on the R2 dataset (run-reference, then score).

Every step is seeded and runs with fixed thread counts, so two runs on the same CPU type
write the same bytes. ``--resume`` with the same ``--work`` continues an interrupted climb
(finished rungs are kept, a stopped one resumes from its newest checkpoint).
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
from datasets_builder.scene import COLOURS, SHAPES
from datasets_builder.synth import SynthConfig, write_source
from r2bench.fileio import atomic_write_json
from reference_model.checkpoint import read_checkpoint, save_checkpoint
from reference_model.config import tiny
from reference_model.loading import TOKENIZER_FILES
from reference_model.training.config import tiny_train, with_overrides
from reference_model.training.ladder import (
    VIDEO_RUNG_SETTINGS,
    stage_config,
    train_backbone,
    train_text,
)
from reference_model.training.loop import RunOptions, train

log = logging.getLogger("make_tiny_checkpoint")

TRAIN_VIDEOS = 400
THREADS = 1  # two threads wait on each other when the 2 cores are shared
DEMO = SynthConfig(videos=24, train_videos=TRAIN_VIDEOS, frames=8, height=96, width=160, seed=0)
# steps per rung (image and video: --max-steps over the stage's epochs)
# (sized for the shared 2-core machine, where this process gets about half a core)
LADDER = {"backbone": 2000, "text": 600, "image": 2946, "video": 2946}
# (epochs, epochs after which the rates drop x0.1) of the image and video rungs; an epoch
# is 982 steps in both
SCHEDULE = {"image": (3, (2,)), "video": (3, (2,))}


def _last(run: Path, key: str) -> float:
    """The largest ``key`` of the rung's step lines in its log: ``time`` is its training
    time (resumes included, validations not), ``step`` its steps."""
    values = [json.loads(line).get(key) for line in
              (run / "log.jsonl").read_text().splitlines() if line.strip()]
    return max(v for v in values if v is not None)


def _done(run: Path) -> bool:
    return (run / "model.safetensors").is_file() and (run / "DONE").is_file()


def climb(work: Path, ladder: dict[str, int], val: Path | None, progress: bool = True
          ) -> tuple[Path, dict[str, float], int]:
    """Every rung of the ladder in ``work/<stage>``; returns the last run folder, the
    seconds each rung took and the video stage's steps."""
    data, cfg = str(work / "synth"), tiny_train(tiny())
    seconds, init, last = {}, None, None
    for stage, n in ladder.items():
        run = work / stage
        start = time.perf_counter()
        if not _done(run):
            resume = (run / "checkpoints").exists()
            if stage == "backbone":
                train_backbone(cfg, data, "train", run, shapes=SHAPES, colours=COLOURS, steps=n,
                               init=init, resume=resume, threads=THREADS, progress=progress)
            elif stage == "text":
                train_text(cfg, data, "train", run, steps=n, init=init, resume=resume,
                           threads=THREADS, progress=progress)
            else:
                epochs, drops = SCHEDULE[stage]
                c = stage_config(cfg, stage)  # the image rung: LADDER_SETTINGS at T = 1
                if stage == "video":
                    c = with_overrides(c, VIDEO_RUNG_SETTINGS)
                c = c.replace(max_steps=n, epochs=epochs, optim=replace(c.optim, lr_drop=drops))
                result = train(c, data, "train", run,
                               RunOptions(device="cpu", workers=1, threads=THREADS,
                                          progress=progress,
                                          val=str(val) if val is not None else None),
                               init=None if resume else init,
                               resume=str(run) if resume else None)
                if result.stopped_by:
                    raise SystemExit(f"{stage} stopped by {result.stopped_by}: run again with "
                                     "the same --work to continue")
            (run / "DONE").write_text("done\n")
        seconds[stage] = round(_last(run, "time"), 1)
        log.info("%s: %.0f s of training (%.0f s now)", stage, seconds[stage],
                 time.perf_counter() - start)
        init, last = str(run / "model.safetensors"), run
    return last, seconds, int(_last(last, "step"))


def make(work: Path, out: Path, ladder: dict[str, int] | None = None) -> dict:
    torch.set_num_threads(THREADS)
    ladder = ladder or LADDER
    if not (work / "synth").exists():
        write_source(work / "synth", DEMO, workers=1)
    if not (work / "r2").exists():
        build_dataset(work / "synth", "valid", work / "r2", seed=0)
    run, seconds, steps = climb(work, ladder, work / "r2")
    total = sum(seconds.values())
    weights, trained = read_checkpoint(run / "model.safetensors")
    out.mkdir(parents=True, exist_ok=True)
    text_out = out / "tiny_synth_text"  # the tokenizer; the weights are in the checkpoint
    if text_out.exists():
        shutil.rmtree(text_out)
    text_out.mkdir()
    for name in (*TOKENIZER_FILES, "config.json", "special_tokens_map.json"):
        if (run / "text_encoder" / name).is_file():
            shutil.copyfile(run / "text_encoder" / name, text_out / name)
    portable = trained.replace(text_encoder=replace(trained.text_encoder, path=None))
    save_checkpoint(out / "tiny_synth.safetensors", weights, portable)

    from reference_model.shipped import run_shipped

    results = run_shipped(work / "r2", work / "preds", checkpoint=out / "tiny_synth.safetensors",
                          text_encoder=text_out)
    from reference_model.training.probe import clip_probe, grounding_probe

    # the pair head on held-out pairs: every valid video's first clip with its own caption
    # and with an unrelated one (the demo's videos; J&F here is without the pair gate)
    heldout = clip_probe(str(out / "tiny_synth.safetensors"), str(text_out),
                         str(work / "synth"), "valid", DEMO.videos)
    # the words bound to the objects: each object of a held-out clip asked for by its caption
    grounding = grounding_probe(str(out / "tiny_synth.safetensors"), str(text_out),
                                str(work / "synth"), "valid")
    digest = hashlib.sha256((out / "tiny_synth.safetensors").read_bytes()).hexdigest()
    cfg = tiny_train(tiny())
    record = {"format": "r2bench/shipped-model", "version": 2,
              "checkpoint": "tiny_synth.safetensors", "sha256": digest,
              "text_encoder": "tiny_synth_text",
              "made_by": "scripts/make_tiny_checkpoint.py",
              "description": "tiny config (ResNet-18 width 16, hidden 64), climbed the "
                             "synthetic pre-training ladder (backbone, text, image, video) "
                             f"in {total / 60:.0f} minutes of training on one CPU thread",
              "train": {"config": "tiny", "steps": steps, "seed": cfg.seed,
                        "ladder": ladder, "seconds": seconds,
                        "synth": {"videos": DEMO.videos, "train_videos": TRAIN_VIDEOS,
                                  "frames": DEMO.frames, "size": [DEMO.height, DEMO.width],
                                  "seed": DEMO.seed},
                        "threads": THREADS, "workers": 1},
              "demo_scores": results["summary"], "heldout_clips": heldout,
              "heldout_grounding": grounding}
    atomic_write_json(out / "tiny_synth.json", record)
    log.info("climbed the ladder in %.0f s of training; scores %s", total,
             json.dumps(results["summary"]))
    return record


def _scaled(scale: float) -> dict[str, int]:
    return {k: max(1, round(v * scale)) for k, v in LADDER.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None,
                        help="Keep the source, R2 dataset and run here [a temporary folder].")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "reference_model"
                        / "weights")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="Multiply every rung's steps (to check quickly; not for shipping).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.work is not None:
        make(args.work, args.out, _scaled(args.scale))
        return
    with tempfile.TemporaryDirectory(prefix="r2bench-tiny-") as tmp:
        make(Path(tmp), args.out, _scaled(args.scale))


if __name__ == "__main__":
    main()
