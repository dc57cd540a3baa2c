"""ImageNet-C's frost photographs, read from the installed ``imagecorruptions`` package.

ImageNet-C (and the R2-Bench toolbox, which copies its code) blends a frame with one of six
photographs of frost on glass. They are not ours to ship: the ``imagecorruptions`` wheel
(Apache-2.0) carries them, and ``pip install 'r2bench[perturb]'`` installs it. The package
is found without being imported (it needs OpenCV and older numpy and scikit-image to
import). Without it, frost is refused with a one-line hint (`require_photographs`).

As upstream, a photograph is drawn among the first five (its ``randint(5)``: the sixth is
never used), scaled so that it covers the frame with a margin of 10% (the rule of
``imagecorruptions``, which generalises ImageNet-C's 224 x 224 crop to any size; bicubic),
and cropped at a random position. Read as RGB, as ImageNet-C does (the toolbox adds the
BGR array that OpenCV reads).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import math
from pathlib import Path

import numpy as np
from PIL import Image

from r2bench.errors import R2BenchError

PACKAGE = "imagecorruptions"
PHOTOGRAPHS = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
MARGIN = 1.1                    # the photograph covers the frame 1.1 times over
HINT = ("frost needs ImageNet-C's frost photographs, which the imagecorruptions package "
        "ships: pip install 'r2bench[perturb]' (or leave frost out of --types)")


def photograph_folder() -> Path | None:
    """The ``frost`` folder of the installed ``imagecorruptions``, or None."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "frost"
        if all((folder / name).is_file() for name in PHOTOGRAPHS):
            return folder
    return None


def require_photographs() -> Path:
    """The folder of the photographs; none: `R2BenchError` with the install hint."""
    folder = photograph_folder()
    if folder is None:
        raise R2BenchError(None, HINT)
    return folder


def provenance() -> dict | None:
    """What perturb.json records of the frost used: package, version and photographs."""
    if photograph_folder() is None:
        return None
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"photographs": f"ImageNet-C's, from {PACKAGE}", "package": PACKAGE,
            "version": version, "files": list(PHOTOGRAPHS)}


@functools.lru_cache(maxsize=len(PHOTOGRAPHS))
def _load(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def cover_scale(photo_hw: tuple[int, int], frame_hw: tuple[int, int]) -> float:
    """Scale of the photograph: the smallest that covers the frame (at least 1), times 1.1."""
    return MARGIN * max(1.0, frame_hw[0] / photo_hw[0], frame_hw[1] / photo_hw[1])


def frost_layer(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(H, W, 3) float32 in [0, 255]: a random crop of a random photograph, scaled to cover."""
    folder = require_photographs()
    photo = _load(str(folder / PHOTOGRAPHS[int(rng.integers(len(PHOTOGRAPHS)))]))
    s = cover_scale(photo.shape[:2], (h, w))
    size = (math.ceil(photo.shape[1] * s), math.ceil(photo.shape[0] * s))   # (W, H)
    if s != 1.0:
        photo = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BICUBIC))
    top = int(rng.integers(0, photo.shape[0] - h))
    left = int(rng.integers(0, photo.shape[1] - w))
    return photo[top:top + h, left:left + w].astype(np.float32)
