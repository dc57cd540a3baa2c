"""Worker processes for the long jobs (scoring, checking, synthesis, perturbation, packing):
one recipe for all.

Workers are forked where the platform allows (they inherit the loaded modules and the
compiled kernels). Ctrl-C in a terminal sends SIGINT to the whole process group: a worker
then exits at once and silently (no traceback of its own), and the parent alone reports
the interruption. SIGINT is held back while the workers start, so that none can be
interrupted before its handler is in place. A process that ignores SIGINT (started in the
background by a script) keeps ignoring it in its workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_BLOCKABLE = hasattr(signal, "pthread_sigmask")


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def resolve_workers(workers: int | None) -> int:
    """``workers``, or `default_workers` when None."""
    return default_workers() if workers is None else workers


def _exit_on_sigint(signum, frame) -> None:
    os._exit(128 + signum)


def _worker_init() -> None:
    # A parent that ignores SIGINT (started with nohup or `&` from a script) keeps its
    # workers ignoring it too: otherwise they would die under a parent that goes on.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _exit_on_sigint)
    if _BLOCKABLE:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[cf.ProcessPoolExecutor]:
    """A pool of ``workers`` processes, all started before it is handed out."""
    ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init)
    with pool:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _BLOCKABLE else None
        try:
            # Forked workers start with the first task, with SIGINT blocked as here.
            pool.submit(int).result()
        finally:
            if _BLOCKABLE:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        yield pool


def imap_unordered(fn: Callable[[T], R], items: Sequence[T], workers: int
                   ) -> Iterator[tuple[int, R]]:
    """``(index, fn(item))`` for every item, as the workers finish them (submitted in item
    order); run inline for one worker or one item. A worker's error is raised here, and the
    tasks not yet started are cancelled when the caller stops early (an error, Ctrl-C)."""
    if workers <= 1 or len(items) <= 1:
        for i, item in enumerate(items):
            yield i, fn(item)
        return
    with process_pool(min(workers, len(items))) as pool:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def imap(fn: Callable[[T], R], items: Sequence[T], workers: int,
         in_flight: int | None = None) -> Iterator[R]:
    """``fn(item)`` in item order, at most ``in_flight`` (default 2 x workers) tasks submitted
    at a time, so results never pile up in memory; inline for one worker or one item; the
    pending tasks are cancelled when the caller stops early."""
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    workers = min(workers, len(items))
    with process_pool(workers) as pool:
        todo = iter(items)
        pending = deque(pool.submit(fn, item)
                        for item in itertools.islice(todo, in_flight or 2 * workers))
        try:
            while pending:
                result = pending.popleft().result()
                for item in itertools.islice(todo, 1):
                    pending.append(pool.submit(fn, item))
                yield result
        finally:
            for fut in pending:
                fut.cancel()
