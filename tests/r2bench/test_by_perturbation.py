"""score --by-perturbation: the grouping of pairs by perturbation and severity, values and
means checked by hand on a four-video set, the table, and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from r2data import write_preds, write_r2

from r2bench.by_perturbation import format_perturbation_table, summarise_by_perturbation
from r2bench.cli import main
from r2bench.dataset import EvalDataset, PairSpec
from r2bench.errors import DatasetError
from r2bench.perturb_record import PerturbRecord, parse_perturb_record

# Videos A..D; negatives A->B, B->C, C->D, D->A. A: fog 3 (visual only), B: misspell 2 on
# B/0 (text only), C: gaussian noise 5 and grammar 5 on C/0 (both), D: grammar 1 on D/0.
NEG = {"A": "B", "B": "C", "C": "D", "D": "A"}
EXPS = {"A": ["0", "1"], "B": ["0"], "C": ["0"], "D": ["0"]}
RECORD = {"format": "r2bench/perturbation", "version": 1, "severity": "all",
          "types": ["gaussian_noise", "fog", "misspell", "grammar"],
          "videos": {
              "A": {"mode": "visual", "visual": {"type": "fog", "severity": 3},
                    "expressions": {"0": {"type": None}, "1": {"type": None}}},
              "B": {"mode": "text", "visual": None,
                    "expressions": {"0": {"type": "misspell", "severity": 2}}},
              "C": {"mode": "both", "visual": {"type": "gaussian_noise", "severity": 5},
                    "expressions": {"0": {"type": "grammar", "severity": 5}}},
              "D": {"mode": "text", "visual": None,
                    "expressions": {"0": {"type": "grammar", "severity": 1}}}}}
# pair -> (J, F, area)
SCORES = {"positive/A/0": (0.8, 0.6, 100), "positive/A/1": (0.4, 0.2, 300),
          "positive/B/0": (1.0, 1.0, 50), "positive/C/0": (0.5, 0.7, 200),
          "positive/D/0": (0.9, 0.9, 100),
          "negative/A/0": (None, None, 10), "negative/A/1": (None, None, 0),
          "negative/B/0": (None, None, 25), "negative/C/0": (None, None, 40),
          "negative/D/0": (None, None, 20)}


def _record() -> PerturbRecord:
    return parse_perturb_record(RECORD, "perturb.json")


def dataset() -> EvalDataset:
    pairs = []
    for label in ("positive", "negative"):
        for vid, eids in EXPS.items():
            for eid in eids:
                video = vid if label == "positive" else NEG[vid]
                pairs.append(PairSpec(f"{label}/{vid}/{eid}", label, video, ("00000",), (4, 4),
                                      source_video=vid, exp_id=eid))
    return EvalDataset(Path("/nowhere"), "valid", "r2", tuple(pairs), None)


def results() -> dict:
    return {"summary": {"J": 0.7}, "pairs": [
        {"pair_id": pid, "label": pid.split("/")[0], "J": j, "F": f, "area": a, "frames": 1}
        for pid, (j, f, a) in SCORES.items()]}


@pytest.fixture()
def section() -> dict:
    return summarise_by_perturbation(dataset(), results(), _record(),
                                     clean={"J": 0.8, "F": 0.6, "JF": 0.7, "R": 0.9, "JFR": 0.8})


def group(section, name, severity) -> dict:
    return next(g for g in section["groups"] if g["type"] == name and g["severity"] == severity)


def test_groups_by_hand(section):
    # fog 3: positives A/0, A/1; negative D/0 covers A's frames
    fog = group(section, "fog", 3)
    assert (fog["n_positive"], fog["n_negative"]) == (2, 1)
    assert fog["J"] == pytest.approx(0.6) and fog["F"] == pytest.approx(0.4)
    assert fog["R"] == pytest.approx(1 - 20 / 400)
    assert fog["JFR"] == pytest.approx((0.6 + 0.4 + 0.95) / 3)
    # gaussian noise 5: positive C/0; negative B/0 covers C's frames
    noise = group(section, "gaussian_noise", 5)
    assert (noise["n_positive"], noise["n_negative"]) == (1, 1)
    assert noise["R"] == pytest.approx(1 - 25 / 200)
    # misspell 2: B/0 both ways (its negative covers C's frames, so it is in noise too)
    assert group(section, "misspell", 2)["R"] == pytest.approx(1 - 25 / 50)
    assert group(section, "grammar", 5)["R"] == pytest.approx(1 - 40 / 200)
    assert group(section, "grammar", 1)["R"] == pytest.approx(1 - 20 / 100)
    # A's expressions on B's frames: touched by nothing
    none = group(section, "none", 0)
    assert (none["n_positive"], none["n_negative"], none["J"], none["R"]) == (0, 2, None, None)


def test_types_average_over_severities_and_drop(section):
    types = {t["type"]: t for t in section["types"]}
    assert [t["type"] for t in section["types"]] == ["none", "gaussian_noise", "fog",
                                                       "misspell", "grammar"]
    grammar = types["grammar"]
    assert grammar["severities"] == [1, 5]
    assert grammar["J"] == pytest.approx((0.9 + 0.5) / 2)
    assert grammar["JF"] == pytest.approx(((0.9 + 0.9) / 2 + (0.5 + 0.7) / 2) / 2)
    assert grammar["JFR"] == pytest.approx(((0.9 + 0.9 + 0.8) / 3 + (0.5 + 0.7 + 0.8) / 3) / 2)
    assert (grammar["n_positive"], grammar["n_negative"]) == (2, 2)
    assert types["fog"]["drop"]["JF"] == pytest.approx((0.7 - 0.5) / 0.7)
    assert types["none"]["drop"]["JF"] is None


def test_table(section):
    table = format_perturbation_table(section)
    lines = table.splitlines()
    assert "drop J&F" in lines[0] and lines[2].startswith("clean")
    grammar = next(line for line in lines if line.startswith("grammar"))
    cells = grammar.split()
    assert cells[1] == "1,5" and cells[2:4] == ["2", "2"]
    assert cells[6] == "75.0" and cells[-2] == f"{100 * (0.7 - 0.75) / 0.7:.1f}%"


def test_cli_needs_a_perturbation_record(tmp_path):
    vids = {v: np.zeros((1, 4, 4), np.uint8) for v in ("va", "vb")}
    exps = {"va": {"0": ("a thing", None)}, "vb": {"0": ("a thing", None)}}
    write_r2(tmp_path / "r2", vids, exps, {"va": "vb", "vb": "va"}, with_gt=False)
    write_preds(tmp_path / "p", {f"{lab}/{v}/0": np.zeros((1, 4, 4), bool)
                                 for lab in ("positive", "negative") for v in vids})
    res = CliRunner().invoke(main, ["score", str(tmp_path / "p"), "--dataset",
                                    str(tmp_path / "r2"), "--by-perturbation", "-q"])
    assert res.exit_code == 2 and "perturb.json: missing" in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    (tmp_path / "not_results.json").write_text(json.dumps({"format": "other"}))
    res = CliRunner().invoke(main, ["score", str(tmp_path / "p"), "--dataset",
                                    str(tmp_path / "r2"), "--clean",
                                    str(tmp_path / "not_results.json"), "-q"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output


def test_plain_source_pairs_are_grouped_by_their_video_and_expression():
    # --dataset OUT --split S on the perturbed source itself: pair ids VID/EXP, no negatives
    pairs = tuple(PairSpec(f"{vid}/{eid}", "positive", vid, ("00000",), (4, 4),
                           source_video=vid, exp_id=eid)
                  for vid, eids in EXPS.items() for eid in eids)
    ds = EvalDataset(Path("/nowhere"), "valid", "rvos", pairs, None)
    res = {"summary": {"J": 0.7}, "pairs": [
        {"pair_id": pid.split("/", 1)[1], "label": "positive", "J": j, "F": f, "area": a,
         "frames": 1} for pid, (j, f, a) in SCORES.items() if pid.startswith("positive")]}
    section = summarise_by_perturbation(ds, res, _record())
    assert {(g["type"], g["severity"]): g["n_positive"] for g in section["groups"]} == {
        ("fog", 3): 2, ("misspell", 2): 1, ("gaussian_noise", 5): 1, ("grammar", 5): 1,
        ("grammar", 1): 1}
    assert all(g["R"] is None for g in section["groups"])
    assert group(section, "fog", 3)["JF"] == pytest.approx(0.5)


@pytest.mark.parametrize("break_it, message", [
    (lambda r: r.update(format="other"), "not a perturbation record"),
    (lambda r: r["videos"]["A"].update(visual={"type": "fog"}),
     "videos.A.visual: expected null or a type and a severity"),
    (lambda r: r["videos"]["B"].pop("expressions"), "videos.B: expected its visual"),
])
def test_a_malformed_perturbation_record_is_one_line_naming_it(tmp_path, break_it, message):
    from r2bench.perturb_record import read_perturb_record

    record = json.loads(json.dumps(RECORD))
    break_it(record)
    path = tmp_path / "perturb.json"
    path.write_text(json.dumps(record))
    with pytest.raises(DatasetError) as e:
        read_perturb_record(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


def test_the_typed_record_reads_what_the_groups_need():
    rec = _record()
    assert rec.types == ("gaussian_noise", "fog", "misspell", "grammar")
    assert rec.videos["A"].visual.type == "fog" and rec.videos["A"].expressions["0"] is None
    assert rec.videos["C"].expressions["0"].severity == 5
