"""Speed of the reference model (``r2bench profile``): frames per second, latency per window,
peak memory, and where the time goes.

What is timed: one window of T frames with one caption at batch 1, the setting of the
paper's speed claim (section 5.3: 30 FPS against ReferFormer's 22 on one P40), from
normalised frames on the device to binary masks on the host: backbone, text encoder,
fusion, deformable encoder, cross-modal FPN with early grounding, V-T projection, decoder,
heads, then the post-processing (slot selection, bilinear upsampling and thresholding to
the output size, the pair decision, the copy to the host). Decoding and resizing the
frames are not timed; ``r2bench run-reference`` as a whole command includes them.

How: ``warmup`` untimed windows (caches, cuDNN autotuning, compilation), then ``iters``
timed ones. On GPU a window is timed by CUDA events recorded around it and read after a
synchronisation, never by the host clock around asynchronous calls; on CPU, where
operations are synchronous, by ``perf_counter``. FPS = T / median latency. On CPU the
process's CPU time per window is recorded too: on a machine shared with other work, waiting
for a core lengthens the wall time but not the CPU time, so comparisons made on CPU time
hold up better there.

Breakdown: a second pass with forward hooks that mark entry to and exit from each part
(events on GPU). A part called several times (fusion on four levels, a class head per
decoder layer) is summed; a part inside another (grounding inside the FPN) is subtracted
from it. The breakdown reported is that of the breakdown window with the median total. The
glue between parts (position encodings, flattening levels) belongs to no part, so the parts
add up to slightly less than that window's total.

Variants run in one process on the same inputs, their windows interleaved so that changes
in machine load hit all of them alike: ``r2`` is the model as configured, ``baseline`` the
same weights with the four R2 parts off (early grounding, V-T projection, query mixing,
pair head): the ReferFormer-style model the paper compares against.

Peak memory: on GPU ``torch.cuda.max_memory_allocated``; on CPU the peak resident set of
the process (VmHWM), reset before each window where Linux allows. Either counts every model
held in the process, so under a comparison each figure includes all variants' weights.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from r2bench.errors import R2BenchError
from r2bench.fileio import atomic_write_json
from r2bench.timing import PROFILE_FORMAT, machine_record, per_second, summarize_ms

from .config import CONFIGS, R2VOSConfig
from .model import R2VOS
from .postprocess import PostProcess
from .timers import (
    NESTED,
    PARTS,
    POSTPROCESS,
    Clock,
    PartTimer,
    PeakMemory,
    named_parts,
    time_window,
)

Precision = Literal["fp32", "tf32", "fp16", "bf16"]
DTYPE_NAMES = {"fp32": "float32", "tf32": "tf32", "fp16": "float16", "bf16": "bfloat16"}
VARIANTS = ("r2", "baseline")
DEFAULT_CAPTION = "a man in a black jacket riding a brown horse on the left"

# compiled one by one under ``compile``: the parts' modules, the tokenizer left out
COMPILED = ("backbone", "input_proj", "text_encoder.language_model", "fusion", "encoder",
            "fpn", "vt_projection", "query_mixer", "class_embed", "decoder", "mask_head",
            "pair_head")


@dataclass(frozen=True)
class ProfileConfig:
    """What to time and how."""

    size: tuple[int, int] = (360, 640)  # (H, W) of the model's input frames
    window: int = 5  # T frames per clip, batch 1 (the paper's setting)
    output_size: tuple[int, int] | None = None  # masks upsampled to this; None = ``size``
    device: str = "cpu"
    precision: Precision = "fp32"  # tf32: CUDA matmul/conv flags; fp16/bf16: autocast
    compile: bool = False  # torch.compile each part's module
    channels_last: bool = False  # model and frames in channels-last memory format
    warmup: int = 3
    iters: int = 20
    breakdown_iters: int = 5  # 0: no per-part breakdown
    threads: int | None = None  # torch intra-op threads; None = torch's default
    caption: str = DEFAULT_CAPTION
    seed: int = 0  # frames (and random weights) drawn from this

    def __post_init__(self) -> None:
        if min(self.size) < 64 or (self.output_size is not None and min(self.output_size) < 1):
            raise R2BenchError(None, f"size {self.size[0]}x{self.size[1]}: each side must be "
                                     f"at least 64 (the model's coarsest stride)")
        if self.window < 1 or self.iters < 1 or self.warmup < 0 or self.breakdown_iters < 0:
            raise R2BenchError(None, "window and iterations must be positive, warm-up and "
                                     "breakdown iterations not negative")
        if self.precision == "tf32" and not self.device.startswith("cuda"):
            raise R2BenchError(None, "tf32 is a CUDA setting: use it with --device cuda")


# ----------------------------------------------------------------------------- the models


def check_device(device: str) -> None:
    """A CUDA device must be there before anything is built for it."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise R2BenchError(None, "--device cuda: no CUDA device is available")


def variant_config(cfg: R2VOSConfig, variant: str) -> R2VOSConfig:
    """``r2``: ``cfg`` itself; ``baseline``: the four R2 parts switched off."""
    if variant == "r2":
        return cfg
    if variant == "baseline":
        return cfg.replace(grounding=replace(cfg.grounding, enabled=False),
                           vt_projection=replace(cfg.vt_projection, enabled=False),
                           head=replace(cfg.head, mix_query=False, pair_head=False))
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


def r2_switches(cfg: R2VOSConfig) -> dict[str, bool]:
    """Which R2 parts a configuration has."""
    return {"grounding": cfg.grounding.enabled, "vt_projection": cfg.vt_projection.enabled,
            "mix_query": cfg.head.mix_query, "pair_head": cfg.head.pair_head}


def model_variant(model: R2VOS, variant: str) -> R2VOS:
    """``model`` for ``r2``; for ``baseline`` a model with the same weights minus the R2
    parts (every weight the baseline has comes from ``model``)."""
    if variant == "r2":
        return model
    cfg = variant_config(model.cfg, variant)
    with torch.random.fork_rng(devices=[]):
        other = R2VOS(cfg, pretrained_text=False)
    missing, _ = other.load_state_dict(model.state_dict(), strict=False)
    if missing:
        raise RuntimeError(f"{variant}: weights not in the full model: {missing[:3]}")
    return other.eval()


def _random_text_encoder(config_name: str, folder: str, caption: str) -> tuple[dict, str]:
    """A tokenizer folder trained on the caption and the language model's architecture."""
    from .text_encoder import DISTILROBERTA_BASE_ARCH, make_tiny_text_encoder

    if config_name == "tiny":
        make_tiny_text_encoder(folder, [caption], hidden=32, layers=2, heads=2, weights=False)
        return {"path": folder}, "random tiny RoBERTa (hidden 32, 2 layers)"
    make_tiny_text_encoder(folder, [caption], max_positions=514, weights=False)
    return {"path": folder, "arch": dict(DISTILROBERTA_BASE_ARCH)}, \
        "random distilroberta-base architecture"


def load_profiled_model(config_name: str, workdir: str | os.PathLike,
                        checkpoint: str | os.PathLike | None = None,
                        text_dir: str | os.PathLike | None = None, caption: str = DEFAULT_CAPTION,
                        seed: int = 0) -> tuple[R2VOS, dict]:
    """The model to time, in eval mode on the CPU, and where it came from.

    With a checkpoint: its weights and config (``text_dir`` gives the tokenizer). Without:
    config ``config_name`` with random weights drawn from ``seed``; the text encoder from
    ``text_dir``, or else a random one of the config's size (for ``r50`` distilroberta-base's
    architecture) with a small tokenizer written to ``workdir``.
    """
    from .loading import check_text_folder, load_model

    if checkpoint is not None:
        if text_dir is None:
            raise R2BenchError(checkpoint, "a checkpoint needs --text-encoder (the folder "
                                           "run-reference uses, for its tokenizer)")
        model, _ = load_model(checkpoint, text_dir)
        return model, {"config": Path(checkpoint).name, "checkpoint": os.fspath(checkpoint),
                       "text_encoder": os.fspath(text_dir)}
    if config_name not in CONFIGS:
        raise R2BenchError(None, f"unknown config {config_name!r}; expected one of "
                                 f"{', '.join(CONFIGS)}")
    cfg = CONFIGS[config_name]()
    if text_dir is not None:
        check_text_folder(text_dir)
        fields, note = {"path": os.fspath(text_dir)}, os.fspath(text_dir)
    else:
        fields, note = _random_text_encoder(config_name, os.fspath(workdir), caption)
    cfg = cfg.replace(text_encoder=replace(cfg.text_encoder, **fields))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = R2VOS(cfg)
    return model.eval(), {"config": config_name, "checkpoint": None, "text_encoder": note}


def count_parameters(model: nn.Module) -> tuple[int, dict[str, int]]:
    """All parameters, and those of each part (a nested part counted in its own row only)."""
    per_part: dict[str, int] = defaultdict(int)
    for part, mod in named_parts(model):
        per_part[part] += sum(p.numel() for p in mod.parameters())
    for child, parent in NESTED.items():
        if child in per_part:
            per_part[parent] -= per_part[child]
    return sum(p.numel() for p in model.parameters()), dict(per_part)


def _compile_parts(model: R2VOS) -> None:
    """Replace each part's module by its ``torch.compile`` wrapper, whose hooks run eagerly."""
    for name in COMPILED:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        mod = getattr(parent, attr, None)
        if isinstance(mod, nn.ModuleList) and type(mod) is nn.ModuleList:
            for i, entry in enumerate(mod):
                mod[i] = torch.compile(entry)
        elif mod is not None:
            setattr(parent, attr, torch.compile(mod))


def prepare(model: R2VOS, cfg: ProfileConfig) -> R2VOS:
    """The model on the device, in the memory format and compiled as ``cfg`` asks."""
    model = model.to(cfg.device).eval()
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.compile:
        _compile_parts(model)
    return model


# ------------------------------------------------------------------------------ measuring


@contextmanager
def numerics(cfg: ProfileConfig) -> Iterator[None]:
    """Precision flags, autocast, threads and cuDNN autotuning for the measurement; the
    previous settings are restored afterwards."""
    device = torch.device(cfg.device)
    saved_threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    saved = None
    if device.type == "cuda":
        saved = (torch.backends.cuda.matmul.fp32_precision,
                 torch.backends.cudnn.conv.fp32_precision, torch.backends.cudnn.benchmark)
        if cfg.precision in ("fp32", "tf32"):
            mode = "tf32" if cfg.precision == "tf32" else "ieee"
            torch.backends.cuda.matmul.fp32_precision = mode
            torch.backends.cudnn.conv.fp32_precision = mode
        torch.backends.cudnn.benchmark = True  # one input size: let cuDNN pick its fastest
    autocast = (torch.autocast(device.type, dtype=torch.float16 if cfg.precision == "fp16"
                               else torch.bfloat16)
                if cfg.precision in ("fp16", "bf16") else nullcontext())
    try:
        with autocast, torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(saved_threads)
        if saved is not None:
            (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision,
             torch.backends.cudnn.benchmark) = saved


def make_frames(cfg: ProfileConfig) -> Tensor:
    """The window's input: T normalised frames [T, 3, H, W] drawn from ``cfg.seed``."""
    gen = torch.Generator().manual_seed(cfg.seed)
    frames = torch.randn(cfg.window, 3, *cfg.size, generator=gen).to(cfg.device)
    return frames.contiguous(memory_format=torch.channels_last) if cfg.channels_last \
        else frames


def window_runner(model: R2VOS, frames: Tensor, cfg: ProfileConfig
                  ) -> Callable[[PartTimer | None], Tensor]:
    """``run(timer)``: one window from frames to host masks [T, H_out, W_out] (bool)."""
    post = PostProcess(model.cfg.postprocess)
    out_size = cfg.output_size or cfg.size
    t = frames.shape[0]

    def run(timer: PartTimer | None = None) -> Tensor:
        out = model.forward_features(model.encode_frames(frames), [cfg.caption], t, aux=False)
        with timer.section(POSTPROCESS) if timer is not None else nullcontext():
            return post(out, [out_size])[0]["masks"].cpu()

    return run


@dataclass
class Measurement:
    """Raw timings of one variant: per window, and per part of each breakdown window."""

    latency_ms: list[float] = field(default_factory=list)
    cpu_time_ms: list[float] = field(default_factory=list)  # process CPU time (CPU runs)
    peak_memory_bytes: int = 0
    breakdown_ms: list[dict[str, float]] = field(default_factory=list)
    breakdown_total_ms: list[float] = field(default_factory=list)


def measure(models: dict[str, R2VOS], cfg: ProfileConfig, progress: bool = False
            ) -> tuple[dict[str, Measurement], str]:
    """Time each prepared model on the same frames, windows interleaved across models.
    Returns the measurements by variant and the kind of memory figure."""
    from tqdm import tqdm

    device = torch.device(cfg.device)
    clock, memory = Clock(device), PeakMemory(device)
    frames = make_frames(cfg)
    runs = {v: window_runner(m, frames, cfg) for v, m in models.items()}
    out = {v: Measurement() for v in models}
    steps = len(models) * (cfg.warmup + cfg.iters + cfg.breakdown_iters)
    with numerics(cfg), tqdm(total=steps, desc="profile", unit="window",
                             disable=not progress, dynamic_ncols=True) as bar:
        for run in runs.values():
            for _ in range(cfg.warmup):
                run(None)
                bar.update()
        for _ in range(cfg.iters):
            for v, run in runs.items():
                memory.reset()
                cpu = time.process_time()
                out[v].latency_ms.append(time_window(run, clock))
                if not clock.cuda:
                    out[v].cpu_time_ms.append((time.process_time() - cpu) * 1e3)
                out[v].peak_memory_bytes = max(out[v].peak_memory_bytes, memory.peak())
                bar.update()
        _breakdown(models, runs, out, clock, cfg, bar)
    return out, memory.kind


def _breakdown(models: dict[str, R2VOS], runs: dict, out: dict[str, Measurement],
               clock: Clock, cfg: ProfileConfig, bar) -> None:
    skip = tuple(NESTED) if cfg.compile else ()  # a nested part runs inside a compiled one
    timers = {v: PartTimer(m, clock, skip) for v, m in models.items()}
    try:
        for _ in range(cfg.breakdown_iters):
            for v, run in runs.items():
                total = time_window(lambda run=run, v=v: run(timers[v]), clock)
                out[v].breakdown_total_ms.append(total)
                out[v].breakdown_ms.append(timers[v].collect())
                bar.update()
    finally:
        for timer in timers.values():
            timer.remove()


# ---------------------------------------------------------------------------- the record


def summarize(m: Measurement, window: int) -> dict:
    """FPS, latency statistics, peak memory and the per-part breakdown of one variant.

    The breakdown is that of the breakdown window with the median total: its parts and the
    glue between them make up its total exactly, which medians taken part by part on a
    loaded machine would not.
    """
    latency = summarize_ms(m.latency_ms)
    row = {"fps": per_second(window, latency["median"]), "latency_ms": latency,
           "cpu_time_ms": summarize_ms(m.cpu_time_ms) if m.cpu_time_ms else None,
           "peak_memory_bytes": int(m.peak_memory_bytes), "breakdown_ms": {},
           "breakdown_total_ms": None}
    if m.breakdown_ms:
        i = int(np.argsort(m.breakdown_total_ms, kind="stable")[(len(m.breakdown_ms) - 1) // 2])
        parts = m.breakdown_ms[i]
        row["breakdown_ms"] = {p: parts[p] for p in [p for p, _ in PARTS] + [POSTPROCESS]
                               if p in parts}
        row["breakdown_total_ms"] = m.breakdown_total_ms[i]
    return row


def software_record(cfg: ProfileConfig) -> dict:
    """Versions and the device the measurement ran on."""
    rec = machine_record("torch", "transformers")
    device = torch.device(cfg.device)
    rec.update({"torch_threads": torch.get_num_threads() if cfg.threads is None
                else cfg.threads, "torch_interop_threads": torch.get_num_interop_threads(),
                "cuda": torch.version.cuda, "cudnn": None, "device_name": rec["cpu"]})
    if device.type == "cuda":
        rec["cudnn"] = torch.backends.cudnn.version()
        rec["device_name"] = torch.cuda.get_device_name(device)
    return rec


def describe_model(model: R2VOS, caption: str) -> dict:
    """What a variant is: its R2 parts, parameter counts and the caption's token count
    (taken before :func:`prepare`, which wraps compiled parts)."""
    params, params_by_part = count_parameters(model)
    tokens = len(model.text_encoder.tokenize([caption], "cpu")["input_ids"][0])
    return {"r2_parts": r2_switches(model.cfg), "params": params,
            "params_by_part": params_by_part, "caption_tokens": tokens}


def profile_record(results: dict[str, Measurement], described: dict[str, dict],
                   cfg: ProfileConfig, provenance: dict, memory_kind: str,
                   method: str | None = None) -> dict:
    """The ``r2bench/profile`` record of the first variant; with several, ``compare`` holds
    every variant's figures and the latency ratio of the first to the last."""
    rows = {v: {**summarize(m, cfg.window), "params": described[v]["params"]}
            for v, m in results.items()}
    first = next(iter(rows))
    row, about = rows[first], described[first]
    record = {
        "format": PROFILE_FORMAT, "version": 1,
        "method": method or provenance["config"] + ("" if first == "r2" else f"-{first}"),
        "config": provenance["config"], "variant": first, "r2_parts": about["r2_parts"],
        "device": torch.device(cfg.device).type, "dtype": DTYPE_NAMES[cfg.precision],
        "autocast": cfg.precision in ("fp16", "bf16"), "compile": cfg.compile,
        "channels_last": cfg.channels_last, "size": list(cfg.size),
        "output_size": list(cfg.output_size or cfg.size), "window": cfg.window, "batch": 1,
        "fps": row["fps"], "latency_ms": row["latency_ms"], "cpu_time_ms": row["cpu_time_ms"],
        "warmup": cfg.warmup,
        "peak_memory_bytes": row["peak_memory_bytes"], "peak_memory_kind": memory_kind,
        "params": about["params"], "params_by_part": about["params_by_part"],
        "breakdown_ms": row["breakdown_ms"], "breakdown_total_ms": row["breakdown_total_ms"],
        "checkpoint": provenance.get("checkpoint"),
        "text_encoder": provenance.get("text_encoder"),
        "caption_tokens": about["caption_tokens"], "software": software_record(cfg),
    }
    if len(rows) > 1:
        last = list(rows)[-1]
        record["compare"] = {
            "variants": rows, "of": [first, last],
            "latency_ratio": row["latency_ms"]["median"] / rows[last]["latency_ms"]["median"],
            "cpu_time_ratio": (row["cpu_time_ms"]["median"] / rows[last]["cpu_time_ms"]["median"]
                               if row["cpu_time_ms"] else None)}
    return record


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f}"


def _header(record: dict) -> str:
    sw = record["software"]
    how = record["dtype"] + (" autocast" if record["autocast"] else "") \
        + (", compiled" if record["compile"] else "") \
        + (", channels-last" if record["channels_last"] else "")
    return (f"{record['method']}: {record['config']} on {record['device']} "
            f"({sw['device_name']}, {sw['torch_threads']} threads), {how}; "
            f"{record['size'][0]}x{record['size'][1]}, window {record['window']}, batch 1; "
            f"torch {sw['torch']}")


def format_profile(record: dict) -> str:
    """The record as text: a header, one line per variant, the per-part breakdown with one
    column per variant, and under a comparison the latency ratio."""
    rows = record.get("compare", {}).get("variants") or {record["variant"]: record}
    lines = [_header(record), ""]
    cpu = record["cpu_time_ms"] is not None
    head = f"{'variant':<10} {'FPS':>8} {'median ms':>10} {'p90 ms':>10} " \
        + (f"{'cpu ms':>10} " if cpu else "") + f"{'peak MiB':>9} {'params M':>9}"
    lines += [head, "-" * len(head)]
    for v, r in rows.items():
        lat = r["latency_ms"]
        lines.append(f"{v:<10} {r['fps']:>8.2f} {lat['median']:>10.1f} {lat['p90']:>10.1f} "
                     + (f"{r['cpu_time_ms']['median']:>10.1f} " if cpu else "")
                     + f"{_mib(r['peak_memory_bytes']):>9} {r['params'] / 1e6:>9.1f}")
    if "compare" in record:
        c = record["compare"]
        a, b = c["of"]
        lines.append(f"latency {a} / {b}: {c['latency_ratio']:.3f} "
                     f"({100 * (c['latency_ratio'] - 1):+.1f}%)"
                     + (f"; CPU time {c['cpu_time_ratio']:.3f}" if cpu else ""))
    if any(r["breakdown_ms"] for r in rows.values()):
        lines += ["", _format_breakdown(rows)]
    return "\n".join(lines)


def _format_breakdown(rows: dict[str, dict]) -> str:
    parts = [p for p, _ in PARTS] + [POSTPROCESS]
    parts = [p for p in parts if any(p in r["breakdown_ms"] for r in rows.values())]
    head = f"{'part (ms)':<14}" + "".join(f" {v:>10} {'share':>6}" for v in rows)
    lines = [head, "-" * len(head)]

    def line(name: str, values: list[float | None], totals: list[float]) -> str:
        cells = "".join(f" {'-':>10} {'':>6}" if x is None else f" {x:>10.1f} {100 * x / t:>5.1f}%"
                        for x, t in zip(values, totals))
        return f"{name:<14}{cells}"

    totals = [r["breakdown_total_ms"] for r in rows.values()]
    for p in parts:
        lines.append(line(p, [r["breakdown_ms"].get(p) for r in rows.values()], totals))
    lines.append(line("sum of parts", [sum(r["breakdown_ms"].values()) for r in rows.values()],
                      totals))
    lines.append(line("window total", totals, totals))
    return "\n".join(lines)


def write_profile(path: str | os.PathLike, record: dict) -> None:
    """Write a profile record atomically."""
    atomic_write_json(path, record)


def profile(models: dict[str, R2VOS], cfg: ProfileConfig, provenance: dict,
            method: str | None = None, progress: bool = False) -> dict:
    """Prepare and time the models (variant -> model, first is the record's own) and
    return the record."""
    check_device(cfg.device)
    described = {v: describe_model(m, cfg.caption) for v, m in models.items()}
    prepared = {v: prepare(m, cfg) for v, m in models.items()}
    results, kind = measure(prepared, cfg, progress)
    return profile_record(results, described, cfg, provenance, kind, method)
