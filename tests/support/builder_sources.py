"""Meta-only sources for builder tests: meta_expressions.json and meta.json, no frames.

``youtube_like`` imitates Ref-Youtube-VOS statistics (skewed categories, several
expressions per video naming their object in plain English, synonyms and plurals) at any
scale; ``write_meta_source`` writes any such description in the Ref-Youtube-VOS layout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from r2bench.synonyms import SYNONYMS

CATEGORIES = sorted(c for c in SYNONYMS if c != "others")
_TEMPLATES = ("a {w} on the left", "the {w} running towards the camera", "two {w}s",
              "a {w} next to a {o}", "the big {w}", "{w} being held by a {o}")


def youtube_like(n_videos: int, n_expressions: int, seed: int = 0, frames: int = 3
                 ) -> tuple[dict, dict[str, dict[str, str]]]:
    """(meta_expressions dict, {VID: {OBJ_ID: category}}) with Youtube-VOS-like skew."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, len(CATEGORIES) + 1)          # Zipf-like: a few common categories
    p /= p.sum()
    per_video = np.bincount(rng.integers(0, n_videos, n_expressions), minlength=n_videos)
    videos, objects = {}, {}
    for i in range(n_videos):
        vid = f"v{i:06d}"
        cats = rng.choice(len(CATEGORIES), size=int(rng.integers(1, 4)), p=p)
        objects[vid] = {str(k + 1): CATEGORIES[c] for k, c in enumerate(cats)}
        exps = {}
        for e in range(int(per_video[i])):
            oid = str(int(rng.integers(len(cats))) + 1)
            cat = objects[vid][oid]
            words = [cat.replace("_", " "), *SYNONYMS.get(cat, ())]
            other = objects[vid][str(int(rng.integers(len(cats))) + 1)].replace("_", " ")
            text = _TEMPLATES[rng.integers(len(_TEMPLATES))].format(
                w=words[rng.integers(len(words))], o=other)
            exps[str(e)] = {"exp": text, "obj_id": oid}
        videos[vid] = {"expressions": exps, "frames": [f"{5 * t:05d}" for t in range(frames)]}
    return {"videos": videos}, objects


def write_meta_source(root: Path, split: str, meta_expressions: dict,
                      objects: dict[str, dict[str, str]] | None) -> Path:
    """Write the two JSON files of a source split (meta.json only when ``objects``)."""
    mdir = root / "meta_expressions" / split
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "meta_expressions.json").write_text(json.dumps(meta_expressions))
    (root / split).mkdir(parents=True, exist_ok=True)
    if objects is not None:
        meta = {"videos": {v: {"objects": {o: {"category": c} for o, c in objs.items()}}
                           for v, objs in objects.items()}}
        (root / split / "meta.json").write_text(json.dumps(meta))
    return root


def write_tiny_frames(root: Path, split: str, meta_expressions: dict) -> int:
    """Every listed frame as a hard link to one 8x8 JPEG (cheap at 100,000 frames).

    Returns the number of frame files. The builder only links frames and reads one header
    per video, so identical frames exercise it as real ones would.
    """
    from PIL import Image

    one = root / split / "frame.jpg"
    one.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (120, 60, 30)).save(one)
    n = 0
    for vid, v in meta_expressions["videos"].items():
        d = root / split / "JPEGImages" / vid
        d.mkdir(parents=True)
        for name in v["frames"]:
            os.link(one, d / f"{name}.jpg")
            n += 1
    one.unlink()
    return n


def tiny_source(root: Path, videos: dict[str, tuple[dict[str, str], list[tuple[str, str | None]]]],
                split: str = "valid", frames: int = 2, meta_json: bool = True,
                size: tuple[int, int] = (8, 12)) -> Path:
    """A full source with tiny JPEG frames: ``{VID: ({OBJ_ID: category}, [(exp, obj_id)])}``.

    Video ``i`` (in order) gets frames starting at ``5 * i`` so negative frame lists differ
    from positive ones.
    """
    from PIL import Image

    meta = {"videos": {}}
    for i, (vid, (_, exps)) in enumerate(videos.items()):
        names = [f"{5 * (i + t):05d}" for t in range(frames)]
        meta["videos"][vid] = {
            "expressions": {str(e): ({"exp": text} if obj is None else {"exp": text, "obj_id": obj})
                            for e, (text, obj) in enumerate(exps)},
            "frames": names}
        d = root / split / "JPEGImages" / vid
        d.mkdir(parents=True)
        for t, name in enumerate(names):
            Image.new("RGB", (size[1], size[0]), (10 * i % 255, 20 * t % 255, 99)).save(
                d / f"{name}.jpg")
    objects = {vid: objs for vid, (objs, _) in videos.items()}
    return write_meta_source(root, split, meta, objects if meta_json else None)
