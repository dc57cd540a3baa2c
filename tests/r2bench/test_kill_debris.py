"""No debris after a kill: every command that stages its output beside OUT, killed with
SIGKILL while its staging is whole but not yet renamed into place, leaves that staging
behind; the next run removes it, says so, succeeds, and leaves only OUT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from r2data import write_boxes
from refdavis_data import make_refdavis

from datasets_builder.synth import SynthConfig, write_source
from r2bench.cli import main

STOP = Path(__file__).parents[1] / "support" / "stop_before_publish.py"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    src = write_source(root / "src", SynthConfig(videos=4, train_videos=4, frames=2,
                                                 height=24, width=32, seed=0), workers=1)
    r2, preds = write_boxes(root / "boxes")
    results = root / "results.json"
    res = CliRunner().invoke(main, ["score", str(preds), "--dataset", str(r2), "--out",
                                    str(results), "--workers", "1", "-q"])
    assert res.exit_code == 0, res.output
    davis, exps, _ = make_refdavis(root / "davis", t=2, h=24, w=32)
    return {"src": src, "r2": r2, "preds": preds, "results": results, "davis": davis,
            "exps": exps}


# Each writer's command line for an output OUT, from the inputs above.
WRITERS = {
    "synth": lambda d, out: ["synth", out, "--videos", 2, "--train-videos", 1, "--frames", 2,
                             "--size", "24x32", "--workers", 1, "-q"],
    "build-dataset": lambda d, out: ["build-dataset", d["src"], "--split", "valid", "--out", out,
                                     "-q"],
    "perturb": lambda d, out: ["perturb", d["src"], "--split", "valid", "--out", out, "--types",
                               "gaussian_noise,misspell", "--workers", 1, "-q"],
    "holdout": lambda d, out: ["holdout", d["src"], "--split", "train", "--fraction", 0.5,
                               "--out", out, "-q"],
    "convert-davis": lambda d, out: ["convert-davis", d["davis"], "--expressions", d["exps"],
                                     "--out", out, "-q"],
    "report": lambda d, out: ["report", d["results"], "--dataset", d["r2"], "--preds",
                              d["preds"], "--out", out, "--worst", 2],
    "pack": lambda d, out: ["pack", d["preds"], "--dataset", d["r2"], "--out", out, "--workers",
                            1, "-q"],
}


def _kill_when_staged(args: list[str], out: Path, marker: Path, log: Path
                      ) -> tuple[Path, int]:
    """Run the command until its staging is whole, SIGKILL it (and anything it started);
    return the staging path and the process id."""
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(STOP), str(marker), str(out), *args],
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the command never staged its output"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return Path(marker.read_text()), proc.pid


@pytest.mark.parametrize("writer", WRITERS)
def test_the_next_run_removes_a_killed_runs_staging(inputs, tmp_path, writer):
    out = tmp_path / "outs" / ("s.zip" if writer == "pack" else "out")
    args = [str(a) for a in WRITERS[writer](inputs, out)]
    staging, pid = _kill_when_staged(args, out, tmp_path / "staged", tmp_path / "killed.log")
    assert staging.parent == out.parent and staging.exists() and not out.exists()
    assert staging.name.startswith(f".{out.name}.") and f"-{pid}." in staging.name

    res = subprocess.run([sys.executable, "-m", "r2bench", *args], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert f"{staging}: removed, staging left by an interrupted run (process {pid} has " \
           "ended)" in res.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
