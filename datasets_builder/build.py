"""``r2bench build-dataset``: R2-Youtube-VOS from a Ref-Youtube-VOS split.

Paper §5.1; the files: docs/formats.md §2.

Every expression of video v queries v (positive) and pi(v) (negative), where pi is one
seeded permutation of the videos without fixed points in which every negative pair is
unrelated (``constraints``). Feasibility is decided exactly by a maximum matching
(``matching``); when no valid pi exists the builder names the videos it cannot place and
writes nothing.

With ``strategy="object"`` the negatives are hard ones instead: each expression's own video
with its category words replaced by categories absent from it (``hard_negatives``); pi is
the identity, and expressions that cannot be edited are left out and reported.

Output: ``r2_meta.json`` and two Ref-Youtube-VOS roots made of links to the source frames
(``positive/`` mirrors the split; in ``negative/`` the key VID holds pi(VID)'s frames), so
unchanged R-VOS inference code runs on ``OUT/negative``. Symlinks are absolute (to the
resolved source), so OUT may be moved but the source may not. Everything is written to a
temporary folder, verified, and renamed into place.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datasets_builder.hard_negatives import OBJECT_CONSTRAINT, HardNegatives, plan_object_negatives
from datasets_builder.matching import negative_matching
from datasets_builder.verify import VerifyReport, verify_dataset
from r2bench.constraints import CONSTRAINT, Constraints, build_constraints
from r2bench.dataset import R2_FORMAT, R2_META
from r2bench.errors import DatasetError, InfeasibleError, R2BenchError
from r2bench.fileio import atomic_directory, dumps_json_rows
from r2bench.refytvos import RefYTVOSRoot, VideoMeta, image_size
from r2bench.source import SourceSplit, load_source
from r2bench.wording import plural

log = logging.getLogger(__name__)

LINK_MODES = ("symlink", "hardlink", "copy")
STRATEGIES = ("random", "object")
_NAMED = 5   # unplaceable videos named in the error message


def _infeasible(src: SourceSplit, c: Constraints, match: np.ndarray) -> InfeasibleError:
    stuck = np.flatnonzero(match < 0)
    named = []
    for v in stuck[:_NAMED].tolist():
        n_ok = sum(u != v and not (c.forbid[v] & c.cats[u]) for u in range(len(c.cats)))
        ruled_out = ", ".join(c.namer.names(c.forbid[v])) or "-"
        named.append(f"{c.videos[v]} (rules out {ruled_out}; {plural(n_ok, 'compatible video')})")
    more = f" and {len(stuck) - _NAMED} more" if len(stuck) > _NAMED else ""
    return InfeasibleError(src.root.meta_expressions_path,
                           f"no valid shuffle exists: at most {len(match) - len(stuck)} of "
                           f"{len(match)} videos can get an unrelated negative video; these "
                           f"cannot be placed: {'; '.join(named)}{more}")


def plan_negatives(src: SourceSplit, seed: int) -> dict[str, str]:
    """negative_of: VID -> pi(VID); raises InfeasibleError when no valid pi exists."""
    c = build_constraints(src.videos, src.objects)
    match = negative_matching(c.cats, c.forbid, seed)
    if (match < 0).any():
        raise _infeasible(src, c, match)
    return {v: c.videos[u] for v, u in zip(c.videos, match.tolist())}


def check_frames(root: RefYTVOSRoot, meta: VideoMeta) -> None:
    """Every frame the meta lists exists (one listing of the video's folder)."""
    try:
        present = set(os.listdir(os.path.join(root.root, root.split, "JPEGImages", meta.video)))
    except (FileNotFoundError, NotADirectoryError):
        present = set()
    for f in meta.frames:
        if f"{f}.jpg" not in present:
            raise DatasetError(root.jpeg_path(meta.video, f),
                               f"missing (a frame listed in {root.meta_expressions_path})")


def r2_meta_record(src: SourceSplit, negative_of: Mapping[str, str], seed: int,
                   sizes: Mapping[str, list[int]], link: str, strategy: str = "random",
                   hard: HardNegatives | None = None) -> dict:
    """r2_meta.json without its ``checks``; key order is fixed for byte identity.

    With ``hard`` (the object strategy) only its edited expressions are paired, each
    negative carrying the edited text and the words replaced; the others are listed under
    ``left_out``.
    """
    videos = {vid: {"frames": list(m.frames),
                    "categories": list(dict.fromkeys(src.objects[vid].values())),
                    "size": sizes[vid], "objects": src.objects[vid]}
              for vid, m in src.videos.items()}
    pos, neg = [], []
    for vid, m in src.videos.items():
        for eid, e in m.expressions.items():
            edit = None if hard is None else hard.edits.get((vid, eid))
            if hard is not None and edit is None:
                continue
            pos.append({"pair_id": f"positive/{vid}/{eid}", "label": "positive", "video": vid,
                        "source_video": vid, "exp_id": eid, "exp": e.exp, "obj_id": e.obj_id})
            neg.append({"pair_id": f"negative/{vid}/{eid}", "label": "negative",
                        "video": negative_of[vid], "source_video": vid, "exp_id": eid,
                        "exp": e.exp if edit is None else edit.text})
            if edit is not None:
                neg[-1]["replaced"] = [list(r) for r in edit.replaced]
    meta = {"format": R2_FORMAT, "version": 1, "source": str(src.root.root.resolve()),
            "split": src.root.split, "seed": seed, "strategy": strategy, "link": link,
            "categories_file": str(src.categories_path.resolve()),
            "negative_of": dict(negative_of), "videos": videos, "pairs": pos + neg}
    if hard is not None:
        meta["left_out"] = [{"video": x.video, "exp_id": x.exp_id, "exp": x.exp,
                             "reason": x.reason} for x in hard.left_out]
    return meta


def checks_record(meta: dict) -> dict:
    """The ``checks`` entry: counts and the constraint that holds.

    The matching guarantees the constraint; ``verify_dataset`` re-checks it, independently,
    on the written dataset before it is renamed into place.
    """
    n_exp = sum(p["label"] == "positive" for p in meta["pairs"])
    checks = {"videos": len(meta["videos"]), "expressions": n_exp, "positive_pairs": n_exp,
              "negative_pairs": n_exp,
              "fixed_points": sum(v == u for v, u in meta["negative_of"].items()),
              "violations": 0, "constraint": CONSTRAINT, "seed": meta["seed"]}
    if meta["strategy"] == "object":
        checks.update(constraint=OBJECT_CONSTRAINT, left_out=len(meta["left_out"]))
    return checks


def dumps_r2_meta(meta: dict) -> bytes:
    """r2_meta.json's bytes: one line per pair, per video and per check (`dumps_json_rows`)."""
    return dumps_json_rows(meta)


def plan_r2_meta(src: SourceSplit, seed: int, sizes: Mapping[str, list[int]],
                 link: str = "symlink", strategy: str = "random") -> dict:
    """The whole r2_meta.json record, checks included: everything but the files."""
    if strategy == "object":
        meta = r2_meta_record(src, {v: v for v in src.videos}, seed, sizes, link, strategy,
                              plan_object_negatives(src.videos, src.objects, seed))
    else:
        meta = r2_meta_record(src, plan_negatives(src, seed), seed, sizes, link, strategy)
    meta["checks"] = checks_record(meta)
    return meta


def linker(mode: str, resolved: bool = False) -> Callable[[str | Path, str | Path], None]:
    """``put(source_file, link)``: an absolute symlink, a hard link or a copy. Symlink targets
    are made absolute unless the caller's sources already are (``resolved``; `_write_roots`
    resolves the source split once: 80,000 realpath calls cost more than the links), so an
    output may be moved but its source may not."""
    check_link_mode(mode)
    if mode == "symlink":
        return os.symlink if resolved else (
            lambda src, dst: os.symlink(os.path.realpath(src), dst))
    return os.link if mode == "hardlink" else shutil.copyfile


def check_link_mode(mode: str) -> None:
    """``mode`` is one of LINK_MODES, else a one-line R2BenchError."""
    if mode not in LINK_MODES:
        raise R2BenchError(None, f"--link {mode}: expected one of {', '.join(LINK_MODES)}")


def _root_expressions(meta: dict, label: str) -> dict[str, dict[str, dict]]:
    """VID -> EXP_ID -> its entry in the ``label`` root's meta_expressions, from the pairs."""
    out: dict[str, dict[str, dict]] = {vid: {} for vid in meta["videos"]}
    for p in meta["pairs"]:
        if p["label"] == label:
            entry = {"exp": p["exp"]}
            if label == "positive" and p.get("obj_id") is not None:
                entry["obj_id"] = p["obj_id"]
            out[p["source_video"]][p["exp_id"]] = entry
    return out


def _negative_meta_expressions(meta: dict) -> dict:
    """Key VID: pi(VID)'s frames, VID's (negative) expressions without obj_id."""
    exps = _root_expressions(meta, "negative")
    return {"videos": {vid: {"expressions": exps[vid],
                             "frames": list(meta["videos"][meta["negative_of"][vid]]["frames"])}
                       for vid in meta["videos"]}}


def _write_roots(tmp: Path, src: SourceSplit, meta: dict, link: str, progress: bool) -> None:
    put = linker(link, resolved=True)
    split = src.root.split
    negative_of = meta["negative_of"]
    for label in ("positive", "negative"):
        (tmp / label / "meta_expressions" / split).mkdir(parents=True)
        (tmp / label / split / "JPEGImages").mkdir(parents=True)
    positive_exps = tmp / "positive" / "meta_expressions" / split / "meta_expressions.json"
    # The positive root lists the expressions kept, not the source's, when they differ: some
    # were left out, or the source's meta also lists videos of another split (valid's test).
    if meta.get("left_out") or src.root.listed_elsewhere():
        exps = _root_expressions(meta, "positive")
        positive_exps.write_bytes(dumps_json_rows({"videos": {
            vid: {"expressions": exps[vid], "frames": list(v["frames"])}
            for vid, v in meta["videos"].items()}}))
    else:
        put(os.path.realpath(src.root.meta_expressions_path), os.fspath(positive_exps))
    if src.root.categories_path.is_file():
        put(os.path.realpath(src.root.categories_path),
            os.fspath(tmp / "positive" / split / "meta.json"))
    (tmp / "negative" / "meta_expressions" / split / "meta_expressions.json").write_bytes(
        dumps_json_rows(_negative_meta_expressions(meta)))
    (tmp / "negative" / split / "meta.json").write_bytes(dumps_json_rows({"videos": {
        vid: {"objects": {o: {"category": c} for o, c in src.objects[neg].items()}}
        for vid, neg in negative_of.items()}}))
    # Plain strings from here: 80,000 links through pathlib cost more than the links.
    source = os.path.realpath(src.root.root / split)
    pos, neg = os.fspath(tmp / "positive" / split), os.fspath(tmp / "negative" / split)
    annotated = os.path.isdir(os.path.join(source, "Annotations"))
    if annotated:
        os.mkdir(os.path.join(pos, "Annotations"))
    for vid in tqdm(src.videos, desc="link", unit="video", disable=not progress,
                    file=sys.stderr):
        frames, neg_vid = src.videos[vid].frames, negative_of[vid]
        jpegs = os.path.join(source, "JPEGImages")
        link_frames(os.path.join(jpegs, vid), os.path.join(pos, "JPEGImages", vid), frames,
                     ".jpg", put)
        link_frames(os.path.join(jpegs, neg_vid), os.path.join(neg, "JPEGImages", vid),
                     src.videos[neg_vid].frames, ".jpg", put)
        ann = os.path.join(source, "Annotations", vid)
        if annotated and os.path.isdir(ann):
            # Youtube-VOS valid annotates only some frames: link the ones that exist.
            present = set(os.listdir(ann))
            link_frames(ann, os.path.join(pos, "Annotations", vid),
                         [f for f in frames if f"{f}.png" in present], ".png", put)


def link_frames(src_dir: str | Path, dst_dir: str | Path, frames, ext: str, put,
                parents: bool = False) -> None:
    """``dst_dir/FRAME.ext`` -> ``src_dir/FRAME.ext`` for each frame (``ext`` with its dot;
    ``dst_dir`` is new, and so are its parents with ``parents``)."""
    if parents:
        os.makedirs(dst_dir)
    else:
        os.mkdir(dst_dir)
    for f in frames:
        name = f + ext
        put(os.path.join(src_dir, name), os.path.join(dst_dir, name))


@dataclass(frozen=True)
class BuildResult:
    out: Path
    negative_of: dict[str, str]
    report: VerifyReport


def build_dataset(source: str | os.PathLike, split: str, out: str | os.PathLike, seed: int = 0,
                  link: str = "symlink", categories: str | os.PathLike | None = None,
                  overwrite: bool = False, progress: bool = False,
                  strategy: str = "random") -> BuildResult:
    """Build the R2 dataset of ``source``/``split`` at ``out``; nothing is written on error."""
    check_link_mode(link)
    if strategy not in STRATEGIES:
        raise R2BenchError(None, f"--strategy {strategy}: expected one of "
                                 f"{', '.join(STRATEGIES)}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(out, "already exists (use --overwrite to replace it)")
    src = load_source(source, split, categories)
    for m in src.videos.values():
        check_frames(src.root, m)
    sizes = {vid: list(image_size(src.root.jpeg_path(vid, m.frames[0])))
             for vid, m in src.videos.items()}
    meta = plan_r2_meta(src, seed, sizes, link, strategy)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        _write_roots(tmp, src, meta, link, progress)
        (tmp / R2_META).write_bytes(dumps_r2_meta(meta))
        report = verify_dataset(tmp)
    report.path = out
    log.info("R2 dataset: %d videos, %d expressions in %s", report.videos,
             report.expressions, out)
    return BuildResult(out, meta["negative_of"], report)
