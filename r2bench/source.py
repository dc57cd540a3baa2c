"""A source split as the builder and training read it: expressions cross-checked against
the objects' categories (Youtube-VOS ``meta.json``, or a plain ``{VID: {OBJ_ID: category}}``
file such as DAVIS's ``davis_semantics.json``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from r2bench.errors import DatasetError
from r2bench.refytvos import RefYTVOSRoot, VideoMeta, load_json, parse_categories


@dataclass(frozen=True)
class SourceSplit:
    """A validated source split: its videos and each video's objects' categories."""

    root: RefYTVOSRoot
    videos: dict[str, VideoMeta]
    objects: dict[str, dict[str, str]]      # VID -> OBJ_ID -> category
    categories_path: Path


def load_categories_file(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Categories from a Youtube-VOS ``meta.json`` or a plain ``{VID: {OBJ_ID: category}}``.

    The plain form is DAVIS's ``davis_semantics.json``, for Ref-DAVIS17.
    """
    path = Path(path)
    data = load_json(path, "categories file")
    if isinstance(data, dict) and isinstance(data.get("videos"), dict):
        return parse_categories(data, path)
    if isinstance(data, dict) and all(
            isinstance(objs, dict) and all(isinstance(c, str) for c in objs.values())
            for objs in data.values()):
        return {str(v): {str(o): c for o, c in objs.items()} for v, objs in data.items()}
    raise DatasetError(path, 'expected a Youtube-VOS meta.json ({"videos": {VID: {"objects": '
                             '...}}}) or {VID: {OBJ_ID: category}}')


def load_source(source: str | os.PathLike, split: str,
                categories: str | os.PathLike | None = None) -> SourceSplit:
    """Read and cross-check a source split's expressions and categories."""
    root = RefYTVOSRoot(source, split)
    videos = root.load_videos()
    if not videos:
        raise DatasetError(root.meta_expressions_path, "no videos")
    cat_path = root.categories_path if categories is None else Path(categories)
    objects = root.load_categories() if categories is None else load_categories_file(cat_path)
    for vid, meta in videos.items():
        if vid not in objects:
            raise DatasetError(cat_path, f"no categories for video {vid} "
                                         f"(listed in {root.meta_expressions_path})")
        for eid, exp in meta.expressions.items():
            if exp.obj_id is not None and exp.obj_id not in objects[vid]:
                raise DatasetError(root.meta_expressions_path,
                                   f"videos.{vid}.expressions.{eid}: obj_id {exp.obj_id} is "
                                   f"not an object of {vid} in {cat_path}")
    return SourceSplit(root, videos, {v: objects[v] for v in videos}, cat_path)
