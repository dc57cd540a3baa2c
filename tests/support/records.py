"""Small results and profile records, written as `r2bench score` and `r2bench profile` would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def results_record(pairs: list[dict], method: str | None = None, backbone: str | None = None,
                   mode: str = "r2", dataset_sha256: str = "d" * 64) -> dict:
    """A results record whose summary is computed from ``pairs`` by the scorer's rules.

    Each pair needs pair_id, label, area and (positive, with ground truth) J and F; frames
    defaults to 4 and the DAVIS recall/decay to values derived from J and F.
    """
    full = []
    for p in pairs:
        q = {"frames": 4, **p}
        q.setdefault("J", None)
        q.setdefault("F", None)
        for m in ("J", "F"):
            q.setdefault(f"{m}_recall", None if q[m] is None else float(q[m] > 0.5))
            q.setdefault(f"{m}_decay", None if q[m] is None else round(1 - q[m], 6))
        full.append(q)
    pos = [p for p in full if p["label"] == "positive"]
    neg = [p for p in full if p["label"] == "negative"]
    has_jf = bool(pos) and all(p["J"] is not None for p in pos)
    j = float(np.mean([p["J"] for p in pos])) if has_jf else None
    f = float(np.mean([p["F"] for p in pos])) if has_jf else None
    pos_area = sum(p["area"] for p in pos)
    r = (1 - sum(p["area"] for p in neg) / pos_area) if mode == "r2" and pos_area else None
    summary = {"J": j, "F": f, "JF": None if j is None else (j + f) / 2, "R": r,
               "JFR": None if j is None or r is None else (j + f + r) / 3,
               "n_positive": len(pos), "n_negative": len(neg),
               "n_frames": sum(p["frames"] for p in full), "n_missing_frames": 0}
    return {"format": "r2bench/results", "version": 1, "dataset": "/data/r2",
            "submission": "/data/preds", "method": method, "backbone": backbone,
            "dataset_sha256": dataset_sha256, "split": "valid", "mode": mode,
            "bound_th": 0.008, "r2bench_version": "0.1.0", "summary": summary, "warnings": [],
            "pairs": full}


def profile_record(method: str, fps: float) -> dict:
    return {"format": "r2bench/profile", "version": 1, "method": method,
            "config": "r50.json", "device": "cpu", "dtype": "float32", "size": [360, 640],
            "window": "all", "fps": fps, "latency_ms": {"median": 1000 / fps, "p90": 1100 / fps},
            "peak_memory_bytes": 1 << 30, "params": 51_000_000,
            "breakdown_ms": {"backbone": 10.0}, "software": {"torch": "2.13.0"}}


def random_pairs(rng: np.random.Generator, n_videos: int, exps_per_video: int = 2,
                 quality: float = 0.7, false_alarm: float = 0.3) -> list[dict]:
    """Positive and negative pairs of ``n_videos`` videos with random scores and areas."""
    pairs = []
    for v in range(n_videos):
        for e in range(exps_per_video):
            j = float(np.clip(rng.normal(quality, 0.2), 0, 1))
            f = float(np.clip(j + rng.normal(0, 0.05), 0, 1))
            pairs.append({"pair_id": f"positive/v{v:04d}/{e}", "label": "positive", "J": j,
                          "F": f, "area": int(rng.integers(100, 5000))})
    for v in range(n_videos):
        for e in range(exps_per_video):
            area = int(rng.integers(0, 3000)) if rng.random() < false_alarm else 0
            pairs.append({"pair_id": f"negative/v{v:04d}/{e}", "label": "negative",
                          "area": area})
    return pairs


def write_json(path: Path, obj: dict) -> Path:
    path.write_text(json.dumps(obj, indent=1))
    return path
