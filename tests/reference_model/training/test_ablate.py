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


def test_t_interval_is_students_t_over_the_seeds():
    from leaderboard.seeded import t_interval

    i = t_interval([0.1, 0.2, 0.3])
    # mean 0.2, sd 0.1, t(0.975, 2) = 4.3027: half width 0.1 * 4.3027 / sqrt(3) = 0.24841
    assert i.mean == pytest.approx(0.2) and i.n == 3
    assert (i.low, i.high) == pytest.approx((0.2 - 0.24841, 0.2 + 0.24841), abs=1e-5)
    assert t_interval([0.5, None]).low is None and t_interval([None]).mean is None


def test_a_difference_is_significant_only_if_every_seed_agrees():
    from leaderboard.seeded import VersusFull, t_interval

    diff = t_interval([0.1, 0.2])
    assert VersusFull(diff, (0.01, 0.02), (1, 1)).significant
    assert not VersusFull(diff, (0.01, 0.2), (1, 1)).significant  # one seed not significant
    assert not VersusFull(diff, (0.01, 0.02), (1, -1)).significant  # the signs disagree
    assert not VersusFull(diff, (0.01, None), (1, 1)).significant


def test_ablate_with_seeds_trains_each_variant_per_seed_and_compares_to_full(
        micro_source, tmp_path, monkeypatch):
    val = tmp_path / "r2"
    build_dataset(micro_source, "valid", val, seed=0)
    args = ["ablate", "--data", str(micro_source), "--val", str(val), "--out",
            str(tmp_path / "abl"), "--variants", "full,no-pair-head", "--max-steps", "1",
            "--seeds", "2", "--seed", "5", "--workers", "0", "--threads", "1", "-q"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    for name in ("full", "no-pair-head"):
        for seed in (5, 6):
            run = json.loads((tmp_path / "abl" / f"{name}-seed-{seed}" / "run.json").read_text())
            assert run["config"]["seed"] == seed
            assert (tmp_path / "abl" / f"{name}-seed-{seed}.json").is_file()
    rows = [line for line in first.output.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["full", "no-pair-head"]
    assert rows[1].split("|")[5].strip() == ""  # full is not compared with itself
    assert rows[2].count("J&F&R ") == 1 and "R " in rows[2].split("|")[7]  # per-seed p-values
    calls = []
    monkeypatch.setattr(ablate_module, "train", lambda *a, **k: calls.append(a))
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and calls == [] and again.output == first.output


def test_ablate_init_starts_every_variant_from_the_checkpoint(micro_source, tmp_path):
    """--init: each variant starts from the given weights (those of parts it lacks left
    out), not from its own seeded initialisation; without --init a variant would not."""
    import torch

    from reference_model.checkpoint import read_checkpoint

    val = tmp_path / "r2"
    build_dataset(micro_source, "valid", val, seed=0)
    common = ["--data", str(micro_source), "--val", str(val), "--max-steps", "1",
              "--workers", "0", "--threads", "1", "-q"]
    first = CliRunner().invoke(main, ["ablate", *common, "--out", str(tmp_path / "a"),
                                      "--variants", "full", "--seed", "3"])
    assert first.exit_code == 0, first.output
    init = tmp_path / "a" / "full" / "model.safetensors"
    frozen = [f"--set=optim.{k}=0" for k in ("lr", "lr_backbone", "lr_text_encoder")]
    res = CliRunner().invoke(main, ["ablate", *common, *frozen, "--out", str(tmp_path / "b"),
                                    "--variants", "full,no-pair-head", "--init", str(init)])
    assert res.exit_code == 0, res.output
    start, _ = read_checkpoint(init)
    for name in ("full", "no-pair-head"):
        weights, cfg = read_checkpoint(tmp_path / "b" / name / "model.safetensors")
        assert cfg.head.pair_head == (name == "full")
        assert set(weights) == {k for k in start if name == "full"
                                or not k.startswith("pair_head.")}
        assert all(torch.equal(weights[k], start[k]) for k in weights)  # lr 0: the start
