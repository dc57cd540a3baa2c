"""The Ref-Youtube-VOS layout (docs/formats.md §1): read and validate a source root.

    ROOT/meta_expressions/<split>/meta_expressions.json
    ROOT/<split>/JPEGImages/VID/FRAME.jpg
    ROOT/<split>/Annotations/VID/FRAME.png     palette PNG, pixel = object id
    ROOT/<split>/meta.json                     Youtube-VOS categories per object

Ref-DAVIS17 converted to this layout reads the same way. ``obj_id`` and ``Annotations/``
may be absent (a valid split without ground truth): every reader here accepts that.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from r2bench.errors import DatasetError
from r2bench.pngsafe import HEAD_BYTES, ImageTooLarge, no_bombs, png_size


@dataclass(frozen=True)
class Expression:
    """One referring expression of a video; ``obj_id`` is None where the split lacks it."""

    exp_id: str
    exp: str
    obj_id: str | None = None


@dataclass(frozen=True)
class VideoMeta:
    """A video of meta_expressions.json: its frame names and its expressions, in file order."""

    video: str
    frames: tuple[str, ...]
    expressions: dict[str, Expression] = field(default_factory=dict)


def broken_link(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read when it is a link whose target is gone, else None.

    An R2 dataset links to its source's frames by absolute path: moving or deleting the
    source leaves every link dangling.
    """
    if not os.path.islink(path) or os.path.exists(path):
        return None
    return (f"a link to {os.readlink(path)}, which no longer exists: the source was moved "
            "or deleted; rebuild the R2 dataset (r2bench build-dataset), or build it with "
            "--link copy to make it independent of the source")


def load_json(path: str | os.PathLike, what: str) -> Any:
    """Read a JSON file, turning every failure into a one-line DatasetError."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, broken_link(path) or f"missing ({what})")
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(path, f"cannot read {what}: {e}") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of an image from its header; nothing is decoded."""
    try:
        with no_bombs(), Image.open(path) as im:
            w, h = im.size
    except ImageTooLarge as e:
        raise DatasetError(path, f"image {e}") from None
    except UnidentifiedImageError:
        raise DatasetError(path, "cannot read image header: not an image Pillow reads") \
            from None
    except OSError as e:
        raise DatasetError(path, broken_link(path) or f"cannot read image header: "
                                                      f"{e.strerror or e}") from None
    return h, w


def _wrong_size(path, hw: tuple[int, int], size: tuple[int, int]) -> DatasetError:
    return DatasetError(path, f"annotation is {hw[0]}x{hw[1]}, the video is {size[0]}x{size[1]}")


def read_annotations(paths: list[str | os.PathLike] | tuple[str | os.PathLike, ...],
                     size: tuple[int, int] | None = None) -> np.ndarray:
    """(T, H, W) uint8 object ids from palette PNGs, each checked (and sized, given ``size``)."""
    out = None
    for t, path in enumerate(paths):
        try:
            with open(path, "rb") as f:
                head = png_size(f.read(HEAD_BYTES))  # checked before Pillow decodes
                if size is not None and head is not None and head != tuple(size):
                    raise _wrong_size(path, head, size)
                f.seek(0)
                with no_bombs(), Image.open(f) as im:
                    mode, (w, h) = im.mode, im.size
                    if size is not None and (h, w) != tuple(size):
                        raise _wrong_size(path, (h, w), size)
                    arr = np.asarray(im)
        except FileNotFoundError:
            raise DatasetError(path, broken_link(path) or "missing ground-truth annotation") \
                from None
        except UnidentifiedImageError:
            raise DatasetError(path, "cannot read annotation: not a PNG") from None
        except ImageTooLarge as e:
            raise DatasetError(path, f"annotation {e}") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise DatasetError(path, f"cannot read annotation: {e}") from None
        if arr.ndim != 2:
            raise DatasetError(path, f"annotation mode {mode}: expected a palette PNG")
        if out is None:
            out = np.empty((len(paths), *arr.shape), arr.dtype)
        elif arr.shape != out.shape[1:]:
            raise DatasetError(path, "annotation size differs from the video's first frame")
        out[t] = arr
    return out


def _expect(cond: bool, path: Path, where: str, what: str) -> None:
    if not cond:
        raise DatasetError(path, f"{where}: expected {what}")


def parse_meta_expressions(data: Any, path: Path) -> dict[str, VideoMeta]:
    """Validate the parsed meta_expressions.json and return its videos in file order."""
    _expect(isinstance(data, dict) and isinstance(data.get("videos"), dict), path,
            "top level", 'an object with a "videos" object')
    videos: dict[str, VideoMeta] = {}
    for vid, v in data["videos"].items():
        _expect(isinstance(v, dict), path, f"videos.{vid}", "an object")
        frames = v.get("frames")
        _expect(isinstance(frames, list) and len(frames) > 0
                and all(isinstance(f, str) and f for f in frames),
                path, f"videos.{vid}.frames", "a non-empty list of frame names")
        _expect(len(set(frames)) == len(frames), path, f"videos.{vid}.frames",
                "distinct frame names")
        exps = v.get("expressions", {})
        _expect(isinstance(exps, dict), path, f"videos.{vid}.expressions", "an object")
        parsed: dict[str, Expression] = {}
        for eid, e in exps.items():  # JSON keys are strings already
            # Checked without building the message first: 100,000 expressions are common.
            text = e.get("exp") if isinstance(e, dict) else None
            obj = e.get("obj_id") if isinstance(e, dict) else None
            if not isinstance(text, str) or not (obj is None or isinstance(obj, (str, int))):
                _expression_error(e, path, f"videos.{vid}.expressions.{eid}")
            parsed[eid] = Expression(eid, text, obj if obj is None or type(obj) is str
                                     else str(obj))
        videos[vid] = VideoMeta(vid, tuple(frames), parsed)
    return videos


def _expression_error(e: Any, path: Path, where: str) -> None:
    _expect(isinstance(e, dict) and isinstance(e.get("exp"), str), path, where,
            'an object with an "exp" string')
    _expect(False, path, where + ".obj_id", "a string")


def parse_categories(data: Any, path: Path) -> dict[str, dict[str, str]]:
    """Validate a Youtube-VOS meta.json: ``{VID: {OBJ_ID: category}}``."""
    _expect(isinstance(data, dict) and isinstance(data.get("videos"), dict), path,
            "top level", 'an object with a "videos" object')
    out: dict[str, dict[str, str]] = {}
    for vid, v in data["videos"].items():
        objs = v.get("objects") if isinstance(v, dict) else None
        _expect(isinstance(objs, dict), path, f"videos.{vid}.objects", "an object")
        cats: dict[str, str] = {}
        for oid, o in objs.items():
            _expect(isinstance(o, dict) and isinstance(o.get("category"), str), path,
                    f"videos.{vid}.objects.{oid}", 'an object with a "category" string')
            cats[str(oid)] = o["category"]
        out[str(vid)] = cats
    return out


class RefYTVOSRoot:
    """A Ref-Youtube-VOS layout root and one of its splits."""

    def __init__(self, root: str | os.PathLike, split: str):
        self.root = Path(root)
        self.split = split
        if not self.root.is_dir():
            raise DatasetError(self.root, "dataset folder does not exist")

    @property
    def meta_expressions_path(self) -> Path:
        return self.root / "meta_expressions" / self.split / "meta_expressions.json"

    @property
    def categories_path(self) -> Path:
        return self.root / self.split / "meta.json"

    @property
    def has_annotations(self) -> bool:
        return (self.root / self.split / "Annotations").is_dir()

    def splits(self) -> list[str]:
        """The splits this root has a meta_expressions.json for, sorted."""
        folder = self.root / "meta_expressions"
        if not folder.is_dir():
            return []
        return sorted(d.name for d in folder.iterdir()
                      if (d / "meta_expressions.json").is_file())

    def listed_elsewhere(self) -> set[str]:
        """Videos this split's meta lists that are not part of it: for ``valid``, those of
        ``meta_expressions/test`` (Ref-Youtube-VOS's valid meta also lists its 305 test
        videos; the released inference scripts leave them out). Empty for other splits."""
        path = self.root / "meta_expressions" / "test" / "meta_expressions.json"
        if self.split != "valid" or not path.is_file():
            return set()
        data = load_json(path, "Ref-Youtube-VOS test meta_expressions.json")
        videos = data.get("videos") if isinstance(data, dict) else None
        if not isinstance(videos, dict):
            raise DatasetError(path, 'top level: expected an object with a "videos" object')
        return set(videos)

    def load_videos(self) -> dict[str, VideoMeta]:
        """The split's videos in file order, without those `listed_elsewhere`."""
        path = self.meta_expressions_path
        if not path.exists() and not os.path.islink(path):
            found = self.splits()
            there = (f"the splits here are {', '.join(found)}" if found else
                     "no split has one: not a Ref-Youtube-VOS layout root?")
            raise DatasetError(path, f"missing: no split {self.split!r} ({there})")
        videos = parse_meta_expressions(load_json(path, "Ref-Youtube-VOS meta_expressions.json"),
                                        path)
        other = self.listed_elsewhere()
        return {v: m for v, m in videos.items() if v not in other} if other else videos

    def load_categories(self) -> dict[str, dict[str, str]]:
        path = self.categories_path
        return parse_categories(load_json(path, "Youtube-VOS meta.json with categories"), path)

    def jpeg_path(self, video: str, frame: str) -> Path:
        return self.root / self.split / "JPEGImages" / video / f"{frame}.jpg"

    def annotation_path(self, video: str, frame: str) -> Path:
        return self.root / self.split / "Annotations" / video / f"{frame}.png"
