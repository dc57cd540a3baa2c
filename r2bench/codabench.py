"""A Codabench competition bundle for an R2 dataset (``r2bench codabench``).

The bundle follows Codabench's "Competition Bundle Structure" and "YAML Structure" pages
(docs.codabench.org; ``competition.yaml`` version 2, read by Codabench v1.x's V2 unpacker):

```
bundle.zip
  competition.yaml         title, logo, terms, pages, phases, one task, a solution, the
                           leaderboard (J&F&R, J&F, J, F, R, N-acc)
  logo.png
  pages/{overview,evaluation,submission,data,terms}.md
  reference_data.zip       r2_meta.json and the ground truth, positive/<split>/Annotations
  scoring_program.zip      metadata.yaml (the command), score.py and the r2bench package
  sample_submission.zip    every frame of both labels, empty masks (the solution)
  starting_kit.zip         README.md, r2_meta.json, sample_submission.zip
  docker/Dockerfile        an image with the scorer's dependencies (not read by Codabench)
```

The scoring program carries the r2bench package it was made with, so the platform scores
with exactly this scorer; its image needs only r2bench's third-party dependencies. Every
entry is written in sorted order with fixed timestamps: the same dataset and options give
the same bytes. `check_competition` checks a competition description against the fields
the documentation lists.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

import r2bench
from r2bench import codabench_pages as pages
from r2bench.codabench_scoring import LEADERBOARD
from r2bench.dataset import R2_META, EvalDataset, is_r2_dataset, load_eval_dataset
from r2bench.errors import DatasetError
from r2bench.fileio import atomic_path
from r2bench.pack import encode_l

YAML_VERSION = 2
PLATFORM = "Codabench v1.x (competition.yaml version 2; checked against v1.25)"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
PROGRAM_COMMAND = "python3 /app/program/score.py /app/input /app/output"
# r2bench's third-party dependencies that scoring imports (the image installs these).
SCORING_DEPENDENCIES = ("numpy", "scipy", "pillow", "tqdm", "numba", "pycocotools")
PAGES = ("overview", "evaluation", "submission", "data", "terms")


@dataclass(frozen=True)
class Phase:
    """A competition phase: its name and start (it ends where the next one starts)."""

    name: str
    start: datetime


@dataclass(frozen=True)
class BundleConfig:
    title: str = "R2-VOS: robust referring video object segmentation"
    phases: tuple[Phase, ...] = (Phase("Test", datetime(2026, 1, 1)),)
    docker_image: str = f"r2bench/scoring:{r2bench.__version__}"   # build from docker/
    execution_time_limit: int = 3600     # seconds per submission (Codabench's default: 600)
    max_submissions_per_day: int = 5
    max_submissions: int = 100
    extra: dict = field(default_factory=dict)   # more top-level competition.yaml fields


def parse_phases(text: str) -> tuple[Phase, ...]:
    """``"Development=2026-01-05,Final=2026-03-01T12:00"`` -> phases, in increasing start
    order. Raises ValueError saying what is wrong."""
    phases = []
    for item in (p.strip() for p in text.split(",")):
        name, sep, start = item.partition("=")
        if not sep or not name.strip() or not start.strip():
            raise ValueError(f"{item!r}: expected NAME=YYYY-MM-DD[THH:MM]")
        try:
            when = datetime.fromisoformat(start.strip())
        except ValueError:
            raise ValueError(f"{item!r}: {start.strip()!r} is not a date (YYYY-MM-DD)") from None
        phases.append(Phase(name.strip(), when.replace(tzinfo=None)))
    for a, b in itertools.pairwise(phases):
        if b.start <= a.start:
            raise ValueError(f"phase {b.name!r} starts before phase {a.name!r} has ended: "
                             "give the phases in order of their starts")
    return tuple(phases)


# -- competition.yaml ---------------------------------------------------------------------

def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def competition(cfg: BundleConfig, facts: pages.BundleFacts) -> dict:
    """The competition description (what competition.yaml holds)."""
    phases = []
    for i, ph in enumerate(cfg.phases):
        entry = {"index": i, "name": ph.name,
                 "description": f"Scored on the hidden ground truth of {facts.videos} videos.",
                 "start": _when(ph.start)}
        if i + 1 < len(cfg.phases):
            entry["end"] = _when(cfg.phases[i + 1].start)
        entry.update({"max_submissions_per_day": cfg.max_submissions_per_day,
                      "max_submissions": cfg.max_submissions,
                      "execution_time_limit": cfg.execution_time_limit,
                      "starting_kit": "starting_kit.zip", "tasks": [0]})
        phases.append(entry)
    columns = [{"title": title, "key": key, "index": i, "sorting": "desc", "precision": 1}
               for i, (title, key) in enumerate(LEADERBOARD)]
    return {
        "version": YAML_VERSION, "title": cfg.title,
        "description": "Segment the referred object in every frame, and nothing when the "
                       "expression does not refer to anything in the video.",
        "image": "logo.png", "terms": "pages/terms.md", "docker_image": cfg.docker_image,
        "make_programs_available": True, **cfg.extra,
        "pages": [{"title": p.capitalize(), "file": f"pages/{p}.md"} for p in PAGES],
        "phases": phases,
        "tasks": [{"index": 0, "name": f"{facts.title} ({facts.split})",
                   "description": "r2bench scores a submission against the hidden ground "
                                  "truth.",
                   "scoring_program": "scoring_program.zip",
                   "reference_data": "reference_data.zip"}],
        "solutions": [{"index": 0, "path": "sample_submission.zip", "tasks": [0]}],
        "leaderboards": [{"title": "Results", "key": "main", "submission_rule": "Force_Last",
                          "columns": columns}],
    }


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)   # a JSON string is a YAML double-quoted one


def to_yaml(value, indent: int = 0) -> str:
    """Block-style YAML of dicts, lists and scalars (strings always double-quoted)."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            else:
                lines.append(f"{pad}{k}: {_scalar(v) if not isinstance(v, (dict, list)) else v}")
    else:
        for v in value:
            if isinstance(v, dict):
                body = to_yaml(v, indent + 2)
                lines.append(f"{pad}- {body.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(v)}")
    return "\n".join(lines)


# -- checking a description against the documented fields -----------------------------------

COMPETITION_REQUIRED = ("title", "image", "terms")
COMPETITION_OPTIONAL = ("version", "description", "registration_auto_approve", "docker_image",
                        "make_programs_available", "make_input_data_available", "queue",
                        "enable_detailed_results", "show_detailed_results_in_submission_panel",
                        "show_detailed_results_in_leaderboard", "contact_email", "reward",
                        "auto_run_submissions", "can_participants_make_submissions_public",
                        "forum_enabled", "pages", "phases", "tasks", "solutions",
                        "fact_sheet", "leaderboards")
PHASE_REQUIRED = ("name", "start", "tasks")
PHASE_OPTIONAL = ("index", "end", "description", "max_submissions", "max_submissions_per_day",
                  "auto_migrate_to_this_phase", "execution_time_limit", "hide_output",
                  "hide_prediction_output", "hide_score_output", "starting_kit",
                  "public_data", "accepts_only_result_submissions")
TASK_REQUIRED = ("index", "name", "scoring_program")
TASK_OPTIONAL = ("description", "input_data", "reference_data", "ingestion_program",
                 "ingestion_only_during_scoring")
SOLUTION_FIELDS = ("index", "tasks", "path")
LEADERBOARD_REQUIRED = ("title", "key", "columns")
LEADERBOARD_OPTIONAL = ("submission_rule", "hidden")
COLUMN_REQUIRED = ("title", "key", "index")
COLUMN_OPTIONAL = ("sorting", "computation", "computation_indexes", "precision", "hidden")
SUBMISSION_RULES = ("Add", "Add_And_Delete", "Add_And_Delete_Multiple", "Force_Last",
                    "Force_Latest_Multiple", "Force_Best")


def _fields(where: str, entry: object, required: tuple, optional: tuple) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where}: expected a mapping"]
    out = [f"{where}: missing {k}" for k in required if k not in entry]
    out += [f"{where}: {k} is not a documented field" for k in entry
            if k not in required + optional]
    return out


def _file(where: str, path: object, files: set[str]) -> list[str]:
    return [] if path in files else [f"{where}: {path!r} is not in the bundle"]


def _check_phases(phases: list, task_ids: set, files: set[str]) -> list[str]:
    out = []
    for i, ph in enumerate(phases):
        where = f"phases[{i}]"
        out += _fields(where, ph, PHASE_REQUIRED, PHASE_OPTIONAL)
        if not isinstance(ph, dict):
            continue
        out += [f"{where}: task {t!r} is not defined" for t in ph.get("tasks", [])
                if t not in task_ids]
        if i + 1 < len(phases) and "end" not in ph:
            out.append(f"{where}: needs an end (a phase follows it)")
        if "starting_kit" in ph:
            out += _file(where, ph["starting_kit"], files)
        try:
            start = datetime.fromisoformat(str(ph.get("start")))
            end = datetime.fromisoformat(str(ph["end"])) if "end" in ph else None
            nxt = phases[i + 1].get("start") if i + 1 < len(phases) else None
            if end is not None and end <= start:
                out.append(f"{where}: ends before it starts")
            if nxt is not None and end is not None and datetime.fromisoformat(str(nxt)) < end:
                out.append(f"phases[{i + 1}]: starts before phases[{i}] has ended")
        except (ValueError, TypeError, AttributeError):
            out.append(f"{where}: start and end must be dates (YYYY-MM-DD HH:MM:SS)")
    return out


def _check_leaderboards(boards: list) -> list[str]:
    out = []
    for i, lb in enumerate(boards):
        where = f"leaderboards[{i}]"
        out += _fields(where, lb, LEADERBOARD_REQUIRED, LEADERBOARD_OPTIONAL)
        if not isinstance(lb, dict):
            continue
        if lb.get("submission_rule", "Add") not in SUBMISSION_RULES:
            out.append(f"{where}: unknown submission_rule {lb['submission_rule']!r}")
        cols = lb.get("columns") or []
        if not cols:
            out.append(f"{where}: needs at least one column")
        for j, c in enumerate(cols):
            out += _fields(f"{where}.columns[{j}]", c, COLUMN_REQUIRED, COLUMN_OPTIONAL)
            if isinstance(c, dict) and c.get("sorting", "desc") not in ("asc", "desc"):
                out.append(f"{where}.columns[{j}]: sorting must be asc or desc")
        for name in ("index", "key"):
            values = [c.get(name) for c in cols if isinstance(c, dict)]
            if len(set(values)) != len(values):
                out.append(f"{where}: column {name}s are not unique")
    return out


def check_competition(comp: dict, files: set[str]) -> list[str]:
    """Every way ``comp`` (a parsed competition.yaml) departs from the fields the Codabench
    documentation lists; ``files`` are the bundle's entries. Empty when it conforms."""
    out = _fields("competition", comp, COMPETITION_REQUIRED, COMPETITION_OPTIONAL)
    if comp.get("version") != YAML_VERSION:
        out.append(f"competition: version must be {YAML_VERSION}")
    out += _file("image", comp.get("image"), files) + _file("terms", comp.get("terms"), files)
    for i, page in enumerate(comp.get("pages") or []):
        out += _fields(f"pages[{i}]", page, ("title", "file"), ())
        out += _file(f"pages[{i}]", page.get("file") if isinstance(page, dict) else None, files)
    tasks = comp.get("tasks") or []
    if not tasks:
        out.append("competition: no tasks")
    for i, task in enumerate(tasks):
        out += _fields(f"tasks[{i}]", task, TASK_REQUIRED, TASK_OPTIONAL)
        for key in ("scoring_program", "reference_data", "input_data", "ingestion_program"):
            if isinstance(task, dict) and key in task:
                out += _file(f"tasks[{i}]", task[key], files)
    task_ids = {t.get("index") for t in tasks if isinstance(t, dict)}
    if len(task_ids) != len(tasks):
        out.append("tasks: indexes are not unique")
    if not comp.get("phases"):
        out.append("competition: no phases")
    out += _check_phases(comp.get("phases") or [], task_ids, files)
    for i, sol in enumerate(comp.get("solutions") or []):
        out += _fields(f"solutions[{i}]", sol, SOLUTION_FIELDS, ())
        if isinstance(sol, dict):
            out += _file(f"solutions[{i}]", sol.get("path"), files)
            out += [f"solutions[{i}]: task {t!r} is not defined" for t in sol.get("tasks", [])
                    if t not in task_ids]
    if not comp.get("leaderboards"):
        out.append("competition: no leaderboards")
    return out + _check_leaderboards(comp.get("leaderboards") or [])


# -- the bundle's parts ---------------------------------------------------------------------

def _info(name: str, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.create_system = 3
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    return info


def write_zip(path: Path, entries: Iterator[tuple[str, bytes | Path]]) -> None:
    """A zip of (name, bytes or file) in sorted name order, fixed timestamps; PNG and zip
    entries stored, text deflated."""
    items = sorted(entries, key=lambda e: e[0])
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items:
            raw = data.read_bytes() if isinstance(data, Path) else data
            zf.writestr(_info(name, not name.endswith((".png", ".zip"))), raw)


def open_r2_with_gt(dataset: str | os.PathLike) -> EvalDataset:
    """The R2 dataset, which must have ground truth for every positive pair."""
    path = Path(dataset)
    if not is_r2_dataset(path):
        raise DatasetError(path, f"not an R2 dataset (no {R2_META}): the bundle scores both "
                                 "labels of an R2 dataset")
    ds = load_eval_dataset(path)
    if ds.gt_root is None:
        raise DatasetError(path, f"{ds.gt_missing}: the bundle's reference data is the "
                                 "ground truth")
    return ds


def reference_entries(ds: EvalDataset) -> Iterator[tuple[str, bytes | Path]]:
    """r2_meta.json as it is (so results carry the same dataset_sha256 as a local score)
    and the annotation of every frame of every video with a positive pair."""
    yield R2_META, (ds.path / R2_META).read_bytes()
    done = set()
    for p in ds.pairs:
        if p.label != "positive" or p.video in done:
            continue
        done.add(p.video)
        for frame in p.frames:
            src = ds.gt_root.annotation_path(p.video, frame)
            if not src.is_file():
                raise DatasetError(src, f"missing: ground truth of frame {frame} of video "
                                        f"{p.video}")
            yield f"positive/{ds.split}/Annotations/{p.video}/{frame}.png", src


def program_entries() -> Iterator[tuple[str, bytes | Path]]:
    """metadata.yaml, score.py and the r2bench package (without its command line)."""
    yield "metadata.yaml", f"command: {PROGRAM_COMMAND}\n".encode()
    yield "score.py", SCORE_PY.encode()
    root = Path(r2bench.__file__).parent
    for src in sorted(root.rglob("*.py")):
        rel = src.relative_to(root)
        if rel.parts[0] in ("cli", "app", "__main__.py"):
            continue
        yield f"r2bench/{rel.as_posix()}", src


SCORE_PY = '''"""Codabench scoring program of an r2bench benchmark, written by `r2bench codabench`.

Run as: python3 score.py INPUT OUTPUT (INPUT/ref, INPUT/res; OUTPUT/scores.json).
The r2bench package beside this file is the scorer the bundle was made with.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from r2bench.codabench_scoring import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def sample_entries(ds: EvalDataset) -> Iterator[tuple[str, bytes]]:
    """Every frame of every pair of both labels, an empty mask."""
    empty: dict[tuple[int, int], bytes] = {}
    for p in ds.pairs:
        png = empty.get(p.size)
        if png is None:
            png = empty[p.size] = encode_l(np.zeros(p.size, bool))
        for frame in p.frames:
            yield f"{p.pair_id}/{frame}.png", png


def logo_png() -> bytes:
    """A 128x128 logo: a filled box (a positive pair's mask) beside an empty one."""
    img = np.full((128, 128, 3), 245, np.uint8)
    img[40:88, 12:60] = (200, 40, 40)
    img[40:88, 68:116] = 255
    img[[40, 87], 68:116] = img[40:88, [68, 115]] = 120
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def dockerfile() -> str:
    """An image with the scoring program's dependencies, at the versions installed here."""
    pins = []
    for name in SCORING_DEPENDENCIES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return ("# The image the scoring program runs in (competition.yaml: docker_image).\n"
            "# docker build -t NAME docker/ && docker push NAME\n"
            "FROM python:3.11-slim\n"
            f"RUN pip install --no-cache-dir {' '.join(pins)}\n")


def bundle_facts(ds: EvalDataset, title: str) -> pages.BundleFacts:
    meta = json.loads((ds.path / R2_META).read_bytes())
    return pages.BundleFacts(
        title=title, split=ds.split, seed=meta.get("seed", 0),
        videos=len({p.video for p in ds.pairs}),
        positive_pairs=sum(p.label == "positive" for p in ds.pairs),
        negative_pairs=sum(p.label == "negative" for p in ds.pairs),
        frames=sum(len(p.frames) for p in ds.pairs),
        dataset_sha256=hashlib.sha256((ds.path / R2_META).read_bytes()).hexdigest(),
        r2bench_version=r2bench.__version__)


@dataclass(frozen=True)
class BundleReport:
    out: Path
    facts: pages.BundleFacts
    phases: int
    docker_image: str

    def summary(self) -> str:
        f = self.facts
        return (f"wrote {self.out}: {f.positive_pairs} positive and {f.negative_pairs} "
                f"negative pairs, {f.frames} frames, {self.phases} phase(s); the scoring "
                f"program runs in docker image {self.docker_image} (build it from the "
                "bundle's docker/Dockerfile and push it, or pass --docker-image)")


def write_bundle(dataset: str | os.PathLike, out: str | os.PathLike,
                 cfg: BundleConfig = BundleConfig()) -> BundleReport:
    """Write the Codabench bundle of the R2 dataset ``dataset`` to ``out`` (atomically).
    Raises `DatasetError`; a description that departs from the documented fields is a
    ValueError (a bug)."""
    ds = open_r2_with_gt(dataset)
    facts = bundle_facts(ds, cfg.title)
    comp = competition(cfg, facts)
    text = {"overview": pages.overview(facts), "evaluation": pages.evaluation(facts),
            "submission": pages.submission(facts), "data": pages.data(facts),
            "terms": pages.TERMS}
    with tempfile.TemporaryDirectory(dir=Path(out).resolve().parent) as tmp:
        tmp = Path(tmp)
        write_zip(tmp / "reference_data.zip", reference_entries(ds))
        write_zip(tmp / "scoring_program.zip", program_entries())
        write_zip(tmp / "sample_submission.zip", sample_entries(ds))
        write_zip(tmp / "starting_kit.zip", iter([
            ("README.md", pages.starting_kit_readme(facts).encode()),
            (R2_META, (ds.path / R2_META).read_bytes()),
            ("sample_submission.zip", tmp / "sample_submission.zip")]))
        entries = [("competition.yaml", (to_yaml(comp) + "\n").encode()),
                   ("logo.png", logo_png()), ("docker/Dockerfile", dockerfile().encode()),
                   *((f"pages/{k}.md", v.encode()) for k, v in text.items()),
                   *((name, tmp / name) for name in ("reference_data.zip",
                                                     "scoring_program.zip",
                                                     "sample_submission.zip",
                                                     "starting_kit.zip"))]
        problems = check_competition(comp, {name for name, _ in entries})
        if problems:
            raise ValueError("competition.yaml: " + "; ".join(problems))
        with atomic_path(out) as part:
            write_zip(Path(part), iter(entries))
    return BundleReport(Path(out), facts, len(cfg.phases), cfg.docker_image)
