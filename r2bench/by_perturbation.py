"""Scores per perturbation (``r2bench score --by-perturbation``), ImageNet-C style.

A dataset made by ``r2bench perturb`` (or an R2 dataset built from one) records in its
``perturb.json`` what each video's frames and each expression went through. A pair belongs
to the visual corruption of the frames it covers (a negative pair: its negative video's)
and to the textual perturbation of its expression, so a pair of a video perturbed both ways
counts in both; a pair that went through neither is in the group ``none``.

Each group (perturbation, severity) gets the summary values over its pairs, computed as
the whole dataset's are: J and F the means over its positive pairs, R from the areas of its
positive and negative pairs. Per perturbation, the table gives the mean over the severities
present, as ImageNet-C averages a corruption's errors over severities (Hendrycks &
Dietterich 2019), and, given the clean dataset's results, the relative drop
``(clean - perturbed) / clean`` of J&F and J&F&R.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from r2bench.dataset import EvalDataset, PairSpec, load_eval_dataset
from r2bench.errors import DatasetError
from r2bench.measures import MEASURES, TITLES, fmt_percent, measure_values
from r2bench.metrics import mean_or_none, robustness
from r2bench.perturb_record import PERTURB_JSON, PerturbRecord, read_perturb_record
from r2bench.refytvos import load_json
from r2bench.results import RESULTS_FORMAT

NONE = "none"                         # the group of pairs no perturbation touched


def perturbation_path(dataset: EvalDataset) -> Path:
    """Where the dataset's perturb.json is: in a perturbed source root, or in the source an
    R2 dataset was built from."""
    if dataset.r2 is None:
        return dataset.path / PERTURB_JSON
    return Path(dataset.r2.source) / PERTURB_JSON


def pair_groups(pair: PairSpec, record: PerturbRecord) -> list[tuple[str, object]]:
    """The (perturbation, severity) groups of one pair; [(NONE, 0)] when untouched."""
    try:
        visual = record.videos[pair.video].visual
        text = record.videos[pair.source_video].expressions[pair.exp_id]
    except KeyError:
        raise DatasetError(record.path, f"pair {pair.pair_id} is not in the perturbation "
                                        f"record (a record of another dataset?)") from None
    groups = [(p.type, p.severity) for p in (visual, text) if p is not None]
    return groups or [(NONE, 0)]


def group_values(pairs: list[dict], with_jf: bool, with_r: bool) -> dict:
    """The summary values of a set of results pairs, as the whole dataset's are computed."""
    pos = [p for p in pairs if p["label"] == "positive"]
    neg = [p for p in pairs if p["label"] == "negative"]
    j = mean_or_none([p["J"] for p in pos]) if with_jf else None
    f = mean_or_none([p["F"] for p in pos]) if with_jf else None
    r = robustness(sum(p["area"] for p in neg), sum(p["area"] for p in pos)) \
        if with_r and pos else None
    return {**measure_values(j, f, r),
            "n_positive": len(pos), "n_negative": len(neg)}


def _sort_key(name: str, order: list[str]) -> int:
    """``none`` first, then the record's order of types (the catalogue's)."""
    return -1 if name == NONE else order.index(name) if name in order else len(order)


def _mean_values(rows: list[dict]) -> dict:
    return {k: mean_or_none([r[k] for r in rows if r[k] is not None]) for k in MEASURES}


def _drop(clean: float | None, value: float | None) -> float | None:
    return None if clean in (None, 0) or value is None else (clean - value) / clean


def summarise_by_perturbation(dataset: EvalDataset, results: dict, record: PerturbRecord,
                              clean: Mapping | None = None) -> dict:
    """The ``by_perturbation`` section: one entry per (perturbation, severity) and per
    perturbation (the mean over its severities, and the drop against ``clean``)."""
    by_id = {p["pair_id"]: p for p in results["pairs"]}
    members: dict[tuple[str, object], list[dict]] = {}
    for spec in dataset.pairs:
        for group in pair_groups(spec, record):
            members.setdefault(group, []).append(by_id[spec.pair_id])
    with_jf = results["summary"]["J"] is not None
    order = list(record.types)
    groups = [{"type": t, "severity": s, **group_values(members[(t, s)], with_jf,
                                                         dataset.mode == "r2")}
              for t, s in sorted(members, key=lambda g: (_sort_key(g[0], order), str(g[1])))]
    types = []
    for name in dict.fromkeys(g["type"] for g in groups):
        rows = [g for g in groups if g["type"] == name]
        entry = {"type": name, "severities": [g["severity"] for g in rows], **_mean_values(rows),
                 "n_positive": sum(g["n_positive"] for g in rows),
                 "n_negative": sum(g["n_negative"] for g in rows)}
        if clean is not None:
            entry["drop"] = {k: _drop(clean[k], entry[k]) for k in ("JF", "JFR")}
        types.append(entry)
    section = {"perturbation": os.fspath(record.path.resolve()), "severity": record.severity,
               "groups": groups, "types": types}
    if clean is not None:
        section["clean"] = dict(clean)
    return section


def load_clean(path: str | os.PathLike) -> dict:
    """The summary of a clean dataset's results JSON, with the file it came from."""
    res = load_json(path, "results of the clean dataset")
    if not isinstance(res, dict) or res.get("format") != RESULTS_FORMAT \
            or not isinstance(res.get("summary"), dict):
        raise DatasetError(path, f'not a results file ("format": "{RESULTS_FORMAT}" expected)')
    return {"results": os.fspath(Path(path).resolve()),
            **{k: res["summary"].get(k) for k in MEASURES}}


@dataclass(frozen=True)
class ByPerturbation:
    """What ``--by-perturbation`` needs, opened (and checked) before any scoring."""

    dataset: EvalDataset
    record: PerturbRecord
    clean: dict | None = None

    def add(self, results: dict) -> dict:
        """Attach ``results["by_perturbation"]`` to the dataset's results."""
        results["by_perturbation"] = summarise_by_perturbation(
            self.dataset, results, self.record, self.clean)
        return results


def open_by_perturbation(dataset: str | os.PathLike, split: str | None = None,
                         clean: str | os.PathLike | None = None) -> ByPerturbation:
    """The dataset, its perturbation record and the clean summary; raises DatasetError."""
    ds = load_eval_dataset(dataset, split)
    return ByPerturbation(ds, read_perturb_record(perturbation_path(ds)),
                          None if clean is None else load_clean(clean))


def _severities(values: list) -> str:
    nums = sorted(v for v in values if isinstance(v, int) and v > 0)
    named = [str(v) for v in values if not isinstance(v, int)]
    if not nums:
        return ",".join(named) or "-"
    span = str(nums[0]) if len(nums) == 1 else (
        f"{nums[0]}-{nums[-1]}" if nums == list(range(nums[0], nums[-1] + 1))
        else ",".join(map(str, nums)))
    return ",".join([span, *named])


def format_perturbation_table(section: dict) -> str:
    """One line per perturbation: values averaged over its severities (x100), the clean
    line first and the relative drops when the clean results were given."""
    clean = section.get("clean")
    names = [t["type"] for t in section["types"]] + (["clean"] if clean else [])
    width = max(len("perturbation"), *map(len, names))
    head = (f"{'perturbation':<{width}}  {'sev':>5}  {'pos':>5}  {'neg':>5}  "
            + "  ".join(f"{c:>6}" for c in (TITLES[k] for k in MEASURES)))
    if clean:
        head += f"  {'drop J&F':>9}  {'drop J&F&R':>10}"
    lines = [head, "-" * len(head)]
    if clean:
        lines.append(f"{'clean':<{width}}  {'':>5}  {'':>5}  {'':>5}  "
                     + "  ".join(f"{fmt_percent(clean[k]):>6}" for k in MEASURES))
    for t in section["types"]:
        line = (f"{t['type']:<{width}}  {_severities(t['severities']):>5}  "
                f"{t['n_positive']:>5}  {t['n_negative']:>5}  "
                + "  ".join(f"{fmt_percent(t[k]):>6}" for k in MEASURES))
        if clean:
            line += (f"  {fmt_percent(t['drop']['JF'], unit='%'):>9}  "
                     f"{fmt_percent(t['drop']['JFR'], unit='%'):>10}")
        lines.append(line)
    return "\n".join(lines)
