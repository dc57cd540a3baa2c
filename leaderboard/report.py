"""``r2bench report``: a static HTML report in one folder that opens from disk.

OUT/index.html      the summary table, the plots, the failure gallery (no scripts, no
                    resource outside the folder)
OUT/plots/*.svg     J&F against R, per-pair J, false alarm per negative pair, J per category
OUT/thumbs/*.png    the gallery of a submission's predictions (``thumbs-2/``, ... for the
                    second, ... when several are given)

The folder is written under a temporary name and renamed when whole.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leaderboard import plots
from leaderboard.board import BoardOptions, build_leaderboard, measure_reasons
from leaderboard.breakdown import category_groups, group_scores
from leaderboard.gallery import GalleryItem, gallery, write_items
from leaderboard.records import Profile, RecordError, ScoredSubmission, match_profiles
from leaderboard.render import TABLE_CSS, html_table
from r2bench.dataset import EvalDataset, load_eval_dataset
from r2bench.fileio import atomic_directory
from r2bench.results import dataset_fingerprint
from r2bench.submission import open_submission

PAGE_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 1.8em; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots figure { margin: 0; }
.plots img { max-width: 520px; border: 1px solid #eee; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.gallery figure { margin: 0; width: 240px; font-size: 12px; }
.gallery img { display: block; max-width: 240px; }
.gallery q { font-weight: 600; }
.meta { color: #555; font-size: 12px; }
"""

PLOTS = (("jf_vs_r.svg", "J&F against R for every submission"),
         ("j_histogram.svg", "Histogram of the per-pair J"),
         ("false_alarm.svg", "Predicted (false-alarm) area of each negative pair"),
         ("j_per_category.svg", "J per target category"))


@dataclass(frozen=True)
class ReportConfig:
    n_worst: int = 8            # thumbnails per gallery
    thumb_width: int = 240      # pixels


def _check_dataset(subs: list[ScoredSubmission], ds: EvalDataset) -> None:
    """Each results file must have been scored on ``ds``."""
    digest = dataset_fingerprint(ds)
    for sub in subs:
        theirs = sub.results.get("dataset_sha256")
        if theirs is not None and theirs != digest:
            raise RecordError(sub.path, f"scored on a different dataset than {ds.path}")


def _draw_plots(subs: list[ScoredSubmission], ds: EvalDataset, folder: Path) -> list[dict[str, str]]:
    """Write the plots into ``folder``; per plot, the submissions it does not show and why."""
    names = [s.method for s in subs]
    pixels = {p.pair_id: len(p.frames) * p.size[0] * p.size[1] for p in ds.pairs}
    per_pair_j = [np.array([p["J"] for p in s.results["pairs"]
                            if p["label"] == "positive" and p.get("J") is not None])
                  for s in subs]
    fractions = [np.array([p["area"] / pixels[p["pair_id"]] for p in s.results["pairs"]
                           if p["label"] == "negative" and p["pair_id"] in pixels])
                 for s in subs]
    groups = category_groups(ds)
    scores = [{g.group: g.values["J"] for g in group_scores(s.results, groups)} for s in subs]
    categories = sorted({c for sc in scores for c in sc})
    figures = (
        plots.jf_vs_r(names, [s.summary["JF"] for s in subs], [s.summary["R"] for s in subs],
                      [_why_absent(s.results) for s in subs]),
        plots.j_histogram(names, per_pair_j),
        plots.false_alarm(names, fractions),
        plots.j_per_category(names, categories, [[sc.get(c) for c in categories]
                                                 for sc in scores]),
    )
    folder.mkdir()
    for (name, _), (fig, _) in zip(PLOTS, figures):
        plots.save_svg(fig, folder / name)
    return [absent for _, absent in figures]


def _why_absent(results: dict) -> str | None:
    """Why a submission has no point in the J&F-R plot, from the table's reasons."""
    why = measure_reasons(results)
    reason = why.get("JF") or why.get("R")
    return f"no {'J&F' if 'JF' in why else 'R'}: {reason}" if reason else None


def _absent_note(absent: dict[str, str]) -> str:
    """The caption's line naming each submission a plot does not show, and why."""
    if not absent:
        return ""
    return ('<br><span class="meta">Not shown: ' + "; ".join(
        f"{html.escape(name)} ({html.escape(why)})" for name, why in absent.items())
        + ".</span>")


@dataclass(frozen=True)
class Gallery:
    """The worst pairs of one submission, read from its predictions."""

    method: str
    preds: str
    positive: list[GalleryItem]
    negative: list[GalleryItem]


def match_predictions(subs: list[ScoredSubmission], preds: list[str]
                      ) -> list[tuple[ScoredSubmission, str]]:
    """Which results file each ``--preds`` value belongs to.

    ``NAME=PREDS`` names the method; a plain ``PREDS`` is matched to the results file whose
    ``submission`` is that path (as given or resolved), or to the only results file.
    """
    methods = {s.method: s for s in subs}
    known = ", ".join(methods)
    out: list[tuple[ScoredSubmission, str]] = []
    for value in preds:
        name, sep, path = value.partition("=")
        if sep and name in methods:
            out.append((methods[name], path))
            continue
        if sep and not Path(value).exists():
            raise RecordError(None, f"--preds {value}: {name!r} is not the method of a results "
                                    f"file (methods: {known})")
        real = os.path.realpath(value)
        hits = [s for s in subs if s.results.get("submission") in (value, value.rstrip("/"))
                or os.path.realpath(str(s.results.get("submission"))) == real]
        if len(hits) != 1 and len(subs) == 1:
            hits = subs
        if len(hits) != 1:
            why = "no" if not hits else "more than one"
            raise RecordError(value, f"matches {why} results file's submission path: give "
                                     f"--preds NAME={value} (methods: {known})")
        out.append((hits[0], value))
    seen = [s.method for s, _ in out]
    twice = sorted({m for m in seen if seen.count(m) > 1})
    if twice:
        raise RecordError(None, f"--preds: two predictions for {twice[0]}")
    return out


def _figures(items: list[GalleryItem], paths: list[str]) -> str:
    if not items:
        return '<p class="meta">None.</p>'
    out = []
    for item, src in zip(items, paths):
        out.append(f'<figure><img src="{html.escape(src)}" alt="{html.escape(item.pair_id)}">'
                   f"<figcaption><q>{html.escape(item.caption)}</q><br>"
                   f'<span class="meta">{html.escape(item.pair_id)}<br>'
                   f"{html.escape(item.detail)}</span></figcaption></figure>")
    return '<div class="gallery">' + "".join(out) + "</div>"


def _gallery_html(g: Gallery, pos: str, neg: str, several: bool) -> str:
    whose = f" of {html.escape(g.method)}" if several else ""
    return f"""<h2>Worst positive pairs{whose} (lowest J)</h2>
<p class="meta">{html.escape(g.method)}, predictions {html.escape(g.preds)}. Red: the
prediction. Green outline: the ground truth. The frame shown is the pair's frame of lowest
J.</p>
{pos}
<h2>Worst negative pairs{whose} (largest predicted area)</h2>
<p class="meta">Every red pixel is a false alarm: the expression's object is not in this
video. The frame shown is the one with the largest predicted area.</p>
{neg}
"""


def _page(table_html: str, galleries_html: str, ds: EvalDataset,
          absent: list[dict[str, str]]) -> str:
    plot_html = "".join(f'<figure><img src="plots/{n}" alt="{html.escape(t)}">'
                        f"<figcaption>{html.escape(t)}{_absent_note(a)}</figcaption></figure>"
                        for (n, t), a in zip(PLOTS, absent))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>r2bench report</title>
<style>{TABLE_CSS}{PAGE_CSS}</style>
</head>
<body>
<h1>r2bench report</h1>
<p class="meta">Dataset {html.escape(str(ds.path))} (split {html.escape(ds.split)}).</p>
<h2>Summary</h2>
{table_html}
<h2>Plots</h2>
<div class="plots">{plot_html}</div>
{galleries_html}</body>
</html>
"""


def write_report(subs: list[ScoredSubmission], dataset: str | os.PathLike,
                 preds: str | os.PathLike
                 | list[tuple[ScoredSubmission, str | os.PathLike]],
                 out: str | os.PathLike, split: str | None = None,
                 profiles: list[Profile] = (), cfg: ReportConfig = ReportConfig(),
                 overwrite: bool = False) -> Path:
    """Write the report of ``subs`` into the new folder ``out``, with a failure gallery per
    ``(submission, predictions)`` of ``preds`` (a plain path: the first submission's)."""
    ds = load_eval_dataset(dataset, split)
    _check_dataset(subs, ds)
    pairs = [(subs[0], preds)] if isinstance(preds, (str, os.PathLike)) else list(preds)
    table = build_leaderboard(subs, match_profiles(subs, list(profiles)), BoardOptions())
    galleries = []
    for sub, path in pairs:
        pos, neg = gallery(ds, open_submission(path, ds), sub.results, cfg.n_worst,
                           cfg.thumb_width)
        galleries.append(Gallery(sub.method, os.fspath(path), pos, neg))
    with atomic_directory(out, overwrite=overwrite) as tmp:
        absent = _draw_plots(subs, ds, tmp / "plots")
        parts = []
        for k, g in enumerate(galleries):
            thumbs = tmp / ("thumbs" if k == 0 else f"thumbs-{k + 1}")
            parts.append(_gallery_html(g, _figures(g.positive, write_items(g.positive, thumbs)),
                                       _figures(g.negative, write_items(g.negative, thumbs)),
                                       len(galleries) > 1))
        page = _page(html_table(table, "summary"), "".join(parts), ds, absent)
        (tmp / "index.html").write_text(page, encoding="utf-8")
    return Path(out)
