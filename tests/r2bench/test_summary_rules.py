"""The summary rules and the pixel rules on hand-made cases that tell the right rule from
its near misses: videos of unequal length, frames missing from one pair, alpha bands,
R below zero."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from r2data import frame_names, write_preds, write_r2

from r2bench.cli import main

H, W = 10, 12


def _score(preds, r2, out, *extra):
    res = CliRunner().invoke(main, ["score", str(preds), "--dataset", str(r2), "--out",
                                    str(out), "-q", "--workers", "1", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def _unequal_videos():
    """``a``: 1 frame, ``b``: 3 frames; one object each, a 4x4 square (16 px)."""
    a = np.zeros((1, H, W), np.uint8)
    a[:, 2:6, 2:6] = 1
    b = np.zeros((3, H, W), np.uint8)
    b[:, 4:8, 5:9] = 1
    return {"a": a, "b": b}


EXPS = {"a": {"0": ("the square", "1")}, "b": {"0": ("the other square", "1")}}


@pytest.fixture()
def unequal(tmp_path):
    r2 = tmp_path / "r2"
    write_r2(r2, _unequal_videos(), EXPS, {"a": "b", "b": "a"})
    return r2


def test_summary_means_are_over_pairs_not_frames(unequal, tmp_path):
    v = _unequal_videos()
    preds = tmp_path / "preds"
    write_preds(preds, {"positive/a/0": v["a"] == 1,                    # J = F = 1 (1 frame)
                        "positive/b/0": np.zeros((3, H, W), bool),      # J = F = 0 (3 frames)
                        "negative/a/0": np.zeros((3, H, W), bool),      # a's negative is b
                        "negative/b/0": np.zeros((1, H, W), bool)})
    s = _score(preds, unequal, tmp_path / "r.json")["summary"]
    # Over pairs: (1 + 0) / 2. Over frames it would be (1 + 0 + 0 + 0) / 4.
    assert (s["J"], s["F"], s["JF"]) == (0.5, 0.5, 0.5)
    assert s["n_frames"] == 8


def test_allow_missing_counts_frames_not_pairs(unequal, tmp_path):
    v = _unequal_videos()
    preds = tmp_path / "preds"
    write_preds(preds, {"positive/a/0": v["a"] == 1, "positive/b/0": v["b"] == 1,
                        "negative/a/0": np.zeros((3, H, W), bool),
                        "negative/b/0": np.zeros((1, H, W), bool)})
    for frame in frame_names(3)[1:]:                 # two frames of one pair
        (preds / "positive" / "b" / "0" / f"{frame}.png").unlink()
    res = CliRunner().invoke(main, ["score", str(preds), "--dataset", str(unequal), "--out",
                                    str(tmp_path / "r.json"), "-q", "--allow-missing"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["n_missing_frames"] == 2
    assert "2 missing frames scored as empty" in res.stderr
    b0 = next(p for p in data["pairs"] if p["pair_id"] == "positive/b/0")
    assert b0["J"] == pytest.approx(1 / 3, abs=1e-12)   # 1 of 3 frames found


def _save_with_alpha(mask: np.ndarray, path, mode: str) -> None:
    """Foreground white, background opaque black: the alpha band is 255 everywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = mask.astype(np.uint8) * 255
    alpha = np.full_like(value, 255)
    bands = [value, alpha] if mode == "LA" else [value, value, value, alpha]
    Image.fromarray(np.stack(bands, axis=-1), mode).save(path)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_not_foreground(unequal, tmp_path, mode):
    v = _unequal_videos()
    masks = {"positive/a/0": v["a"] == 1, "positive/b/0": np.roll(v["b"] == 1, 1, axis=2),
             "negative/a/0": np.zeros((3, H, W), bool), "negative/b/0": v["a"] == 1}
    write_preds(tmp_path / "L", masks)
    for pair_id, stack in masks.items():
        for frame, m in zip(frame_names(len(stack)), stack):
            _save_with_alpha(m, tmp_path / mode / pair_id / f"{frame}.png", mode)
    expected = _score(tmp_path / "L", unequal, tmp_path / "l.json")
    got = _score(tmp_path / mode, unequal, tmp_path / "a.json")
    assert got["summary"] == expected["summary"] and got["pairs"] == expected["pairs"]
    assert next(p["area"] for p in got["pairs"] if p["pair_id"] == "negative/b/0") == 16


def test_nonzero_is_foreground_whatever_the_value(unequal, tmp_path):
    """Second example: L value 1 (not 255) and a palette index whose colour is black."""
    v = _unequal_videos()
    masks = {"positive/a/0": v["a"] == 1, "positive/b/0": v["b"] == 1,
             "negative/a/0": np.zeros((3, H, W), bool), "negative/b/0": v["a"] == 1}
    for pair_id, stack in masks.items():
        for frame, m in zip(frame_names(len(stack)), stack):
            path = tmp_path / "odd" / pair_id / f"{frame}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            if pair_id.startswith("positive"):
                Image.fromarray(m.astype(np.uint8)).save(path)          # L, values 0/1
            else:
                im = Image.fromarray(m.astype(np.uint8) * 7, mode="P")   # index 7 ...
                im.putpalette([0, 0, 0] * 256)                           # ... drawn black
                im.save(path)
    s = _score(tmp_path / "odd", unequal, tmp_path / "r.json")["summary"]
    assert (s["J"], s["F"]) == (1.0, 1.0)
    assert s["R"] == pytest.approx(1 - 16 / (16 + 3 * 16), abs=1e-12)


def test_jfr_with_r_below_zero(unequal, tmp_path):
    """Second example of J&F&R = (J + F + R) / 3: perfect positives, R = 1 - 128/64 = -1."""
    v = _unequal_videos()
    full = np.zeros((3, H, W), bool)
    full[:, :8, :] = True           # 96 px per frame...
    full[:, :, 4:] = False          # ... cut to 8 x 4 = 32 px: 96 px over 3 frames
    neg_b = np.zeros((1, H, W), bool)
    neg_b[0, :4, :8] = True         # 32 px
    preds = tmp_path / "preds"
    write_preds(preds, {"positive/a/0": v["a"] == 1, "positive/b/0": v["b"] == 1,
                        "negative/a/0": full, "negative/b/0": neg_b})
    s = _score(preds, unequal, tmp_path / "r.json")["summary"]
    assert (s["J"], s["F"], s["JF"]) == (1.0, 1.0, 1.0)
    assert s["R"] == pytest.approx(-1.0, abs=1e-12)      # positives: 16 + 3 * 16 = 64 px
    assert s["JFR"] == pytest.approx(1 / 3, abs=1e-12)
