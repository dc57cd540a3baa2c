"""The scoring program of an r2bench Codabench bundle (`r2bench.codabench`).

Codabench runs it in the submission container as ``python3 /app/program/score.py
/app/input /app/output``: ``input/ref`` holds the reference data (the R2 dataset's
``r2_meta.json`` and its ground truth, ``positive/<split>/Annotations``), ``input/res`` the
participant's submission zip, unpacked, and the program writes ``output/scores.json``, one
number per leaderboard column (x100, as papers print them), which Codabench reads.

The submission is the tree `r2bench score` reads: ``positive/VID/EXP_ID/FRAME.png`` and
``negative/VID/EXP_ID/FRAME.png`` at the zip's root (``r2bench pack --labels both``
writes it). A zip of the folder that holds them (one more level) is accepted too, and
so are the other forms ``score`` reads (``positive.zip``/``negative.zip``, an RLE
``.json``).

Beside the scores it writes ``output/results.json``, the full results record, which
participants download as the scoring output. A measure that is undefined (R when the
submission predicts no foreground on any positive pair) is left out of ``scores.json``:
Codabench stores numbers only, and its leaderboard shows an empty cell.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from r2bench.errors import R2BenchError, SubmissionError
from r2bench.fileio import atomic_write_bytes, atomic_write_json

# (leaderboard column title, scores.json key = results summary key), in column order:
# J&F&R first, as Codabench ranks by the column of index 0.
LEADERBOARD = (("J&F&R", "JFR"), ("J&F", "JF"), ("J", "J"), ("F", "F"), ("R", "R"),
               ("N-acc", "N_acc"))
SCORES_FILE = "scores.json"
RESULTS_FILE = "results.json"
IGNORED = ("__MACOSX",)   # what zip tools add beside the files


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.name not in IGNORED and not p.name.startswith("."))


def _holds_labels(folder: Path) -> bool:
    return any((folder / f"{label}{ext}").exists()
               for label in ("positive", "negative") for ext in ("", ".zip"))


def submission_root(res: Path) -> Path:
    """Where the predictions are in the unpacked submission ``res``: ``res`` itself when it
    holds ``positive/``/``negative/`` (folders or zips), the one folder inside it that
    does, or its one RLE ``.json`` file. Raises `SubmissionError` saying what it holds."""
    if not res.is_dir():
        raise SubmissionError(res, "no submission folder (input/res)")
    if _holds_labels(res):
        return res
    entries = _entries(res)
    folders = [p for p in entries if p.is_dir()]
    if len(entries) == 1 and folders and _holds_labels(folders[0]):
        return folders[0]
    if len(entries) == 1 and entries[0].suffix == ".json":
        return entries[0]
    held = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:5]) or "nothing"
    raise SubmissionError(res, f"the submission zip holds {held}; expected positive/ and "
                               "negative/ at its root (positive/VID/EXP_ID/FRAME.png, as "
                               "r2bench pack --labels both writes it)")


def codabench_scores(results: dict) -> dict[str, float]:
    """scores.json: each leaderboard measure x100; undefined measures are left out."""
    summary = results["summary"]
    return {key: 100.0 * summary[key] for _, key in LEADERBOARD if summary.get(key) is not None}


def score_codabench(input_dir: str | os.PathLike, output_dir: str | os.PathLike,
                    workers: int | None = None) -> dict[str, float]:
    """Score ``input_dir/res`` against ``input_dir/ref``; write scores.json and results.json
    into ``output_dir`` (created if absent). Returns the scores. Raises `R2BenchError`."""
    from r2bench.scoring import score_submission

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    results = score_submission(submission_root(input_dir / "res"), input_dir / "ref",
                               workers=workers)
    scores = codabench_scores(results)
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output_dir / RESULTS_FILE, results)
    atomic_write_bytes(output_dir / SCORES_FILE, json.dumps(scores, indent=1).encode())
    return scores


def main(argv: list[str]) -> int:
    """``score.py INPUT OUTPUT``: exit status 0, or 2 (1 for anything else) with one line on
    stderr, which Codabench shows the participant."""
    if len(argv) != 2:
        print("usage: score.py INPUT OUTPUT (Codabench: /app/input /app/output)",
              file=sys.stderr)
        return 2
    try:
        scores = score_codabench(argv[0], argv[1])
    except R2BenchError as e:
        print(f"r2bench: error: {e}", file=sys.stderr)
        return e.exit_code
    for title, key in LEADERBOARD:
        value = scores.get(key)
        print(f"{title:>6}: {'-' if value is None else f'{value:.1f}'}")
    return 0
