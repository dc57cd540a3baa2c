"""Write an HD R2 dataset and a realistic submission for timing whole commands.

    python tests/benchmarks/make_hd_submission.py OUT [--videos 21] [--frames 20]

OUT/r2 is an R2 dataset of 720x1280 videos (two objects, two expressions each), OUT/preds a
PNG submission: shifted, speckled ground truth on positives and an object of the negative
video on negatives (an R-VOS-like model). Frames in all: 4 x videos x frames (21 x 20 ->
1,680). Then, for example:

    /usr/bin/time -v r2bench score OUT/preds --dataset OUT/r2 -q
    /usr/bin/time -v r2bench check OUT/preds --dataset OUT/r2 -q
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

from hd_masks import blob_stack, imperfect
from r2data import write_preds, write_r2


def make(out: Path, n_videos: int, frames: int, h: int = 720, w: int = 1280,
         seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    videos, exps = {}, {}
    for v in range(n_videos):
        a, b = blob_stack(rng, frames, h, w), blob_stack(rng, frames, h, w)
        ids = np.where(a, 1, 0).astype(np.uint8)
        ids[b & ~a] = 2
        videos[f"v{v:03d}"] = ids
        exps[f"v{v:03d}"] = {"0": ("the first thing", "1"), "1": ("the second thing", "2")}
    names = list(videos)
    neg = {vid: names[(i + 1) % len(names)] for i, vid in enumerate(names)}
    write_r2(out / "r2", videos, exps, neg)
    preds = {}
    for vid, ids in videos.items():  # one video at a time keeps memory small
        for e, obj in (("0", 1), ("1", 2)):
            preds[f"positive/{vid}/{e}"] = imperfect(rng, ids == obj, speckle=2e-5)
            preds[f"negative/{vid}/{e}"] = imperfect(rng, videos[neg[vid]] == obj)
        write_preds(out / "preds", preds)
        preds.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--videos", type=int, default=21)
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args()
    make(args.out, args.videos, args.frames)


if __name__ == "__main__":
    main()
