"""The leaderboard: one row per submission (method, backbone, J, F, J&F, R, J&F&R, FPS),
optionally beside the paper's published rows, sorted by J&F&R.

Rows with J&F&R come first, by J&F&R; rows without it (no R) follow, by J&F; rows with
neither come last; ties keep the order the files were given in. Other measure columns can
be chosen (`PRESETS`, or any of `MEASURE_COLUMNS`, such as the pair-level decisions
N-acc, T-acc, gIoU, cIoU and frame N-acc); a table without J&F&R and J&F is sorted by its
first measure column. Results scored on different datasets
(`leaderboard.records.dataset_groups`) are ranked in separate groups, one after the other
in the order their first file was given (the published rows rank with the first), and a
note says which rows belong to which dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderboard.bootstrap import bootstrap_intervals
from leaderboard.published import DATASET_NAMES, PAPER, PublishedRow, published_rows
from leaderboard.records import Profile, ScoredSubmission, dataset_groups, dataset_name
from leaderboard.table import DAGGER, Cell, Column, Row, Table
from r2bench.davis_stats import davis_tables
from r2bench.errors import R2BenchError
from r2bench.measures import DECISION_KEYS, LATEX, MEASURES, TITLES

COLUMNS = (
    Column("method", "Method", "Method", "text", None),
    Column("backbone", "Backbone", "Backbone", "text", None),
    *(Column(k, TITLES[k], LATEX[k]) for k in MEASURES),
    Column("fps", "FPS", "FPS", "number"),
)
# The pair-level decisions (r2bench.measures), shown with --measures gres or --columns.
DECISION_COLUMNS = tuple(Column(k, TITLES[k], LATEX[k]) for k in DECISION_KEYS)
MEASURE_COLUMNS = {c.key: c for c in COLUMNS[2:] + DECISION_COLUMNS}
# The measure columns each --measures preset shows, in order.
PRESETS = {"r2vos": ("J", "F", "JF", "R", "JFR", "fps"),
           "gres": ("gIoU", "cIoU", "N_acc", "T_acc", "N_acc_frame"),
           "all": ("J", "F", "JF", "R", "JFR", *DECISION_KEYS, "fps")}
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
WHY_PUBLISHED_DECISIONS = "the paper does not report pair-level decisions"
WHY_OLD_RESULTS = "results written before r2bench measured it (score the submission again)"
WHY_REF_DAVIS = "the Ref-DAVIS protocol scores merged objects, not one mask per expression"
WHY_NO_POSITIVES = "no positive pairs"
WHY_NO_NEGATIVE_PAIRS = "scored without negative pairs (a plain R-VOS split), so there is no N-acc"


@dataclass(frozen=True)
class BoardOptions:
    """What to add to the table: published rows of a protocol, intervals, DAVIS columns."""

    published: str | None = None      # "ref-ytvos" | "ref-davis" | "r2-ytvos"
    intervals: bool = False           # 95% bootstrap intervals over videos
    davis: bool = False               # J-Recall, J-Decay, F-Recall, F-Decay
    n_resamples: int = 10_000
    seed: int = 0
    measures: tuple[str, ...] = PRESETS["r2vos"]   # measure columns (MEASURE_COLUMNS keys)


def measure_reasons(results: dict) -> dict[str, str]:
    """Why each missing summary measure of a results record is missing."""
    s = results["summary"]
    r_why = (WHY_NO_NEGATIVES if results.get("mode") == "rvos" or not s.get("n_negative")
             else WHY_R_UNDEFINED)
    jf_why = WHY_NO_GT
    why = {"J": jf_why, "F": jf_why, "JF": jf_why, "R": r_why}
    why["JFR"] = jf_why if s.get("J") is None or s.get("F") is None else r_why
    why.update(decision_reasons(results))
    return {k: v for k, v in why.items() if s.get(k) is None}


def decision_reasons(results: dict) -> dict[str, str]:
    """Why each pair-level decision of a results record would be missing."""
    s = results["summary"]
    if results.get("protocol") == "ref-davis":
        return dict.fromkeys(DECISION_KEYS, WHY_REF_DAVIS)
    if not any(k in s for k in DECISION_KEYS):
        return dict.fromkeys(DECISION_KEYS, WHY_OLD_RESULTS)
    return {"N_acc": WHY_NO_NEGATIVE_PAIRS, "T_acc": WHY_NO_POSITIVES, "gIoU": WHY_NO_GT,
            "cIoU": WHY_NO_GT, "N_acc_frame": WHY_NO_GT}


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
    for k in MEASURES + DECISION_KEYS:
        cells[k] = Cell(s.get(k), intervals.get(k), why.get(k))
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
    cells.update({k: Cell(None, why=WHY_PUBLISHED_DECISIONS) for k in DECISION_KEYS})
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


def ranking(measures: tuple[str, ...]):
    """The sort key of a table showing ``measures``: J&F&R then J&F when either is shown,
    else the first measure shown, descending (rows without it last)."""
    if "JFR" in measures or "JF" in measures:
        return sort_key
    first = next((k for k in measures if MEASURE_COLUMNS[k].better == "high"), None)
    if first is None:
        return sort_key

    def by_first(row: Row) -> tuple:
        v = row.cells[first].value
        return (0, -v) if v is not None else (1, 0.0)
    return by_first


def measure_columns(names: list[str]) -> tuple[str, ...]:
    """Measure keys from names given as keys or titles (``JFR``, ``J&F&R``, ``n-acc``),
    in the order given; raises ValueError naming an unknown one."""
    lookup = {}
    for c in MEASURE_COLUMNS.values():
        lookup[c.key.lower()] = lookup[c.title.lower()] = c.key
    keys = []
    for name in names:
        key = lookup.get(name.strip().lower())
        if key is None:
            known = ", ".join(MEASURE_COLUMNS)
            raise ValueError(f"unknown column {name.strip()!r} (columns: {known})")
        if key not in keys:
            keys.append(key)
    return tuple(keys)


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


def datasets_note(subs: list[ScoredSubmission], groups: list[list[int]], published: bool) -> str:
    """The note of a table whose results come from several datasets."""
    parts = []
    for k, g in enumerate(groups):
        names = [subs[i].method for i in g] + (["the published rows"] if published and k == 0
                                                 else [])
        parts.append(f"{', '.join(names)} on {dataset_name(subs[g[0]])}")
    return (f"Scored on {len(groups)} different datasets, ranked separately, one group after "
            f"the other: {'; then '.join(parts)}.")


def build_leaderboard(subs: list[ScoredSubmission], profiles: dict[int, Profile],
                      opts: BoardOptions = BoardOptions()) -> Table:
    """The leaderboard `Table`; ``profiles`` maps a submission's index to its profile."""
    groups = dataset_groups(subs)
    group_of = {i: k for k, g in enumerate(groups) for i in g}
    key = ranking(opts.measures)
    keyed = [((group_of[i], *key(row)), row) for i, row in
             enumerate(measured_row(s, profiles.get(i), opts) for i, s in enumerate(subs))]
    published = published_rows(opts.published) if opts.published else ()
    keyed += [((0, *key(row)), row) for row in
              (published_row(p, opts.davis) for p in published)]
    columns = (COLUMNS[:2] + tuple(MEASURE_COLUMNS[k] for k in opts.measures)
               + (DAVIS_COLUMNS if opts.davis else ()))
    notes = _notes(opts, published)
    if len(groups) > 1:
        notes += (datasets_note(subs, groups, bool(published)),)
    rows = tuple(row for _, row in sorted(keyed, key=lambda kr: kr[0]))
    return Table(columns, rows, notes)
