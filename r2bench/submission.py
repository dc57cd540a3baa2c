"""Reading predictions in every form a submission may take (docs/formats.md §3).

- a PNG tree ``PREDS/<pair_id>/<FRAME>.png``, optionally with the ``Annotations/`` level
  that R-VOS code writes (``PREDS/positive/Annotations/VID/EXP_ID/FRAME.png``);
- ``positive`` and/or ``negative`` as ``.zip`` files (entries ``VID/EXP_ID/FRAME.png``,
  optionally under ``Annotations/`` or ``<label>/``), checked against path escapes and
  decompression bombs before anything is read;
- one COCO RLE file ``PREDS.json``: ``[{"pair_id", "frame", "segmentation"}]``.

Any PNG mode is accepted (1, L, P, LA, RGB, RGBA, I, I;16): a pixel is foreground when it
is non-zero (for RGB(A), when a colour channel is non-zero; alpha is ignored).

A frame is found through a *locator*, a small picklable tuple that worker processes open:
``("file", path)``, ``("zip", zip_path, member)`` or ``("rle", json_path, rle_dict)``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from r2bench.dataset import EvalDataset
from r2bench.errors import SubmissionError
from r2bench.pngsafe import ImageTooLarge, no_bombs, png_size
from r2bench.wording import plural

Locator = tuple
FrameKey = tuple[str, str]  # (pair_id, frame)

MAX_ENTRY_BYTES = 64 << 20  # one PNG mask expanded from a zip; 4K RGBA is ~30 MiB raw
MAX_TOTAL_BYTES = 16 << 30  # a whole expanded zip
MAX_RATIO = 100  # expanded / compressed, for entries over 1 MiB (PNG barely recompresses)


# Image files that are not masks but are easily written in their place.
NOT_PNG = (".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Submission:
    """Every prediction frame found, by (pair_id, frame), and where it came from.

    ``not_png`` holds the frames found only as another image type (``FRAME.jpg``), for
    messages: they are not read.
    """

    path: Path
    frames: dict[FrameKey, Locator]
    not_png: dict[FrameKey, str] = field(default_factory=dict)


def _frame_file(name: str) -> tuple[str, str] | None:
    """``("00005", ".png")`` for a frame image name, None for anything else."""
    stem, ext = os.path.splitext(name)
    ext = ext.lower()
    return (stem, ext) if ext == ".png" or ext in NOT_PNG else None


def _add_frame(sub: Submission, key: FrameKey, ext: str, locator: Locator) -> None:
    if ext == ".png":
        sub.frames[key] = locator
    else:
        sub.not_png[key] = describe(locator)


def _scan_tree(root: Path, prefix: str, sub: Submission) -> None:
    """Add ``root/VID/EXP_ID/FRAME.png`` as pair ``prefix + VID/EXP_ID``."""
    with os.scandir(root) as videos:
        for v in videos:
            if not v.is_dir():
                continue
            with os.scandir(v.path) as exps:
                for e in exps:
                    if not e.is_dir():
                        continue
                    pair = f"{prefix}{v.name}/{e.name}"
                    with os.scandir(e.path) as frames:
                        for f in frames:
                            named = _frame_file(f.name)
                            if named and f.is_file():
                                _add_frame(sub, (pair, named[0]), named[1], ("file", f.path))


def _tree_root(folder: Path, videos: set[str]) -> Path:
    """The folder holding VID/ directories: ``folder`` or its ``Annotations/`` level."""
    ann = folder / "Annotations"
    if ann.is_dir() and "Annotations" not in videos:
        return ann
    return folder


def _safe_member(zip_path: Path, info: zipfile.ZipInfo) -> str:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise SubmissionError(zip_path, f"zip entry {name!r} escapes its folder; refusing to read it")
    if info.file_size > MAX_ENTRY_BYTES or (
            info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
        raise SubmissionError(zip_path, f"zip entry {name!r} would expand to {info.file_size} "
                                        "bytes: not a mask PNG (decompression bomb?)")
    return name


def _scan_zip(zip_path: Path, label_prefix: str, videos: set[str], sub: Submission,
              only: str | None = None) -> None:
    """Add the PNG entries of a zip as pairs ``label_prefix + VID/EXP_ID``; with ``only``,
    just the entries under the top-level folder ``only/`` (a zip holding both labels)."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise SubmissionError(zip_path, f"not a readable zip file: {e}") from None
    total = 0
    entries = []
    for info in infos:
        name = _safe_member(zip_path, info)
        total += info.file_size
        if not info.is_dir() and _frame_file(name.rsplit("/", 1)[-1]) \
                and (only is None or name.startswith(f"{only}/")):
            entries.append(name)
    if total > MAX_TOTAL_BYTES:
        raise SubmissionError(zip_path, f"would expand to {total} bytes, over the "
                                        f"{MAX_TOTAL_BYTES >> 30} GiB limit")
    wrappers = {label_prefix.rstrip("/"), "Annotations"} - videos - {""}
    for name in entries:
        parts = name.split("/")
        # Strip the wrapping levels R-VOS code adds: <label>/, Annotations/ or both.
        while len(parts) > 3 and parts[0] in wrappers:
            parts = parts[1:]
        if len(parts) == 3:
            vid, exp, frame = parts
            stem, ext = _frame_file(frame)
            _add_frame(sub, (f"{label_prefix}{vid}/{exp}", stem), ext,
                       ("zip", os.fspath(zip_path), name))


LABELS = ("positive", "negative")


def zip_labels(zip_path: str | os.PathLike) -> set[str]:
    """The labels (positive, negative) a zip holds as top-level folders; empty for a zip of
    ``VID/EXP_ID/FRAME.png`` or ``Annotations/...`` (a Ref-Youtube-VOS server zip)."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise SubmissionError(zip_path, f"not a readable zip file: {e}") from None
    return {n.split("/", 1)[0] for n in names if "/" in n} & set(LABELS)


def zip_tops(zip_path: str | os.PathLike) -> list[str]:
    """The top-level names of a zip's entries, sorted (for messages)."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise SubmissionError(zip_path, f"not a readable zip file: {e}") from None
    return sorted({n.split("/", 1)[0] + ("/" if "/" in n else "") for n in names})


def holds_video_tree(zip_path: str | os.PathLike, videos: set[str]) -> bool:
    """Whether a zip holds ``VID/EXP_ID/FRAME.png`` (optionally under ``Annotations/``) for
    some video of ``videos``: a Ref-Youtube-VOS server zip, as `r2bench pack` writes."""
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    for name in names:
        parts = name.split("/")
        if parts[0] == "Annotations" and "Annotations" not in videos:
            parts = parts[1:]
        if len(parts) == 3 and parts[0] in videos and _frame_file(parts[2]):
            return True
    return False


def _load_rle(path: Path) -> dict[FrameKey, Locator]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SubmissionError(path, f"cannot read RLE JSON: {e}") from None
    if not isinstance(data, list):
        raise SubmissionError(path, "expected a list of {pair_id, frame, segmentation}")
    out: dict[FrameKey, Locator] = {}
    for i, entry in enumerate(data):
        seg = entry.get("segmentation") if isinstance(entry, dict) else None
        if not (isinstance(seg, dict) and isinstance(entry.get("pair_id"), str)
                and isinstance(entry.get("frame"), str) and "counts" in seg
                and isinstance(seg.get("size"), list) and len(seg["size"]) == 2):
            raise SubmissionError(path, f"entry {i}: expected pair_id, frame and a COCO RLE "
                                        "segmentation {size: [h, w], counts}")
        key = (entry["pair_id"], entry["frame"])
        if key in out:
            raise SubmissionError(path, f"entry {i}: {key[0]}/{key[1]} appears twice")
        out[key] = ("rle", os.fspath(path), seg)
    return out


def _label_source(path: Path, label: str) -> Path | None:
    """``PREDS/<label>/`` or ``PREDS/<label>.zip``; both at once is ambiguous."""
    folder, zipped = path / label, path / f"{label}.zip"
    if folder.is_dir() and zipped.is_file():
        raise SubmissionError(path, f"both {label}/ and {label}.zip are here: which one holds "
                                    "the predictions is ambiguous; keep one of them")
    if folder.is_dir():
        return folder
    return zipped if zipped.is_file() else None


def open_submission(path: str | os.PathLike, dataset: EvalDataset) -> Submission:
    """Find every prediction frame of a submission, in whichever form it comes."""
    path = Path(path)
    videos = {p.pair_id.split("/")[-2] for p in dataset.pairs}
    if path.is_file() and path.suffix == ".json":
        return Submission(path, _load_rle(path))
    sub = Submission(path, {})
    if path.is_file() and path.suffix == ".zip" and dataset.mode == "rvos":
        _scan_zip(path, "", videos, sub)
        return sub
    if path.is_file() and path.suffix == ".zip":
        labels = zip_labels(path)
        if not labels:
            tops = zip_tops(path)
            held = ", ".join(tops[:3]) + (f" and {len(tops) - 3} more" if len(tops) > 3 else "")
            raise SubmissionError(path, f"holds {held or 'nothing'} at its root, no positive/ "
                                        "or negative/: an R2 dataset needs positive/ and "
                                        "negative/ predictions (folders, .zips, or both trees "
                                        "in one zip); a server zip of positives "
                                        "(VID/EXP_ID/FRAME.png, as r2bench pack writes) is "
                                        "scored for J and F against --dataset "
                                        f"{dataset.path / 'positive'} --split {dataset.split}")
        for label in sorted(labels):
            _scan_zip(path, f"{label}/", videos, sub, only=label)
        return sub
    if not path.exists():
        raise SubmissionError(path, "predictions not found")
    if not path.is_dir():
        what = "a file" if path.is_file() else "not a file or folder"
        raise SubmissionError(path, f"{what} r2bench does not read as predictions: expected a "
                                    "folder, a .zip or an RLE .json file")
    if dataset.mode == "rvos":
        _scan_tree(_tree_root(path, videos), "", sub)
    else:
        for label in dataset.labels:
            source = _label_source(path, label)
            if source is None:
                continue
            if source.suffix == ".zip":
                _scan_zip(source, f"{label}/", videos, sub)
            else:
                _scan_tree(_tree_root(source, videos), f"{label}/", sub)
    if not sub.frames and not sub.not_png:
        expect = "positive/ and negative/ (folders or .zip)" if dataset.mode == "r2" \
            else "VID/EXP_ID/FRAME.png"
        raise SubmissionError(path, f"no prediction PNGs found (expected {expect})")
    return sub


def describe(locator: Locator) -> str:
    """A file name for messages: the PNG path, ``zip:member`` or ``json[pair/frame]``."""
    if locator[0] == "file":
        return locator[1]
    if locator[0] == "zip":
        return f"{locator[1]}:{locator[2]}"
    return locator[1]


@functools.lru_cache(maxsize=4)
def _zip(path: str) -> zipfile.ZipFile:
    # One open handle per zip and process: reading the central directory is not free.
    return zipfile.ZipFile(path)


def _read_bytes(locator: Locator) -> bytes:
    try:
        if locator[0] == "file":
            with open(locator[1], "rb") as f:
                return f.read()
        return _zip(locator[1]).read(locator[2])
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        raise SubmissionError(describe(locator), f"cannot read: {e}") from None


def _rle_mask(locator: Locator, size: tuple[int, int], pair_frame: str) -> np.ndarray:
    from pycocotools import mask as mask_utils

    seg = locator[2]
    where = locator[1]
    h, w = seg["size"]
    if (h, w) != size:
        raise SubmissionError(where, f"{pair_frame}: RLE size {h}x{w}, the video is "
                                     f"{size[0]}x{size[1]}")
    try:
        rle = seg
        if isinstance(seg["counts"], list):
            rle = mask_utils.frPyObjects(seg, h, w)
        elif isinstance(seg["counts"], str):
            rle = {"size": [h, w], "counts": seg["counts"].encode("ascii")}
        m = mask_utils.decode(rle)
    except Exception as e:  # noqa: BLE001 - pycocotools raises bare exceptions
        raise SubmissionError(where, f"{pair_frame}: bad RLE: {e}") from None
    return np.ascontiguousarray(m != 0)


def _pixels_nonzero(im: Image.Image) -> np.ndarray:
    """(H, W) bool of non-zero pixels of a decoded image of any mode."""
    if im.mode in ("RGB", "RGBA", "LA", "PA"):
        bands = im.getbands()
        keep = [b for b in bands if b != "A"]
        arr = np.asarray(im)
        return np.any(arr[..., [bands.index(b) for b in keep]] != 0, axis=-1)
    if im.mode == "1":  # Pillow exposes 1-bit pixels as bool bytes of 0/255: normalise
        im = im.convert("L")
    return np.asarray(im) != 0


def _size_problem(mask: tuple[int, int], size: tuple[int, int]) -> str:
    return f"mask is {mask[0]}x{mask[1]}, the video is {size[0]}x{size[1]}"


def _open_sized(locator: Locator, size: tuple[int, int]) -> Image.Image:
    """Open a prediction PNG (header only) and check it has the video's (H, W).

    The size is read from the PNG header and checked before Pillow sees the file, so a tiny
    file claiming a huge image is refused without decoding it (r2bench/pngsafe.py)."""
    data = _read_bytes(locator)
    where = describe(locator)
    if not data:
        raise SubmissionError(where, "empty file, not a PNG")
    head = png_size(data)
    if head is not None and head != size:
        raise SubmissionError(where, _size_problem(head, size))
    try:
        with no_bombs():
            im = Image.open(io.BytesIO(data), formats=["PNG"])
    except UnidentifiedImageError:
        # Pillow's own message names its in-memory buffer; the file is named already.
        kind = "JPEG data" if data.startswith(b"\xff\xd8") else "not PNG data"
        raise SubmissionError(where, f"not a readable PNG: {kind}") from None
    except ImageTooLarge as e:
        raise SubmissionError(where, f"mask {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise SubmissionError(where, f"not a readable PNG: {e}") from None
    w, h = im.size
    if (h, w) != size:
        raise SubmissionError(where, _size_problem((h, w), size))
    return im


@contextlib.contextmanager
def _decoding(locator: Locator) -> Iterator[None]:
    """Turn a failure while decoding pixel data into a one-line SubmissionError."""
    try:
        yield
    except (OSError, SyntaxError, ValueError, zipfile.BadZipFile) as e:
        raise SubmissionError(describe(locator), f"corrupt or truncated PNG: {e}") from None


def read_mask(locator: Locator, size: tuple[int, int], pair_frame: str) -> np.ndarray:
    """Decode one prediction frame, checking its size: (H, W) bool, True = foreground."""
    mask = read_mask_values(locator, size, pair_frame)
    return mask if mask.dtype == bool else mask != 0


def read_mask_values(locator: Locator, size: tuple[int, int], pair_frame: str) -> np.ndarray:
    """Like `read_mask`, without the compare pass the scorer does not need: an (H, W) array
    whose non-zero pixels are foreground. L and P PNGs come back as decoded (uint8; the
    metric kernels compare with 0 themselves), every other form as bool."""
    if locator[0] == "rle":
        return _rle_mask(locator, size, pair_frame)
    im = _open_sized(locator, size)
    with _decoding(locator):
        im.load()
    if im.mode in ("L", "P"):
        return np.asarray(im)
    return _pixels_nonzero(im)


def read_area(locator: Locator, size: tuple[int, int], pair_frame: str) -> int:
    """Foreground pixels of one prediction frame (negative pairs need nothing else)."""
    if locator[0] == "rle":
        return int(np.count_nonzero(_rle_mask(locator, size, pair_frame)))
    im = _open_sized(locator, size)
    with _decoding(locator):
        if im.mode in ("L", "P"):  # Pillow's histogram decodes in C; no array needed
            return size[0] * size[1] - im.histogram()[0]
        im.load()
    return int(np.count_nonzero(_pixels_nonzero(im)))


def check_for_dataset(sub: Submission, dataset: EvalDataset) -> None:
    """Raise one `SubmissionError` when not one pair of the submission is a pair of the
    dataset: it was made for another dataset, and listing every pair would say no more."""
    known_pairs = {p.pair_id for p in dataset.pairs}
    given = sorted({pair for pair, _ in (*sub.frames, *sub.not_png)})
    if not given or not known_pairs or any(pair in known_pairs for pair in given):
        return
    split = f" (split {dataset.split})" if dataset.mode == "rvos" else ""
    raise SubmissionError(sub.path, f"none of its {plural(len(given), 'pair')} is a pair of "
                                    f"{dataset.path}{split} (it has {given[0]}, the dataset "
                                    f"{min(known_pairs)}, ...): the submission is for another "
                                    "dataset")


def completeness_problems(sub: Submission, dataset: EvalDataset,
                          allow_missing: bool) -> tuple[list[SubmissionError], int]:
    """Every extra, missing or non-PNG frame of the submission, and how many are missing.

    Extra pairs or frames are always problems, and so is a frame given as another image
    type (``FRAME.jpg``); missing frames are problems unless ``allow_missing`` (then they
    are scored as empty masks). A submission none of whose pairs is in the dataset is one
    `SubmissionError`, raised (`check_for_dataset`).
    """
    check_for_dataset(sub, dataset)
    expected = {(p.pair_id, f) for p in dataset.pairs for f in p.frames}
    known_pairs = {p.pair_id for p in dataset.pairs}
    problems = []
    for pair, frame in sorted(set(sub.frames) - expected):
        what = f"frame {frame} is not a frame of pair {pair}" if pair in known_pairs \
            else f"pair {pair} is not a pair of the dataset"
        problems.append(SubmissionError(describe(sub.frames[(pair, frame)]), what))
    missing = sorted(expected - set(sub.frames))
    for pair, frame in missing:
        if (pair, frame) in sub.not_png:
            problems.append(SubmissionError(sub.not_png[(pair, frame)], "not a PNG: masks "
                                            f"must be lossless PNG files ({frame}.png)"))
        elif not allow_missing:
            problems.append(SubmissionError(sub.path, f"missing prediction {pair}/{frame}.png"))
    return problems, sum(key not in sub.not_png for key in missing)


def check_complete(sub: Submission, dataset: EvalDataset, allow_missing: bool) -> int:
    """Check that the submission holds exactly the dataset's frames; return how many miss.

    Raises the first problem of `completeness_problems`, saying how many more there are.
    """
    problems, n_missing = completeness_problems(sub, dataset, allow_missing)
    if problems:
        first = problems[0]
        reason = first.reason
        if len(problems) > 1:
            reason += f" (and {plural(len(problems) - 1, 'more problem')})"
        if reason.startswith("missing prediction"):
            reason += " (--allow-missing scores missing frames as empty)"
        raise SubmissionError(first.path, reason)
    return n_missing


def read_index_mask(locator: Locator, size: tuple[int, int], pair_frame: str) -> np.ndarray:
    """Decode an indexed prediction frame (palette or L PNG, pixel = object number) into an
    (H, W) uint8 array, checking its size. RLE masks and colour PNGs hold no object numbers."""
    if locator[0] == "rle":
        raise SubmissionError(locator[1], f"{pair_frame}: an RLE mask holds no object numbers")
    im = _open_sized(locator, size)
    if im.mode not in ("P", "L"):
        raise SubmissionError(describe(locator), f"mode {im.mode}: expected an indexed PNG "
                                                 "(palette or L), pixel = object number")
    with _decoding(locator):
        im.load()
    return np.asarray(im)
