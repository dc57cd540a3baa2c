"""Checkpoints: r2bench format round trip, conversion of the released format, and refusals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from release_weights import release_weights
from safetensors import safe_open
from safetensors.torch import save_file

from r2bench.cli import main
from reference_model.checkpoint import (
    FORMAT,
    CheckpointError,
    convert_release_state_dict,
    read_checkpoint,
    release_key,
    save_checkpoint,
)
from reference_model.config import R2VOSConfig, tiny

DATA = Path(__file__).parents[1] / "data" / "release_r2vos"


@pytest.fixture(scope="module")
def release_sd() -> dict[str, torch.Tensor]:
    meta = json.loads((DATA / "meta.json").read_text())
    state = release_weights([(k, s) for k, s in meta["keys"]], meta["seed"], meta["overrides"])
    state.update({alias: state[src] for alias, src in meta["aliases"].items()})
    return state


@pytest.fixture(scope="module")
def release_pth(tmp_path_factory, release_sd) -> Path:
    """The released file's form: a training checkpoint with its argparse namespace."""
    path = tmp_path_factory.mktemp("release") / "checkpoint.pth"
    torch.save({"model": release_sd, "epoch": 5, "args": argparse.Namespace(lr=1e-4,
                                                                           backbone="resnet50")},
               path)
    return path


def test_release_keys_map_by_their_rules():
    assert release_key("backbone.0.body.layer1.0.conv1.weight") == \
        "backbone.body.layer1.0.conv1.weight"
    assert release_key("pixel_decoder.adapter_1.norm.weight") == "fpn.adapters.0.norm.weight"
    assert release_key("pixel_decoder.layer_4.weight") == "fpn.layers.3.weight"
    assert release_key("pixel_decoder.text_query.weight") == "vt_projection.text_query.weight"
    assert release_key("transformer.decoder.bbox_embed.1.layers.2.bias") == \
        release_key("bbox_embed.1.layers.2.bias") == "decoder.bbox_embed.1.layers.2.bias"
    assert release_key("neg_classifier.layers.0.weight") == "pair_head.layers.0.weight"
    assert release_key("pixel_decoder.unknown.weight") is None


def test_convert_cli_reads_the_released_file_and_round_trips(release_pth, release_sd, tmp_path):
    dst = tmp_path / "r2.safetensors"
    result = CliRunner().invoke(main, ["convert-checkpoint", str(release_pth), "--out", str(dst),
                                       "--text-encoder", str(DATA / "text_encoder")])
    assert result.exit_code == 0, result.output
    with safe_open(dst, framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == FORMAT and meta["version"] == "1"
    state, cfg = read_checkpoint(dst)
    converted = convert_release_state_dict(release_sd)
    assert state.keys() == converted.keys()
    assert all(torch.equal(state[k], converted[k]) for k in state)
    assert cfg == read_checkpoint(release_pth, cfg.text_encoder.arch)[1]
    assert cfg.text_encoder.arch["hidden_size"] == 768 and cfg.backbone.name == "resnet50"


def _bad(release_sd, tmp_path, edit) -> str:
    sd = dict(release_sd)
    edit(sd)
    path = tmp_path / "bad.pth"
    torch.save({"model": sd}, path)
    result = CliRunner().invoke(main, ["convert-checkpoint", str(path), "--out",
                                       str(tmp_path / "out.safetensors")])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out.safetensors").exists()
    return result.output


def test_unknown_key_is_named(release_sd, tmp_path):
    out = _bad(release_sd, tmp_path, lambda sd: sd.update({"extra_head.weight": torch.ones(1)}))
    assert "1 unknown keys: extra_head.weight" in out


def test_missing_key_is_named(release_sd, tmp_path):
    out = _bad(release_sd, tmp_path, lambda sd: sd.pop("pixel_decoder.dyn_filter.bias"))
    assert "missing keys: fpn.grounding.dyn_filter.bias" in out


def test_mis_shaped_key_is_named(release_sd, tmp_path):
    def edit(sd):
        sd["fusion_module.multihead_attn.out_proj.bias"] = torch.zeros(7)

    out = _bad(release_sd, tmp_path, edit)
    assert "mis-shaped keys: fusion.multihead_attn.out_proj.bias (7,)" in out


def test_unequal_box_aliases_are_refused(release_sd, tmp_path):
    def edit(sd):
        key = "transformer.decoder.bbox_embed.0.layers.0.bias"
        sd[key] = sd[key] + 1

    assert "differ" in _bad(release_sd, tmp_path, edit)


def test_weightless_buffers_are_ignored(release_sd):
    sd = dict(release_sd, **{"text_encoder.embeddings.position_ids": torch.arange(64)[None]})
    assert "text_encoder.language_model.embeddings.position_ids" not in \
        convert_release_state_dict(sd)


def test_files_that_are_not_checkpoints(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(garbage)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.ones(2)}, foreign, metadata={"format": "other"})
    with pytest.raises(CheckpointError, match="not an r2bench checkpoint"):
        read_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        read_checkpoint(tmp_path / "absent.pth")
    lists = tmp_path / "list.pth"
    torch.save([1, 2, 3], lists)
    with pytest.raises(CheckpointError, match="not a state_dict"):
        read_checkpoint(lists)


def test_r2bench_round_trip_keeps_config_and_tensors(tmp_path):
    cfg = tiny().replace(text_encoder=tiny().text_encoder.__class__(arch={"hidden_size": 8}))
    state = {"a": torch.arange(6.0).view(2, 3), "b": torch.ones(3)}
    save_checkpoint(tmp_path / "c.safetensors", state, cfg)
    got, got_cfg = read_checkpoint(tmp_path / "c.safetensors")
    assert got_cfg == cfg and isinstance(got_cfg, R2VOSConfig)
    assert all(torch.equal(got[k], state[k]) for k in state)


def test_read_checkpoint_refuses_unknown_release_keys(tmp_path):
    known = "backbone.0.body.layer1.0.conv1.weight"
    path = tmp_path / "partial.pth"
    torch.save({"model": {known: torch.ones(2), "pixel_decoder.unknown.weight": torch.ones(1),
                          "mystery": torch.ones(1)}}, path)
    with pytest.raises(CheckpointError,
                       match="2 unknown keys: pixel_decoder.unknown.weight, mystery"):
        read_checkpoint(path)


@pytest.mark.parametrize("alias_first", [False, True])
def test_box_aliases_become_one_tensor_only_when_equal(alias_first):
    a = torch.arange(4.0)
    keys = ["bbox_embed.0.layers.0.bias", "transformer.decoder.bbox_embed.0.layers.0.bias"]
    if alias_first:
        keys.reverse()
    same = convert_release_state_dict({keys[0]: a, keys[1]: a.clone()})
    assert list(same) == ["decoder.bbox_embed.0.layers.0.bias"]
    assert torch.equal(same["decoder.bbox_embed.0.layers.0.bias"], a)
    for other in (a + 1e-6, torch.arange(5.0)):
        with pytest.raises(CheckpointError, match=f"{keys[1]} and its alias of "
                                                  "decoder.bbox_embed.0.layers.0.bias differ"):
            convert_release_state_dict({keys[0]: a, keys[1]: other})
