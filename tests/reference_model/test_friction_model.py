"""What a new user hit with the model's commands (issue 19 §3): profile's default on a CPU,
profile --scoring without OpenCV, and run-reference on a valid root whose meta also lists the test videos."""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner

from datasets_builder.synth import SynthConfig, write_source
from r2bench.cli import main
from reference_model.checkpoint import save_checkpoint
from reference_model.config import tiny
from reference_model.model import R2VOS


def _run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output
    return res


# --- 1. profile with no --config on a CPU ---------------------------------------------

def test_profile_without_config_on_a_cpu_times_the_tiny_model_and_says_so(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "p.json"
    res = _run("profile", "--size", "64x96", "--window", "2", "--warmup", "0", "--iters", "1",
               "--breakdown-iters", "0", "-q", "--out", out)
    assert res.exit_code == 0, res.output
    assert "no --config, on the CPU: profiling the tiny config" in res.stderr
    assert "--config r50 times it anyway" in res.stderr
    record = json.loads(out.read_text())
    assert record["config"] == "tiny" and record["device"] == "cpu"
    assert res.stdout.endswith(f"wrote {out}\n")


def test_profile_with_config_says_nothing_and_cuda_keeps_r50(monkeypatch):
    from r2bench.cli.profile_cmd import _device_and_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _device_and_config("auto", None, None) == ("cuda", "r50")
    assert _device_and_config("cpu", None, None) == ("cpu", "tiny")
    assert _device_and_config("cpu", "r50", None) == ("cpu", "r50")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _device_and_config("auto", "r50", None) == ("cpu", "r50")


# --- 7. profile --scoring without OpenCV ------------------------------------------------

def test_profile_scoring_without_opencv_says_how_to_install_it_before_any_work(monkeypatch):
    import r2bench.app.demo

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "cv2" else real(name, *a))

    def no_work(*args, **kwargs):
        raise AssertionError("the speed set was written before OpenCV was checked")

    monkeypatch.setattr(r2bench.app.demo, "write_speed_set", no_work)
    res = _run("profile", "--scoring", "-q")
    assert res.exit_code == 2
    assert res.stderr.strip() == ("r2bench: --scoring times the port of the official DAVIS "
                                  "code, which needs OpenCV (the profile extra): pip install "
                                  "-e '.[profile]'")


# --- 11. run-reference on a valid root that lists the test videos ------------------------

@pytest.fixture(scope="module")
def valid_with_test_videos(tmp_path_factory, tiny_text_dir):
    root = tmp_path_factory.mktemp("valid_test")
    src = write_source(root / "src", SynthConfig(videos=3, train_videos=1, frames=2, seed=5),
                       workers=1)
    meta = json.loads((src / "meta_expressions" / "valid" / "meta_expressions.json")
                      .read_text())
    test_vid = max(meta["videos"])
    test = src / "meta_expressions" / "test" / "meta_expressions.json"
    test.parent.mkdir(parents=True)
    test.write_text(json.dumps({"videos": {test_vid: meta["videos"][test_vid]}}))
    shutil.rmtree(src / "valid" / "JPEGImages" / test_vid)     # as in a valid download
    cfg = tiny(tiny_text_dir)
    torch.manual_seed(0)
    model = R2VOS(cfg)
    cfg = cfg.replace(text_encoder=replace(cfg.text_encoder, path=None,
                                           arch=model.text_encoder.arch()))
    save_checkpoint(root / "tiny.safetensors", model.state_dict(), cfg)
    return {"src": src, "test_vid": test_vid, "ckpt": root / "tiny.safetensors",
            "text": tiny_text_dir}


def test_run_reference_on_valid_leaves_out_the_test_videos(valid_with_test_videos, tmp_path):
    d = valid_with_test_videos
    results = tmp_path / "r.json"
    res = _run("run-reference", "--dataset", d["src"], "--split", "valid", "--checkpoint",
               d["ckpt"], "--text-encoder", d["text"], "--out", tmp_path / "p", "--device",
               "cpu", "-q", "--results", results)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == \
        sorted(set(json.loads((d["src"] / "meta_expressions" / "valid" /
                               "meta_expressions.json").read_text())["videos"]) - {d["test_vid"]})
    assert res.stdout.endswith(f"wrote {results}\n")       # --results implies --score
    assert json.loads(results.read_text())["summary"]["n_positive"] > 0
    res = _run("run-reference", "--dataset", d["src"], "--split", "valid", "--checkpoint",
               d["ckpt"], "--text-encoder", d["text"], "--out", tmp_path / "p", "--device",
               "cpu", "-q", "--results", results)
    assert res.exit_code == 2 and f"{results}: already exists" in res.stderr
