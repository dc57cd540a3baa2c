"""The perturbations by name: 19 visual corruptions in four families and four textual ones.

Names follow the R2-Bench toolbox (its text perturbations ``insert_punctuation_in_words``,
``grammer`` and ``delete_random_characters`` are called ``insert_punctuation``, ``grammar``
and ``delete_characters`` here). A visual corruption maps (T, H, W, 3) uint8 frames, a
severity in 1..5 and its `Draws` to frames of the same shape; a textual one maps a text, a
severity, a generator and protected spans to a text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from datasets_builder.perturb import blur, digital, noise, weather
from datasets_builder.perturb.draws import Draws
from datasets_builder.perturb.text import TEXT_PERTURBATIONS
from r2bench.errors import R2BenchError

Corruption = Callable[[np.ndarray, int, Draws], np.ndarray]

FAMILIES: dict[str, dict[str, Corruption]] = {
    "noise": {"gaussian_noise": noise.gaussian_noise, "shot_noise": noise.shot_noise,
              "impulse_noise": noise.impulse_noise, "speckle_noise": noise.speckle_noise},
    "blur": {"gaussian_blur": blur.gaussian_blur, "glass_blur": blur.glass_blur,
             "defocus_blur": blur.defocus_blur, "motion_blur": blur.motion_blur,
             "zoom_blur": blur.zoom_blur},
    "weather": {"fog": weather.fog, "frost": weather.frost, "snow": weather.snow,
                "spatter": weather.spatter},
    "digital": {"contrast": digital.contrast, "brightness": digital.brightness,
                "saturate": digital.saturate, "jpeg_compression": digital.jpeg_compression,
                "pixelate": digital.pixelate, "elastic_transform": digital.elastic_transform},
}
VISUAL: dict[str, Corruption] = {n: f for fam in FAMILIES.values() for n, f in fam.items()}
TEXT = TEXT_PERTURBATIONS
ALL = (*VISUAL, *TEXT)
FAMILY_OF = {n: fam for fam, members in FAMILIES.items() for n in members} | {
    n: "text" for n in TEXT}
GROUPS = {"all": ALL, "visual": tuple(VISUAL), "text": tuple(TEXT),
          **{fam: tuple(members) for fam, members in FAMILIES.items()}}


def kind_of(name: str) -> str:
    """'visual' or 'text'."""
    return "text" if name in TEXT else "visual"


def parse_types(items: Iterable[str]) -> tuple[str, ...]:
    """Names and groups (all, visual, text, noise, blur, weather, digital), comma-separated
    or not, to the perturbation names they cover, in catalogue order (so the draws do not
    depend on how the list was written)."""
    wanted: set[str] = set()
    for item in items:
        for name in (s.strip() for s in item.split(",")):
            if name in GROUPS:
                wanted.update(GROUPS[name])
            elif name in FAMILY_OF:
                wanted.add(name)
            elif name:
                raise R2BenchError(None, f"unknown perturbation type {name!r} (types: "
                                         f"{', '.join(ALL)}; groups: {', '.join(GROUPS)})")
    if not wanted:
        raise R2BenchError(None, "no perturbation type given")
    return tuple(n for n in ALL if n in wanted)
