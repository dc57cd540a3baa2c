"""Worker processes for the long jobs (scoring, checking, synthesis): one recipe for all.

Workers are forked where the platform allows (they inherit the loaded modules and the
compiled kernels) and ignore SIGINT: Ctrl-C in a terminal reaches the whole process group,
and only the parent should react, by leaving the pool, which terminates the workers at
once instead of waiting for their current task, and reporting one line.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.pool
import os
import signal
from collections.abc import Iterator


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_BLOCKABLE = hasattr(signal, "pthread_sigmask")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _BLOCKABLE:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[multiprocessing.pool.Pool]:
    """A pool of ``workers`` processes, terminated when the block is left, however it is.

    SIGINT is blocked while the workers start, so that none can be interrupted before it
    ignores the signal; the parent receives a Ctrl-C of that moment once the pool exists.
    """
    ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _BLOCKABLE else None
    try:
        pool = ctx.Pool(workers, initializer=_ignore_sigint)
    finally:
        if _BLOCKABLE:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    with pool:
        yield pool
