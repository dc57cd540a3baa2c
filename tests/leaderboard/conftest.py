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


@pytest.fixture(scope="session")
def scored(tmp_path_factory):
    """A small synthetic R2 dataset, two oracle submissions and their results files."""
    from datasets_builder.build import build_dataset
    from datasets_builder.synth import SynthConfig, write_source
    from r2bench.app.demo import write_oracle_submission
    from r2bench.results import name_submission
    from r2bench.scoring import score_submission

    d = tmp_path_factory.mktemp("scored")
    write_source(d / "src", SynthConfig(videos=6, train_videos=0, frames=3, height=40, width=64,
                                        seed=4))
    build_dataset(d / "src", "valid", d / "r2", seed=1)
    out = {"r2": d / "r2"}
    for kind in ("rvos_oracle", "oracle"):
        preds = write_oracle_submission(d / "r2", d / kind, kind)
        res = name_submission(score_submission(preds, d / "r2", workers=1), kind, "ResNet-50")
        out[kind] = write_json(d / f"{kind}.json", res)
        out[f"{kind}_preds"] = preds
    return out
