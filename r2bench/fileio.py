"""Atomic writes: an output is either absent or whole, never half-written.

Every file or folder r2bench produces is written beside its destination under a staging
name and renamed into place (rename is atomic within one filesystem).

Staging names carry their writer: ``.OUT.<host>-<pid>.<random>.tmp`` beside ``OUT``. A
writer killed outright (``kill -9``, a power cut) cannot remove its staging, so every writer
first removes the stale staging of its own destination: entries named for ``OUT`` whose
host is this machine and whose process has ended. Staging of a live process, of another
machine (a shared filesystem), or in an older name without a process id is never touched;
a process id that the system has since reused keeps its stale staging until a later run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    """This machine's name as it appears in staging names (no dots, so names parse)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "localhost"


def staging_prefix(path: str | os.PathLike) -> str:
    """The start of a staging name for ``path`` written by this process (a random part and
    ``.tmp`` follow); for writers that make their own staging, e.g. with ``tempfile``."""
    path = Path(path)
    return f".{path.name}.{_host()}-{os.getpid()}."


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a zombie counts as alive)."""
    if os.name == "nt":  # os.kill would terminate it there: never guess, never clean
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_staging(path: str | os.PathLike) -> list[Path]:
    """Remove the staging left beside ``path`` by writers that were killed; return it.

    Only entries named for ``path`` by a process of this host that has ended are removed
    (the rule is in the module docstring); each removal is logged as a warning.
    """
    path = Path(path)
    name = re.compile(rf"\.{re.escape(path.name)}\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>[0-9]+)"
                      r"\.[^./]+\.(?:tmp|old)")
    try:
        entries = list(os.scandir(path.parent))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for entry in entries:
        m = name.fullmatch(entry.name)
        if m is None or m["host"] != _host() or _alive(int(m["pid"])):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        log.warning("%s: removed, staging left by an interrupted run (process %s has ended)",
                    entry.path, m["pid"])
        removed.append(Path(entry.path))
    return removed


def _publish(tmp: str | os.PathLike, path: Path) -> None:
    """Rename finished staging into place (its own function: the kill tests stop here)."""
    if Path(tmp).is_dir() and path.exists():
        old = Path(f"{os.fspath(tmp)[:-len('.tmp')]}.old")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a staging file name beside ``path``; renamed to ``path`` when the block
    succeeds, removed when it fails. For writers that take a file name (safetensors, zip).

    The file gets the permissions a plain ``open(path, "w")`` would (mkstemp's are 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(path)
    fd, tmp = tempfile.mkstemp(prefix=staging_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        _publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def dumps_json(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys off (order is meaningful), 1-space indent, newline."""
    return (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def dumps_json_rows(obj: dict) -> bytes:
    """JSON with one line per element of each top-level value (a pair, a video, a check).

    As readable as an indented file and written by json's C encoder: an indented dump of
    100,000 entries goes through the pure-Python encoder and takes seconds.
    """
    enc = json.JSONEncoder(ensure_ascii=False).encode

    def block(value) -> str:
        if isinstance(value, dict) and value:
            items = [f"  {enc(k)}: {enc(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value:
            items = [f"  {enc(v)}" for v in value]
        else:
            return enc(value)
        open_, close = ("{", "}") if isinstance(value, dict) else ("[", "]")
        return open_ + "\n" + ",\n".join(items) + "\n " + close

    lines = [f" {enc(k)}: {block(v)}" for k, v in obj.items()]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_bytes(path, dumps_json(obj))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder that is renamed to ``path`` when the block succeeds.

    On an exception the staging folder is removed and ``path`` is left untouched.
    With ``overwrite`` an existing ``path`` is replaced only after the new one is whole.
    The folder gets the permissions of a plain ``mkdir`` (mkdtemp's are 0700).
    """
    path = Path(path)
    remove_stale_staging(path)
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=staging_prefix(path), suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        _publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
