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


def jf_vs_r(names: Sequence[str], jf: Sequence[float | None], r: Sequence[float | None]):
    """J&F against R (x100), one point per submission that has both."""
    fig, ax = _figure()
    for i, (name, x, y) in enumerate(zip(names, jf, r)):
        if x is None or y is None:
            continue
        ax.scatter([100 * x], [100 * y], color=COLOURS[i % len(COLOURS)], zorder=3)
        ax.annotate(name, (100 * x, 100 * y), textcoords="offset points", xytext=(5, 4))
    ax.margins(0.2)
    ax.set_xlabel("J&F")
    ax.set_ylabel("R")
    ax.set_title("Segmentation (J&F) against robustness (R)")
    ax.grid(alpha=0.3)
    return fig


def j_histogram(names: Sequence[str], per_pair_j: Sequence[np.ndarray]):
    """Histogram of the per-pair J of each submission (bins of 0.05)."""
    fig, ax = _figure()
    bins = np.linspace(0, 100, 21)
    for i, (name, j) in enumerate(zip(names, per_pair_j)):
        if len(j):
            ax.hist(100 * np.asarray(j), bins=bins, histtype="step", linewidth=1.5,
                    color=COLOURS[i % len(COLOURS)], label=name)
    ax.set_xlabel("J of a positive pair")
    ax.set_ylabel("pairs")
    ax.set_title("Per-pair J")
    ax.legend(loc="upper left", frameon=False)
    return fig


def false_alarm(names: Sequence[str], fractions: Sequence[np.ndarray]):
    """Each negative pair's predicted area as a percentage of its frames, largest first."""
    fig, ax = _figure()
    for i, (name, f) in enumerate(zip(names, fractions)):
        if len(f):
            ranked = np.sort(100 * np.asarray(f))[::-1]
            ax.plot(np.arange(1, len(ranked) + 1), ranked, color=COLOURS[i % len(COLOURS)],
                    label=name, linewidth=1.5)
    ax.set_xlabel("negative pairs, by rank")
    ax.set_ylabel("predicted area (% of the frames)")
    ax.set_title("False alarm per negative pair")
    ax.legend(loc="upper right", frameon=False)
    ax.grid(alpha=0.3)
    return fig


def j_per_category(names: Sequence[str], categories: Sequence[str],
                   values: Sequence[Sequence[float | None]]):
    """Grouped bars: J of each category (x100) for each submission; a gap for no value."""
    fig, ax = _figure(min(10.0, 3.5 + 0.35 * len(categories)), 3.4)
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(names))
    for i, (name, vals) in enumerate(zip(names, values)):
        heights = [np.nan if v is None else 100 * v for v in vals]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, heights, width,
               color=COLOURS[i % len(COLOURS)], label=name)
    ax.set_xticks(x, categories, rotation=30, ha="right")
    ax.set_ylabel("J")
    ax.set_ylim(0, 100)
    ax.set_title("J per target category")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig
