"""The paper's ablations (Tables 3-6), reproduced in direction: the same config, data and
seed trained once per switch and scored on one R2 dataset (``r2bench ablate``).

Each variant is a set of overrides of the base :class:`TrainConfig`:

- ``full``: the release (early grounding, relational cycle distance + angle, query mixing,
  pair head);
- ``no-pair-head``: without the pair head, nothing empties the masks of a negative pair;
- ``cycle-off`` / ``cycle-pointwise`` / ``cycle-distance`` / ``cycle-angle``: Table 4
  (``full`` is its "RD+RA" row);
- ``no-mix-query``: queries from e alone (Table 3's "FT" off);
- ``no-grounding``: a plain FPN top level (Table 3's "EG" off);
- ``baseline``: ReferFormer-style, every R2 part off and no negative pairs (Table 3's first
  row, and the R-VOS models of Table 2);
- ``queries-1`` / ``queries-9`` (Table 5) and ``window-1`` / ``window-3`` (Table 6), not run
  unless asked for.

With ``init`` every variant starts from the same checkpoint (the ladder's ``image`` rung,
say) instead of from scratch; a variant that drops a part leaves that part's weights out.
A variant whose results file exists is not trained again, so an interrupted ablation
continues where it stopped. With several seeds (:func:`run_seeded_ablation`) every variant
is trained once per seed (``out/<variant>-seed-<S>``) and
:mod:`leaderboard.seeded` gives the means, intervals and paired tests.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from r2bench.fileio import atomic_write_json
from r2bench.refytvos import load_json

from .config import TrainConfig, with_overrides
from .loop import RunOptions, train

log = logging.getLogger(__name__)

_BASELINE = {"model": {"grounding": {"enabled": False}, "vt_projection": {"enabled": False},
                       "head": {"mix_query": False, "pair_head": False},
                       "criterion": {"cycle": "off"}},
             "data": {"negatives_per_clip": 0}}

VARIANTS: dict[str, dict] = {
    "full": {},
    "no-pair-head": {"model": {"head": {"pair_head": False}}},
    "cycle-off": {"model": {"criterion": {"cycle": "off"}}},
    "cycle-pointwise": {"model": {"criterion": {"cycle": "pointwise"}}},
    "cycle-distance": {"model": {"criterion": {"cycle": "distance"}}},
    "cycle-angle": {"model": {"criterion": {"cycle": "angle"}}},
    "no-mix-query": {"model": {"head": {"mix_query": False}}},
    "no-grounding": {"model": {"grounding": {"enabled": False}}},
    "baseline": _BASELINE,
    "queries-1": {"model": {"head": {"num_queries": 1}}},
    "queries-9": {"model": {"head": {"num_queries": 9}}},
    "window-1": {"model": {"num_frames": 1}},
    "window-3": {"model": {"num_frames": 3}},
}
DEFAULT_VARIANTS = ("full", "no-pair-head", "cycle-off", "cycle-pointwise", "cycle-distance",
                    "cycle-angle", "no-mix-query", "no-grounding", "baseline")


def variant_config(base: TrainConfig, name: str) -> TrainConfig:
    """``base`` with the overrides of variant ``name``."""
    return with_overrides(base, VARIANTS[name])


def _train_and_score(cfg: TrainConfig, data: str, split: str, val: str, run: Path,
                     results_path: Path, opts: RunOptions, init: str | None = None) -> bool:
    """Train ``cfg`` into ``run`` (resuming a stopped run) and keep its last validation in
    ``results_path``; False when a signal stopped it."""
    if results_path.exists():
        return True
    log.info("ablation: training %s", run.name)
    resume = os.fspath(run) if (run / "checkpoints").exists() else None
    result = train(cfg, data, split, run, replace(opts, val=val),
                   init=None if resume else init, resume=resume, partial_init=True)
    if result.stopped_by:
        return False
    if result.val:
        results = load_json(run / "val" / f"epoch-{result.val[-1]['epoch']:03d}.json",
                            "validation results")
        atomic_write_json(results_path, results)
    return True


def run_ablation(base: TrainConfig, data: str, split: str, val: str, out: str | os.PathLike,
                 variants: tuple[str, ...] = DEFAULT_VARIANTS,
                 opts: RunOptions | None = None, init: str | None = None
                 ) -> list[tuple[str, dict]]:
    """Train and score every variant into ``out/<variant>``; (name, results) per variant."""
    out = Path(out)
    opts = opts or RunOptions()
    rows = []
    for name in variants:
        results_path = out / f"{name}.json"
        if not _train_and_score(variant_config(base, name), data, split, val, out / name,
                                results_path, opts, init):
            break
        if results_path.exists():
            rows.append((name, load_json(results_path, "ablation results")))
    return rows


def run_seeded_ablation(base: TrainConfig, data: str, split: str, val: str,
                        out: str | os.PathLike, seeds: tuple[int, ...],
                        variants: tuple[str, ...] = DEFAULT_VARIANTS,
                        opts: RunOptions | None = None, init: str | None = None
                        ) -> dict[str, list[tuple[Path, dict]]]:
    """Every variant once per seed into ``out/<variant>-seed-<S>``; per variant the
    (results path, results) of each seed, in ``seeds`` order (only variants with every seed
    scored). Seed-major: all variants at the first seed first, so a stopped ablation
    already has whole comparisons."""
    out = Path(out)
    opts = opts or RunOptions()
    for seed in seeds:
        for name in variants:
            tag = f"{name}-seed-{seed}"
            cfg = variant_config(base, name).replace(seed=seed)
            if not _train_and_score(cfg, data, split, val, out / tag, out / f"{tag}.json",
                                    opts, init):
                break
        else:
            continue
        break
    rows = {}
    for name in variants:
        paths = [out / f"{name}-seed-{seed}.json" for seed in seeds]
        if all(p.exists() for p in paths):
            rows[name] = [(p, load_json(p, "ablation results")) for p in paths]
    return rows
