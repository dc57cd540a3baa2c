"""The report's plots, drawn with matplotlib and written as SVG.

Figures are made with the object API (`matplotlib.figure.Figure`, the Agg canvas): no
pyplot, no global state, and matplotlib is imported only here. Text is drawn as paths (no
font files to ship) and the SVG ids are salted with a constant and carry no date, so the
same inputs give the same bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from r2bench.fileio import atomic_write_bytes

SVG_RC = {"svg.hashsalt": "r2bench", "svg.fonttype": "path", "font.size": 9}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _figure(width: float = 5.0, height: float = 3.4):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def save_svg(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` as a reproducible SVG, atomically."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    atomic_write_bytes(path, buf.getvalue())


def series_gid(i: int) -> str:
    """The SVG id of submission ``i``'s marks (every artist drawing its data carries it)."""
    return f"series-{i}"


def legend_gid(i: int) -> str:
    """The SVG id of submission ``i``'s legend label."""
    return f"legend-{i}"


def _colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def _legend(ax, handles: list[tuple[int, object]], names: Sequence[str], **kw) -> None:
    """A legend of ``handles`` (submission index, artist), in index order, each label
    carrying `legend_gid` so that a check can find the marks of every entry."""
    if not handles:
        return
    handles = sorted(handles, key=lambda h: h[0])
    leg = ax.legend([a for _, a in handles], [names[i] for i, _ in handles], frameon=False,
                    **kw)
    for (i, _), text in zip(handles, leg.get_texts()):
        text.set_gid(legend_gid(i))


def jf_vs_r(names: Sequence[str], jf: Sequence[float | None], r: Sequence[float | None],
            why: Sequence[str | None] | None = None):
    """J&F against R (x100), one point per submission that has both: ``(figure, absent)``,
    ``absent`` naming each submission not drawn and why (``why[i]`` when given). Points that
    coincide are drawn as concentric rings (the first largest) under one label."""
    fig, ax = _figure()
    absent, at = {}, {}
    for i, (name, x, y) in enumerate(zip(names, jf, r)):
        if x is None or y is None:
            absent[name] = (why[i] if why and why[i] else
                            f"no {'J&F' if x is None else 'R'}")
            continue
        at.setdefault((round(100 * x, 6), round(100 * y, 6)), []).append((i, name))
    handles = []
    for (x, y), points in at.items():
        for k, (i, name) in enumerate(points):
            handles.append((i, ax.scatter([x], [y], s=max(16 - 5 * k, 3) ** 2,
                                          color=_colour(i), zorder=3 + k, edgecolors="white",
                                          linewidths=0.6, gid=series_gid(i))))
        ax.annotate(", ".join(n for _, n in points), (x, y), textcoords="offset points",
                    xytext=(6, 5))
    ax.margins(0.2)
    ax.set_xlabel("J&F")
    ax.set_ylabel("R")
    ax.set_title("Segmentation (J&F) against robustness (R)")
    ax.grid(alpha=0.3)
    _legend(ax, handles, names, loc="best")
    return fig, absent


def j_histogram(names: Sequence[str], per_pair_j: Sequence[np.ndarray]):
    """Histogram of the per-pair J of each submission (bins of 0.05), the submissions' bars
    side by side in each bin so that none hides another: ``(figure, absent)``."""
    fig, ax = _figure()
    bins = np.linspace(0, 100, 21)
    drawn = [i for i, j in enumerate(per_pair_j) if len(j)]
    absent = {names[i]: "no per-pair J (no ground truth)" for i in range(len(names))
              if i not in drawn}
    if drawn:
        _, _, containers = ax.hist([100 * np.asarray(per_pair_j[i]) for i in drawn], bins=bins,
                                   histtype="bar", rwidth=0.9,
                                   color=[_colour(i) for i in drawn])
        if len(drawn) == 1:         # one data set: matplotlib returns its container alone
            containers = [containers]
        for i, container in zip(drawn, containers):
            for patch in container:
                patch.set_gid(series_gid(i))
        _legend(ax, [(i, c.patches[0]) for i, c in zip(drawn, containers)], names,
                loc="upper left")
    ax.set_xlabel("J of a positive pair")
    ax.set_ylabel("pairs")
    ax.set_title("Per-pair J")
    return fig, absent


def false_alarm(names: Sequence[str], fractions: Sequence[np.ndarray]):
    """Each negative pair's predicted area as a percentage of its frames: one row of dots per
    submission, so that submissions with the same areas (all 0, say) stay apart:
    ``(figure, absent)``."""
    fig, ax = _figure(5.0, 1.4 + 0.35 * max(1, len(names)))
    absent = {}
    rows, handles = [], []
    for i, (name, f) in enumerate(zip(names, fractions)):
        if not len(f):
            absent[name] = "no negative pairs"
            continue
        y = len(rows)
        rows.append(name)
        handles.append((i, ax.scatter(100 * np.asarray(f), np.full(len(f), y), s=22,
                                      marker="o", color=_colour(i), alpha=0.7,
                                      gid=series_gid(i), zorder=3)))
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.invert_yaxis()
    ax.margins(x=0.05)
    ax.set_xlabel("predicted area of a negative pair (% of its frames)")
    ax.set_title("False alarm per negative pair (each dot a pair)")
    ax.grid(axis="x", alpha=0.3)
    _legend(ax, handles, names, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig, absent


def j_per_category(names: Sequence[str], categories: Sequence[str],
                   values: Sequence[Sequence[float | None]]):
    """Grouped bars: J of each category (x100) for each submission; a gap for no value:
    ``(figure, absent)``, a submission whose bars all have height 0 (or no value) named in
    ``absent`` (its bars cannot be seen)."""
    fig, ax = _figure(min(10.0, 3.5 + 0.35 * len(categories)), 3.4)
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(names))
    absent, handles = {}, []
    for i, (name, vals) in enumerate(zip(names, values)):
        heights = [np.nan if v is None else 100 * v for v in vals]
        if not any(h > 0 for h in heights if not np.isnan(h)):
            absent[name] = ("J is 0 in every category" if any(v is not None for v in vals)
                            else "no per-category J (no ground truth)")
            continue
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, heights, width,
                      color=_colour(i))
        for patch in bars:
            patch.set_gid(series_gid(i))
        handles.append((i, bars.patches[0]))
    ax.set_xticks(x, categories, rotation=30, ha="right")
    ax.set_ylabel("J")
    ax.set_ylim(0, 100)
    ax.set_title("J per target category")
    _legend(ax, handles, names, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig, absent
