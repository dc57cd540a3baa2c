"""Atomic writes and the stale-staging rule: a writer removes the staging of its own
destination left by an ended process of this host, and nothing else."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from r2bench import fileio
from r2bench.fileio import atomic_directory, atomic_path, remove_stale_staging


@pytest.fixture(scope="module")
def ended_pid() -> int:
    """The id of a process that has run and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture()
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _stage(folder, name, is_dir=True):
    path = folder / name
    if is_dir:
        path.mkdir()
        (path / "half-written").write_bytes(b"x")
    else:
        path.write_bytes(b"x")
    return path


def test_only_an_ended_process_staging_of_this_destination_is_removed(
        tmp_path, ended_pid, live_pid, caplog):
    host = fileio._host()
    stale = [_stage(tmp_path, f".out.{host}-{ended_pid}.k2j4_x9a.tmp"),
             _stage(tmp_path, f".out.{host}-{ended_pid}.q8w7e6r5.old")]
    kept = [_stage(tmp_path, f".out.{host}-{live_pid}.a1b2c3d4.tmp"),      # alive
            _stage(tmp_path, f".out.otherhost-{ended_pid}.a1b2c3d4.tmp"),  # another machine
            _stage(tmp_path, ".out.a1b2c3d4.tmp"),                          # no process id
            _stage(tmp_path, f".out.x.{host}-{ended_pid}.a1b2c3d4.tmp"),    # OUT.x's, not OUT's
            _stage(tmp_path, f".ou.{host}-{ended_pid}.a1b2c3d4.tmp")]
    with caplog.at_level(logging.WARNING, "r2bench.fileio"), \
            atomic_directory(tmp_path / "out") as tmp:
        (tmp / "whole").write_bytes(b"y")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert (tmp_path / "out" / "whole").read_bytes() == b"y"
    assert sorted(r.getMessage() for r in caplog.records) == sorted(
        f"{p}: removed, staging left by an interrupted run (process {ended_pid} has ended)"
        for p in stale)


def test_a_file_writer_removes_its_stale_staging_file(tmp_path, ended_pid):
    stale = _stage(tmp_path, f".s.zip.{fileio._host()}-{ended_pid}.abcdefgh.tmp", is_dir=False)
    with atomic_path(tmp_path / "s.zip") as tmp, open(tmp, "wb") as f:
        f.write(b"zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zip"]
    assert not stale.exists()


def test_staging_names_carry_host_and_process(tmp_path):
    with atomic_directory(tmp_path / "out") as tmp:
        assert tmp.name.startswith(f".out.{fileio._host()}-{fileio.os.getpid()}.")
        assert tmp.name.endswith(".tmp")
        assert remove_stale_staging(tmp_path / "out") == []           # this process is alive
        assert tmp.exists()


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "out"):
        raise RuntimeError
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "f.json"):
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_a_whole_folder_and_leaves_no_old_copy(tmp_path):
    for content in (b"first", b"second"):
        with atomic_directory(tmp_path / "out", overwrite=True) as tmp:
            (tmp / "f").write_bytes(content)
    assert (tmp_path / "out" / "f").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
