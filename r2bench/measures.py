"""Paper-style tables of results: values x100 with one decimal, '-' where not available."""

from __future__ import annotations

COLUMNS = (("J", "J"), ("F", "F"), ("J&F", "JF"), ("R", "R"), ("J&F&R", "JFR"))


def fmt_percent(value: float | None) -> str:
    """0.8531 -> '85.3'; None -> '-'."""
    return "-" if value is None else f"{100 * value:.1f}"


def format_summary_table(rows: list[tuple[str, dict]]) -> str:
    """A fixed-width table, one line per (name, results) with the results' summary values."""
    names = [name for name, _ in rows]
    width = max([len("submission"), *map(len, names)])
    head = f"{'submission':<{width}}  " + "  ".join(f"{title:>6}" for title, _ in COLUMNS)
    lines = [head, "-" * len(head)]
    for name, res in rows:
        s = res["summary"]
        lines.append(f"{name:<{width}}  " + "  ".join(f"{fmt_percent(s[k]):>6}"
                                                      for _, k in COLUMNS))
    return "\n".join(lines)
