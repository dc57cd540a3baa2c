import pytest
from records import profile_record, results_record, write_json


def _ours():
    return [
        {"pair_id": "positive/va/0", "label": "positive", "J": 0.8, "F": 0.9, "area": 1000},
        {"pair_id": "positive/va/1", "label": "positive", "J": 0.6, "F": 0.7, "area": 500},
        {"pair_id": "positive/vb/0", "label": "positive", "J": 0.7, "F": 0.8, "area": 500},
        {"pair_id": "negative/va/0", "label": "negative", "area": 100},
        {"pair_id": "negative/va/1", "label": "negative", "area": 0},
        {"pair_id": "negative/vb/0", "label": "negative", "area": 0},
    ]


def _baseline():
    pairs = [dict(p) for p in _ours()]
    for p, area in zip(pairs[3:], (1000, 400, 200)):
        p["area"] = area
    for p in pairs[:3]:
        p["J"], p["F"] = 0.75, 0.85
    return pairs


def _plain():
    return [{"pair_id": f"{v}/{e}", "label": "positive", "J": j, "F": f, "area": 500}
            for (v, e), j, f in ((("va", "0"), 0.9, 0.6), (("va", "1"), 0.5, 0.8),
                                 (("vb", "0"), 0.7, 0.7))]


@pytest.fixture()
def records(tmp_path):
    """Three results files (R2 with a profile, R2 without names, plain R-VOS) and a profile:
    J&F&R 81.7 / 60.0 / -, J&F 75.0 / 80.0 / 70.0."""
    return [
        write_json(tmp_path / "ours.json", results_record(_ours(), "R2-VOS-lite", "ResNet-50")),
        write_json(tmp_path / "baseline_rvos.json", results_record(_baseline())),
        write_json(tmp_path / "plain.json",
                   results_record(_plain(), "plain_model", "Swin-T", mode="rvos",
                                  dataset_sha256="e" * 64)),
        write_json(tmp_path / "ours_profile.json", profile_record("R2-VOS-lite", 30.5)),
    ]
