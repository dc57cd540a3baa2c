"""The table model every output format renders: columns, rows of cells, the best value of
each column and the legend that says why a cell shows "-".

Measures are kept as fractions and shown x100 with one decimal, as papers print them; an
interval is shown as its half-width (``56.2 ± 0.8``). The best value of a column is decided
on the printed digits, so two rows that print the same value are both marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MISSING = "-"
DAGGER = "†"


@dataclass(frozen=True)
class Column:
    """``kind`` is "text", "percent" (a fraction shown x100), "number" (shown with one
    decimal) or "count" (an integer);
    ``better`` is "high", "low" or None (no best value marked)."""

    key: str
    title: str
    latex: str
    kind: str = "percent"
    better: str | None = "high"

    @property
    def numeric(self) -> bool:
        return self.kind != "text"


@dataclass(frozen=True)
class Cell:
    """A value (None: shown as "-", with ``why`` saying why) and an optional (lo, hi)."""

    value: float | str | None
    interval: tuple[float, float] | None = None
    why: str | None = None


@dataclass(frozen=True)
class Row:
    """``published`` names the source table of a row copied from the paper, else None."""

    cells: dict[str, Cell]
    published: str | None = None


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = field(default=())


def _scale(col: Column) -> float:
    return 100.0 if col.kind == "percent" else 1.0


def value_text(col: Column, cell: Cell) -> str:
    """The printed value without interval or marks: '56.2', 'ResNet-50' or '-'."""
    if cell.value is None:
        return MISSING
    if not col.numeric:
        return str(cell.value)
    if col.kind == "count":
        return str(int(cell.value))
    return f"{_scale(col) * cell.value:.1f}"


def interval_text(col: Column, cell: Cell) -> str | None:
    """The half-width of the interval, printed like the value ('0.8'), or None."""
    if cell.value is None or cell.interval is None:
        return None
    lo, hi = cell.interval
    return f"{_scale(col) * (hi - lo) / 2:.1f}"


def row_name(table: Table, row: Row) -> str:
    """The row's label: its first column, with the second when the first repeats."""
    first, second = table.columns[0].key, table.columns[1].key
    name = str(row.cells[first].value)
    same = sum(str(r.cells[first].value) == name for r in table.rows)
    other = row.cells.get(second)
    if same > 1 and other is not None and other.value is not None:
        name = f"{name} ({value_text(table.columns[1], other)})"
    return name + (DAGGER if row.published else "")


def best_cells(table: Table) -> set[tuple[int, str]]:
    """(row index, column key) of the best printed value of each ranked column."""
    best = set()
    for col in table.columns:
        if not col.numeric or col.better is None:
            continue
        printed = [(i, float(value_text(col, r.cells[col.key]))) for i, r in enumerate(table.rows)
                   if r.cells[col.key].value is not None]
        if not printed:
            continue
        pick = max if col.better == "high" else min
        target = pick(v for _, v in printed)
        best.update((i, col.key) for i, v in printed if v == target)
    return best


def _join(names: list[str]) -> str:
    return ", ".join(names)


def legend(table: Table) -> list[str]:
    """One line per reason a cell shows "-" (the columns and rows it concerns), then the
    table's notes."""
    reasons: dict[str, tuple[list[str], list[str], list[bool]]] = {}
    for row in table.rows:
        for col in table.columns:
            cell = row.cells[col.key]
            if cell.value is not None:
                continue
            cols, rows, published = reasons.setdefault(cell.why or "not available",
                                                       ([], [], []))
            if col.title not in cols:
                cols.append(col.title)
            name = row_name(table, row)
            if name not in rows:
                rows.append(name)
                published.append(row.published is not None)
    lines = []
    for why, (cols, rows, published) in reasons.items():
        n_published = sum(r.published is not None for r in table.rows)
        who = ("the published rows" if all(published) and len(rows) == n_published
               else _join(rows))
        lines.append(f'"{MISSING}" in {_join(cols)} for {who}: {why}.')
    return lines + list(table.notes)
