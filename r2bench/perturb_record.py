"""``perturb.json``: what ``r2bench perturb`` did to each video and expression (the one
reader, and the bytes the writer writes).

Per video: ``visual`` (null, or the corruption's ``type`` and ``severity``: 1..5, or
``"dyn"`` with one level per frame) and, per expression id, the text perturbation's
``type`` (null when untouched) and ``severity``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from r2bench.errors import DatasetError
from r2bench.fileio import dumps_json_rows
from r2bench.refytvos import load_json

PERTURB_FORMAT = "r2bench/perturbation"
PERTURB_JSON = "perturb.json"


@dataclass(frozen=True)
class Perturbation:
    """One perturbation applied: its catalogue name and severity (1..5, or "dyn")."""

    type: str
    severity: int | str


@dataclass(frozen=True)
class VideoPerturbation:
    """A video's visual corruption (None: frames left clean) and each expression's textual
    perturbation (None: text left as it was)."""

    visual: Perturbation | None
    expressions: Mapping[str, Perturbation | None]


@dataclass(frozen=True)
class PerturbRecord:
    """A validated ``perturb.json``; ``types`` in the catalogue's order."""

    path: Path
    severity: int | str | None
    types: tuple[str, ...]
    videos: Mapping[str, VideoPerturbation]


def _perturbation(entry: object, path: Path, where: str) -> Perturbation | None:
    if entry is None or (isinstance(entry, dict) and entry.get("type") is None):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str) \
            or not isinstance(entry.get("severity"), (int, str)):
        raise DatasetError(path, f"{where}: expected null or a type and a severity")
    return Perturbation(entry["type"], entry["severity"])


def _video(vid: str, v: object, path: Path) -> VideoPerturbation:
    exps = v.get("expressions") if isinstance(v, dict) else None
    if not isinstance(exps, dict):
        raise DatasetError(path, f"videos.{vid}: expected its visual and expressions entries")
    return VideoPerturbation(
        _perturbation(v.get("visual"), path, f"videos.{vid}.visual"),
        {str(e): _perturbation(x, path, f"videos.{vid}.expressions.{e}")
         for e, x in exps.items()})


def parse_perturb_record(raw: object, path: str | os.PathLike) -> PerturbRecord:
    """Validate the decoded ``perturb.json`` at ``path``; one-line DatasetError otherwise."""
    path = Path(path)
    if not isinstance(raw, dict) or raw.get("format") != PERTURB_FORMAT \
            or raw.get("version") != 1 or not isinstance(raw.get("videos"), dict):
        raise DatasetError(path, f'not a perturbation record ("format": "{PERTURB_FORMAT}", '
                                 f'"version": 1 expected)')
    types = raw.get("types") or []
    return PerturbRecord(path, raw.get("severity"),
                         tuple(t for t in types if isinstance(t, str)),
                         {vid: _video(vid, v, path) for vid, v in raw["videos"].items()})


def read_perturb_record(path: str | os.PathLike) -> PerturbRecord:
    """The ``perturb.json`` at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "missing: --by-perturbation needs a dataset made by "
                                 "r2bench perturb (or an R2 dataset built from one)")
    return parse_perturb_record(load_json(path, "perturbation record"), path)


def dumps_perturb_record(record: dict) -> bytes:
    """perturb.json's bytes: one line per video (`dumps_json_rows`)."""
    return dumps_json_rows(record)
