"""Paper-style tables of results: values x100 with one decimal, '-' where not available."""

from __future__ import annotations

from r2bench.measures import DECISION_KEYS, DECISION_TITLES

COLUMNS = (("J", "J"), ("F", "F"), ("J&F", "JF"), ("R", "R"), ("J&F&R", "JFR"))
# The pair-level decisions (`r2bench.measures`), which `score` prints beside them.
DECISION_COLUMNS = tuple((DECISION_TITLES[k], k) for k in DECISION_KEYS)


def fmt_percent(value: float | None) -> str:
    """0.8531 -> '85.3'; None -> '-'."""
    return "-" if value is None else f"{100 * value:.1f}"


def format_summary_table(rows: list[tuple[str, dict]],
                         columns: tuple[tuple[str, str], ...] = COLUMNS) -> str:
    """A fixed-width table, one line per (name, results) with the results' summary values
    of ``columns`` ((title, summary key) pairs; a value the results do not hold is "-")."""
    names = [name for name, _ in rows]
    width = max([len("submission"), *map(len, names)])
    widths = [max(6, len(title)) for title, _ in columns]
    head = f"{'submission':<{width}}  " + "  ".join(f"{title:>{w}}" for (title, _), w
                                                     in zip(columns, widths))
    lines = [head, "-" * len(head)]
    for name, res in rows:
        s = res["summary"]
        lines.append(f"{name:<{width}}  " + "  ".join(f"{fmt_percent(s.get(k)):>{w}}"
                                                      for (_, k), w in zip(columns, widths)))
    return "\n".join(lines)
