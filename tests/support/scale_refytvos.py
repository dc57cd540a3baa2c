"""A source and submission the size of Ref-Youtube-VOS valid, for timing ``r2bench score``.

Ref-Youtube-VOS valid: 202 videos, about 830 expressions (about 4.1 per video), mostly
720x1280, 20-36 annotated frames per video at a 5-frame stride. This writes, under OUT:

    source/       ``r2bench synth`` with that many videos, frames and that size, its valid
                  expressions topped up to ``--expressions`` by repeating each video's own
                  (which leaves every negative pair as unrelated as before)
    r2/           ``build-dataset source --split valid``
    submission/   the demo's ``rvos_oracle`` submission: true masks on the positives, an
                  object of the negative video on the negatives (both labels have foreground)

    python tests/support/scale_refytvos.py OUT [--videos 202] [--frames 30] [--size 720x1280]
    /usr/bin/time -v r2bench score OUT/submission --dataset OUT/r2 --workers 2 -q
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from datasets_builder.build import build_dataset
from datasets_builder.synth import SynthConfig, write_source
from r2bench.app.demo import write_oracle_submission
from r2bench.fileio import dumps_json

log = logging.getLogger("scale_refytvos")


def top_up_expressions(source: Path, total: int) -> int:
    """Repeat videos' expressions (new exp_ids, same text and object) until the valid split
    holds ``total``; returns the count. Videos are topped up in file order, round-robin."""
    path = source / "meta_expressions" / "valid" / "meta_expressions.json"
    meta = json.loads(path.read_bytes())
    videos = [v["expressions"] for v in meta["videos"].values()]
    originals = [list(exps.values()) for exps in videos]
    count = sum(len(exps) for exps in videos)
    for i in range(max(0, total - count)):
        exps, orig = videos[i % len(videos)], originals[i % len(videos)]
        exps[str(len(exps))] = dict(orig[(i // len(videos)) % len(orig)])
    path.write_bytes(dumps_json(meta))
    return max(count, total)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--videos", type=int, default=202)
    p.add_argument("--expressions", type=int, default=830)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--size", default="720x1280")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    h, w = (int(x) for x in a.size.lower().split("x"))
    cfg = SynthConfig(videos=a.videos, train_videos=1, frames=a.frames, height=h, width=w,
                      seed=a.seed)
    write_source(a.out / "source", cfg, progress=True, workers=a.workers)
    n = top_up_expressions(a.out / "source", a.expressions)
    build_dataset(a.out / "source", "valid", a.out / "r2", seed=a.seed, progress=True)
    write_oracle_submission(a.out / "r2", a.out / "submission", "rvos_oracle")
    log.info("%d videos, %d expressions, %d frames each, %dx%d", a.videos, n, a.frames, h, w)


if __name__ == "__main__":
    main()
