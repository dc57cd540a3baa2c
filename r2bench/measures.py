"""The measures of a results record: their keys, their titles, and how they are printed.

Keys, in the order every table shows them: J (region similarity), F (contour accuracy),
JF (their mean), R (robustness to negative pairs), JFR (the mean of J, F and R). Values are
fractions (at most 1; R may be negative); tables show them x100 with one decimal and '-'
where not available.
"""

from __future__ import annotations

MEASURES = ("J", "F", "JF", "R", "JFR")
TITLES = {"J": "J", "F": "F", "JF": "J&F", "R": "R", "JFR": "J&F&R"}
LATEX = {"J": r"$\mathcal{J}$", "F": r"$\mathcal{F}$", "JF": r"$\mathcal{J}\&\mathcal{F}$",
         "R": r"$\mathcal{R}$", "JFR": r"$\mathcal{J}\&\mathcal{F}\&\mathcal{R}$"}
COLUMNS = tuple((TITLES[k], k) for k in MEASURES)   # (title, key) of the summary table


def joint_scores(j: float | None, f: float | None, r: float | None
                 ) -> tuple[float | None, float | None]:
    """(J&F, J&F&R) = ((J + F) / 2, (J + F + R) / 3), None where a part is None."""
    jf = None if j is None or f is None else (j + f) / 2
    jfr = None if jf is None or r is None else (j + f + r) / 3
    return jf, jfr


def measure_values(j: float | None, f: float | None, r: float | None) -> dict:
    """The five measures from J, F and R, keyed and ordered as MEASURES."""
    jf, jfr = joint_scores(j, f, r)
    return {"J": j, "F": f, "JF": jf, "R": r, "JFR": jfr}


def fmt_percent(value: float | None, sign: bool = False, unit: str = "") -> str:
    """0.8531 -> '85.3' (``sign``: '+85.3'; ``unit="%"``: '85.3%'); None -> '-'."""
    if value is None:
        return "-"
    return f"{100 * value:+.1f}{unit}" if sign else f"{100 * value:.1f}{unit}"


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
