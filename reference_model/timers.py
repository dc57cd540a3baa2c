"""Instruments for timing the reference model on CPU or GPU (``r2bench profile``): a clock
(CUDA events, or ``perf_counter`` where operations are synchronous), peak memory, and
forward hooks that time each named part of the model.

The parts are the model's stages in the order they run (paper Figure 3, as released);
``heads`` gathers the prediction heads, the R2 query mixer and pair head among them. A part
inside another (early grounding runs inside the cross-modal FPN) is reported on its own
and subtracted from its parent.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

# part -> the model's submodules it times (a ModuleList stands for each of its entries)
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("backbone", ("backbone", "input_proj")),
    ("text_encoder", ("text_encoder",)),
    ("fusion", ("fusion",)),
    ("encoder", ("encoder",)),
    ("fpn", ("fpn",)),
    ("grounding", ("fpn.grounding",)),
    ("vt_projection", ("vt_projection",)),
    ("decoder", ("decoder",)),
    ("heads", ("query_mixer", "class_embed", "mask_head", "pair_head")),
)
NESTED = {"grounding": "fpn"}  # part -> the part whose modules contain it
POSTPROCESS = "postprocess"  # the post-processing, timed as a section, not a module


def named_parts(model: nn.Module, skip: tuple[str, ...] = ()) -> list[tuple[str, nn.Module]]:
    """(part, module) for every module a part times that the model has."""
    out = []
    for part, names in PARTS:
        if part in skip:
            continue
        for name in names:
            try:
                mod = model.get_submodule(name)
            except AttributeError:  # switched off (None) in this variant
                continue
            out += [(part, m) for m in (mod if isinstance(mod, nn.ModuleList) else [mod])]
    return out


class Clock:
    """Time marks on one device: CUDA events read after a synchronisation, or the host's
    ``perf_counter`` where operations are synchronous."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"

    def mark(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def ms(self, start, end) -> float:
        """Milliseconds between two marks (after :meth:`sync` on GPU)."""
        return start.elapsed_time(end) if self.cuda else (end - start) * 1e3


def _reset_peak_rss() -> bool:
    """Reset the process's peak resident set (Linux ``clear_refs``); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    """Peak resident set of the process in bytes (VmHWM, else ``ru_maxrss``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


class PeakMemory:
    """Peak memory of the windows since :meth:`reset`, in bytes."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.kind = "cuda_max_memory_allocated" if self.cuda else "peak_rss"

    def reset(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        elif not _reset_peak_rss():
            self.kind = "peak_rss_since_start"

    def peak(self) -> int:
        return torch.cuda.max_memory_allocated(self.device) if self.cuda else _peak_rss()


class PartTimer:
    """Forward hooks marking entry to and exit from each part of a model; :meth:`collect`
    returns the milliseconds per part since the last call."""

    def __init__(self, model: nn.Module, clock: Clock, skip: tuple[str, ...] = ()):
        self.clock = clock
        self.spans: list[tuple[str, object, object]] = []
        self._open: dict[int, list] = defaultdict(list)
        self._handles = []
        for part, mod in named_parts(model, skip):
            self._handles.append(mod.register_forward_pre_hook(self._enter))
            self._handles.append(mod.register_forward_hook(self._exit(part)))

    def _enter(self, module, args) -> None:
        self._open[id(module)].append(self.clock.mark())

    def _exit(self, part: str) -> Callable:
        def hook(module, args, output) -> None:
            self.spans.append((part, self._open[id(module)].pop(), self.clock.mark()))
        return hook

    @contextmanager
    def section(self, part: str) -> Iterator[None]:
        """Time a block that is not a module call (the post-processing)."""
        start = self.clock.mark()
        yield
        self.spans.append((part, start, self.clock.mark()))

    def collect(self) -> dict[str, float]:
        """Milliseconds per part of the windows since the last call (call after a sync)."""
        totals: dict[str, float] = defaultdict(float)
        for part, start, end in self.spans:
            totals[part] += self.clock.ms(start, end)
        for child, parent in NESTED.items():
            if child in totals:
                totals[parent] -= totals[child]
        self.spans = []
        return dict(totals)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def time_window(run: Callable[[], object], clock: Clock) -> float:
    """Milliseconds of one synchronous-looking call of ``run``: the device is idle before the
    first mark, and the marks are read only after it is idle again."""
    clock.sync()
    start = clock.mark()
    run()
    end = clock.mark()
    clock.sync()
    return clock.ms(start, end)
