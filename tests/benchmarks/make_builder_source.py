"""A Ref-Youtube-VOS-scale source with real (tiny) frames, for timing build-dataset whole.

    python tests/benchmarks/make_builder_source.py SRC [--videos 20000] [--expressions 100000]
                                                       [--frames 2]
    python tests/benchmarks/make_builder_source.py SRC --link-floor OUT

The first form writes SRC (split valid): Youtube-VOS-like expressions and categories
(`builder_sources.youtube_like`) and every frame as a hard link to one 8x8 JPEG. The second
is the yardstick: it creates, in a plain Python loop, the folders and the symbolic links
that build-dataset creates for SRC (each video's frames under positive/ and negative/), and
nothing else. Time both whole, e.g. with /usr/bin/time -v:

    r2bench build-dataset SRC --split valid --out OUT1 -q
    python tests/benchmarks/make_builder_source.py SRC --link-floor OUT2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

from builder_sources import write_meta_source, write_tiny_frames, youtube_like

SPLIT = "valid"


def make_source(src: Path, videos: int, expressions: int, frames: int) -> None:
    meta_exp, objects = youtube_like(videos, expressions, seed=0, frames=frames)
    write_meta_source(src, SPLIT, meta_exp, objects)
    write_tiny_frames(src, SPLIT, meta_exp)


def link_floor(src: Path, out: Path) -> int:
    """The links of build-dataset, made as plainly as Python can; returns their number."""
    with open(src / "meta_expressions" / SPLIT / "meta_expressions.json", "rb") as f:
        videos = json.load(f)["videos"]
    jpegs = os.path.join(os.path.realpath(src), SPLIT, "JPEGImages")
    n = 0
    for label in ("positive", "negative"):
        base = os.path.join(out, label, SPLIT, "JPEGImages")
        for vid, v in videos.items():
            d = os.path.join(base, vid)
            os.makedirs(d)
            for name in v["frames"]:
                os.symlink(os.path.join(jpegs, vid, f"{name}.jpg"), os.path.join(d, f"{name}.jpg"))
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("--videos", type=int, default=20_000)
    ap.add_argument("--expressions", type=int, default=100_000)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--link-floor", type=Path, default=None, metavar="OUT")
    args = ap.parse_args()
    if args.link_floor is not None:
        link_floor(args.src, args.link_floor)
    else:
        make_source(args.src, args.videos, args.expressions, args.frames)


if __name__ == "__main__":
    main()
