"""Training checkpoints: what it takes to continue a run exactly where it stopped.

A checkpoint is a folder ``RUN/checkpoints/step-NNNNNNNN`` written to a temporary name and
renamed into place, so a folder that exists is whole:

- ``model.safetensors``: an r2bench checkpoint (weights and model config), which
  ``r2bench run-reference`` reads as it is;
- ``trainer.pt``: the optimiser, scheduler and loss-scaler states, the torch random states,
  the data position (epoch, next batch), the step count and the training config as JSON,
  read back with ``torch.load(weights_only=True)`` (tensors and plain data only).

The run's newest model is also copied to ``RUN/model.safetensors``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from r2bench.fileio import atomic_directory, atomic_path
from reference_model.checkpoint import (
    CheckpointError,
    check_state,
    model_shapes,
    read_checkpoint,
    save_checkpoint,
)
from reference_model.loading import LM_PREFIX

from .config import TrainConfig

STATE_FORMAT = "r2bench/train-state"
STATE_VERSION = 1
MODEL_FILE = "model.safetensors"
STATE_FILE = "trainer.pt"
_STEP_DIR = re.compile(r"step-(\d{8})")


@dataclass(frozen=True)
class Position:
    """Where the data stream stands: the next batch to train on."""

    epoch: int
    batch: int
    step: int  # optimiser steps done so far


@dataclass
class TrainerState:
    """What a checkpoint restores besides the weights."""

    position: Position
    optimizer: dict
    scheduler: dict
    scaler: dict | None
    rng: dict[str, object]
    config: TrainConfig


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def capture_rng() -> dict[str, object]:
    """The torch random states (CPU and every CUDA device)."""
    state: dict[str, object] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, object]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_checkpoint(run: str | os.PathLike, model: torch.nn.Module,
                             state: TrainerState) -> Path:
    """Write checkpoint ``step-N`` of ``run`` (replacing one of the same step) and refresh
    ``RUN/model.safetensors``. Returns the checkpoint folder."""
    run = Path(run)
    folder = run / "checkpoints" / checkpoint_name(state.position.step)
    cfg = state.config.model
    weights = model.state_dict()
    meta = {"r2bench_step": str(state.position.step)}
    with atomic_directory(folder, overwrite=True) as tmp:
        save_checkpoint(tmp / MODEL_FILE, weights, cfg, meta)
        torch.save({"format": STATE_FORMAT, "version": STATE_VERSION,
                    "epoch": state.position.epoch, "batch": state.position.batch,
                    "step": state.position.step, "optimizer": state.optimizer,
                    "scheduler": state.scheduler, "scaler": state.scaler, "rng": state.rng,
                    "config": json.dumps(state.config.to_dict(), sort_keys=True)},
                   tmp / STATE_FILE)
    with atomic_path(run / MODEL_FILE) as tmp:
        shutil.copyfile(folder / MODEL_FILE, tmp)
    return folder


def list_checkpoints(run: str | os.PathLike) -> list[Path]:
    """The run's complete checkpoint folders, oldest first."""
    folder = Path(run) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and _STEP_DIR.fullmatch(p.name))


def prune_checkpoints(run: str | os.PathLike, keep: int) -> None:
    """Remove all but the ``keep`` newest checkpoints."""
    for old in list_checkpoints(run)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def resolve_resume(path: str | os.PathLike) -> Path:
    """A checkpoint folder, or a run folder's newest checkpoint."""
    path = Path(path)
    if (path / STATE_FILE).exists() or _STEP_DIR.fullmatch(path.name):
        return path
    if not path.is_dir():
        raise CheckpointError(path, "no such run or checkpoint folder")
    found = list_checkpoints(path)
    if not found:
        raise CheckpointError(path, "no checkpoint to resume from (neither a checkpoint "
                                    "folder nor a run folder with checkpoints/step-*)")
    return found[-1]


def _read_state_file(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(path, "missing training state")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError,
            ValueError, KeyError, AttributeError) as e:  # all mean: not readable
        raise CheckpointError(path, f"not a readable training state ({type(e).__name__}: "
                                    f"{str(e).splitlines()[0][:160]})") from None
    if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
        raise CheckpointError(path, f"not an r2bench training state (format "
                                    f"{obj.get('format') if isinstance(obj, dict) else None!r})")
    if obj.get("version") != STATE_VERSION:
        raise CheckpointError(path, f"unsupported training-state version {obj.get('version')!r}")
    return obj


def _first_difference(a: dict, b: dict, prefix: str = "") -> str | None:
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            found = _first_difference(va, vb, f"{prefix}{key}.")
            if found:
                return found
        elif va != vb:
            return f"{prefix}{key} ({vb!r} in the checkpoint, {va!r} in this run)"
    return None


def _portable(cfg: TrainConfig) -> dict:
    """The config as compared on resume: where the tokenizer folder lies, and how long the
    run goes on (``epochs``, ``max_steps``), may change."""
    model = cfg.model.replace(text_encoder=replace(cfg.model.text_encoder, path=None))
    return cfg.replace(model=model, epochs=0, max_steps=None).to_dict()


def load_training_checkpoint(folder: str | os.PathLike, model: torch.nn.Module,
                             cfg: TrainConfig) -> TrainerState:
    """Load the weights into ``model`` and return the rest; a checkpoint that is unreadable
    or was written by a different configuration is a :class:`CheckpointError`."""
    folder = Path(folder)
    obj = _read_state_file(folder / STATE_FILE)
    try:
        saved = TrainConfig.from_dict(json.loads(obj["config"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(folder / STATE_FILE, f"bad training config ({e})") from None
    diff = _first_difference(_portable(cfg), _portable(saved))
    if diff:
        raise CheckpointError(folder, f"written by a different configuration: {diff}")
    weights, _ = read_checkpoint(folder / MODEL_FILE)
    check_state(weights, model_shapes(model), os.fspath(folder / MODEL_FILE))
    model.load_state_dict(_as_model_dtypes(weights, model), strict=False)
    pos = Position(int(obj["epoch"]), int(obj["batch"]), int(obj["step"]))
    return TrainerState(pos, obj["optimizer"], obj["scheduler"], obj["scaler"], obj["rng"],
                        saved)


def _as_model_dtypes(weights: dict[str, Tensor], model: torch.nn.Module) -> dict[str, Tensor]:
    own = model.state_dict()
    return {k: v.to(own[k].dtype) if k in own else v for k, v in weights.items()}


def init_from_checkpoint(model: torch.nn.Module, path: str | os.PathLike,
                         text_arch: dict | None = None, drop_unused: bool = False) -> list[str]:
    """Fine-tuning start: the weights of an r2bench or released checkpoint into ``model``
    (every key and shape must match; the language model may be absent, then it keeps the
    weights it was built with). ``drop_unused``: weights of parts the model does not have
    (an ablation variant without the pair head, say) are left out instead of refused; every
    weight the model has must still be there. Returns the keys left out."""
    weights, _ = read_checkpoint(path, text_arch=text_arch)
    expected = model_shapes(model)
    if not any(k.startswith(LM_PREFIX) for k in weights):
        expected = {k: v for k, v in expected.items() if not k.startswith(LM_PREFIX)}
    dropped = sorted(k for k in weights if k not in expected) if drop_unused else []
    weights = {k: v for k, v in weights.items() if k not in dropped}
    check_state(weights, expected, os.fspath(path))
    model.load_state_dict(_as_model_dtypes(weights, model), strict=False)
    return dropped
