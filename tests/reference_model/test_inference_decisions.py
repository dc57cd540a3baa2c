"""run-reference's whole-video decisions on scripted model outputs: the pair gate at exactly
0.5, the frame-weighted slot over clips, the slot as the frame mean (not the max), and the
resume rule for a half-written expression folder."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from reference_model.inference import Group, InferenceConfig, Item, ReferenceRunner, is_done
from reference_model.postprocess import PostProcess, PostProcessConfig

T, H, W = 4, 8, 12          # frames of the video, frame size
Q, MASK = 2, (4, 6)         # queries, stride-4 mask size


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class ScriptedModel:
    """Stands in for `R2VOS` in `ReferenceRunner`: per caption, the sigmoid score of each
    query on each frame of the video ([T][Q]) and a pair logit per frame (or no pair head).
    Query q's mask logits are +8 on its own half of the frame (q = 0 left, 1 right) and -8
    elsewhere, so a written mask tells which slot was chosen."""

    def __init__(self, script: dict[str, tuple[list[list[float]], float | None]]):
        self.script = script
        self.cfg = SimpleNamespace(postprocess=PostProcessConfig())   # the release's thresholds
        self.start = self.next = 0

    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        self.start, self.next = self.next % T, self.next % T + len(x)
        return torch.zeros(len(x), 1)

    def forward_features(self, feats, texts, n, aux=False) -> dict:
        frames = slice(self.start, self.start + n)
        logits = torch.tensor([[[[_logit(p)] for p in row] for row in self.script[t][0][frames]]
                               for t in texts])                       # [B, n, Q, 1]
        masks = torch.full((len(texts), n, Q, *MASK), -8.0)
        masks[:, :, 0, :, : MASK[1] // 2] = 8.0
        masks[:, :, 1, :, MASK[1] // 2:] = 8.0
        pairs = [self.script[t][1] for t in texts]
        pair = None if pairs[0] is None else torch.tensor(pairs, dtype=torch.float32)
        return {"pred_logits": logits, "pred_masks": masks, "pred_pair": pair}


@pytest.fixture()
def frames(tmp_path) -> tuple[Path, ...]:
    paths = []
    for t in range(T):
        p = tmp_path / "frames" / f"{t:05d}.jpg"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((H, W, 3), 40 * t, np.uint8)).save(p)
        paths.append(p)
    return tuple(paths)


def _run(tmp_path, frames, script, window, batch=1) -> tuple[Group, int]:
    out = tmp_path / "preds"
    out.mkdir(exist_ok=True)
    items = tuple(Item(text, out / text) for text in script)
    group = Group("vid", tuple(p.stem for p in frames), frames, items)
    runner = ReferenceRunner(ScriptedModel(script), 16, InferenceConfig(
        window=window, batch_expressions=batch), out)
    return group, runner.run_group(group)


def _slot_written(folder: Path) -> list[int | None]:
    """Per frame: the slot whose half the mask covers, None for an empty mask."""
    out = []
    for t in range(T):
        m = np.asarray(Image.open(folder / f"{t:05d}.png")) == 255
        left, right = m[:, : W // 3], m[:, -(W // 3):]
        if not m.any():
            out.append(None)
        else:
            assert left.all() != right.all(), "a mask of one slot covers one half"
            out.append(0 if left.all() else 1)
    return out


FLAT = [[0.9, 0.2]] * T      # slot 0 everywhere


@pytest.mark.parametrize("window", [1, 3, None])
def test_pair_probability_of_exactly_one_half_empties_every_mask(tmp_path, frames, window):
    script = {"half": (FLAT, 0.0),                  # sigmoid(0) = 0.5: unrelated (>= 0.5)
              "below": (FLAT, -1e-3),               # just under: related, slot 0's masks
              "nohead": (FLAT, None)}
    for text, expected in (("half", [None] * T), ("below", [0] * T)):
        group, written = _run(tmp_path, frames, {text: script[text]}, window)
        assert written == 1
        assert _slot_written(group.items[0].out) == expected, text
    group, _ = _run(tmp_path, frames, {"nohead": script["nohead"]}, window)
    assert _slot_written(group.items[0].out) == [0] * T   # no pair head never empties


@pytest.mark.parametrize("window, batch", [(3, 1), (3, 2), (None, 1)])
def test_whole_video_slot_is_frame_weighted_over_clips(tmp_path, frames, window, batch):
    # clips of 3 and 1 frames: slot 0 scores 0.8 then 0.1, slot 1 0.6 throughout.
    # Frame-weighted: slot 0 = (3 x 0.8 + 0.1) / 4 = 0.625 > 0.6; the unweighted mean of
    # the two clip means, (0.8 + 0.1) / 2 = 0.45, would pick slot 1.
    scores = [[0.8, 0.6]] * 3 + [[0.1, 0.6]]
    other = [[0.1, 0.6]] * 3 + [[0.8, 0.6]]     # slot 1 by both rules (0.275 vs 0.6)
    group, _ = _run(tmp_path, frames, {"a": (scores, None), "b": (other, None)}, window, batch)
    assert _slot_written(group.items[0].out) == [0] * T
    assert _slot_written(group.items[1].out) == [1] * T


@pytest.mark.parametrize("window", [2, 3, None])
def test_slot_is_the_frame_mean_not_the_max(tmp_path, frames, window):
    # slot 0 peaks at 0.9 on one frame (mean 0.3), slot 1 holds 0.45 (mean 0.45): slot 1;
    # a max over frames, or over each clip's frames, picks slot 0
    scores = [[0.9, 0.45]] + [[0.1, 0.45]] * 3
    group, _ = _run(tmp_path, frames, {"peak": (scores, None)}, window)
    assert _slot_written(group.items[0].out) == [1] * T


def test_released_postprocess_takes_the_frame_mean_too():
    scores = torch.tensor([[0.9, 0.45]] + [[0.1, 0.45]] * 3)
    outputs = {"pred_logits": torch.logit(scores)[None, :, :, None],
               "pred_masks": torch.zeros(1, T, Q, *MASK), "pred_pair": None}
    [res] = PostProcess(PostProcessConfig())(outputs, [(H, W)])
    assert res["slot"] == 1


def test_a_folder_with_some_frames_is_rewritten_and_not_counted_done(tmp_path, frames):
    script = {"kept": (FLAT, None), "cut": ([[0.2, 0.9]] * T, None)}
    group, written = _run(tmp_path, frames, script, 3)
    assert written == 2 and all(is_done(it, group.frames) for it in group.items)
    kept, cut = group.items
    before = {p.name: p.read_bytes() for p in cut.out.iterdir()}
    kept_mtime = {p.name: p.stat().st_mtime_ns for p in kept.out.iterdir()}
    for name in ("00001.png", "00003.png"):    # an older writer stopped half-way
        (cut.out / name).unlink()
    (cut.out / "00000.png").write_bytes(b"")   # and a frame it had only begun
    assert not is_done(cut, group.frames)
    _, written = _run(tmp_path, frames, script, 3)
    assert written == 1                        # only the incomplete one is redone
    assert {p.name: p.read_bytes() for p in cut.out.iterdir()} == before
    assert {p.name: p.stat().st_mtime_ns for p in kept.out.iterdir()} == kept_mtime
    _, written = _run(tmp_path, frames, script, 3)
    assert written == 0
