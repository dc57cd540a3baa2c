"""A `Table` as markdown, LaTeX (booktabs), CSV (pandas) or one self-contained HTML file.

The best value of each column is bold (``**``, ``\\textbf``, ``<b>``); the legend (why a cell
shows "-", what † and ± mean) goes under the table, except in CSV, which is data: there a
"-" is an empty field, a published row says so in its ``source`` field, and an interval is
two more columns (``J 95% lo``, ``J 95% hi``).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from leaderboard.table import (
    DAGGER,
    Cell,
    Column,
    Table,
    best_cells,
    interval_text,
    legend,
    value_text,
)

FORMATS = ("md", "latex", "csv", "html")


@dataclass(frozen=True)
class _Markup:
    """How one format escapes text and writes bold, the published mark and an interval."""

    escape: Callable[[str], str]
    bold: str
    mark: str
    interval: str


def _cell(markup: _Markup, col: Column, cell: Cell, bold: bool, mark: bool) -> str:
    text = markup.escape(value_text(col, cell))
    if bold:
        text = markup.bold.format(text)
    if mark:
        text += markup.mark
    pm = interval_text(col, cell)
    if pm is not None:
        text += markup.interval.format(pm)
    return text


def _row_cells(markup: _Markup, table: Table, i: int, best: set) -> list[str]:
    """The marked-up cells of row i; the † of a published row goes on its first cell."""
    row = table.rows[i]
    first = table.columns[0].key
    return [_cell(markup, c, row.cells[c.key], (i, c.key) in best,
                  row.published is not None and c.key == first) for c in table.columns]


# -- markdown ---------------------------------------------------------------------------

def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


_MARKDOWN = _Markup(_md_escape, "**{}**", DAGGER, " ± {}")


def render_markdown(table: Table) -> str:
    best = best_cells(table)
    lines = ["| " + " | ".join(_md_escape(c.title) for c in table.columns) + " |",
             "|" + "|".join("---:" if c.numeric else ":---" for c in table.columns) + "|"]
    for i in range(len(table.rows)):
        lines.append("| " + " | ".join(_row_cells(_MARKDOWN, table, i, best)) + " |")
    notes = legend(table)
    if notes:
        lines.append("")
        lines.extend(f"* {_md_escape(n)}" for n in notes)
    return "\n".join(lines) + "\n"


# -- LaTeX ------------------------------------------------------------------------------

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", DAGGER: r"$^\dagger$", "±": r"$\pm$",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX source that prints it (quotes become TeX quotes)."""
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return out.replace('"-"', "``-''")


_LATEX = _Markup(latex_escape, r"\textbf{{{}}}", r"$^\dagger$", r" {{\scriptsize$\pm${}}}")


def render_latex(table: Table) -> str:
    best = best_cells(table)
    spec = "".join("r" if c.numeric else "l" for c in table.columns)
    lines = [r"\begin{table}[t]", r"  \centering", rf"  \begin{{tabular}}{{{spec}}}",
             r"    \toprule",
             "    " + " & ".join(c.latex for c in table.columns) + r" \\",
             r"    \midrule"]
    for i in range(len(table.rows)):
        lines.append("    " + " & ".join(_row_cells(_LATEX, table, i, best)) + r" \\")
    lines += [r"    \bottomrule", r"  \end{tabular}"]
    notes = legend(table)
    if notes:
        lines.append(r"  \par\smallskip")
        lines.append(r"  {\footnotesize\raggedright")
        lines.extend(f"  {latex_escape(n)}\\par" for n in notes)
        lines.append("  }")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


# -- CSV --------------------------------------------------------------------------------

def _number(col: Column, value: float | None) -> float | None:
    if value is None:
        return None
    if col.kind == "count":
        return int(value)
    return round((100.0 if col.kind == "percent" else 1.0) * value, 1)


def csv_frame(table: Table):
    """The table as a pandas DataFrame: printed values (x100, one decimal), NaN for "-"."""
    import pandas as pd

    with_interval = {c.key for c in table.columns
                     if any(r.cells[c.key].interval is not None for r in table.rows)}
    records = []
    for row in table.rows:
        rec: dict[str, object] = {}
        for c in table.columns:
            cell = row.cells[c.key]
            rec[c.title] = _number(c, cell.value) if c.numeric else cell.value
            if c.key in with_interval:
                lo, hi = cell.interval if cell.interval and cell.value is not None else (None,
                                                                                         None)
                rec[f"{c.title} 95% lo"] = _number(c, lo)
                rec[f"{c.title} 95% hi"] = _number(c, hi)
        rec["source"] = f"published: {row.published}" if row.published else "measured"
        records.append(rec)
    return pd.DataFrame.from_records(records)


def render_csv(table: Table) -> str:
    return csv_frame(table).to_csv(index=False, float_format="%.1f", lineterminator="\n")


# -- HTML -------------------------------------------------------------------------------

TABLE_CSS = """
table.r2 { border-collapse: collapse; font: 14px/1.4 system-ui, sans-serif; }
table.r2 th, table.r2 td { padding: 3px 10px; border-bottom: 1px solid #ddd; }
table.r2 thead th { border-bottom: 2px solid #333; }
table.r2 td.num, table.r2 th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.r2 tr.published td { color: #555; }
table.r2 .pm { color: #777; font-size: 85%; }
ul.legend { font: 12px/1.4 system-ui, sans-serif; color: #444; padding-left: 1.2em; }
"""
_HTML = _Markup(html.escape, "<b>{}</b>", f"<sup>{DAGGER}</sup>", ' <span class="pm">± {}</span>')


def html_table(table: Table, table_id: str = "leaderboard") -> str:
    """The table and its legend as an HTML fragment (styles in TABLE_CSS)."""
    best = best_cells(table)
    head = "".join(f'<th{" class=num" if c.numeric else ""}>{html.escape(c.title)}</th>'
                   for c in table.columns)
    body = []
    for i, row in enumerate(table.rows):
        cls = ' class="published"' if row.published else ""
        cells = "".join(f'<td{" class=num" if c.numeric else ""}>{text}</td>'
                        for c, text in zip(table.columns, _row_cells(_HTML, table, i, best)))
        body.append(f"<tr{cls}>{cells}</tr>")
    out = [f'<table class="r2" id="{table_id}">', f"<thead><tr>{head}</tr></thead>",
           "<tbody>", *body, "</tbody>", "</table>"]
    notes = legend(table)
    if notes:
        out.append('<ul class="legend">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                   + "</ul>")
    return "\n".join(out)


def render_html(table: Table, title: str = "r2bench leaderboard") -> str:
    """One self-contained HTML page (no scripts, no external resources)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{TABLE_CSS}</style>\n</head>\n"
            f"<body>\n{html_table(table)}\n</body>\n</html>\n")


def render(table: Table, fmt: str) -> str:
    """The table in one of FORMATS."""
    renderers = {"md": render_markdown, "latex": render_latex, "csv": render_csv,
                 "html": render_html}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return renderers[fmt](table)
