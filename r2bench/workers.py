"""Worker processes for the long jobs (scoring, checking, synthesis): one recipe for all.

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
import multiprocessing
import os
import signal
from collections.abc import Iterator

_BLOCKABLE = hasattr(signal, "pthread_sigmask")


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


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
