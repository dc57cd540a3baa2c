"""Repeated timings and their robust summary, for ``r2bench profile``.

A measurement is a list of wall times in milliseconds, taken after warm-up runs that are
discarded (caches, lazy initialisation, compilation). The summary leads with the median
and the 90th percentile: on a shared machine a few runs are slowed by other work, and
those move the mean but hardly the median. Torch-free: the model's profiler supplies its
own clock (CUDA events) and uses the same summary.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata

import numpy as np

PROFILE_FORMAT = "r2bench/profile"   # the speed record of `r2bench profile` (model)


def summarize_ms(times_ms: list[float]) -> dict[str, float | int]:
    """Median, p90, mean, min and max of repeated timings (ms), and how many there were."""
    if not times_ms:
        raise ValueError("no timings to summarise")
    t = np.asarray(times_ms, dtype=np.float64)
    return {"median": float(np.median(t)), "p90": float(np.percentile(t, 90)),
            "mean": float(t.mean()), "min": float(t.min()), "max": float(t.max()),
            "n": int(t.size)}


def repeat_ms(fn: Callable[[], object], iters: int, warmup: int = 1) -> list[float]:
    """Wall times (ms, ``perf_counter``) of ``iters`` calls of a synchronous ``fn`` after
    ``warmup`` untimed ones."""
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def per_second(items: int, ms: float) -> float:
    """Throughput: ``items`` processed in ``ms`` milliseconds -> items per second."""
    return items * 1e3 / ms


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_record(*packages: str) -> dict[str, object]:
    """What a measurement ran on: Python, OS, CPU, visible cores and package versions."""
    from r2bench import __version__

    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count())
    record: dict[str, object] = {"r2bench": __version__, "python": sys.version.split()[0],
                                 "platform": platform.platform(), "cpu": _cpu_name(),
                                 "cpu_cores": cores}
    for name in ("numpy", *packages):
        record[name] = _version(name)
    return record
