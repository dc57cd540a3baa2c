"""A fake DAVIS 2017 root and fake Ref-DAVIS17 expression files, laid out as the real ones.

    DAVIS/JPEGImages/480p/VID/00000.jpg ...
    DAVIS/Annotations_unsupervised/480p/VID/00000.png    palette PNG, 255 = void
    DAVIS/ImageSets/2017/train.txt, val.txt
    DAVIS/davis_semantics.json                            {VID: {"1": category, ...}}
    davis_text_annotations/Davis17_annot{1,2}[_full_video].txt
        one line per object: VID OBJ_ID "expression"; annotator 2's files in Latin-1

Videos are moving discs of object ids with a void ring around some objects; one video's
highest object enters after the first frame (so the DAVIS rule "objects of the first frame"
matters), and one video name is misspelt in the expression files, as in the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from datasets_builder.render import PALETTE

FILES = ("Davis17_annot1.txt", "Davis17_annot1_full_video.txt", "Davis17_annot2.txt",
         "Davis17_annot2_full_video.txt")
ENCODINGS = ("utf-8", "utf-8", "latin-1", "latin-1")
CATEGORIES = ("dog", "person", "bike", "car", "horse", "bag")
# Text per (run, object index): run 2 and 3 (annotator 2) hold Latin-1-only characters.
WORDS = ("the brown dog", "a man in café clothes", "the naïve bike", "a car on the left",
         "the horse running", "a red bag")


def disc_video(rng: np.random.Generator, t: int, h: int, w: int, n_obj: int,
               late: bool = False, void: bool = True) -> np.ndarray:
    """(T, H, W) uint8 ids: ``n_obj`` moving discs (later ids on top), void rings around
    object 1; with ``late`` the last object is absent from frame 0."""
    yy, xx = np.mgrid[:h, :w]
    ids = np.zeros((t, h, w), np.uint8)
    for k in range(1, n_obj + 1):
        r = rng.uniform(0.12, 0.25) * min(h, w)
        cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
        vy, vx = rng.normal(0, 0.03 * h), rng.normal(0, 0.03 * w)
        for i in range(t):
            if late and k == n_obj and i == 0:
                continue
            d2 = (yy - cy - i * vy) ** 2 + (xx - cx - i * vx) ** 2
            if void and k == 1:
                ids[i][(d2 <= (r + 2) ** 2) & (d2 > r ** 2)] = 255
            ids[i][d2 <= r ** 2] = k
    return ids


def _palette_png(ids: np.ndarray, path: Path) -> None:
    im = Image.fromarray(ids)
    im.putpalette(PALETTE)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def write_davis(root: Path, videos: dict[str, np.ndarray], val: list[str],
                train: list[str] = (), semantics: bool = True) -> Path:
    """A DAVIS 2017 root at ``root`` for (T, H, W) id stacks (255 void)."""
    for vid, ids in videos.items():
        for i, frame_ids in enumerate(ids):
            jpg = root / "JPEGImages" / "480p" / vid / f"{i:05d}.jpg"
            jpg.parent.mkdir(parents=True, exist_ok=True)
            rgb = np.stack([frame_ids * 40, 255 - frame_ids * 30, frame_ids], -1).astype(np.uint8)
            Image.fromarray(rgb).save(jpg, quality=90)
            _palette_png(frame_ids, root / "Annotations_unsupervised" / "480p" / vid /
                         f"{i:05d}.png")
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("".join(f"{v}\n" for v in val))
    if train:
        (sets / "train.txt").write_text("".join(f"{v}\n" for v in train))
    if semantics:
        sem = {vid: {str(k): CATEGORIES[(k - 1) % len(CATEGORIES)]
                     for k in range(1, n_objects(ids) + 1)} for vid, ids in videos.items()}
        (root / "davis_semantics.json").write_text(json.dumps(sem))
    return root


def n_objects(ids: np.ndarray) -> int:
    """All object ids of a video (DAVIS semantics lists every object)."""
    present = np.unique(ids)
    return int(present[(present != 0) & (present != 255)].max(initial=0))


def expression(run: int, video: str, obj: int) -> str:
    """The fake expression of run ``run`` for object ``obj``, with non-ASCII letters."""
    base = WORDS[(obj - 1) % len(WORDS)]
    return f"{base} ({'first' if run % 2 == 0 else 'full'} {run // 2 + 1}) in {video}"


def write_expressions(folder: Path, objects: dict[str, int],
                      misspell: dict[str, str] | None = None) -> Path:
    """The four expression files for ``objects`` (VID -> object count), lines shuffled so
    the converter has to sort them; ``misspell`` renames videos as the real files do."""
    folder.mkdir(parents=True, exist_ok=True)
    misspell = misspell or {}
    for run, (name, enc) in enumerate(zip(FILES, ENCODINGS)):
        lines = [f'{misspell.get(v, v)} {k} "{expression(run, v, k)}"'
                 for v, n in objects.items() for k in range(n, 0, -1)]
        (folder / name).write_bytes(("\n".join(lines) + "\n").encode(enc))
    return folder


def make_refdavis(tmp: Path, seed: int = 0, t: int = 6, h: int = 48, w: int = 64
                  ) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """DAVIS root, expression folder and the videos' id stacks of a small val + train set."""
    rng = np.random.default_rng(seed)
    videos = {"bear": disc_video(rng, t, h, w, 1),
              "classic-car": disc_video(rng, t, h, w, 3, late=True),
              "dogs-jump": disc_video(rng, t, h, w, 2),
              "train-one": disc_video(rng, t, h, w, 2, void=False)}
    val = ["bear", "classic-car", "dogs-jump"]
    davis = write_davis(tmp / "DAVIS", videos, val, ["train-one"])
    exps = write_expressions(tmp / "davis_text_annotations",
                             {v: n_objects(ids) for v, ids in videos.items()},
                             misspell={"classic-car": "clasic-car"})
    return davis, exps, videos


def save_indexed(ids: np.ndarray, path: Path) -> None:
    """One indexed prediction frame, as ReferFormer's inference_davis.py saves it."""
    _palette_png(ids.astype(np.uint8), path)
