"""The training loop of ``r2bench train`` (lxa9867/R2VOS ``main.py`` / ``engine.py``).

One step: the batch's clips go through the backbone once, every pair (each clip with its own
caption, and with captions unrelated to it) through the text-dependent rest
(:class:`PairForward`); the criterion weighs the terms; AdamW steps after gradient clipping
(mixed precision with loss scaling on CUDA). The schedule steps once per epoch.

Runs in one process, or in several under ``torchrun`` (DDP; NCCL on GPUs, gloo on CPUs):
each process takes its slice of every global batch and the gradients are averaged, which
equals the one-process step on the whole batch.

A checkpoint (:mod:`reference_model.training.state`) is written at the end of every epoch,
every ``save_every`` steps, on SIGUSR1 (on request) and on SIGTERM / SIGINT, after which the
run stops; ``resume`` continues from one with the same losses as a run that never stopped.
The run folder ``RUN`` holds ``run.json``, ``text_encoder/`` (the tokenizer folder for
``run-reference``), ``model.safetensors`` (the newest model), ``checkpoints/``, ``log.jsonl``
(one line per step with every weighted loss term, the learning rate of every parameter group
and the gradient norm; one line per validation) and ``val/`` (results of ``--val``).

Legend: B clips, P pairs, T frames, H x W frame size.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import torch
from torch import Tensor, nn

from r2bench.errors import DatasetError, R2BenchError
from r2bench.fileio import atomic_write_bytes, atomic_write_json
from reference_model.build import build_model
from reference_model.model import R2VOS, FrameFeatures

from .clips import build_clip_index
from .config import TrainConfig
from .dataset import Batch, EpochBatches, PairDataset, collate_pairs
from .optim import build_optimizer, build_scheduler
from .state import (
    Position,
    TrainerState,
    capture_rng,
    init_from_checkpoint,
    load_training_checkpoint,
    prune_checkpoints,
    resolve_resume,
    restore_rng,
    save_training_checkpoint,
)

log = logging.getLogger(__name__)

RUN_FORMAT = "r2bench/train-run"
SIGNAL_ACTIONS = MappingProxyType({"SIGTERM": "stop", "SIGINT": "stop", "SIGUSR1": "save"})


class TrainingError(R2BenchError):
    """Training cannot go on (a loss that is not finite)."""

    exit_code = 1


@dataclass(frozen=True)
class RunOptions:
    """How to run (what is trained is the :class:`TrainConfig`)."""

    device: str = "auto"  # auto | cpu | cuda
    workers: int = 2  # data-loading processes per training process
    threads: int | None = None  # torch intra-op threads per process (None: torch's default)
    save_every: int | None = None  # also write a checkpoint every N steps
    keep: int = 3  # newest checkpoints kept
    val: str | None = None  # an R2 dataset scored at the end of every epoch
    progress: bool = True


@dataclass
class TrainResult:
    """How a run ended."""

    run: Path
    step: int
    checkpoint: Path | None
    stopped_by: str | None = None  # "SIGTERM" or "SIGINT" when a signal stopped it
    val: list[dict] = field(default_factory=list)


class PairForward(nn.Module):
    """The model on a batch of pairs: ``forward(frames [B, T, 3, H, W], clip_of_pair [P],
    captions P strings) -> outputs`` of the P pairs, the backbone run once per clip."""

    def __init__(self, model: R2VOS):
        super().__init__()
        self.model = model

    def forward(self, frames: Tensor, clip_of_pair: Tensor, captions: list[str]) -> dict:
        t = frames.shape[1]
        feats = self.model.encode_frames(frames.flatten(0, 1))  # B*T frames
        rows = (clip_of_pair[:, None] * t + torch.arange(t, device=frames.device)).flatten()
        pairs = FrameFeatures(feats.f4[rows], [s[rows] for s in feats.srcs], feats.pos,
                              feats.image_size)  # P*T frames, pair-major
        return self.model.forward_features(pairs, captions, t)


class StopRequests:
    """SIGTERM / SIGINT ask the loop to checkpoint and stop, SIGUSR1 to checkpoint; the
    loop looks at the flags between steps."""

    def __init__(self):
        self.stop: str | None = None
        self.save = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if SIGNAL_ACTIONS[name] == "stop":
            self.stop = self.stop or name
        else:
            self.save = True

    def install(self) -> None:
        for name in SIGNAL_ACTIONS:
            sig = getattr(signal, name, None)
            # a signal the process ignores (SIGINT under `nohup` or a script's `&`) stays ignored
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _ignore_interrupts(worker_id: int) -> None:
    # Loader workers leave SIGINT, SIGTERM and SIGUSR1 to the trainer, which checkpoints (and
    # stops) and then shuts them down: a signal to the whole group (Ctrl-C, `pkill`, a
    # scheduler's preemption) would otherwise kill them first and the run with them.
    for name in SIGNAL_ACTIONS:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    torch.set_num_threads(1)


def _as_float(outputs):
    if isinstance(outputs, Tensor):
        return outputs.float() if outputs.is_floating_point() else outputs
    if isinstance(outputs, dict):
        return {k: _as_float(v) for k, v in outputs.items()}
    if isinstance(outputs, list):
        return [_as_float(v) for v in outputs]
    return outputs


def train_step(pair_forward: nn.Module, criterion: nn.Module,
               optimizer: torch.optim.Optimizer, batch: Batch, device: torch.device,
               clip_max_norm: float, scaler: torch.amp.GradScaler | None = None,
               amp: bool = False) -> tuple[dict[str, Tensor], float]:
    """One optimisation step on one batch: forward (fp16 autocast with ``amp``), the
    criterion in fp32, backward, gradient clipping to ``clip_max_norm`` (0: none), update.
    Returns the weighted terms (detached) and the gradient norm before clipping."""
    scaler = scaler or torch.amp.GradScaler("cuda", enabled=False)
    frames = batch.normalised_frames(device)
    batch = batch.to(device)
    autocast = torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext()
    with autocast:
        outputs = pair_forward(frames, batch.clip_of_pair, batch.captions)
    losses = criterion(_as_float(outputs) if amp else outputs, batch.targets)
    optimizer.zero_grad(set_to_none=True)
    with warnings.catch_warnings():
        # DDP: 1x1 convolutions get channels-last gradients, copied correctly, only slower
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        scaler.scale(losses["loss"]).backward()
    scaler.unscale_(optimizer)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    norm = torch.nn.utils.clip_grad_norm_(params, clip_max_norm if clip_max_norm > 0 else math.inf)
    scaler.step(optimizer)
    scaler.update()
    return {k: v.detach() for k, v in losses.items()}, float(norm)


class Trainer:
    """One training run; :meth:`run` trains until the end, a stop request or ``max_steps``."""

    def __init__(self, cfg: TrainConfig, data: str, split: str, run: str | os.PathLike,
                 opts: RunOptions, init: str | None = None, resume: str | None = None,
                 partial_init: bool = False):
        from reference_model.inference import process_share, resolve_device

        self.rank, self.world_size, local_rank = process_share()
        self.device = torch.device(resolve_device(opts.device, local_rank))
        self._init_process_group()
        if opts.threads:
            torch.set_num_threads(opts.threads)
        self.opts, self.run_dir = opts, Path(run)
        if opts.val is not None:
            check_val_dataset(opts.val)  # before the run folder exists and a run is spent
        # the data is read before the run folder exists: a refused split leaves nothing
        self.index = build_clip_index(data, split, cfg.model.num_frames, cfg.data.exclude_words)
        # a run folder this call makes is removed again when the model cannot be prepared
        # (a bad --init), so a refused run leaves nothing behind
        new_run = self.rank == 0 and not self.run_dir.exists()
        try:
            self.cfg = self._prepare_run(cfg, data, split, resume)
            torch.manual_seed(self.cfg.seed)  # the same initial weights in every process
            model, self.criterion, _ = build_model(self.cfg.model)
            self.model = model.to(self.device)
            arch = self.model.text_encoder.arch()
            self.cfg = self.cfg.replace(model=self.cfg.model.replace(text_encoder=replace(
                self.cfg.model.text_encoder, arch=arch)))
            self.optimizer = build_optimizer(self.model, self.cfg.optim)
            self.scheduler = build_scheduler(self.optimizer, self.cfg.optim)
            self.amp = self.cfg.amp and self.device.type == "cuda"
            self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
            self.position = Position(0, 0, 0)
            if init is not None:
                dropped = init_from_checkpoint(self.model, init, arch, drop_unused=partial_init)
                if dropped and self.rank == 0:
                    parts = sorted({k.split(".")[0] for k in dropped})
                    log.info("%s: %d weights of parts this model lacks left out (%s)", init,
                             len(dropped), ", ".join(parts))
        except BaseException:
            if new_run:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        self._resumed = resume is not None
        if resume is not None:
            self._restore(resolve_resume(resume))
        else:
            torch.manual_seed(self.cfg.seed + self.rank)  # dropout differs across processes
        self.pair_forward = self._wrap(PairForward(self.model))
        self.sampler, self.loader = self._make_loader()
        self.stops = StopRequests()

    # -- set-up ---------------------------------------------------------------------------

    def _init_process_group(self) -> None:
        import torch.distributed as dist

        self._own_group = False
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self._own_group = True

    def _barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def _prepare_run(self, cfg: TrainConfig, data: str, split: str,
                     resume: str | None) -> TrainConfig:
        """Create the run folder (process 0); a config without a text-encoder folder gets
        the run's own (``text_encoder/``)."""
        text_dir = self.run_dir / "text_encoder"
        if self.rank == 0:
            if resume is None and (self.run_dir / "checkpoints").exists():
                raise R2BenchError(self.run_dir, "already holds a run (continue it with "
                                                 "--resume, or choose a new --out)")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not (text_dir / "config.json").exists():
                _write_text_folder(cfg, data, split, text_dir)
            atomic_write_json(self.run_dir / "run.json", {
                "format": RUN_FORMAT, "version": 1, "data": os.fspath(data), "split": split,
                "world_size": self.world_size, "config": cfg.to_dict()})
        self._barrier()
        if cfg.model.text_encoder.path is not None:  # its weights start the language model
            return cfg
        te = replace(cfg.model.text_encoder, path=os.fspath(text_dir))
        return cfg.replace(model=cfg.model.replace(text_encoder=te))

    def _restore(self, folder: Path) -> None:
        state = load_training_checkpoint(folder, self.model, self.cfg)
        self.optimizer.load_state_dict(state.optimizer)
        self.scheduler.load_state_dict(state.scheduler)
        if state.scaler is not None and self.amp:
            self.scaler.load_state_dict(state.scaler)
        self.position = state.position
        restore_rng(state.rng)
        log.info("resumed from %s (epoch %d, batch %d, step %d)", folder,
                 state.position.epoch, state.position.batch, state.position.step)

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.world_size == 1:
            return module
        h = self.cfg.model.head
        unused = self.cfg.model.vt_projection.enabled and not (
            h.mix_query or h.pair_head or self.cfg.model.criterion.cycle != "off")
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids,
                                                   find_unused_parameters=unused)

    def _make_loader(self) -> tuple[EpochBatches, torch.utils.data.DataLoader]:
        c, aug = self.cfg, self.cfg.data.augment
        dataset = PairDataset(self.index, c.data, c.model.num_frames, c.seed)
        sampler = EpochBatches(len(dataset), c.batch_size, c.seed, aug.scales,
                               c.model.input_size, aug.max_size, self.rank, self.world_size)
        workers = self.opts.workers
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=sampler, collate_fn=collate_pairs, num_workers=workers,
            persistent_workers=workers > 0, worker_init_fn=_ignore_interrupts if workers else None,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(c.seed))  # not the global RNG: resumable
        return sampler, loader

    # -- one step -------------------------------------------------------------------------

    def step(self, batch: Batch) -> tuple[dict[str, Tensor], float]:
        """Forward, loss, backward, clip and update on one batch: (weighted terms, grad norm)."""
        return train_step(self.pair_forward, self.criterion, self.optimizer, batch, self.device,
                          self.cfg.optim.clip_max_norm, self.scaler, self.amp)

    def _mean_over_processes(self, losses: dict[str, Tensor]) -> dict[str, float]:
        names = sorted(losses)
        values = torch.stack([losses[k].float() for k in names])
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(values)
            values /= self.world_size
        return dict(zip(names, values.tolist()))

    def _requests(self) -> tuple[str | None, bool]:
        """(stop, save) agreed by every process: any process's signal counts for all."""
        stop, save = self.stops.stop, self.stops.save
        self.stops.save = False
        if self.world_size > 1:
            import torch.distributed as dist

            codes = {None: 0, "SIGINT": 1, "SIGTERM": 2}
            flags = torch.tensor([codes[stop], int(save)], dtype=torch.long)
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            stop = {v: k for k, v in codes.items()}[int(flags[0])]
            save = bool(flags[1])
        return stop, save

    # -- the run --------------------------------------------------------------------------

    def run(self) -> TrainResult:
        logger = StepLog(self.run_dir / "log.jsonl", self.rank == 0,
                         self.position.step if self._resumed else 0)
        result = TrainResult(self.run_dir, self.position.step, None)
        self.stops.install()
        try:
            self._epochs(logger, result)
        finally:
            self.stops.restore()
            if self._own_group:
                import torch.distributed as dist

                dist.destroy_process_group()
        return result

    def _epochs(self, logger: StepLog, result: TrainResult) -> None:
        c = self.cfg
        start = time.perf_counter()
        for epoch in range(self.position.epoch, c.epochs):
            first = self.position.batch if epoch == self.position.epoch else 0
            self.sampler.set_epoch(epoch, first)
            bar = self._bar(epoch, first)
            for b, batch in enumerate(self.loader, start=first):
                losses, norm = self.step(batch)
                values = self._mean_over_processes(losses)
                if not math.isfinite(values["loss"]):
                    raise TrainingError(None, f"loss is not finite at step "
                                              f"{self.position.step + 1}: {values}")
                self.position = Position(epoch, b + 1, self.position.step + 1)
                logger.step(self.position, values, self._lrs(), norm,
                            time.perf_counter() - start)
                bar.update()
                bar.set_postfix(loss=f"{logger.running():.3f}",
                                lr=f"{self.optimizer.param_groups[0]['lr']:.1e}")
                stop, save = self._requests()
                last = c.max_steps is not None and self.position.step >= c.max_steps
                every = self.opts.save_every and self.position.step % self.opts.save_every == 0
                if stop or save or every or last:
                    result.checkpoint = self._checkpoint()
                if stop:
                    bar.close()
                    result.stopped_by, result.step = stop, self.position.step
                    return
                if last:
                    bar.close()
                    result.step = self.position.step
                    self._validate(epoch, logger, result)
                    return
            bar.close()
            self.scheduler.step()
            self.position = Position(epoch + 1, 0, self.position.step)
            result.checkpoint = self._checkpoint()
            self._validate(epoch, logger, result)
        result.step = self.position.step

    def _bar(self, epoch: int, first: int):
        from tqdm import tqdm

        return tqdm(total=len(self.sampler) + first, initial=first, unit="step",
                    desc=f"epoch {epoch + 1}/{self.cfg.epochs}", dynamic_ncols=True,
                    disable=not (self.opts.progress and self.rank == 0))

    def _lrs(self) -> dict[str, float]:
        return {g.get("name", str(i)): g["lr"] for i, g in enumerate(self.optimizer.param_groups)}

    def _checkpoint(self) -> Path | None:
        folder = None
        if self.rank == 0:
            state = TrainerState(self.position, self.optimizer.state_dict(),
                                 self.scheduler.state_dict(),
                                 self.scaler.state_dict() if self.amp else None, capture_rng(),
                                 self.cfg)
            folder = save_training_checkpoint(self.run_dir, self.model, state)
            prune_checkpoints(self.run_dir, self.opts.keep)
            log.info("checkpoint %s", folder)
        self._barrier()
        return folder

    def _validate(self, epoch: int, logger: StepLog, result: TrainResult) -> None:
        if self.opts.val is None:
            return
        scores = validate(self.model, self.opts.val, self.run_dir / "val" / f"epoch-{epoch + 1:03d}",
                          self.device, self.rank, self.world_size)
        self.model.train()
        if scores is not None:
            record = {"type": "val", "epoch": epoch + 1, "step": self.position.step,
                      "epoch_complete": self.position.epoch > epoch, **scores["summary"]}
            logger.write(record)
            result.val.append(record)


def check_val_dataset(path: str | os.PathLike) -> None:
    """``--val`` must be an R2 dataset with ground truth (``DatasetError`` otherwise)."""
    from r2bench.dataset import R2_META, is_r2_dataset, load_eval_dataset

    if Path(path).is_dir() and not is_r2_dataset(path):
        raise DatasetError(path, f"not an R2 dataset (no {R2_META}; make one with r2bench "
                                 "build-dataset)")
    ds = load_eval_dataset(path)
    if ds.gt_root is None:
        raise DatasetError(path, f"no ground truth to validate with: {ds.gt_missing}")


def validate(model: R2VOS, r2_dataset: str, out: Path, device: torch.device, rank: int,
             world_size: int) -> dict | None:
    """Run the model over an R2 dataset (shared among the processes) and score it on
    process 0: the results dict there, None elsewhere. Only the results JSON is kept."""
    import torch.distributed as dist

    from r2bench.results import write_results
    from r2bench.scoring import score_submission
    from reference_model.inference import InferenceConfig, run_reference

    model.eval()
    preds = out.with_name(out.name + ".preds")
    if rank == 0 and preds.exists():
        shutil.rmtree(preds)
    if world_size > 1:
        dist.barrier()
    icfg = InferenceConfig(device=str(device), rank=rank, world_size=world_size)
    run_reference(r2_dataset, None, model, model.cfg.short_side, preds, icfg)
    if world_size > 1:
        dist.barrier()
    if rank != 0:
        return None
    results = score_submission(preds, r2_dataset, workers=1)
    write_results(out.with_suffix(".json"), results)
    shutil.rmtree(preds, ignore_errors=True)
    return results


class StepLog:
    """``log.jsonl`` of process 0: a line per step (and per validation). A resumed run first
    drops the lines after its checkpoint's step, so the log reads as one uninterrupted run."""

    def __init__(self, path: Path, active: bool, resumed_step: int = 0, window: int = 50):
        self.path, self.active, self.window = path, active, window
        self.recent: list[float] = []
        self.offset = 0.0  # training seconds before a resume: "time" counts on from there
        if active and resumed_step and path.exists():
            keep = [r for r in map(json.loads, filter(None, path.read_text().splitlines()))
                    if r.get("step", 0) <= resumed_step]
            atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in keep).encode())
            self.offset = next((r["time"] for r in reversed(keep) if "time" in r), 0.0)
        elif active and not resumed_step and path.exists():
            path.unlink()

    def write(self, record: dict) -> None:
        if self.active:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def step(self, pos: Position, losses: dict[str, float], lrs: dict[str, float],
             grad_norm: float, seconds: float) -> None:
        self.recent = (self.recent + [losses["loss"]])[-self.window:]
        self.write({"step": pos.step, "epoch": pos.epoch, "batch": pos.batch,
                    "time": round(self.offset + seconds, 3), "loss": losses["loss"],
                    "terms": {k: v for k, v in losses.items() if k != "loss"}, "lr": lrs,
                    "grad_norm": grad_norm})

    def running(self) -> float:
        """Mean loss of the last ``window`` steps."""
        return sum(self.recent) / max(len(self.recent), 1)


def _write_text_folder(cfg: TrainConfig, data: str, split: str, text_dir: Path) -> None:
    """The run's tokenizer folder: a copy of ``cfg.model.text_encoder.path`` (tokenizer files
    and config.json), or for a config without one a small language model and its tokenizer
    trained on the split's captions (and their left/right swaps)."""
    from r2bench.fileio import atomic_directory

    from .augment import swap_left_right
    from .clips import build_clip_index as _index

    src = cfg.model.text_encoder.path
    with atomic_directory(text_dir, overwrite=True) as tmp:
        if src is not None:
            from reference_model.loading import TOKENIZER_FILES, check_text_folder

            check_text_folder(src)
            for name in (*TOKENIZER_FILES, "config.json", "special_tokens_map.json"):
                if (Path(src) / name).is_file():
                    shutil.copyfile(Path(src) / name, tmp / name)
            return
        texts = [e.text for e in _index(data, split, cfg.model.num_frames).expressions]
        write_tiny_language_model(tmp, sorted(set(texts) | {swap_left_right(t) for t in texts}))


def write_tiny_language_model(folder: Path, corpus: list[str], seed: int = 0) -> None:
    """A small random RoBERTa and its tokenizer trained on ``corpus``, its weights drawn with
    standard deviation 1/sqrt(width) (at the default 0.02, right for width 768, the sentence
    embedding of a width-64 model hardly depends on the sentence) and no dropout."""
    from transformers import RobertaConfig, RobertaModel

    from reference_model.text_encoder import make_tiny_text_encoder

    make_tiny_text_encoder(folder, corpus, weights=False, **TINY_TEXT_ENCODER)
    config = RobertaConfig.from_pretrained(folder)
    config.initializer_range = config.hidden_size ** -0.5
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RobertaModel(config)
    model.save_pretrained(folder)


TINY_TEXT_ENCODER = {"hidden": 64, "layers": 2, "heads": 2, "vocab_size": 400,
                     "max_positions": 64}
"""The language model a run without a text-encoder folder trains with."""


def train(cfg: TrainConfig, data: str, split: str, run: str | os.PathLike,
          opts: RunOptions | None = None, init: str | None = None,
          resume: str | None = None, partial_init: bool = False) -> TrainResult:
    """Train ``cfg`` on ``data``/``split`` into the run folder ``run``; ``init`` starts from a
    checkpoint's weights (``partial_init``: leaving out those of parts the model lacks)."""
    return Trainer(cfg, data, split, run, opts or RunOptions(), init, resume,
                   partial_init).run()
