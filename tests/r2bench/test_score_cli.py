"""End to end: a hand-made R2 dataset scored through the CLI, values checked by hand."""

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from davis_reference import ref_boundary_f
from pycocotools import mask as mask_utils
from r2data import frame_names, write_preds, write_r2, write_source

from r2bench.cli import main

H, W = 20, 30


def _videos():
    va = np.zeros((2, H, W), np.uint8)
    va[:, 5:9, 5:9] = 1           # object 1: a 4x4 square, 16 px
    va[:, 12:16, 20:26] = 2       # object 2: 4x6, 24 px
    vb = np.zeros((2, H, W), np.uint8)
    vb[:, 2:12, 2:12] = 1         # object 1: 10x10, 100 px
    return {"va": va, "vb": vb}


EXPS = {"va": {"0": ("the small square", "1"), "1": ("the wide box", "2")},
        "vb": {"0": ("the big square", "1")}}


@pytest.fixture()
def r2(tmp_path):
    root = tmp_path / "r2"
    write_r2(root, _videos(), EXPS, {"va": "vb", "vb": "va"})
    return root


def _preds():
    v = _videos()
    half = v["vb"][1] == 1
    half[7:, :] = False           # top half of the 10x10 square: 50 px, J = 0.5
    neg = np.zeros((2, H, W), bool)
    neg[0, 0, :3] = True          # 3 false-alarm pixels in a negative video
    return {
        "positive/va/0": v["va"] == 1,                                   # perfect
        "positive/va/1": np.stack([v["va"][0] == 2, np.zeros((H, W), bool)]),  # 1 of 2 frames
        "positive/vb/0": np.stack([v["vb"][0] == 1, half]),
        "negative/va/0": neg,
        "negative/va/1": np.zeros((2, H, W), bool),
        "negative/vb/0": np.zeros((2, H, W), bool),
    }


def _expected():
    v = _videos()
    half = _preds()["positive/vb/0"][1]
    f_half = ref_boundary_f(v["vb"][1] == 1, half)
    j = (1.0 + 0.5 + (1.0 + 0.5) / 2) / 3
    f = (1.0 + 0.5 + (1.0 + f_half) / 2) / 3
    pos_area = 16 * 2 + 24 + 100 + 50
    r = 1 - 3 / pos_area
    return j, f, r


def _score(args):
    res = CliRunner().invoke(main, ["score", *map(str, args)], catch_exceptions=False)
    return res


def test_cli_score_hand_checked(r2, tmp_path):
    preds = tmp_path / "preds"
    write_preds(preds, _preds())
    out = tmp_path / "results.json"
    res = _score([preds, "--dataset", r2, "--out", out, "--workers", "2", "--quiet"])
    assert res.exit_code == 0, res.output
    j, f, r = _expected()
    data = json.loads(out.read_text())
    s = data["summary"]
    assert data["format"] == "r2bench/results" and data["version"] == 1
    assert s["J"] == pytest.approx(j, abs=1e-12)
    assert s["F"] == pytest.approx(f, abs=1e-12)
    assert s["JF"] == pytest.approx((j + f) / 2, abs=1e-12)
    assert s["R"] == pytest.approx(r, abs=1e-12)
    assert s["JFR"] == pytest.approx((j + f + r) / 3, abs=1e-12)
    assert (s["n_positive"], s["n_negative"], s["n_frames"]) == (3, 3, 12)
    by_id = {p["pair_id"]: p for p in data["pairs"]}
    assert by_id["positive/va/1"]["J"] == 0.5 and by_id["negative/va/0"]["area"] == 3
    assert by_id["negative/va/0"]["J"] is None
    # the table: x100, one decimal
    assert f"{100 * j:.1f}" in res.output and f"{100 * r:.1f}" in res.output


@pytest.mark.parametrize("mode", ["P", "RGB", "1", "I;16"])
def test_png_modes_score_the_same(r2, tmp_path, mode):
    base, other = tmp_path / "L", tmp_path / mode
    write_preds(base, _preds(), "L")
    write_preds(other, _preds(), mode)
    a = _score([base, "--dataset", r2, "--out", tmp_path / "a.json", "-q", "--workers", "1"])
    b = _score([other, "--dataset", r2, "--out", tmp_path / "b.json", "-q", "--workers", "1"])
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    sa = json.loads((tmp_path / "a.json").read_text())
    sb = json.loads((tmp_path / "b.json").read_text())
    assert sa["summary"] == sb["summary"] and sa["pairs"] == sb["pairs"]


def _summary(path):
    return json.loads(path.read_text())["summary"]


def test_annotations_level_zips_and_rle_score_the_same(r2, tmp_path):
    plain = tmp_path / "plain"
    write_preds(plain, _preds())
    _score([plain, "--dataset", r2, "--out", tmp_path / "plain.json", "-q"])
    expected = _summary(tmp_path / "plain.json")

    ann = tmp_path / "ann"
    write_preds(ann, _preds(), annotations_level=True)
    assert (ann / "positive" / "Annotations" / "va" / "0" / "00000.png").exists()
    assert _score([ann, "--dataset", r2, "--out", tmp_path / "ann.json", "-q"]).exit_code == 0
    assert _summary(tmp_path / "ann.json") == expected

    zipped = tmp_path / "zipped"
    zipped.mkdir()
    for label in ("positive", "negative"):
        with zipfile.ZipFile(zipped / f"{label}.zip", "w") as zf:
            for png in sorted((plain / label).rglob("*.png")):
                zf.write(png, "Annotations/" + png.relative_to(plain / label).as_posix())
    res = _score([zipped, "--dataset", r2, "--out", tmp_path / "zip.json", "-q", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert _summary(tmp_path / "zip.json") == expected

    entries = []
    for pair_id, stack in _preds().items():
        for frame, m in zip(frame_names(2), stack):
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            entries.append({"pair_id": pair_id, "frame": frame,
                            "segmentation": {"size": rle["size"],
                                             "counts": rle["counts"].decode("ascii")}})
    rle_path = tmp_path / "preds.json"
    rle_path.write_text(json.dumps(entries))
    assert _score([rle_path, "--dataset", r2, "--out", tmp_path / "rle.json", "-q"]).exit_code == 0
    assert _summary(tmp_path / "rle.json") == expected


def test_results_do_not_depend_on_workers(r2, tmp_path):
    preds = tmp_path / "preds"
    write_preds(preds, _preds())
    _score([preds, "--dataset", r2, "--out", tmp_path / "w1.json", "-q", "--workers", "1"])
    _score([preds, "--dataset", r2, "--out", tmp_path / "w3.json", "-q", "--workers", "3"])
    a = json.loads((tmp_path / "w1.json").read_text())
    b = json.loads((tmp_path / "w3.json").read_text())
    assert a["pairs"] == b["pairs"] and a["summary"] == b["summary"]


def test_plain_rvos_mode_scores_j_and_f_only(tmp_path):
    root = tmp_path / "ytvos"
    write_source(root, _videos(), EXPS)
    preds = tmp_path / "preds"
    write_preds(preds, {k.split("/", 1)[1]: v for k, v in _preds().items()
                        if k.startswith("positive/")})
    out = tmp_path / "r.json"
    res = _score([preds, "--dataset", root, "--split", "valid", "--out", out, "-q"])
    assert res.exit_code == 0, res.output
    s = _summary(out)
    j, f, _ = _expected()
    assert s["J"] == pytest.approx(j, abs=1e-12) and s["F"] == pytest.approx(f, abs=1e-12)
    assert s["R"] is None and s["JFR"] is None and s["n_negative"] == 0


def test_without_ground_truth_r_is_still_computed(tmp_path):
    root = tmp_path / "r2"
    write_r2(root, _videos(), EXPS, {"va": "vb", "vb": "va"}, with_gt=False, sizes=False)
    preds = tmp_path / "preds"
    write_preds(preds, _preds())
    out = tmp_path / "r.json"
    res = _score([preds, "--dataset", root, "--out", out, "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["summary"]["J"] is None and data["summary"]["F"] is None
    assert data["summary"]["R"] == pytest.approx(_expected()[2], abs=1e-12)
    assert any("not available" in w for w in data["warnings"])
    assert "J and F not available" in res.output  # the warning reaches stderr


def test_allow_missing_scores_missing_frames_empty(r2, tmp_path):
    preds = tmp_path / "preds"
    write_preds(preds, _preds())
    (preds / "positive" / "va" / "0" / "00005.png").unlink()
    out = tmp_path / "r.json"
    res = _score([preds, "--dataset", r2, "--out", out, "-q", "--allow-missing"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["summary"]["n_missing_frames"] == 1
    va0 = next(p for p in data["pairs"] if p["pair_id"] == "positive/va/0")
    assert va0["J"] == 0.5  # frame 00005 scored as an empty mask against a 16-px object


def test_check_command_counts(r2, tmp_path):
    preds = tmp_path / "preds"
    write_preds(preds, _preds())
    res = CliRunner().invoke(main, ["check", str(preds), "--dataset", str(r2), "-q"])
    assert res.exit_code == 0 and "6 pairs, 12 frames" in res.output
