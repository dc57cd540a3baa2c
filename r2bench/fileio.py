"""Atomic writes: an output is either absent or whole, never half-written.

Every file or folder r2bench produces is written beside its destination under a temporary
name and renamed into place (rename is atomic within one filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; renamed to ``path`` when the block
    succeeds, removed when it fails. For writers that take a file name (safetensors, zip).

    The file gets the permissions a plain ``open(path, "w")`` would (mkstemp's are 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
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
    """Yield a temporary folder that is renamed to ``path`` when the block succeeds.

    On an exception the temporary folder is removed and ``path`` is left untouched.
    With ``overwrite`` an existing ``path`` is replaced only after the new one is whole.
    The folder gets the permissions of a plain ``mkdir`` (mkdtemp's are 0700).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
