"""The release's pre-training ladder at toy scale (``r2bench train --stage``).

The release never trains from scratch: ImageNet backbone, pre-trained RoBERTa, Ref-COCO
images, then Ref-Youtube-VOS with negatives. Here each rung has a synthetic stand-in, and
every stage trains the *whole* model's weights file (the parts a stage does not touch keep
their values), so stages chain with ``--init``:

1. ``backbone`` ("ImageNet"): the ResNet classifies every pixel of single frames of the
   split (which shape, which colour, at stride 8) and every frame (which shapes and colours
   it holds, from the stride-32 map). BatchNorm is trained as ordinary BatchNorm and its
   statistics are then frozen into the model's frozen BatchNorm, as an ImageNet checkpoint
   gives them; the stem and ``layer1``, which the later stages never train, are trained here.
2. ``text`` ("RoBERTa"): masked-language modelling on the split's captions (15 % of the
   tokens masked, RoBERTa's 80/10/10), plus a bag-of-words prediction from the sentence
   embedding e (the pooler, which masked-language modelling alone leaves random).
3. ``image`` ("Ref-COCO"): ``r2bench train`` at T = 1, single frames with their captions,
   positives and an unrelated negative per frame, twice the clips per step, the language
   model frozen (as the release freezes RoBERTa) and each frame also asked for a second
   object it holds (``LADDER_SETTINGS``, :func:`stage_config`).
4. ``video``: ``r2bench train`` started from stage 3, with ``VIDEO_RUNG_SETTINGS`` given as
   ``--set`` (``scripts/make_tiny_checkpoint.py`` does).

Stages 1 and 2 have their own small loop (:func:`train_backbone`, :func:`train_text`): a
fixed number of steps, data drawn from generators seeded by (seed, step), a checkpoint
``RUN/checkpoints/step-N/`` (``model.safetensors`` and ``stage.pt``: head, optimiser and
step) every ``save_every`` steps and at the end, ``--resume`` from the newest one, a line per
step in ``RUN/log.jsonl``.

Legend: N frames, H x W frame size, B captions, L tokens, V vocabulary.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from r2bench.errors import DatasetError, R2BenchError
from r2bench.fileio import atomic_directory, atomic_path
from reference_model.backbone import FrozenBatchNorm2d
from reference_model.build import build_model
from reference_model.checkpoint import save_checkpoint
from reference_model.preprocess import IMAGENET_MEAN, IMAGENET_STD

from .clips import build_clip_index
from .config import TrainConfig, with_overrides
from .state import init_from_checkpoint, list_checkpoints, prune_checkpoints

log = logging.getLogger(__name__)

STAGES = ("backbone", "text", "image", "video")
BACKGROUND_WEIGHT = 0.2  # of the background class in the backbone's per-pixel losses
STAGE_FILE = "stage.pt"
MODEL_FILE = "model.safetensors"



# What the image and video rungs change in the training config once the language model has
# had its own rung: it is frozen (the release freezes RoBERTa; trained on, it learns to make
# the fusion ignore the caption), and every clip is also paired with the caption of a
# second object it holds, so that the same frames are asked for different objects and only
# the words tell the targets apart. Measured in docs/training.md ("What binds the words").
LADDER_SETTINGS = {"model": {"text_encoder": {"freeze": True}},
                   "data": {"positives_per_clip": 2}}
# The video rung's: LADDER_SETTINGS, and the pair head's term weighted 5 (the release: 1).
# Once the words are bound, the pair term at weight 1 stays at a constant guess for the
# whole rung; at 5 the head learns (docs/training.md, "The pair head").
VIDEO_RUNG_SETTINGS = {**LADDER_SETTINGS,
                       "model": {**LADDER_SETTINGS["model"],
                                 "criterion": {"cycle_loss_cls_coef": 5.0}}}


def stage_config(cfg: TrainConfig, stage: str) -> TrainConfig:
    """The training config of a Trainer stage: ``image`` is ``cfg`` with
    :data:`LADDER_SETTINGS`, at T = 1 with twice the clips per step (the same pixels per
    step); ``video`` is ``cfg`` (the ladder's video rung adds :data:`VIDEO_RUNG_SETTINGS`
    with ``--set``). (Leaving motion captions out of the image stage, ``--set
    'data.exclude_words=["moving"]'``, was tried and did not help: docs/training.md.)"""
    if stage == "image":
        cfg = with_overrides(cfg, LADDER_SETTINGS)
        return cfg.replace(model=cfg.model.replace(num_frames=1), batch_size=2 * cfg.batch_size)
    return cfg


# -- shared: a small resumable loop --------------------------------------------------------

class _StageRun:
    """Run folder, log and checkpoints of a stage with its own loop."""

    def __init__(self, run: Path, resume: bool, keep: int = 2):
        self.run, self.keep = Path(run), keep
        if not resume and (self.run / "checkpoints").exists():
            raise R2BenchError(self.run, "already holds a run (continue it with --resume, or "
                                         "choose a new --out)")
        self.run.mkdir(parents=True, exist_ok=True)

    def newest(self) -> Path | None:
        found = [p for p in list_checkpoints(self.run) if (p / STAGE_FILE).is_file()]
        return found[-1] if found else None

    def save(self, model: nn.Module, cfg, step: int, state: dict) -> Path:
        folder = self.run / "checkpoints" / f"step-{step:08d}"
        with atomic_directory(folder, overwrite=True) as tmp:
            weights = {k: v for k, v in model.state_dict().items()
                       if not k.endswith("num_batches_tracked")}  # trainable BatchNorm's
            save_checkpoint(tmp / MODEL_FILE, weights, cfg.model,
                            {"r2bench_step": str(step)})
            torch.save({**state, "step": step, "torch_rng": torch.get_rng_state()},
                       tmp / STAGE_FILE)
        with atomic_path(self.run / MODEL_FILE) as tmp:
            shutil.copyfile(folder / MODEL_FILE, tmp)
        prune_checkpoints(self.run, self.keep)
        return folder

    def truncate_log(self, step: int) -> None:
        path = self.run / "log.jsonl"
        if path.exists():
            keep = [line for line in path.read_text().splitlines()
                    if line and json.loads(line).get("step", 0) <= step]
            path.write_text("".join(line + "\n" for line in keep))

    def log(self, record: dict) -> None:
        with open(self.run / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")


def _start(cfg: TrainConfig, data: str, split: str, run: str | os.PathLike, resume: bool,
           init: str | None, threads: int | None):
    """The stage's run folder and model; a run folder this call made is removed again when
    the model cannot be prepared (a bad --init), so a refused run leaves nothing behind."""
    new = not Path(run).exists()
    runner = _StageRun(Path(run), resume)
    try:
        cfg, model = _prepare(cfg, data, split, runner.run, init, threads)
    except BaseException:
        if new:
            shutil.rmtree(runner.run, ignore_errors=True)
        raise
    return runner, cfg, model


def _prepare(cfg: TrainConfig, data: str, split: str, run: Path, init: str | None,
             threads: int | None):
    """Model (from ``init`` when given) and its text folder, as the Trainer prepares them."""
    from .loop import _write_text_folder

    if threads:
        torch.set_num_threads(threads)
    text_dir = run / "text_encoder"
    if not text_dir.exists():
        _write_text_folder(cfg, data, split, text_dir)
    if cfg.model.text_encoder.path is None:
        cfg = cfg.replace(model=cfg.model.replace(text_encoder=replace(
            cfg.model.text_encoder, path=os.fspath(text_dir))))
    torch.manual_seed(cfg.seed)
    model, _, _ = build_model(cfg.model)
    arch = model.text_encoder.arch()
    cfg = cfg.replace(model=cfg.model.replace(text_encoder=replace(cfg.model.text_encoder,
                                                                   arch=arch)))
    if init is not None:
        init_from_checkpoint(model, init, arch)
    return cfg, model


def _loop(name: str, run: _StageRun, cfg, model: nn.Module, head: nn.Module, params,
          lr: float, steps: int, loss_fn, save_every: int, progress: bool) -> int:
    """AdamW at a constant rate on ``params`` for ``steps`` steps of ``loss_fn(step) ->
    (loss, metrics)``; running it again with more steps and ``resume`` continues it."""
    from tqdm import tqdm

    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    start, offset = 0, 0.0
    folder = run.newest()
    if folder is not None:  # resume
        from reference_model.checkpoint import read_checkpoint

        weights, _ = read_checkpoint(folder / MODEL_FILE, text_arch=cfg.model.text_encoder.arch)
        model.load_state_dict(weights, strict=False)
        state = torch.load(folder / STAGE_FILE, weights_only=True)
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start, offset = state["step"], state.get("time", 0.0)
        run.truncate_log(start)
        log.info("resumed %s from %s", name, folder)
    elif (run.run / "log.jsonl").exists():
        (run.run / "log.jsonl").unlink()
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=start, desc=name, unit="step", disable=not progress)
    for step in range(start, steps):
        loss, metrics = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        seconds = offset + time.perf_counter() - t0
        run.log({"step": step + 1, "time": round(seconds, 3), "loss": float(loss.detach()),
                 **metrics})
        bar.update()
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        if (step + 1) % save_every == 0 or step + 1 == steps:
            run.save(model, cfg, step + 1, {"head": head.state_dict(),
                                             "optimizer": opt.state_dict(),
                                             "time": seconds})
    bar.close()
    return steps


# -- 1. backbone ---------------------------------------------------------------------------

def _categories(root: Path, split: str) -> dict[str, dict[str, str]]:
    """{video: {obj_id: category}} from ``<root>/<split>/meta.json``."""
    path = root / split / "meta.json"
    try:
        videos = json.loads(path.read_text())["videos"]
        return {v: {o: d["category"] for o, d in meta["objects"].items()}
                for v, meta in videos.items()}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(path, f"cannot read the objects' categories: {e}") from None


def frame_labels(frame: np.ndarray, labels: np.ndarray, categories: dict[str, str],
                 shapes: Sequence[str], colours: Mapping[str, Sequence[int]]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """frame [H, W, 3] uint8, labels [H, W] object ids -> per-pixel shape class and colour
    class [H, W] int64 (0: background; ``shapes`` 1..S by category, ``colours`` 1..C by the
    nearest palette colour of the object's median pixel). Objects of a category not in
    ``shapes`` count as background."""
    shape = np.zeros(labels.shape, np.int64)
    colour = np.zeros(labels.shape, np.int64)
    palette = np.array(list(colours.values()), np.float64)
    for obj, cat in categories.items():
        m = labels == int(obj)
        if cat not in shapes or not m.any():
            continue
        rgb = np.median(frame[m].astype(np.float64), 0)
        shape[m] = shapes.index(cat) + 1
        colour[m] = int(np.argmin(((palette - rgb) ** 2).sum(1))) + 1
    return shape, colour


class BackboneHead(nn.Module):
    """Per-pixel shape and colour logits from the stride-8 map, per-frame multi-label
    logits from the pooled stride-32 map."""

    def __init__(self, c8: int, c32: int, n_shapes: int, n_colours: int):
        super().__init__()
        n = n_shapes + n_colours
        self.dense = nn.Conv2d(c8, n + 2, 1)  # + background of each
        self.image = nn.Linear(c32, n)

    def forward(self, feats: dict[int, Tensor]) -> tuple[Tensor, Tensor]:
        return self.dense(feats[8]), self.image(feats[32].mean((2, 3)))


def _trainable_bn(module: nn.Module) -> None:
    """Swap every FrozenBatchNorm2d of ``module`` for a trainable BatchNorm2d with its
    values. The checkpoints save the trained statistics under the same keys, so the next
    rung's model, with frozen batch norm, loads them."""
    for _, child in list(module.named_modules()):
        for cname, sub in list(child.named_children()):
            if isinstance(sub, FrozenBatchNorm2d):
                bn = nn.BatchNorm2d(sub.weight.numel(), eps=sub.eps)
                with torch.no_grad():
                    for stat in ("weight", "bias", "running_mean", "running_var"):
                        getattr(bn, stat).copy_(getattr(sub, stat))
                setattr(child, cname, bn)


def train_backbone(cfg: TrainConfig, data: str, split: str, run: str | os.PathLike, *,
                   shapes: Sequence[str], colours: Mapping[str, Sequence[int]],
                   steps: int = 2000, batch: int = 16, lr: float = 2e-3, init: str | None = None,
                   resume: bool = False, threads: int | None = None, save_every: int = 100,
                   progress: bool = True) -> Path:
    """Stage 1: the backbone classifies shapes and colours of the split's frames.

    ``shapes``: the object categories it tells apart; ``colours``: colour name -> RGB, the
    palette an object's colour is read against (the synthetic source's, given by the caller:
    the model package does not import the builder)."""
    from PIL import Image

    from r2bench.refytvos import read_annotations

    index = build_clip_index(data, split, 1)     # the data is checked before RUN is made
    cats = _categories(index.root.root, split)
    frames = [(v, n) for v, names in index.videos.items() for n in names]
    if not frames:
        raise DatasetError(data, f"no frames in split {split}")
    runner, cfg, model = _start(cfg, data, split, run, resume, init, threads)
    head = BackboneHead(model.backbone.num_channels[8], model.backbone.num_channels[32],
                        len(shapes), len(colours))
    _trainable_bn(model.backbone)
    for p in model.backbone.parameters():
        p.requires_grad_(True)
    params = list(model.backbone.parameters()) + list(head.parameters())
    h, w = cfg.model.input_size
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    model.backbone.train()

    def load(i: int, rng: np.random.Generator):
        video, name = frames[i]
        with Image.open(index.root.jpeg_path(video, name)) as im:
            rgb = np.asarray(im.convert("RGB").resize((w, h), Image.BILINEAR))
        lab = read_annotations([index.root.annotation_path(video, name)])[0]
        lab = np.asarray(Image.fromarray(lab.astype(np.uint8)).resize((w, h), Image.NEAREST))
        shape, colour = frame_labels(rgb, lab, cats.get(video, {}), shapes, colours)
        if rng.random() < 0.5:  # horizontal flip
            rgb, shape, colour = rgb[:, ::-1], shape[:, ::-1], colour[:, ::-1]
        return rgb.copy(), shape.copy(), colour.copy()

    def loss_fn(step: int):
        rng = np.random.default_rng([cfg.seed, step, 7])
        picks = [load(int(i), rng) for i in rng.integers(len(frames), size=batch)]
        x = torch.from_numpy(np.stack([p[0] for p in picks])).permute(0, 3, 1, 2).float() / 255
        x = (x - mean) / std
        shape = torch.from_numpy(np.stack([p[1] for p in picks]))
        colour = torch.from_numpy(np.stack([p[2] for p in picks]))
        dense, image = head(model.backbone(x))
        s8 = F.interpolate(shape[:, None].float(), size=dense.shape[-2:], mode="nearest")[:, 0]
        c8 = F.interpolate(colour[:, None].float(), size=dense.shape[-2:], mode="nearest")[:, 0]
        ns = len(shapes) + 1
        # objects cover about a tenth of a frame: background counts BACKGROUND_WEIGHT
        w_s = torch.ones(ns)
        w_s[0] = BACKGROUND_WEIGHT
        w_c = torch.ones(len(colours) + 1)
        w_c[0] = BACKGROUND_WEIGHT
        loss_s = F.cross_entropy(dense[:, :ns], s8.long(), weight=w_s)
        loss_c = F.cross_entropy(dense[:, ns:], c8.long(), weight=w_c)
        present = torch.zeros(batch, len(shapes) + len(colours))
        for b in range(batch):
            for k in shape[b].unique().tolist():
                if k:
                    present[b, k - 1] = 1
            for k in colour[b].unique().tolist():
                if k:
                    present[b, len(shapes) + k - 1] = 1
        loss_i = F.binary_cross_entropy_with_logits(image, present)
        with torch.no_grad():
            fg = s8 > 0
            acc_s = (dense[:, :ns].argmax(1) == s8)[fg].float().mean()
            acc_c = (dense[:, ns:].argmax(1) == c8)[fg].float().mean()
        return loss_s + loss_c + loss_i, {"shape_ce": float(loss_s.detach()), "colour_ce": float(loss_c.detach()),
                                          "image_bce": float(loss_i.detach()),
                                          "shape_acc": float(acc_s), "colour_acc": float(acc_c)}

    _loop("backbone", runner, cfg, model, head, params, lr, steps, loss_fn, save_every,
          progress)
    return runner.run


# -- 2. text -------------------------------------------------------------------------------

class TextHead(nn.Module):
    """Masked-token logits from the language model's hidden states, bag-of-words logits
    from its pooler output (the sentence embedding e is a projection of it)."""

    def __init__(self, width: int, vocab: int):
        super().__init__()
        self.mlm = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.LayerNorm(width),
                                 nn.Linear(width, vocab))
        self.bow = nn.Linear(width, vocab)

    def forward(self, hidden: Tensor, pooled: Tensor) -> tuple[Tensor, Tensor]:
        return self.mlm(hidden), self.bow(pooled)


def mask_tokens(ids: Tensor, special: Tensor, mask_id: int, vocab: int,
                gen: torch.Generator, prob: float = 0.15) -> tuple[Tensor, Tensor]:
    """RoBERTa's masking: ids [B, L], special [B, L] bool -> (inputs, labels with -100 where
    nothing is predicted). Of the chosen 15 %: 80 % <mask>, 10 % a random token, 10 % kept."""
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & ~special
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    r = torch.rand(ids.shape, generator=gen)
    inputs = ids.clone()
    inputs[chosen & (r < 0.8)] = mask_id
    rand = chosen & (r >= 0.8) & (r < 0.9)
    inputs[rand] = torch.randint(vocab, ids.shape, generator=gen)[rand]
    return inputs, labels


def train_text(cfg: TrainConfig, data: str, split: str, run: str | os.PathLike,
               steps: int = 600, batch: int = 64, lr: float = 1e-3, init: str | None = None,
               resume: bool = False, threads: int | None = None, save_every: int = 100,
               progress: bool = True) -> Path:
    """Stage 2: masked-language modelling (and bag of words from e) on the split's captions."""
    from .augment import swap_left_right

    index = build_clip_index(data, split, 1)     # the data is checked before RUN is made
    runner, cfg, model = _start(cfg, data, split, run, resume, init, threads)
    texts = sorted({e.text for e in index.expressions})
    texts = sorted(set(texts) | {swap_left_right(t) for t in texts})
    enc = model.text_encoder
    lm, tok = enc.language_model, enc.tokenizer
    vocab = lm.config.vocab_size
    head = TextHead(lm.config.hidden_size, vocab)
    lm.requires_grad_(True)
    lm.train()
    params = list(lm.parameters()) + list(head.parameters())

    def loss_fn(step: int):
        gen = torch.Generator().manual_seed(cfg.seed * 100003 + step)
        picks = torch.randint(len(texts), (batch,), generator=gen).tolist()
        t = enc.tokenize([texts[i] for i in picks], "cpu")
        ids, attn = t["input_ids"], t["attention_mask"]
        special = torch.isin(ids, torch.tensor(tok.all_special_ids))
        inputs, labels = mask_tokens(ids, special, tok.mask_token_id, vocab, gen)
        out = lm(input_ids=inputs, attention_mask=attn)
        mlm = head.mlm(out.last_hidden_state)
        loss_m = F.cross_entropy(mlm.flatten(0, 1), labels.flatten(), ignore_index=-100)
        words = torch.zeros(batch, vocab)
        words.scatter_(1, ids.masked_fill(special, 0), 1.0)
        words[:, 0] = 0.0
        # the bag of words sees the unmasked caption: e should name every word of it
        clean = lm(input_ids=ids, attention_mask=attn).pooler_output
        loss_b = F.binary_cross_entropy_with_logits(head.bow(clean), words)
        with torch.no_grad():
            hit = labels >= 0
            acc = (mlm.argmax(-1) == labels)[hit].float().mean()
        return loss_m + loss_b, {"mlm_ce": float(loss_m.detach()), "bow_bce": float(loss_b.detach()),
                                 "mlm_acc": float(acc)}

    _loop("text", runner, cfg, model, head, params, lr, steps, loss_fn, save_every, progress)
    return runner.run
