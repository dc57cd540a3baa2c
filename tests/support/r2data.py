"""Writers of small hand-made datasets and submissions for the scorer's tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

SPLIT = "valid"


def frame_names(t: int) -> list[str]:
    return [f"{5 * i:05d}" for i in range(t)]


def _palette_png(ids: np.ndarray, path: Path) -> None:
    im = Image.fromarray(ids.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [128] * (256 * 3 - 12))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def write_source(root: Path, videos: dict[str, np.ndarray],
                 exps: dict[str, dict[str, tuple[str, str | None]]],
                 with_gt: bool = True) -> None:
    """A Ref-YTVOS layout root: ``videos`` maps VID to (T, H, W) object ids."""
    meta = {"videos": {}}
    for vid, ids in videos.items():
        frames = frame_names(len(ids))
        meta["videos"][vid] = {
            "expressions": {eid: ({"exp": text, "obj_id": obj} if obj is not None
                                  else {"exp": text}) for eid, (text, obj) in exps[vid].items()},
            "frames": frames}
        for f, frame_ids in zip(frames, ids):
            jpg = root / SPLIT / "JPEGImages" / vid / f"{f}.jpg"
            jpg.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((frame_ids * 60).astype(np.uint8)).convert("RGB").save(jpg)
            if with_gt:
                _palette_png(frame_ids, root / SPLIT / "Annotations" / vid / f"{f}.png")
    path = root / "meta_expressions" / SPLIT / "meta_expressions.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta))


def write_r2(root: Path, videos: dict[str, np.ndarray],
             exps: dict[str, dict[str, tuple[str, str | None]]],
             negative_of: dict[str, str], with_gt: bool = True, sizes: bool = True) -> None:
    """A minimal R2 dataset (r2_meta.json + positive/ root) as docs/formats.md §2 lays it out."""
    write_source(root / "positive", videos, exps, with_gt)
    pairs = []
    for vid in videos:
        for eid, (text, obj) in exps[vid].items():
            pairs.append({"pair_id": f"positive/{vid}/{eid}", "label": "positive", "video": vid,
                          "source_video": vid, "exp_id": eid, "exp": text, "obj_id": obj})
    for vid in videos:
        for eid, (text, _) in exps[vid].items():
            pairs.append({"pair_id": f"negative/{vid}/{eid}", "label": "negative",
                          "video": negative_of[vid], "source_video": vid, "exp_id": eid,
                          "exp": text})
    meta = {"format": "r2bench/r2-dataset", "version": 1, "source": "hand-made", "split": SPLIT,
            "seed": 0, "strategy": "random", "negative_of": negative_of,
            "videos": {vid: {"frames": frame_names(len(ids)), "categories": ["thing"],
                             **({"size": list(ids.shape[1:])} if sizes else {})}
                       for vid, ids in videos.items()},
            "pairs": pairs}
    (root / "r2_meta.json").write_text(json.dumps(meta))


def save_mask(mask: np.ndarray, path: Path, mode: str = "L") -> None:
    """Write a bool mask as R-VOS code might: L 0/255, P, RGB, 1-bit or 16-bit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    m = mask.astype(bool)
    if mode == "L":
        Image.fromarray(m.astype(np.uint8) * 255).save(path)
    elif mode == "P":
        im = Image.fromarray(m.astype(np.uint8), mode="P")
        im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        im.save(path)
    elif mode == "RGB":
        rgb = np.zeros((*m.shape, 3), np.uint8)
        rgb[m] = (200, 30, 0)
        Image.fromarray(rgb).save(path)
    elif mode == "1":
        Image.fromarray(m).save(path)
    elif mode == "I;16":
        Image.fromarray(m.astype(np.uint16) * 65535).save(path)
    else:
        raise ValueError(mode)


def write_preds(root: Path, masks: dict[str, np.ndarray], mode: str = "L",
                annotations_level: bool = False) -> None:
    """``masks`` maps pair_id to a (T, H, W) bool stack for frames 00000, 00005, ..."""
    for pair_id, stack in masks.items():
        parts = pair_id.split("/")
        if annotations_level:
            parts = parts[:-2] + ["Annotations"] + parts[-2:]
        for f, m in zip(frame_names(len(stack)), stack):
            save_mask(m, root.joinpath(*parts, f"{f}.png"), mode)


# The smallest R2 dataset the command-line tests need: two 12x16 videos of two frames, one
# box each, paired with each other, and a perfect submission for it.
BOXES_SIZE = (12, 16)
BOXES_EXPS = {"a": {"0": ("a box", "1")}, "b": {"0": ("another box", "1")}}


def boxes_videos() -> dict[str, np.ndarray]:
    h, w = BOXES_SIZE
    a = np.zeros((2, h, w), np.uint8)
    a[:, 2:6, 3:9] = 1
    b = np.zeros((2, h, w), np.uint8)
    b[:, 5:10, 5:12] = 1
    return {"a": a, "b": b}


def boxes_preds() -> dict[str, np.ndarray]:
    v = boxes_videos()
    empty = np.zeros((2, *BOXES_SIZE), bool)
    return {"positive/a/0": v["a"] == 1, "positive/b/0": v["b"] == 1,
            "negative/a/0": empty, "negative/b/0": empty.copy()}


def write_boxes(root: Path) -> tuple[Path, Path]:
    """``root/r2`` (the dataset) and ``root/preds`` (the perfect submission)."""
    write_r2(root / "r2", boxes_videos(), BOXES_EXPS, {"a": "b", "b": "a"})
    write_preds(root / "preds", boxes_preds())
    return root / "r2", root / "preds"


def huge_png(h: int, w: int, chunk_before_ihdr: bool = False) -> bytes:
    """A PNG of a few hundred bytes whose header claims an (h, w) 1-bit image: a valid
    start (16 zero rows) and no more. Pillow opens it lazily, so only the header matters.
    ``chunk_before_ihdr`` puts a text chunk first, which Pillow also accepts."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress((b"\0" * (1 + (w + 7) // 8)) * 16, 9)
    return (b"\x89PNG\r\n\x1a\n" + (chunk(b"tEXt", b"note\0hostile") if chunk_before_ihdr else b"")
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
