"""The transcribed rows of the paper's Tables 1 and 2 agree with themselves and its text."""

import pytest

from leaderboard.published import PROTOCOLS, R2_YTVOS, REF_DAVIS, REF_YTVOS


def _find(rows, method, backbone):
    (row,) = [r for r in rows if (r.method, r.backbone) == (method, backbone)]
    return row.values


@pytest.mark.parametrize("rows", [REF_YTVOS, REF_DAVIS])
def test_table1_jf_is_the_mean_of_j_and_f(rows):
    for r in rows:
        v = r.values
        # printed to one decimal: (J + F) / 2 may land 0.05 away, plus rounding of J and F
        assert abs(v["JF"] - (v["J"] + v["F"]) / 2) <= 0.151, r


def test_table2_jfr_is_the_mean_of_j_f_and_r():
    for r in R2_YTVOS:
        v = r.values
        assert abs(v["JFR"] - (v["J"] + v["F"] + v["R"]) / 3) <= 0.051, r
        assert v["JF"] is None


def test_differences_quoted_in_the_text():
    # section 5.3: +1.7 J&F over ReferFormer (ResNet-50, Ref-YTVOS), +1.2 on Ref-DAVIS17
    ours, rf = _find(REF_YTVOS, "R2-VOS", "ResNet-50"), _find(REF_YTVOS, "ReferFormer",
                                                               "ResNet-50")
    assert round(ours["JF"] - rf["JF"], 1) == 1.7
    ours, rf = _find(REF_DAVIS, "R2-VOS", "ResNet-50"), _find(REF_DAVIS, "ReferFormer",
                                                               "ResNet-50")
    assert round(ours["JF"] - rf["JF"], 1) == 1.2
    assert _find(REF_YTVOS, "R2-VOS", "Swin-T")["JF"] == 60.2
    assert _find(REF_YTVOS, "R2-VOS", "Video-Swin-T")["JF"] == 61.3


def test_row_counts_and_sources():
    assert [len(PROTOCOLS[k]) for k in ("ref-ytvos", "ref-davis", "r2-ytvos")] == [12, 5, 5]
    assert {r.table for r in REF_YTVOS + REF_DAVIS} == {"Table 1"}
    assert {r.table for r in R2_YTVOS} == {"Table 2"}
