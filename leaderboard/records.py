"""The records the leaderboard reads: results (``r2bench score --out``) and profiles
(``r2bench profile --out``), told apart by their ``format`` field and checked on load.

A results record names its submission by ``method`` and ``backbone`` (``score --name``,
``--backbone``); without a method the file's name stands in. A profile record carries the
speed of one method and is matched to the results of the same method.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from r2bench.errors import R2BenchError
from r2bench.measures import DECISION_KEYS, MEASURES
from r2bench.results import RESULTS_FORMAT
from r2bench.timing import PROFILE_FORMAT


class RecordError(R2BenchError):
    """A results or profile file is missing, unreadable or not what it claims to be."""


@dataclass(frozen=True)
class ScoredSubmission:
    """One scored submission: its results record and the names the tables show."""

    path: Path
    method: str
    backbone: str | None
    results: dict

    @property
    def summary(self) -> dict:
        return self.results["summary"]


@dataclass(frozen=True)
class Profile:
    """The speed record of one method (frames per second, and the rest as written)."""

    path: Path
    method: str
    fps: float
    record: dict


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise RecordError(path, "no such file")
    try:
        return json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(path, f"not a JSON file ({e})") from None


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_version(data: dict, path: Path, what: str) -> None:
    if data.get("version") != 1:
        raise RecordError(path, f"{what} version {data.get('version')!r} is not supported "
                                "(this r2bench reads version 1)")


def _check_results(data: dict, path: Path) -> dict:
    _check_version(data, path, "results")
    summary, pairs = data.get("summary"), data.get("pairs")
    if not isinstance(summary, dict) or not isinstance(pairs, list):
        raise RecordError(path, 'results without a "summary" object and a "pairs" list')
    for key in MEASURES:
        if key not in summary or not (summary[key] is None or _is_number(summary[key])):
            raise RecordError(path, f'summary.{key}: expected a number or null')
    for key in DECISION_KEYS:   # absent from results written before r2bench measured them
        if not (summary.get(key) is None or _is_number(summary[key])):
            raise RecordError(path, f'summary.{key}: expected a number or null')
    for p in pairs:
        if not (isinstance(p, dict) and isinstance(p.get("pair_id"), str)
                and p.get("label") in ("positive", "negative") and _is_number(p.get("area"))):
            raise RecordError(path, "pairs: expected objects with pair_id, label and area")
    return data


def _check_profile(data: dict, path: Path) -> dict:
    _check_version(data, path, "profile")
    if not isinstance(data.get("method"), str) or not data["method"]:
        raise RecordError(path, 'profile without a "method" name')
    if not _is_number(data.get("fps")) or data["fps"] <= 0:
        raise RecordError(path, '"fps": expected a positive number')
    return data


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def load_record(path: str | os.PathLike) -> ScoredSubmission | Profile:
    """Read one results or profile file; anything else is a `RecordError` naming it."""
    path = Path(path)
    data = _read_json(path)
    kind = data.get("format") if isinstance(data, dict) else None
    if kind == RESULTS_FORMAT:
        res = _check_results(data, path)
        return ScoredSubmission(path, _name(res.get("method")) or path.stem,
                          _name(res.get("backbone")), res)
    if kind == PROFILE_FORMAT:
        prof = _check_profile(data, path)
        return Profile(path, prof["method"], float(prof["fps"]), prof)
    raise RecordError(path, f'not an r2bench results or profile record (expected "format": '
                            f'"{RESULTS_FORMAT}" or "{PROFILE_FORMAT}")')


def load_results(path: str | os.PathLike) -> ScoredSubmission:
    """Read one results file (a profile here is an error)."""
    rec = load_record(path)
    if not isinstance(rec, ScoredSubmission):
        raise RecordError(path, "a profile record, not results")
    return rec


def load_records(paths: list[str | os.PathLike]) -> tuple[list[ScoredSubmission], list[Profile]]:
    """Results and profiles from ``paths``, each kind in the order given."""
    records = [load_record(p) for p in paths]
    return ([r for r in records if isinstance(r, ScoredSubmission)],
            [r for r in records if isinstance(r, Profile)])


def same_dataset(a: ScoredSubmission, b: ScoredSubmission) -> bool:
    """Whether A and B were scored on the same dataset: the same ``dataset_sha256`` or, where
    a file predates it, the same dataset path, split and mode."""
    ha, hb = a.results.get("dataset_sha256"), b.results.get("dataset_sha256")
    if ha and hb:
        return ha == hb
    return all(a.results.get(k) == b.results.get(k) for k in ("dataset", "split", "mode"))


def dataset_name(sub: ScoredSubmission) -> str:
    """The dataset a results file was scored on, for messages: its path and digest."""
    sha = sub.results.get("dataset_sha256")
    return f"{sub.results.get('dataset')}" + (f" (sha256 {sha[:12]})" if sha else "")


def dataset_groups(subs: list[ScoredSubmission]) -> list[list[int]]:
    """Indices of ``subs`` grouped by the dataset they were scored on (`same_dataset`), the
    groups in the order their first file was given."""
    groups: list[list[int]] = []
    for i, sub in enumerate(subs):
        for g in groups:
            if same_dataset(subs[g[0]], sub):
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def match_profiles(subs: list[ScoredSubmission], profiles: list[Profile]) -> dict[int, Profile]:
    """Index of each submission -> its profile, matched by method name.

    A profile whose method names no submission, or more than one, is an error: its speed
    would otherwise be silently dropped or shown twice.
    """
    out: dict[int, Profile] = {}
    for prof in profiles:
        hits = [i for i, s in enumerate(subs) if s.method == prof.method]
        if len(hits) != 1:
            names = ", ".join(sorted({s.method for s in subs})) or "none"
            why = "no results" if not hits else f"{len(hits)} results"
            raise RecordError(prof.path, f"method {prof.method!r} matches {why} (methods: "
                                         f"{names})")
        if hits[0] in out:
            raise RecordError(prof.path, f"a second profile for method {prof.method!r}")
        out[hits[0]] = prof
    return out
