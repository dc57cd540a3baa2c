"""Ref-DAVIS17 in the Ref-Youtube-VOS layout (docs/formats.md), ``r2bench convert-davis``.

Inputs: DAVIS 2017 (``JPEGImages/480p``, ``Annotations_unsupervised/480p``,
``ImageSets/2017/{train,val}.txt``, optionally ``davis_semantics.json``) and the Ref-DAVIS17
expression files (``davis_text_annotations``), one line per object of a video:
``VIDEO OBJ_ID "expression"``.

The conversion reproduces ``tools/data/convert_davis_to_ytvos.py`` of the public R-VOS code
(ReferFormer, and R2-VOS, which ships the same file), so expression ids mean what the released
inference and evaluation scripts assume:

- the four files are the four *runs*, in this order: annotator 1 first-frame, annotator 1
  full-video, annotator 2 first-frame, annotator 2 full-video (`EXPRESSION_FILES`);
- annotator 1's files are read as UTF-8, annotator 2's as Latin-1 (they hold Latin-1 bytes);
- a line splits on whitespace into video, object id and the expression, whose words are
  joined by single spaces and whose surrounding quotes are dropped;
- three misspelt video names are corrected (`VIDEO_NAME_FIXES`);
- each file's entries for a video are sorted by object id *as strings*, stably;
- the four sorted lists are zipped: expression ``4 p + k`` is the ``p``-th entry of run ``k``
  (its own obj_id), and a video keeps as many objects as its shortest list;
- frames are every JPEG of the video, sorted; annotations are ``Annotations_unsupervised``;
- ``ImageSets`` ``train`` becomes split ``train`` and ``val`` split ``valid``;
- ``meta.json`` lists objects ``1..n`` of the video's ``davis_semantics.json`` entry.

Differences, none of which changes an output the upstream script writes: frames and
annotations are linked (or copied) instead of moved; a blank line is skipped; an annotator-1
file that is not UTF-8 is read as Latin-1 with a warning (upstream stops); and problems
(a video without expressions, a malformed line) are one-line errors naming the file.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from datasets_builder.build import check_link_mode, link_frames, linker
from r2bench.errors import DatasetError
from r2bench.fileio import atomic_directory, dumps_json
from r2bench.refytvos import load_json

log = logging.getLogger(__name__)

# (file name, encoding) per run, in run order: run k holds expression ids 4 p + k.
EXPRESSION_FILES = (
    ("Davis17_annot1.txt", "utf-8"),
    ("Davis17_annot1_full_video.txt", "utf-8"),
    ("Davis17_annot2.txt", "latin-1"),
    ("Davis17_annot2_full_video.txt", "latin-1"),
)
N_RUNS = len(EXPRESSION_FILES)
VIDEO_NAME_FIXES = {"clasic-car": "classic-car", "dog-scale": "dogs-scale",
                    "motor-bike": "motorbike"}
SPLITS = (("train", "train"), ("val", "valid"))   # DAVIS ImageSets name -> Ref-YTVOS split
RESOLUTION = "480p"

Entries = dict[str, list[tuple[str, str]]]   # video -> [(obj_id, expression)], sorted


def decode_expression_file(path: Path, encoding: str) -> str:
    """The text of one expression file; a UTF-8 file that is not UTF-8 is read as Latin-1."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(path, "missing (a Ref-DAVIS17 expression file)") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        log.warning("%s: not %s (byte %d), read as Latin-1", path, encoding, e.start)
        return data.decode("latin-1")


def parse_expression_lines(text: str, path: Path) -> Entries:
    """``VIDEO OBJ_ID "expression"`` lines -> each video's (obj_id, expression), sorted."""
    videos: Entries = {}
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) < 3 or not words[1].isdigit():
            raise DatasetError(path, f'line {n}: expected VIDEO OBJ_ID "expression"')
        exp = " ".join(words[2:])
        if len(exp) < 2 or exp[0] != '"' or exp[-1] != '"':
            raise DatasetError(path, f"line {n}: the expression is not in double quotes")
        video = VIDEO_NAME_FIXES.get(words[0], words[0])
        videos.setdefault(video, []).append((words[1], exp[1:-1]))
    # Upstream sorts the obj_id strings ("10" < "2"); sorted() is stable, as theirs is.
    return {v: sorted(entries, key=lambda e: e[0]) for v, entries in videos.items()}


def read_expression_runs(folder: str | os.PathLike) -> list[Entries]:
    """The four runs of the Ref-DAVIS17 expression folder, in `EXPRESSION_FILES` order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "expression folder does not exist")
    return [parse_expression_lines(decode_expression_file(folder / name, enc), folder / name)
            for name, enc in EXPRESSION_FILES]


def video_expressions(runs: list[Entries], video: str, folder: Path) -> dict[str, dict]:
    """meta_expressions entries of one video: exp_id 4 p + k -> run k's p-th expression."""
    per_run = []
    for (name, _), entries in zip(EXPRESSION_FILES, runs):
        if video not in entries:
            raise DatasetError(folder / name, f"no expression for video {video}")
        per_run.append(entries[video])
    n_obj = min(len(e) for e in per_run)
    if any(len(e) != n_obj for e in per_run):
        log.warning("%s: the expression files list %s objects; keeping the first %d of each, "
                    "as upstream does", video, "/".join(str(len(e)) for e in per_run), n_obj)
    out = {}
    for p in range(n_obj):
        for k, entries in enumerate(per_run):
            obj_id, exp = entries[p]
            out[str(N_RUNS * p + k)] = {"exp": exp, "obj_id": obj_id}
    return out


def semantics_objects(semantics: Mapping, video: str, path: Path) -> dict[str, dict]:
    """meta.json objects of one video: ids 1..n with their DAVIS categories."""
    cats = semantics.get(video)
    if not isinstance(cats, dict):
        raise DatasetError(path, f"no categories for video {video}")
    objects = {}
    for i in range(1, len(cats) + 1):
        if not isinstance(cats.get(str(i)), str):
            raise DatasetError(path, f"{video}: expected object ids 1..{len(cats)} with a "
                                     f"category each, object {i} has none")
        objects[str(i)] = {"category": cats[str(i)]}
    return objects


@dataclass(frozen=True)
class DavisSplit:
    """One split to write: its Ref-YTVOS name and its videos' frames and expressions."""

    name: str
    frames: dict[str, list[str]]
    expressions: dict[str, dict[str, dict]]


def read_split_list(davis: Path, imageset: str) -> list[str] | None:
    """The videos of ``ImageSets/2017/<imageset>.txt``, or None when the file is absent."""
    path = davis / "ImageSets" / "2017" / f"{imageset}.txt"
    if not path.is_file():
        return None
    return [v for v in (line.strip() for line in path.read_text().splitlines()) if v]


def video_frames(davis: Path, video: str) -> list[str]:
    """Sorted frame names (JPEG stems) of a DAVIS video."""
    folder = davis / "JPEGImages" / RESOLUTION / video
    names = sorted(n[:-4] for n in os.listdir(folder) if n.endswith(".jpg")) \
        if folder.is_dir() else []
    if not names:
        raise DatasetError(folder, f"no JPEG frames for video {video}")
    return names


def plan_splits(davis: Path, runs: list[Entries], expressions_dir: Path) -> list[DavisSplit]:
    """The splits present in ``ImageSets/2017`` (val is required), with frames and expressions."""
    out = []
    for imageset, name in SPLITS:
        videos = read_split_list(davis, imageset)
        if videos is None:
            if imageset == "val":
                raise DatasetError(davis / "ImageSets" / "2017" / "val.txt",
                                   "missing (the DAVIS 2017 val video list)")
            continue
        out.append(DavisSplit(name, {v: video_frames(davis, v) for v in videos},
                              {v: video_expressions(runs, v, expressions_dir) for v in videos}))
    return out


@dataclass(frozen=True)
class ConvertReport:
    out: Path
    splits: dict[str, tuple[int, int, int]]   # split -> (videos, expressions, frames)
    categories: bool

    def summary(self) -> str:
        parts = [f"{s}: {v} videos, {e} expressions, {f} frames"
                 for s, (v, e, f) in self.splits.items()]
        cats = "with" if self.categories else "without"
        return f"wrote {self.out} ({cats} meta.json categories): " + "; ".join(parts)


def _write_split(tmp: Path, davis: Path, split: DavisSplit, semantics: Mapping | None,
                 semantics_path: Path | None, put, progress: bool) -> None:
    meta_dir = tmp / "meta_expressions" / split.name
    meta_dir.mkdir(parents=True)
    videos = {v: {"expressions": split.expressions[v], "frames": split.frames[v]}
              for v in split.frames}
    (meta_dir / "meta_expressions.json").write_bytes(dumps_json({"videos": videos}))
    out = tmp / split.name
    out.mkdir()
    if semantics is not None:
        (out / "meta.json").write_bytes(dumps_json({"videos": {
            v: {"objects": semantics_objects(semantics, v, semantics_path)}
            for v in split.frames}}))
    ann_root = davis / "Annotations_unsupervised" / RESOLUTION
    for v, frames in tqdm(split.frames.items(), desc=f"link {split.name}", unit="video",
                          disable=not progress, file=sys.stderr):
        link_frames(davis / "JPEGImages" / RESOLUTION / v, out / "JPEGImages" / v, frames,
                    ".jpg", put, parents=True)
        ann = ann_root / v
        present = set(os.listdir(ann)) if ann.is_dir() else set()
        if not present:
            raise DatasetError(ann, f"no unsupervised annotations for video {v}")
        link_frames(ann, out / "Annotations" / v,
                    [f for f in frames if f"{f}.png" in present], ".png", put, parents=True)


def convert_davis(davis_root: str | os.PathLike, expressions: str | os.PathLike,
                  out: str | os.PathLike, link: str = "symlink",
                  semantics: str | os.PathLike | None = None, overwrite: bool = False,
                  progress: bool = False) -> ConvertReport:
    """Write the Ref-YTVOS layout root ``out`` for DAVIS 2017 + Ref-DAVIS17 expressions.

    ``semantics`` defaults to ``davis_root/davis_semantics.json`` when that file exists;
    without one, no ``meta.json`` is written (give ``build-dataset --categories`` later).
    Nothing is written on error.
    """
    check_link_mode(link)
    davis, out, expressions = Path(davis_root), Path(out), Path(expressions)
    if not davis.is_dir():
        raise DatasetError(davis, "DAVIS folder does not exist")
    if out.exists() and not overwrite:
        raise DatasetError(out, "already exists (use --overwrite to replace it)")
    if semantics is None and (davis / "davis_semantics.json").is_file():
        semantics = davis / "davis_semantics.json"
    sem_path = None if semantics is None else Path(semantics)
    sem = None if sem_path is None else load_json(sem_path, "DAVIS semantics file")
    if sem is not None and not isinstance(sem, dict):
        raise DatasetError(sem_path, "expected {VIDEO: {OBJ_ID: category}}")
    splits = plan_splits(davis, read_expression_runs(expressions), expressions)
    put = linker(link)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for split in splits:
            _write_split(tmp, davis, split, sem, sem_path, put, progress)
    counts = {s.name: (len(s.frames), sum(len(e) for e in s.expressions.values()),
                       sum(len(f) for f in s.frames.values())) for s in splits}
    log.info("Ref-DAVIS17 converted: %s", counts)
    return ConvertReport(out, counts, sem is not None)
