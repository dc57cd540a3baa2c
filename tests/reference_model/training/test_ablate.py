"""``r2bench ablate``: every switch builds the structure it names, one row per variant, and a
rerun continues without training again."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datasets_builder.build import build_dataset
from r2bench.cli import main
from r2bench.results import RESULTS_FORMAT
from reference_model.build import build_model
from reference_model.config import tiny
from reference_model.training import ablate as ablate_module
from reference_model.training.ablate import VARIANTS, variant_config
from reference_model.training.config import tiny_train


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_builds_and_switches_what_it_names(name, tiny_text_dir):
    cfg = variant_config(tiny_train(tiny(tiny_text_dir)), name)
    model, _, _ = build_model(cfg.model)
    m, head = cfg.model, cfg.model.head
    expected = {
        "no-pair-head": not head.pair_head and model.pair_head is None,
        "no-mix-query": not head.mix_query,
        "no-grounding": not m.grounding.enabled,
        "baseline": (not m.grounding.enabled and not m.vt_projection.enabled
                     and not head.mix_query and not head.pair_head
                     and m.criterion.cycle == "off" and cfg.data.negatives_per_clip == 0),
        "queries-1": head.num_queries == 1, "queries-9": head.num_queries == 9,
        "window-1": m.num_frames == 1, "window-3": m.num_frames == 3,
    }
    if name.startswith("cycle-"):
        assert m.criterion.cycle == name.removeprefix("cycle-")
    elif name == "full":  # the release: every R2 part on
        assert (m.grounding.enabled and m.vt_projection.enabled and head.mix_query
                and head.pair_head and m.criterion.cycle == "both"
                and cfg.data.negatives_per_clip == 1)
    else:
        assert expected[name]


def test_ablate_prints_a_row_per_variant_and_continues(micro_source, tmp_path, monkeypatch):
    val = tmp_path / "r2"
    build_dataset(micro_source, "valid", val, seed=0)
    args = ["ablate", "--data", str(micro_source), "--val", str(val), "--out",
            str(tmp_path / "abl"), "--variants", "full,baseline", "--max-steps", "2",
            "--workers", "0", "--threads", "1", "-q"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    assert lines[0].split() == ["submission", "J", "F", "J&F", "R", "J&F&R"]
    assert [line.split()[0] for line in lines[2:]] == ["full", "baseline"]
    for name in ("full", "baseline"):
        results = json.loads((tmp_path / "abl" / f"{name}.json").read_text())
        assert results["format"] == RESULTS_FORMAT  # the r2bench score results file
        assert {"J", "F", "JF", "R", "JFR"} <= set(results["summary"])
    calls = []
    monkeypatch.setattr(ablate_module, "train", lambda *a, **k: calls.append(a))
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and calls == []  # both results exist: nothing is trained
    assert again.output == first.output


def test_unknown_variant_is_one_line(tmp_path):
    r = CliRunner().invoke(main, ["ablate", "--data", ".", "--val", ".", "--out", "x",
                                  "--variants", "full,nosuch"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "nosuch" in r.output
