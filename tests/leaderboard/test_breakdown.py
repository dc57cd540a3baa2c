"""Measures by target category and size, checked against the dataset read directly."""

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from leaderboard.breakdown import pair_groups, size_class
from r2bench.cli import main


def _meta(r2):
    return json.loads((r2 / "r2_meta.json").read_text())


def _expected_r(results: dict, keys: set[str]) -> float:
    pos = sum(p["area"] for p in results["pairs"]
              if p["label"] == "positive" and "/".join(p["pair_id"].split("/")[-2:]) in keys)
    neg = sum(p["area"] for p in results["pairs"]
              if p["label"] == "negative" and "/".join(p["pair_id"].split("/")[-2:]) in keys)
    return 1 - neg / pos


def test_categories_come_from_the_target_objects(scored):
    meta = _meta(scored["r2"])
    groups = pair_groups(scored["r2"], "category")
    for p in meta["pairs"]:
        if p["label"] == "positive":
            cat = meta["videos"][p["video"]]["objects"][p["obj_id"]]
            assert groups[f"{p['video']}/{p['exp_id']}"] == cat


def test_breakdown_table_by_category(scored):
    res = CliRunner().invoke(main, ["leaderboard", str(scored["rvos_oracle"]), "--breakdown",
                                    "category", "--format", "csv"])
    assert res.exit_code == 0, res.output
    results = json.loads(scored["rvos_oracle"].read_text())
    groups = pair_groups(scored["r2"], "category")
    lines = res.output.splitlines()
    assert lines[0] == "Method,Category,Pairs,J,F,J&F,R,J&F&R,source"
    assert len(lines) - 1 == len(set(groups.values()))
    for line in lines[1:]:
        _, cat, n, j, f, jf, r, jfr, _ = line.split(",")
        keys = {k for k, g in groups.items() if g == cat}
        assert int(n) == len(keys) and (j, f, jf) == ("100.0", "100.0", "100.0")
        r_expected = _expected_r(results, keys)
        assert float(r) == round(100 * r_expected, 1)
        assert abs(float(jfr) - 100 * (2 + r_expected) / 3) <= 0.05 + 1e-9


def test_size_classes_from_the_annotations(scored):
    meta = _meta(scored["r2"])
    groups = pair_groups(scored["r2"], "size")
    ann = scored["r2"] / "positive" / "valid" / "Annotations"
    for p in meta["pairs"]:
        if p["label"] != "positive":
            continue
        areas = [int((np.asarray(Image.open(ann / p["video"] / f"{f}.png"))
                      == int(p["obj_id"])).sum()) for f in meta["videos"][p["video"]]["frames"]]
        present = [a for a in areas if a]
        frac = np.mean(present) / (40 * 64) if present else None
        assert groups[f"{p['video']}/{p['exp_id']}"] == size_class(frac)


def test_size_class_limits():
    assert [size_class(x) for x in (0.0099, 0.01, 0.0999, 0.1, None)] == \
        ["small", "medium", "medium", "large", "absent"]
