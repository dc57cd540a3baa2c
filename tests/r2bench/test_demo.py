"""The round trip synth -> build -> score of the reference submissions, with exact values."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from datasets_builder.build import build_dataset
from datasets_builder.synth import SynthConfig, write_source
from r2bench.app.demo import write_oracle_submission
from r2bench.cli import main
from r2bench.refytvos import RefYTVOSRoot
from r2bench.scoring import score_submission


@pytest.fixture(scope="module")
def r2(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rt")
    cfg = SynthConfig(videos=6, train_videos=0, frames=3, height=40, width=64, seed=2)
    write_source(d / "src", cfg)
    build_dataset(d / "src", "valid", d / "r2", seed=9)
    return d / "r2"


def _gt_stats(r2: Path) -> tuple[float, float]:
    """(R of the rvos oracle, J of the empty submission), from the annotations directly."""
    meta = json.loads((r2 / "r2_meta.json").read_text())
    root = RefYTVOSRoot(r2 / "positive", "valid")

    def labels(v):
        return np.stack([np.asarray(Image.open(root.annotation_path(v, f)))
                         for f in meta["videos"][v]["frames"]])

    pos_area = neg_area = 0
    empty_j = []
    for p in meta["pairs"]:
        lab = labels(p["video"])
        if p["label"] == "positive":
            target = lab == int(p["obj_id"])
            pos_area += int(target.sum())
            empty_j.append(np.mean([not t.any() for t in target]))
        else:
            first = next(iter(meta["videos"][p["video"]]["objects"]))
            neg_area += int((lab == int(first)).sum())
    return 1 - neg_area / pos_area, float(np.mean(empty_j))


def test_round_trip_scores_are_exact(r2, tmp_path):
    r_rvos, j_empty = _gt_stats(r2)
    scores = {}
    for kind in ("oracle", "rvos_oracle", "empty"):
        preds = write_oracle_submission(r2, tmp_path / kind, kind)
        scores[kind] = score_submission(preds, r2, workers=1)["summary"]
    o, v, e = scores["oracle"], scores["rvos_oracle"], scores["empty"]
    assert [o[k] for k in ("J", "F", "JF", "R", "JFR")] == pytest.approx([1.0] * 5, abs=1e-12)
    assert (v["J"], v["F"]) == pytest.approx((1.0, 1.0), abs=1e-12)
    assert v["R"] == pytest.approx(r_rvos, abs=1e-12) and v["R"] < 0.5
    assert v["JFR"] == pytest.approx((2 + r_rvos) / 3, abs=1e-12)
    assert e["R"] is None and e["JFR"] is None
    assert (e["J"], e["F"]) == pytest.approx((j_empty, j_empty), abs=1e-12)
    assert o["n_positive"] == o["n_negative"] > 0


def test_submission_layout(r2, tmp_path):
    meta = json.loads((r2 / "r2_meta.json").read_text())
    out = write_oracle_submission(r2, tmp_path / "s", "rvos_oracle")
    neg = next(p for p in meta["pairs"] if p["label"] == "negative")
    frames = meta["videos"][neg["video"]]["frames"]
    files = sorted(p.stem for p in (out / neg["pair_id"]).iterdir())
    assert files == sorted(frames)
    with Image.open(out / neg["pair_id"] / f"{frames[0]}.png") as im:
        assert im.mode == "L" and im.size == (64, 40)


def test_cli_demo(tmp_path):
    r = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d"), "--videos", "4",
                                  "--frames", "2", "--workers", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    table = [[c.strip().strip("*") for c in line.strip("|").split("|")]
             for line in r.output.splitlines()[2:] if line.startswith("| ")]
    rows = {cells[0]: cells[2:7] for cells in table}
    assert rows["oracle"] == ["100.0"] * 5
    assert rows["rvos_oracle"][:3] == ["100.0"] * 3 and float(rows["rvos_oracle"][3]) < 50
    assert rows["empty"][3:] == ["-", "-"]
    # beside the paper's R2-Youtube-VOS rows (Table 2), marked as published
    assert [c[1:7] for c in table if c[0] == "R2-VOS†"] == [
        ["Video-Swin-T", "59.6", "63.1", "-", "95.7", "72.8"],
        ["ResNet-50", "55.9", "58.4", "-", "94.1", "69.5"]]
    assert [c[0] for c in table].count("ReferFormer†") == 2 and "MTTR†" in rows
    assert "† published in the R2-VOS paper (Table 2, R2-Youtube-VOS)" in r.output
    assert json.loads((tmp_path / "d" / "results" / "oracle.json").read_text())["method"] == \
        "oracle"
    assert len(rows["reference_tiny"]) == 5  # the shipped model (the model extra is installed)
    from reference_model.shipped import record

    minutes = round(sum(record()["train"]["seconds"].values()) / 60)
    assert [c[1] for c in table if c[0] == "reference_tiny"] == [
        f"ResNet-18 (width 16); tiny, synthetic ladder, {minutes} CPU-min"]
    assert (tmp_path / "d" / "results" / "oracle.json").is_file()
    assert (tmp_path / "d" / "results" / "reference.json").is_file()
    again = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d")])
    assert again.exit_code == 2 and "already exists" in again.output


def test_without_torch_the_reference_row_is_left_out_with_one_line(monkeypatch, caplog,
                                                                   tmp_path):
    from r2bench.app.demo import reference_rows

    monkeypatch.setitem(sys.modules, "reference_model.shipped", None)  # import fails
    with caplog.at_level(logging.WARNING):
        assert reference_rows(tmp_path) == []
    assert len(caplog.records) == 1 and "pip install 'r2bench[model]'" in caplog.text
    assert not (tmp_path / "results").exists()
