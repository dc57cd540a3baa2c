"""``r2bench profile`` on the tiny model: the record, the breakdown's accounting, the
comparison, the clocks (the CUDA one with stand-in events) and the errors."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import ClassVar

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from r2bench.cli import main
from reference_model import profiling as prof
from reference_model.profiling import (
    Measurement,
    ProfileConfig,
    load_profiled_model,
    model_variant,
    profile,
    summarize,
)
from reference_model.timers import Clock, PartTimer, PeakMemory, time_window

SPEC_FIELDS = ("format", "version", "method", "config", "device", "dtype", "size", "window",
               "fps", "latency_ms", "peak_memory_bytes", "params", "breakdown_ms", "software")
PARTS = {"backbone", "text_encoder", "fusion", "encoder", "fpn", "grounding", "vt_projection",
         "decoder", "heads", "postprocess"}
QUICK = ProfileConfig(size=(64, 96), window=2, warmup=1, iters=3, breakdown_iters=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model, provenance = load_profiled_model("tiny", tmp_path_factory.mktemp("text"))
    return model, provenance


@pytest.fixture(scope="module")
def record(tiny) -> dict:
    model, provenance = tiny
    return profile({"r2": model}, QUICK, provenance)


def test_record_has_every_field_and_positive_timings(record, tiny):
    assert set(SPEC_FIELDS) <= set(record)
    assert (record["format"], record["version"]) == ("r2bench/profile", 1)
    assert (record["method"], record["config"], record["device"]) == ("tiny", "tiny", "cpu")
    assert (record["dtype"], record["size"], record["window"]) == ("float32", [64, 96], 2)
    lat = record["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"] and lat["n"] == 3
    assert record["fps"] == pytest.approx(2 * 1000 / lat["median"])
    assert record["cpu_time_ms"]["median"] > 0 and record["cpu_time_ms"]["n"] == 3
    assert record["peak_memory_bytes"] > 0 and record["peak_memory_kind"].startswith("peak_rss")
    assert record["params"] == sum(p.numel() for p in tiny[0].parameters())
    assert record["r2_parts"] == dict.fromkeys(("grounding", "vt_projection", "mix_query",
                                                "pair_head"), True)
    sw = record["software"]
    assert sw["torch"] == torch.__version__ and sw["torch_threads"] >= 1
    assert record["text_encoder"].startswith("random tiny") and record["caption_tokens"] > 2
    json.dumps(record)  # plain JSON values only


def test_breakdown_covers_every_part_and_sums_to_the_total(record):
    parts = record["breakdown_ms"]
    assert set(parts) == PARTS
    assert all(v >= 0 for v in parts.values())
    total = record["breakdown_total_ms"]
    assert 0.85 * total <= sum(parts.values()) <= total


def test_baseline_is_the_same_weights_without_the_r2_parts(tiny):
    model = tiny[0]
    base = model_variant(model, "baseline")
    assert prof.r2_switches(base.cfg) == dict.fromkeys(prof.r2_switches(model.cfg), False)
    assert base.fpn.grounding is None and base.vt_projection is None
    assert base.pair_head is None and base.query_mixer is None
    full = model.state_dict()
    for key, value in base.state_dict().items():
        assert torch.equal(value, full[key]), key
    assert model_variant(model, "r2") is model
    with pytest.raises(ValueError):
        model_variant(model, "nothing")


class _FakeClock:
    """Marks are a counter the toy modules advance: exact, repeatable milliseconds."""

    def __init__(self):
        self.now = 0.0

    def mark(self) -> float:
        return self.now

    def ms(self, start: float, end: float) -> float:
        return end - start


class _Step(nn.Module):
    def __init__(self, clock: _FakeClock, ms: float, inner: nn.Module | None = None):
        super().__init__()
        self.clock, self.step, self.grounding = clock, ms, inner

    def forward(self) -> None:
        self.clock.now += self.step
        if self.grounding is not None:
            self.grounding()


def test_part_timer_sums_repeated_calls_and_subtracts_nested_parts():
    clock = _FakeClock()
    toy = nn.Module()
    toy.fusion = _Step(clock, 3.0)
    toy.fpn = _Step(clock, 2.0, inner=_Step(clock, 5.0))  # grounding inside the FPN
    toy.class_embed = nn.ModuleList([_Step(clock, 1.0), _Step(clock, 1.5)])
    timer = PartTimer(toy, clock)
    toy.fusion()
    toy.fusion()
    toy.fpn()
    for head in toy.class_embed:
        head()
    with timer.section("postprocess"):
        clock.now += 0.5
    assert timer.collect() == {"fusion": 6.0, "fpn": 2.0, "grounding": 5.0, "heads": 2.5,
                               "postprocess": 0.5}
    assert timer.collect() == {}
    timer.remove()
    toy.fusion()
    assert timer.collect() == {}


def test_breakdown_is_the_median_window():
    m = Measurement(latency_ms=[5.0, 4.0, 6.0], peak_memory_bytes=1,
                    breakdown_ms=[{"backbone": 9.0}, {"backbone": 1.0}, {"backbone": 4.0}],
                    breakdown_total_ms=[10.0, 2.0, 5.0])
    row = summarize(m, window=5)
    assert row["breakdown_ms"] == {"backbone": 4.0} and row["breakdown_total_ms"] == 5.0
    assert row["fps"] == pytest.approx(1000.0) and row["latency_ms"]["median"] == 5.0


class _FakeEvent:
    log: ClassVar[list[str]] = []
    clock = 0.0

    def __init__(self, enable_timing: bool = False):
        assert enable_timing
        self.t = None

    def record(self) -> None:
        _FakeEvent.clock += 7.0
        self.t = _FakeEvent.clock
        _FakeEvent.log.append("record")

    def elapsed_time(self, end: _FakeEvent) -> float:
        assert _FakeEvent.log[-1] == "sync", "events read before a synchronisation"
        return end.t - self.t


def test_cuda_windows_are_timed_by_events_read_after_a_sync(monkeypatch):
    _FakeEvent.log.clear()
    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: _FakeEvent.log.append(
        "sync"))
    clock = Clock(torch.device("cuda"))
    ms = time_window(lambda: _FakeEvent.log.append("run"), clock)
    assert ms == 7.0
    assert _FakeEvent.log == ["sync", "record", "run", "record", "sync"]


def test_cuda_peak_memory_is_reset_and_read(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d: calls.append(d))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: 123)
    mem = PeakMemory(torch.device("cuda", 0))
    mem.reset()
    assert mem.peak() == 123 and calls == [torch.device("cuda", 0)]
    assert mem.kind == "cuda_max_memory_allocated"


def test_numerics_sets_and_restores_cuda_flags_and_threads():
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    before = (matmul.fp32_precision, conv.fp32_precision, torch.get_num_threads())
    with prof.numerics(replace(QUICK, device="cuda", precision="tf32", threads=1)):
        assert (matmul.fp32_precision, conv.fp32_precision) == ("tf32", "tf32")
        assert torch.get_num_threads() == 1 and torch.is_inference_mode_enabled()
    with prof.numerics(replace(QUICK, device="cuda", precision="fp32")):
        assert (matmul.fp32_precision, conv.fp32_precision) == ("ieee", "ieee")
    assert (matmul.fp32_precision, conv.fp32_precision, torch.get_num_threads()) == before


def test_bf16_autocast_on_cpu_runs(tiny):
    model, provenance = tiny
    rec = profile({"r2": model}, replace(QUICK, precision="bf16", iters=1, breakdown_iters=0),
                  provenance)
    assert rec["dtype"] == "bfloat16" and rec["autocast"] and rec["breakdown_ms"] == {}


def _cli(*args):
    return CliRunner().invoke(main, ["profile", "--config", "tiny", "--size", "64x96",
                                     "--window", "2", "--warmup", "1", "--iters", "2",
                                     "--breakdown-iters", "1", "-q", *args])


def test_compare_prints_both_rows_and_the_ratio(tmp_path):
    out = tmp_path / "p.json"
    result = _cli("--compare", "--name", "tiny-r2", "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("r2 ") for line in lines)
    assert any(line.startswith("baseline ") for line in lines)
    assert "latency r2 / baseline:" in result.output
    rec = json.loads(out.read_text())
    assert rec["method"] == "tiny-r2" and rec["variant"] == "r2"
    rows = rec["compare"]["variants"]
    assert list(rows) == ["r2", "baseline"]
    assert rec["compare"]["latency_ratio"] == pytest.approx(
        rows["r2"]["latency_ms"]["median"] / rows["baseline"]["latency_ms"]["median"])
    assert rec["compare"]["cpu_time_ratio"] == pytest.approx(
        rows["r2"]["cpu_time_ms"]["median"] / rows["baseline"]["cpu_time_ms"]["median"])
    assert rows["baseline"]["params"] < rows["r2"]["params"] == rec["params"]
    assert "grounding" not in rows["baseline"]["breakdown_ms"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("args, message", [
    (["--device", "cuda"], "no CUDA device"),
    (["--precision", "tf32"], "tf32 is a CUDA setting"),
    (["--size", "32x32"], "at least 64"),
    (["--size", "big"], "HEIGHTxWIDTH"),
    (["--checkpoint", "missing.safetensors"], "needs --text-encoder"),
    (["--text-encoder", "no/such/folder"], "no such text-encoder folder"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, message):
    if torch.cuda.is_available() and args[0] == "--device":
        pytest.skip("this machine has CUDA")
    out = tmp_path / "p.json"
    result = _cli(*args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()
