"""The leaderboard: one row per submission (method, backbone, J, F, J&F, R, J&F&R, FPS),
optionally beside the paper's published rows, sorted by J&F&R.

Rows with J&F&R come first, by J&F&R; rows without it (no R) follow, by J&F; rows with
neither come last; ties keep the order the files were given in.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderboard.bootstrap import bootstrap_intervals
from leaderboard.published import DATASET_NAMES, PAPER, PublishedRow, published_rows
from leaderboard.records import Profile, ScoredSubmission
from leaderboard.table import DAGGER, Cell, Column, Row, Table
from r2bench.davis_stats import davis_tables
from r2bench.errors import R2BenchError
from r2bench.measures import LATEX, MEASURES, TITLES

COLUMNS = (
    Column("method", "Method", "Method", "text", None),
    Column("backbone", "Backbone", "Backbone", "text", None),
    *(Column(k, TITLES[k], LATEX[k]) for k in MEASURES),
    Column("fps", "FPS", "FPS", "number"),
)
# davis2017-evaluation's columns; J-Mean and F-Mean are J and F above.
DAVIS_COLUMNS = (
    Column("J-Recall", "J-Recall", r"$\mathcal{J}$-Recall"),
    Column("J-Decay", "J-Decay", r"$\mathcal{J}$-Decay", better="low"),
    Column("F-Recall", "F-Recall", r"$\mathcal{F}$-Recall"),
    Column("F-Decay", "F-Decay", r"$\mathcal{F}$-Decay", better="low"),
)

WHY_NO_GT = "the dataset has no ground truth for the positive pairs"
WHY_NO_NEGATIVES = "scored without negative pairs (a plain R-VOS split), so there is no R"
WHY_R_UNDEFINED = "no predicted foreground on the positive pairs, so R is undefined"
WHY_NO_PROFILE = "no profile record for the method (r2bench profile)"
WHY_NO_BACKBONE = "not given (r2bench score --backbone)"
WHY_PUBLISHED_FPS = "the paper's tables give no speed, and it is not re-measured here"
WHY_PUBLISHED_ABSENT = {"JF": "the paper's Table 2 has no J&F column",
                        "R": "R-VOS results (the paper's Table 1) have no R",
                        "JFR": "R-VOS results (the paper's Table 1) have no R"}
WHY_PUBLISHED_DAVIS = "not published"


@dataclass(frozen=True)
class BoardOptions:
    """What to add to the table: published rows of a protocol, intervals, DAVIS columns."""

    published: str | None = None      # "ref-ytvos" | "ref-davis" | "r2-ytvos"
    intervals: bool = False           # 95% bootstrap intervals over videos
    davis: bool = False               # J-Recall, J-Decay, F-Recall, F-Decay
    n_resamples: int = 10_000
    seed: int = 0


def measure_reasons(results: dict) -> dict[str, str]:
    """Why each missing summary measure of a results record is missing."""
    s = results["summary"]
    r_why = (WHY_NO_NEGATIVES if results.get("mode") == "rvos" or not s.get("n_negative")
             else WHY_R_UNDEFINED)
    jf_why = WHY_NO_GT
    why = {"J": jf_why, "F": jf_why, "JF": jf_why, "R": r_why}
    why["JFR"] = jf_why if s.get("J") is None or s.get("F") is None else r_why
    return {k: v for k, v in why.items() if s.get(k) is None}


def _davis_cells(results: dict) -> dict[str, Cell]:
    try:
        (g,), _ = davis_tables(results)
    except R2BenchError as e:
        return {c.key: Cell(None, why=e.reason) for c in DAVIS_COLUMNS}
    return {c.key: Cell(g[c.key]) for c in DAVIS_COLUMNS}


def measured_row(sub: ScoredSubmission, profile: Profile | None, opts: BoardOptions) -> Row:
    """The row of one scored submission."""
    s, why = sub.summary, measure_reasons(sub.results)
    intervals = (bootstrap_intervals(sub.results, opts.n_resamples, opts.seed)
                 if opts.intervals else {})
    cells = {"method": Cell(sub.method),
             "backbone": Cell(sub.backbone, why=None if sub.backbone else WHY_NO_BACKBONE)}
    for k in MEASURES:
        cells[k] = Cell(s[k], intervals.get(k), why.get(k))
    cells["fps"] = (Cell(profile.fps) if profile is not None
                    else Cell(None, why=WHY_NO_PROFILE))
    if opts.davis:
        cells.update(_davis_cells(sub.results))
    return Row(cells)


def published_row(row: PublishedRow, davis: bool) -> Row:
    """A row copied from the paper (percent -> fraction)."""
    cells = {"method": Cell(row.method), "backbone": Cell(row.backbone)}
    for k in MEASURES:
        v = row.values.get(k)
        cells[k] = Cell(None if v is None else v / 100, why=WHY_PUBLISHED_ABSENT.get(k))
    cells["fps"] = Cell(None, why=WHY_PUBLISHED_FPS)
    if davis:
        cells.update({c.key: Cell(None, why=WHY_PUBLISHED_DAVIS) for c in DAVIS_COLUMNS})
    return Row(cells, published=row.table)


def sort_key(row: Row) -> tuple:
    """Descending J&F&R, then J&F for rows without R (see the module docstring)."""
    jfr, jf = row.cells["JFR"].value, row.cells["JF"].value
    if jfr is not None:
        return (0, -jfr)
    return (1, -jf) if jf is not None else (2, 0.0)


def _notes(opts: BoardOptions, published: tuple[PublishedRow, ...]) -> tuple[str, ...]:
    notes = []
    if published:
        tables = " and ".join(dict.fromkeys(r.table for r in published))
        notes.append(f"{DAGGER} published in {PAPER} ({tables}, "
                     f"{DATASET_NAMES[opts.published]}), not re-measured here.")
    if opts.intervals:
        notes.append(f"± half-width of the 95% bootstrap interval over videos "
                     f"({opts.n_resamples} resamples, seed {opts.seed}).")
    return tuple(notes)


def build_leaderboard(subs: list[ScoredSubmission], profiles: dict[int, Profile],
                      opts: BoardOptions = BoardOptions()) -> Table:
    """The leaderboard `Table`; ``profiles`` maps a submission's index to its profile."""
    rows = [measured_row(s, profiles.get(i), opts) for i, s in enumerate(subs)]
    published = published_rows(opts.published) if opts.published else ()
    rows += [published_row(p, opts.davis) for p in published]
    columns = COLUMNS + (DAVIS_COLUMNS if opts.davis else ())
    return Table(columns, tuple(sorted(rows, key=sort_key)), _notes(opts, published))
