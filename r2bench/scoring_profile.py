"""Speed of the scorer (``r2bench profile --scoring``).

Two measurements on an R2 dataset and a submission for it, through public functions only:

1. J+F per frame: the scorer's kernels (``r2bench.metrics.jf_per_frame``) against the plain
   per-frame port of the official DAVIS code (``r2bench.davis_reference``), pair by pair on
   the ground truth of the positive pairs against the same masks shifted by a few pixels (an
   imperfect prediction with a real boundary to match). Frames per second of each, and the
   largest difference between their values, which should be zero to rounding.
2. End to end: ``score_submission`` against ``check_submission`` with the same workers. The
   check opens, decodes and size-checks every frame as scoring does but computes nothing, so
   the ratio is what the metrics add to reading the submission.

Wall times (``perf_counter``) after warm-up, summarised by their median
(``r2bench.timing``). The record is ``{"format": "r2bench/scoring-profile", "version": 1,
...}``; the leaderboard does not read it.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from r2bench.dataset import EvalDataset, load_eval_dataset
from r2bench.errors import R2BenchError
from r2bench.metrics import jf_per_frame
from r2bench.refytvos import read_annotations
from r2bench.scoring import check_submission, score_submission
from r2bench.timing import machine_record, per_second, repeat_ms, summarize_ms

SCORING_PROFILE_FORMAT = "r2bench/scoring-profile"
SHIFT = (3, -4)  # (dy, dx) pixels: the imperfect prediction of the J+F comparison


def positive_masks(ds: EvalDataset, max_pairs: int | None = None
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ground truth, shifted ground truth) bool stacks [T, H, W] of the positive pairs."""
    if ds.gt_root is None:
        raise R2BenchError(ds.path, f"the J+F timing needs ground truth: {ds.gt_missing}")
    out = []
    for pair in [p for p in ds.pairs if p.label == "positive"][:max_pairs]:
        ids = read_annotations([ds.gt_root.annotation_path(pair.video, f) for f in pair.frames],
                               pair.size)
        gt = ids == int(pair.obj_id)
        out.append((gt, np.roll(gt, SHIFT, axis=(1, 2))))
    return out


def _jf_port(stacks: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    from r2bench.davis_reference import ref_f, ref_j

    return [np.stack((ref_j(g, p), ref_f(g, p))) for g, p in stacks]


def _jf_fast(stacks: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    return [np.stack(jf_per_frame(g, p)[:2]) for g, p in stacks]


def time_jf(stacks: list[tuple[np.ndarray, np.ndarray]], iters: int, warmup: int) -> dict:
    """Frames per second of the scorer's J+F and of the per-frame port on the same masks."""
    frames = sum(len(g) for g, _ in stacks)
    fast, port = _jf_fast(stacks), _jf_port(stacks)  # also compiles and warms the kernels
    diff = max(float(np.abs(a - b).max()) for a, b in zip(fast, port))
    rows = {}
    for name, fn in (("scorer", _jf_fast), ("official_port", _jf_port)):
        lat = summarize_ms(repeat_ms(lambda fn=fn: fn(stacks), iters, warmup))
        rows[name] = {"fps": per_second(frames, lat["median"]), "latency_ms": lat}
    return {"frames": frames, "mask_size": list(stacks[0][0].shape[1:]), **rows,
            "speedup": rows["scorer"]["fps"] / rows["official_port"]["fps"],
            "max_abs_difference": diff}


def time_end_to_end(preds: str | os.PathLike, ds: EvalDataset, workers: int | None,
                    iters: int, warmup: int) -> dict:
    """Frames per second of scoring and of decoding only (``check_submission``)."""
    frames = sum(len(p.frames) for p in ds.pairs)  # every frame of every pair is read
    rows = {}
    for name, fn in (("score", score_submission), ("decode_only", check_submission)):
        lat = summarize_ms(repeat_ms(lambda fn=fn: fn(preds, ds, workers=workers), iters,
                                     warmup))
        rows[name] = {"fps": per_second(frames, lat["median"]), "latency_ms": lat}
    return {"frames": frames, "workers": workers, **rows,
            "score_over_decode": rows["score"]["latency_ms"]["median"]
            / rows["decode_only"]["latency_ms"]["median"]}


def require_opencv() -> None:
    """`profile_scoring` times the port of the official code, which needs OpenCV (the
    ``profile`` extra): say so, with the install command, before any work."""
    if importlib.util.find_spec("cv2") is None:
        raise R2BenchError(None, "--scoring times the port of the official DAVIS code, which "
                                 "needs OpenCV (the profile extra): pip install -e "
                                 "'.[profile]'")


def profile_scoring(preds: str | os.PathLike, dataset: str | os.PathLike,
                    workers: int | None = None, iters: int = 5, warmup: int = 1,
                    max_pairs: int | None = 16, progress: bool = False) -> dict:
    """Both measurements as a ``r2bench/scoring-profile`` record."""
    from tqdm import tqdm

    require_opencv()
    ds = load_eval_dataset(dataset)
    with tqdm(total=2, desc="profile --scoring", disable=not progress) as bar:
        jf = time_jf(positive_masks(ds, max_pairs), iters, warmup)
        bar.update()
        end_to_end = time_end_to_end(preds, ds, workers, iters, warmup)
        bar.update()
    return {"format": SCORING_PROFILE_FORMAT, "version": 1, "dataset": os.fspath(dataset),
            "submission": os.fspath(preds), "jf": jf, "end_to_end": end_to_end,
            "software": machine_record("numba", "opencv-python-headless")}


def format_scoring_profile(record: dict) -> str:
    """The record as a short table."""
    jf, e2e = record["jf"], record["end_to_end"]
    h, w = jf["mask_size"]
    sw = record["software"]
    head = f"{'':<28} {'frames/s':>10} {'median ms':>10}"
    lines = [f"J+F per frame, {jf['frames']} frames of {h}x{w} "
             + f"(cpu: {sw['cpu']}, {sw['cpu_cores']} cores)", head]
    for name, label in (("scorer", "scorer (r2bench.metrics)"),
                        ("official_port", "official code, per frame")):
        lines.append(f"{label:<28} {jf[name]['fps']:>10.1f} "
                     f"{jf[name]['latency_ms']['median']:>10.1f}")
    lines += [f"speed-up {jf['speedup']:.1f}x, largest difference in J or F "
              + f"{jf['max_abs_difference']:.1e}", "",
              f"end to end, {e2e['frames']} frames, workers {e2e['workers'] or 'all cores'}",
              head]
    for name in ("score", "decode_only"):
        lines.append(f"{name.replace('_', ' '):<28} {e2e[name]['fps']:>10.1f} "
                     f"{e2e[name]['latency_ms']['median']:>10.1f}")
    lines.append(f"score / decode only: {e2e['score_over_decode']:.2f}")
    return "\n".join(lines)
